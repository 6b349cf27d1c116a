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
//!
//! A batch of tickets ([`Deliveries::record_tickets`], what the notifier
//! gets from one read of the feed) is one such statement per
//! [`TICKETS_PER_STATEMENT`] tickets on Postgres, and one transaction on
//! SQLite: the orders' rows are counted and queued together, in order-id
//! order, so two recorders of overlapping batches lock them in the same
//! order.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::Row;
use ticketing_event_store::Backend;

use super::{stored_status, Deliveries, DeliveryError, DeliveryStatus, Recorded, UnixMillis};

/// Tickets recorded by one Postgres statement: five parameters each, well
/// under the protocol's 65,535.
pub const TICKETS_PER_STATEMENT: usize = 1000;

/// One ticket for [`Deliveries::record_tickets`].
#[derive(Debug, Clone, Copy)]
pub struct NewTicket<'a> {
    pub order_id: &'a str,
    pub customer_id: &'a str,
    pub ticket_id: &'a str,
    /// How many tickets the order has in all.
    pub tickets_expected: i64,
    /// What the mail is composed from.
    pub data: &'a serde_json::Value,
}

/// SQLite: the upsert of the delivery row (`$1` order, `$2` customer, `$3`
/// expected count, `$4` now) given `added`, how many tickets this call
/// added (0 or 1; `WHERE true` keeps SQLite from reading the upsert's `ON`
/// as a join's): a new row is pending, or queued at once when it needs no
/// more; an existing row adds to its count and is queued by the ticket that
/// completes it.
fn upsert(deliveries: &str, added: &str) -> String {
    let complete = format!("d.tickets_received + {added} >= d.tickets_expected");
    format!(
        "INSERT INTO {deliveries} AS d \
         (order_id, customer_id, status, tickets_expected, tickets_received, attempts, next_attempt_at, created_at, updated_at) \
         SELECT $1, $2, CASE WHEN {added} >= $3 THEN 'queued' ELSE 'pending' END, $3, {added}, 0, \
                CASE WHEN {added} >= $3 THEN $4 END, $4, $4 \
         WHERE true \
         ON CONFLICT (order_id) DO UPDATE SET \
             tickets_received = d.tickets_received + {added}, \
             status = CASE WHEN d.status = 'pending' AND {complete} THEN 'queued' ELSE d.status END, \
             next_attempt_at = CASE WHEN d.status = 'pending' AND {complete} THEN $4 ELSE d.next_attempt_at END, \
             updated_at = CASE WHEN {added} > 0 THEN $4 ELSE d.updated_at END \
         RETURNING status, tickets_received, tickets_expected"
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
        let ticket = NewTicket {
            order_id,
            customer_id,
            ticket_id,
            tickets_expected,
            data,
        };
        let recorded = self.record_tickets(&[ticket], now).await?;
        recorded
            .into_iter()
            .next()
            .map(|(_, recorded)| recorded)
            .ok_or_else(|| DeliveryError::Corrupt(format!("order {order_id} was not recorded")))
    }

    /// Records `tickets` as [`Deliveries::record_ticket`] records each, all
    /// at once, in any order and with repeats. Says what happened to each
    /// order, in order-id order: an order whose tickets span two Postgres
    /// statements is named once per statement, and `Ready` by the one that
    /// queued it. A ticket that expects no tickets fails the whole call.
    pub async fn record_tickets(
        &self,
        tickets: &[NewTicket<'_>],
        now: UnixMillis,
    ) -> Result<Vec<(String, Recorded)>, DeliveryError> {
        if let Some(bad) = tickets.iter().find(|t| t.tickets_expected < 1) {
            return Err(DeliveryError::Invalid(format!(
                "order {} expects {} tickets",
                bad.order_id, bad.tickets_expected
            )));
        }
        let mut rows: Vec<(&NewTicket<'_>, String)> = tickets
            .iter()
            .map(|t| {
                serde_json::to_string(t.data)
                    .map(|data| (t, data))
                    .map_err(|e| DeliveryError::Invalid(format!("ticket data: {e}")))
            })
            .collect::<Result<_, _>>()?;
        rows.sort_by(|(a, _), (b, _)| (a.order_id, a.ticket_id).cmp(&(b.order_id, b.ticket_id)));
        match self.backend {
            Backend::Postgres => self.record_in_statements(&rows, now).await,
            Backend::Sqlite => self.record_in_transaction(&rows, now).await,
        }
    }

    async fn record_in_statements(
        &self,
        rows: &[(&NewTicket<'_>, String)],
        now: UnixMillis,
    ) -> Result<Vec<(String, Recorded)>, DeliveryError> {
        let mut recorded = Vec::new();
        for chunk in rows.chunks(TICKETS_PER_STATEMENT) {
            let sql = record_batch(self.tables.deliveries, self.tables.tickets, chunk.len());
            let mut query = sqlx::query(&sql).bind(now);
            for (ticket, data) in chunk {
                query = query
                    .bind(ticket.order_id)
                    .bind(ticket.customer_id)
                    .bind(ticket.ticket_id)
                    .bind(ticket.tickets_expected)
                    .bind(data.as_str());
            }
            let mut outcomes = query
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|row| {
                    let added: i64 = row.try_get("added")?;
                    Ok((row.try_get("order_id")?, outcome(row, added)?))
                })
                .collect::<Result<Vec<(String, Recorded)>, DeliveryError>>()?;
            // RETURNING keeps no order.
            outcomes.sort_by(|a, b| a.0.cmp(&b.0));
            recorded.extend(outcomes);
        }
        Ok(recorded)
    }

    async fn record_in_transaction(
        &self,
        rows: &[(&NewTicket<'_>, String)],
        now: UnixMillis,
    ) -> Result<Vec<(String, Recorded)>, DeliveryError> {
        let deliveries = self.tables.deliveries;
        let insert_ticket = format!(
            "INSERT INTO {} (order_id, ticket_id, data) VALUES ($1, $2, $3) \
             ON CONFLICT (order_id, ticket_id) DO NOTHING",
            self.tables.tickets
        );
        let upsert = upsert(deliveries, "$5");
        // Per order: how many tickets this call added, and the row as the
        // order's last ticket left it.
        let mut orders: BTreeMap<&str, (i64, AnyRow)> = BTreeMap::new();
        let mut tx = self.begin_write().await?;
        for (ticket, data) in rows {
            let added = sqlx::query(&insert_ticket)
                .bind(ticket.order_id)
                .bind(ticket.ticket_id)
                .bind(data.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let added = i64::try_from(added).unwrap_or(i64::MAX);
            let row = sqlx::query(&upsert)
                .bind(ticket.order_id)
                .bind(ticket.customer_id)
                .bind(ticket.tickets_expected)
                .bind(now)
                .bind(added)
                .fetch_one(&mut *tx)
                .await?;
            let before = orders.remove(ticket.order_id).map_or(0, |(n, _)| n);
            orders.insert(ticket.order_id, (before + added, row));
        }
        tx.commit().await?;
        orders
            .into_iter()
            .map(|(order_id, (added, row))| Ok((order_id.to_owned(), outcome(&row, added)?)))
            .collect()
    }
}

/// What recording `added` tickets did to the delivery row it returned.
fn outcome(row: &AnyRow, added: i64) -> Result<Recorded, DeliveryError> {
    let status = stored_status(row)?;
    let received: i64 = row.try_get("tickets_received")?;
    let expected: i64 = row.try_get("tickets_expected")?;
    Ok(match status {
        _ if added == 0 => Recorded::Duplicate,
        DeliveryStatus::Pending => Recorded::Waiting { received, expected },
        DeliveryStatus::Queued if received == expected => Recorded::Ready,
        _ => Recorded::Late,
    })
}

/// Postgres: `count` tickets (`$2…`, five parameters each: order,
/// customer, ticket, expected count, data; `$1` is now) inserted, counted
/// per order and upserted into the orders' delivery rows, in one statement.
/// Returns each order's row and how many of its tickets were new.
fn record_batch(deliveries: &str, tickets: &str, count: usize) -> String {
    let values = (0..count)
        .map(|i| {
            let p = 2 + 5 * i;
            format!(
                "(${p}, ${}, ${}, ${}::BIGINT, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let complete = "d.tickets_received + EXCLUDED.tickets_received >= d.tickets_expected";
    format!(
        "WITH input (order_id, customer_id, ticket_id, expected, data) AS (VALUES {values}), \
         added AS ( \
             INSERT INTO {tickets} (order_id, ticket_id, data) \
             SELECT order_id, ticket_id, data FROM input ORDER BY order_id, ticket_id \
             ON CONFLICT (order_id, ticket_id) DO NOTHING RETURNING order_id), \
         n AS (SELECT order_id, count(*) AS n FROM added GROUP BY order_id), \
         orders AS ( \
             SELECT i.order_id, min(i.customer_id) AS customer_id, min(i.expected) AS expected, \
                    coalesce(max(n.n), 0) AS added \
             FROM input i LEFT JOIN n ON n.order_id = i.order_id GROUP BY i.order_id), \
         upserted AS ( \
             INSERT INTO {deliveries} AS d \
             (order_id, customer_id, status, tickets_expected, tickets_received, attempts, next_attempt_at, created_at, updated_at) \
             SELECT order_id, customer_id, CASE WHEN added >= expected THEN 'queued' ELSE 'pending' END, \
                    expected, added, 0, CASE WHEN added >= expected THEN $1 END, $1, $1 \
             FROM orders ORDER BY order_id \
             ON CONFLICT (order_id) DO UPDATE SET \
                 tickets_received = d.tickets_received + EXCLUDED.tickets_received, \
                 status = CASE WHEN d.status = 'pending' AND {complete} THEN 'queued' ELSE d.status END, \
                 next_attempt_at = CASE WHEN d.status = 'pending' AND {complete} THEN $1 ELSE d.next_attempt_at END, \
                 updated_at = CASE WHEN EXCLUDED.tickets_received > 0 THEN $1 ELSE d.updated_at END \
             RETURNING d.order_id, d.status, d.tickets_received, d.tickets_expected) \
         SELECT u.order_id, u.status, u.tickets_received, u.tickets_expected, o.added \
         FROM upserted u JOIN orders o ON o.order_id = u.order_id"
    )
}
