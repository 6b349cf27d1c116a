//! Recording an order's tickets as they arrive, and queueing the order's
//! mail in the transaction that completes it.
//!
//! Every recorder of one order takes the lock on the order's delivery row
//! before touching its tickets (Postgres: `SELECT … FOR UPDATE` after an
//! `INSERT … ON CONFLICT DO NOTHING` that creates the row; SQLite: the
//! database write lock), so the count of tickets it reads is the count
//! every other recorder will see: exactly one of them moves the delivery
//! to `queued`, whichever order the tickets come in.

use sqlx::Row;
use ticketing_event_store::Backend;

use super::{stored_status, Deliveries, DeliveryError, DeliveryStatus, Recorded, UnixMillis};

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
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };

        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO {deliveries} \
             (order_id, customer_id, status, tickets_expected, attempts, created_at, updated_at) \
             VALUES ($1, $2, 'pending', $3, 0, $4, $4) ON CONFLICT (order_id) DO NOTHING"
        ))
        .bind(order_id)
        .bind(customer_id)
        .bind(tickets_expected)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!(
            "SELECT status, tickets_expected FROM {deliveries} WHERE order_id = $1{lock}"
        ))
        .bind(order_id)
        .fetch_one(&mut *tx)
        .await?;
        let status = stored_status(&row)?;
        let expected: i64 = row.try_get("tickets_expected")?;

        let inserted = sqlx::query(&format!(
            "INSERT INTO {tickets} (order_id, ticket_id, data) VALUES ($1, $2, $3) \
             ON CONFLICT (order_id, ticket_id) DO NOTHING"
        ))
        .bind(order_id)
        .bind(ticket_id)
        .bind(data)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.commit().await?;
            return Ok(Recorded::Duplicate);
        }
        if status != DeliveryStatus::Pending {
            tx.commit().await?;
            return Ok(Recorded::Late);
        }

        let received: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {tickets} WHERE order_id = $1"
        ))
        .bind(order_id)
        .fetch_one(&mut *tx)
        .await?;
        let recorded = if received >= expected {
            sqlx::query(&format!(
                "UPDATE {deliveries} SET status = 'queued', next_attempt_at = $2, updated_at = $2 \
                 WHERE order_id = $1"
            ))
            .bind(order_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Recorded::Ready
        } else {
            Recorded::Waiting { received, expected }
        };
        tx.commit().await?;
        Ok(recorded)
    }
}
