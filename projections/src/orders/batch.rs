//! A batch of order events folded into each order's final values: one
//! multi-row INSERT for the orders opened in the batch, one `UPDATE … FROM`
//! (per-row on SQLite) for those opened before, and one INSERT for the items
//! added and still there. An item removed that was added in an earlier
//! batch is deleted as it comes, which gives its price (and finds a model
//! that lost the row).

use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use ticketing_aggregates::{OrderEvent, OrderItem};
use ticketing_event_store::{Backend, FeedEvent};

use crate::reservations::labels_json;
use crate::schema::placeholders;
use crate::seat_map::payload;
use crate::{millis, ProjectionError};

const CHUNK: usize = 1000;

/// An order opened in this batch, in its final state.
struct NewOrder {
    id: String,
    customer: String,
    currency: String,
    opened_at: i64,
    state: State,
}

/// The columns events change, for a new order (all known) or, as changes,
/// for an older one (`None`: unchanged).
#[derive(Default)]
struct State {
    status: Option<&'static str>,
    payment_id: Option<String>,
    /// `Some(None)`: cleared.
    failure_reason: Option<Option<String>>,
    total_delta: i64,
    /// When the payment was last requested (unix ms).
    checkout_at: Option<i64>,
    global_seq: i64,
}

#[derive(Default)]
pub(super) struct Fold {
    opened: Vec<NewOrder>,
    changed: Vec<(String, State)>,
    /// Where each order seen sits: `(true, i)` in `opened`.
    index: HashMap<String, (bool, usize)>,
    /// Items added in this batch and not removed since.
    items: Vec<(String, OrderItem)>,
}

impl Fold {
    /// Folds one event; deletes an older item at once (see the module doc).
    pub(super) async fn add(
        &mut self,
        conn: &mut AnyConnection,
        items_table: &str,
        event: &FeedEvent,
    ) -> Result<(), ProjectionError> {
        let id = event.event.aggregate_id.clone();
        let mut change = State {
            global_seq: event.global_seq,
            ..State::default()
        };
        match payload::<OrderEvent>(event)? {
            OrderEvent::OrderOpened {
                customer, currency, ..
            } => {
                self.index.insert(id.clone(), (true, self.opened.len()));
                change.status = Some("CART");
                self.opened.push(NewOrder {
                    id,
                    customer: customer.to_string(),
                    currency: currency.to_string(),
                    opened_at: millis(event.recorded_at),
                    state: change,
                });
                return Ok(());
            }
            OrderEvent::ItemAdded(item) => {
                change.total_delta = item.price_minor;
                self.items.push((id.clone(), item));
            }
            OrderEvent::ItemRemoved { reservation_id } => {
                let here = self.items.iter().position(|(order, item)| {
                    *order == id && item.reservation_id == reservation_id
                });
                change.total_delta = -match here {
                    Some(at) => self.items.remove(at).1.price_minor,
                    None => delete_item(conn, items_table, &id, reservation_id.as_str()).await?,
                };
            }
            OrderEvent::CheckoutStarted { payment_id, .. } => {
                change.status = Some("CHECKOUT");
                change.payment_id = Some(payment_id.to_string());
                change.failure_reason = Some(None);
                change.checkout_at = Some(millis(event.recorded_at));
            }
            OrderEvent::OrderPaid { .. } => change.status = Some("PAID"),
            OrderEvent::OrderPaymentFailed { reason, .. } => {
                change.status = Some("PAYMENT_FAILED");
                change.failure_reason = Some(Some(reason));
            }
            OrderEvent::OrderCancelled {} => change.status = Some("CANCELLED"),
            OrderEvent::OrderExpired {} => change.status = Some("EXPIRED"),
            OrderEvent::OrderRefunded { .. } => change.status = Some("REFUNDED"),
        }
        let state = match self.index.get(&id).copied() {
            Some((true, at)) => &mut self.opened[at].state,
            Some((false, at)) => &mut self.changed[at].1,
            None => {
                self.index.insert(id.clone(), (false, self.changed.len()));
                self.changed.push((id, State::default()));
                &mut self.changed.last_mut().expect("just pushed").1
            }
        };
        state.status = change.status.or(state.status);
        state.payment_id = change.payment_id.or(state.payment_id.take());
        state.failure_reason = change.failure_reason.or(state.failure_reason.take());
        state.total_delta += change.total_delta;
        state.checkout_at = change.checkout_at.or(state.checkout_at);
        state.global_seq = change.global_seq;
        Ok(())
    }

    pub(super) async fn write(
        self,
        conn: &mut AnyConnection,
        (orders, items): (&str, &str),
        backend: Backend,
    ) -> Result<(), ProjectionError> {
        for chunk in self.opened.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO {orders} (order_id, customer_id, status, currency, total_minor, payment_id, failure_reason, opened_at, global_seq, checkout_at) VALUES {}",
                placeholders(chunk.len(), 10, |_| None)
            );
            let mut query = sqlx::query(&sql);
            for order in chunk {
                let state = &order.state;
                query = query
                    .bind(order.id.as_str())
                    .bind(order.customer.as_str())
                    .bind(state.status.unwrap_or("CART"))
                    .bind(order.currency.as_str())
                    .bind(state.total_delta)
                    .bind(state.payment_id.as_deref())
                    .bind(state.failure_reason.clone().flatten())
                    .bind(order.opened_at)
                    .bind(state.global_seq)
                    .bind(state.checkout_at);
            }
            query.execute(&mut *conn).await?;
        }
        if backend == Backend::Sqlite {
            // In-process, one prepared UPDATE per order beats SQLite's plan
            // for UPDATE … FROM a VALUES list.
            for (id, change) in &self.changed {
                update_one(conn, orders, id, change).await?;
            }
        } else {
            let changed: Vec<(String, &State)> =
                self.changed.iter().map(|(id, s)| (id.clone(), s)).collect();
            for chunk in changed.chunks(CHUNK) {
                update(conn, orders, chunk).await?;
            }
        }
        for chunk in self.items.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO {items} (order_id, reservation_id, show_id, seat_labels, price_minor) VALUES {}",
                placeholders(chunk.len(), 5, |_| None)
            );
            let mut query = sqlx::query(&sql);
            for (order, item) in chunk {
                query = query
                    .bind(order.as_str())
                    .bind(item.reservation_id.as_str())
                    .bind(item.show_id.as_str())
                    .bind(labels_json(&item.seat_labels))
                    .bind(item.price_minor);
            }
            query.execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// Applies the changes of orders opened before the batch.
async fn update(
    conn: &mut AnyConnection,
    orders: &str,
    changes: &[(String, &State)],
) -> Result<(), ProjectionError> {
    let types = |column| {
        Some(
            [
                "TEXT", "TEXT", "TEXT", "BIGINT", "TEXT", "BIGINT", "BIGINT", "BIGINT",
            ][column],
        )
    };
    let sql = format!(
        "WITH v (order_id, status, payment_id, failure_set, failure_reason, total_delta, global_seq, checkout_at) AS (VALUES {}) \
         UPDATE {orders} AS t SET status = COALESCE(v.status, t.status), \
         payment_id = COALESCE(v.payment_id, t.payment_id), \
         failure_reason = CASE WHEN v.failure_set = 1 THEN v.failure_reason ELSE t.failure_reason END, \
         total_minor = t.total_minor + v.total_delta, global_seq = v.global_seq, \
         checkout_at = COALESCE(v.checkout_at, t.checkout_at) \
         FROM v WHERE t.order_id = v.order_id",
        placeholders(changes.len(), 8, types)
    );
    let mut query = sqlx::query(&sql);
    for (id, change) in changes {
        query = query
            .bind(id.as_str())
            .bind(change.status)
            .bind(change.payment_id.as_deref())
            .bind(i64::from(change.failure_reason.is_some()))
            .bind(change.failure_reason.clone().flatten())
            .bind(change.total_delta)
            .bind(change.global_seq)
            .bind(change.checkout_at);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

async fn update_one(
    conn: &mut AnyConnection,
    orders: &str,
    id: &str,
    change: &State,
) -> Result<(), ProjectionError> {
    let sql = format!(
        "UPDATE {orders} SET status = COALESCE($1, status), payment_id = COALESCE($2, payment_id), \
         failure_reason = CASE WHEN $3 = 1 THEN $4 ELSE failure_reason END, \
         total_minor = total_minor + $5, global_seq = $6, checkout_at = COALESCE($7, checkout_at) \
         WHERE order_id = $8"
    );
    sqlx::query(&sql)
        .bind(change.status)
        .bind(change.payment_id.as_deref())
        .bind(i64::from(change.failure_reason.is_some()))
        .bind(change.failure_reason.clone().flatten())
        .bind(change.total_delta)
        .bind(change.global_seq)
        .bind(change.checkout_at)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Deletes an item added in an earlier batch; returns its price.
async fn delete_item(
    conn: &mut AnyConnection,
    items: &str,
    order_id: &str,
    reservation_id: &str,
) -> Result<i64, ProjectionError> {
    let sql = format!(
        "DELETE FROM {items} WHERE order_id = $1 AND reservation_id = $2 RETURNING price_minor"
    );
    let removed = sqlx::query(&sql)
        .bind(order_id)
        .bind(reservation_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| {
            ProjectionError::Corrupt(format!(
                "order {order_id} has no item {reservation_id} to remove"
            ))
        })?;
    Ok(removed.try_get("price_minor")?)
}
