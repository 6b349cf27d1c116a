//! What operators do with the log: look at deliveries and queue failed ones
//! again.

use sqlx::Row;

use super::{stored_status, Deliveries, DeliveryError, DeliveryRow, DeliveryStatus, UnixMillis};

/// The most rows one [`Deliveries::list`] returns.
pub const MAX_LIST: usize = 1000;

impl Deliveries {
    /// Up to `limit` deliveries (at most [`MAX_LIST`]), newest first,
    /// all or those in `status`.
    pub async fn list(
        &self,
        status: Option<DeliveryStatus>,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, DeliveryError> {
        let limit = i64::try_from(limit.min(MAX_LIST)).unwrap_or(0);
        // The status is written into the statement, not bound: a prepared
        // statement's generic plan cannot tell the rare `failed` from the
        // million `sent` rows and walks the whole table by date.
        let filter = match status {
            Some(status) => format!("WHERE d.status = '{}'", status.as_str()),
            None => String::new(),
        };
        let sql = format!(
            "SELECT d.order_id, d.customer_id, d.status, d.tickets_expected, \
             d.tickets_received, \
             d.attempts, d.last_error, d.next_attempt_at, d.claimed_until, \
             d.created_at, d.updated_at, d.sent_at \
             FROM {deliveries} d {filter} ORDER BY d.created_at DESC LIMIT $1",
            deliveries = self.tables.deliveries,
        );
        let rows = sqlx::query(&sql).bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryRow {
                    order_id: row.try_get("order_id")?,
                    customer_id: row.try_get("customer_id")?,
                    status: stored_status(row)?,
                    tickets_expected: row.try_get("tickets_expected")?,
                    tickets_received: row.try_get("tickets_received")?,
                    attempts: row.try_get("attempts")?,
                    last_error: row.try_get("last_error")?,
                    next_attempt_at: row.try_get("next_attempt_at")?,
                    claimed_until: row.try_get("claimed_until")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                    sent_at: row.try_get("sent_at")?,
                })
            })
            .collect()
    }

    /// Queues failed deliveries again, due `now`: the one of `order_id`, or
    /// every failed one. Their attempts start again from zero, so each gets
    /// the sender's whole schedule of retries; the last error stays until
    /// the next attempt. Returns how many were queued.
    pub async fn retry(
        &self,
        order_id: Option<&str>,
        now: UnixMillis,
    ) -> Result<u64, DeliveryError> {
        let filter = match order_id {
            Some(_) => " AND order_id = $2",
            None => "",
        };
        let sql = format!(
            "UPDATE {} SET status = 'queued', attempts = 0, next_attempt_at = $1, \
             claimed_until = NULL, updated_at = $1 WHERE status = 'failed'{filter}",
            self.tables.deliveries
        );
        let mut query = sqlx::query(&sql).bind(now);
        if let Some(order_id) = order_id {
            query = query.bind(order_id);
        }
        Ok(query.execute(&self.pool).await?.rows_affected())
    }
}
