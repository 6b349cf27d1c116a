//! Recording an order's tickets as they arrive, and queueing the order's
//! mail in the statement that completes it.
//!
//! The delivery row counts the tickets it has received. A ticket is
//! inserted at most once (its key is order and ticket), and only an insert
//! that happened adds to the count; the count and the status move in one
//! upsert of the delivery row, which serializes every recorder of the order
//! on that row, so exactly one of them sees the count reach the expected
//! number and moves the delivery to `queued`, whichever order the tickets
//! come in. On Postgres both writes are one statement (a data-modifying
//! CTE); SQLite, which has none, runs them in one write transaction.

use sqlx::Row;
use ticketing_event_store::Backend;

use super::{stored_status, Deliveries, DeliveryError, DeliveryStatus, Recorded, UnixMillis};

/// The upsert of the delivery row given `added`, how many tickets this
/// call added (0 or 1; `WHERE true` keeps SQLite from reading the upsert's
/// `ON` as a join's): a new row is pending, or queued at once when it needs
/// no more; an existing row adds to its count and is queued by the ticket
/// that completes it.
fn upsert(deliveries: &str, added: &str, returning: &str) -> String {
    let complete = format!("d.tickets_received + {added} >= d.tickets_expected");
    format!(
        "INSERT INTO {deliveries} AS d \
         (order_id, customer_id, status, tickets_expected, tickets_received, attempts, next_attempt_at, created_at, updated_at) \
         SELECT $1, $2, CASE WHEN {added} >= $4 THEN 'queued' ELSE 'pending' END, $4, {added}, 0, \
                CASE WHEN {added} >= $4 THEN $6 END, $6, $6 \
         WHERE true \
         ON CONFLICT (order_id) DO UPDATE SET \
             tickets_received = d.tickets_received + {added}, \
             status = CASE WHEN d.status = 'pending' AND {complete} THEN 'queued' ELSE d.status END, \
             next_attempt_at = CASE WHEN d.status = 'pending' AND {complete} THEN $6 ELSE d.next_attempt_at END, \
             updated_at = CASE WHEN {added} > 0 THEN $6 ELSE d.updated_at END \
         RETURNING {returning}status, tickets_received, tickets_expected"
    )
}

impl Deliveries {
    /// Records ticket `ticket_id` of `order_id`, one of `tickets_expected`,
    /// with the data the mail will be composed from. Creates the delivery
    /// (`pending`) on the order's first ticket and queues it, due `now`, on
    /// its last. Recording a ticket again changes nothing. The count of the
    /// first ticket recorded counts; later ones are not compared to it.
    pub async fn record_ticket(
        &self,
        order_id: &str,
        customer_id: &str,
        ticket_id: &str,
        tickets_expected: i64,
        data: &serde_json::Value,
        now: UnixMillis,
    ) -> Result<Recorded, DeliveryError> {
        if tickets_expected < 1 {
            return Err(DeliveryError::Invalid(format!(
                "order {order_id} expects {tickets_expected} tickets"
            )));
        }
        let data = serde_json::to_string(data)
            .map_err(|e| DeliveryError::Invalid(format!("ticket data: {e}")))?;
        let deliveries = self.tables.deliveries;
        let tickets = self.tables.tickets;
        let insert_ticket = format!(
            "INSERT INTO {tickets} (order_id, ticket_id, data) VALUES ($1, $3, $5) \
             ON CONFLICT (order_id, ticket_id) DO NOTHING"
        );
        let (added, row) = match self.backend {
            Backend::Postgres => {
                let sql = format!(
                    "WITH added AS ({insert_ticket} RETURNING 1), \
                          n AS (SELECT count(*) AS n FROM added) \
                     {}",
                    upsert(
                        deliveries,
                        "(SELECT n FROM n)",
                        "(SELECT n FROM n) AS added, "
                    )
                );
                let row = sqlx::query(&sql)
                    .bind(order_id)
                    .bind(customer_id)
                    .bind(ticket_id)
                    .bind(tickets_expected)
                    .bind(data)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await?;
                (row.try_get::<i64, _>("added")?, row)
            }
            Backend::Sqlite => {
                let mut tx = self.begin_write().await?;
                let added = sqlx::query(&insert_ticket)
                    .bind(order_id)
                    .bind(customer_id)
                    .bind(ticket_id)
                    .bind(tickets_expected)
                    .bind(&data)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let added = i64::try_from(added).unwrap_or(i64::MAX);
                let row = sqlx::query(&upsert(deliveries, "$7", ""))
                    .bind(order_id)
                    .bind(customer_id)
                    .bind(ticket_id)
                    .bind(tickets_expected)
                    .bind(&data)
                    .bind(now)
                    .bind(added)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                (added, row)
            }
        };
        let status = stored_status(&row)?;
        let received: i64 = row.try_get("tickets_received")?;
        let expected: i64 = row.try_get("tickets_expected")?;
        Ok(match status {
            _ if added == 0 => Recorded::Duplicate,
            DeliveryStatus::Pending => Recorded::Waiting { received, expected },
            DeliveryStatus::Queued if received == expected => Recorded::Ready,
            _ => Recorded::Late,
        })
    }
}
