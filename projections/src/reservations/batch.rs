//! A batch of reservation events folded into each row's final values, then
//! written with one multi-row INSERT for the reservations created in the
//! batch and one multi-row `UPDATE … FROM` for those created before it.

use sqlx::AnyConnection;
use std::collections::HashMap;
use ticketing_aggregates::{Reservation, ReservationEvent};
use ticketing_event_store::{Backend, FeedEvent};

use super::labels_json;
use crate::fill::Carry;
use crate::schema::{placeholders, RESERVATIONS};
use crate::seat_map::payload;
use crate::{millis, ProjectionError, Target};

/// Rows per statement (seven binds each at most).
const CHUNK: usize = 1000;

/// A row created in this batch, in its final state.
struct NewRow {
    id: String,
    customer: String,
    show_id: String,
    seats: String,
    until: i64,
    status: &'static str,
    order_id: Option<String>,
    global_seq: i64,
}

/// What changed in a row created before this batch (`None`: unchanged).
struct Change {
    id: String,
    until: Option<i64>,
    status: Option<&'static str>,
    order_id: Option<String>,
    global_seq: i64,
}

#[derive(Default)]
pub(crate) struct Fold {
    created: Vec<NewRow>,
    changed: Vec<Change>,
    /// Where each reservation seen so far sits: `(true, i)` in `created`.
    index: HashMap<String, (bool, usize)>,
}

impl Carry for Fold {
    fn add(&mut self, event: &FeedEvent) -> Result<(), ProjectionError> {
        if event.event.aggregate_type == <Reservation as cqrs_es::Aggregate>::TYPE {
            self.fold(event)?;
        }
        Ok(())
    }

    fn rows(&self) -> usize {
        self.created.len() + self.changed.len()
    }

    async fn write(self, conn: &mut AnyConnection, target: Target) -> Result<(), ProjectionError> {
        self.write_to(conn, &target.table(&RESERVATIONS), target.backend)
            .await
    }
}

impl Fold {
    fn fold(&mut self, event: &FeedEvent) -> Result<(), ProjectionError> {
        let id = event.event.aggregate_id.clone();
        let global_seq = event.global_seq;
        let (until, status, order_id) = match payload::<ReservationEvent>(event)? {
            ReservationEvent::ReservationCreated {
                customer,
                show_id,
                seats,
                until,
                ..
            } => {
                self.index.insert(id.clone(), (true, self.created.len()));
                self.created.push(NewRow {
                    id,
                    customer: customer.to_string(),
                    show_id: show_id.to_string(),
                    seats: labels_json(&seats),
                    until: millis(until),
                    status: "ACTIVE",
                    order_id: None,
                    global_seq,
                });
                return Ok(());
            }
            ReservationEvent::ReservationExtended { until } => (Some(millis(until)), None, None),
            ReservationEvent::ReservationReleased {} => (None, Some("RELEASED"), None),
            ReservationEvent::ReservationExpired {} => (None, Some("EXPIRED"), None),
            ReservationEvent::ReservationConverted { order_id } => {
                (None, Some("CONVERTED"), Some(order_id.to_string()))
            }
        };
        match self.index.get(&id).copied() {
            Some((true, at)) => {
                let row = &mut self.created[at];
                row.until = until.unwrap_or(row.until);
                row.status = status.unwrap_or(row.status);
                row.order_id = order_id.or(row.order_id.take());
                row.global_seq = global_seq;
            }
            Some((false, at)) => {
                let change = &mut self.changed[at];
                change.until = until.or(change.until);
                change.status = status.or(change.status);
                change.order_id = order_id.or(change.order_id.take());
                change.global_seq = global_seq;
            }
            None => {
                self.index.insert(id.clone(), (false, self.changed.len()));
                self.changed.push(Change {
                    id,
                    until,
                    status,
                    order_id,
                    global_seq,
                });
            }
        }
        Ok(())
    }

    async fn write_to(
        self,
        conn: &mut AnyConnection,
        table: &str,
        backend: Backend,
    ) -> Result<(), ProjectionError> {
        for chunk in self.created.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO {table} (reservation_id, customer_id, show_id, seat_labels, until, status, order_id, global_seq) VALUES {}",
                placeholders(chunk.len(), 8, |_| None)
            );
            let mut query = sqlx::query(&sql);
            for row in chunk {
                query = query
                    .bind(row.id.as_str())
                    .bind(row.customer.as_str())
                    .bind(row.show_id.as_str())
                    .bind(row.seats.as_str())
                    .bind(row.until)
                    .bind(row.status)
                    .bind(row.order_id.as_deref())
                    .bind(row.global_seq);
            }
            query.execute(&mut *conn).await?;
        }
        if backend == Backend::Sqlite {
            // In-process, one prepared UPDATE per row beats SQLite's plan
            // for UPDATE … FROM a VALUES list.
            for change in &self.changed {
                let sql = format!(
                    "UPDATE {table} SET until = COALESCE($1, until), status = COALESCE($2, status), \
                     order_id = COALESCE($3, order_id), global_seq = $4 WHERE reservation_id = $5"
                );
                sqlx::query(&sql)
                    .bind(change.until)
                    .bind(change.status)
                    .bind(change.order_id.as_deref())
                    .bind(change.global_seq)
                    .bind(change.id.as_str())
                    .execute(&mut *conn)
                    .await?;
            }
            return Ok(());
        }
        for chunk in self.changed.chunks(CHUNK) {
            let types = |column| Some(["TEXT", "BIGINT", "TEXT", "TEXT", "BIGINT"][column]);
            let sql = format!(
                "WITH v (reservation_id, until, status, order_id, global_seq) AS (VALUES {}) \
                 UPDATE {table} AS t SET until = COALESCE(v.until, t.until), \
                 status = COALESCE(v.status, t.status), order_id = COALESCE(v.order_id, t.order_id), \
                 global_seq = v.global_seq FROM v WHERE t.reservation_id = v.reservation_id",
                placeholders(chunk.len(), 5, types)
            );
            let mut query = sqlx::query(&sql);
            for change in chunk {
                query = query
                    .bind(change.id.as_str())
                    .bind(change.until)
                    .bind(change.status)
                    .bind(change.order_id.as_deref())
                    .bind(change.global_seq);
            }
            query.execute(&mut *conn).await?;
        }
        Ok(())
    }
}
