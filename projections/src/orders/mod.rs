//! The orders read model: one row per order (status, total, current
//! payment) and one per reservation in it, for GetOrder and ListMyOrders,
//! and the list of orders waiting for their payment that the payment saga
//! resumes after a crash.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use ticketing_aggregates::{Order, OrderStatus};
use ticketing_event_store::{Backend, FeedEvent};

mod batch;

use crate::reservations::labels_from_json;
use crate::schema::{ORDERS, ORDER_ITEMS, SHOWS};
use crate::{from_millis, Projection, ProjectionError, ReadModel, Target};

#[derive(Clone)]
pub struct OrdersProjection(pub Target);

impl Projection for OrdersProjection {
    fn name(&self) -> &'static str {
        ReadModel::Orders.checkpoint(self.0.shadow)
    }

    fn wants(&self, event: &FeedEvent) -> bool {
        ReadModel::Orders.folds(event)
    }

    /// Folds the batch per order and writes each row once.
    async fn apply_batch(
        &self,
        conn: &mut AnyConnection,
        events: &[FeedEvent],
    ) -> Result<(), ProjectionError> {
        let (orders, items) = (self.0.table(&ORDERS), self.0.table(&ORDER_ITEMS));
        let mut fold = batch::Fold::default();
        for event in events {
            if event.event.aggregate_type == <Order as cqrs_es::Aggregate>::TYPE {
                fold.add(conn, &items, event).await?;
            }
        }
        fold.write(conn, (&orders, &items), self.0.backend).await
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub order_id: String,
    pub customer_id: String,
    /// Never `Unknown`: a row exists from OrderOpened on.
    pub status: OrderStatus,
    pub currency: String,
    /// Sum of the items' prices, in minor units of `currency`.
    pub total_minor: i64,
    /// The payment last started, once checkout began.
    pub payment_id: Option<String>,
    /// Why the last payment failed, until checkout starts again.
    pub failure_reason: Option<String>,
    pub opened_at: DateTime<Utc>,
    /// Global position of the last event folded into this row.
    pub global_seq: i64,
    /// By reservation id, i.e. in the order the reservations were made.
    pub items: Vec<OrderItemRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItemRow {
    pub reservation_id: String,
    pub show_id: String,
    pub seat_labels: Vec<String>,
    pub price_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrdersPage {
    pub orders: Vec<OrderRow>,
    /// The last order id of this page when more may follow.
    pub next_after: Option<String>,
}

/// Queries on the orders.
#[derive(Clone)]
pub struct Orders {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// An order in CHECKOUT, as the expirer's scan returns it and resumes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutCursor {
    pub order_id: String,
    pub payment_id: String,
    /// When its payment was requested (unix ms; 0: before this was kept).
    pub checkout_at: i64,
}

const COLUMNS: &str = "order_id, customer_id, status, currency, total_minor, payment_id, failure_reason, opened_at, global_seq";

impl Orders {
    pub async fn get(&self, order_id: &str) -> Result<Option<OrderRow>, ProjectionError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE order_id = $1",
            ORDERS.live(self.backend)
        );
        let row = sqlx::query(&sql)
            .bind(order_id)
            .fetch_optional(&self.pool)
            .await?;
        let mut orders = row.iter().map(order_row).collect::<Result<Vec<_>, _>>()?;
        self.attach_items(&mut orders).await?;
        Ok(orders.pop())
    }

    /// The customer's orders, newest first (order ids are time-ordered
    /// ULIDs), `limit` at a time, with ids below `after`.
    pub async fn list_for_customer(
        &self,
        customer_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<OrdersPage, ProjectionError> {
        let below = if after.is_some() {
            "AND order_id < $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE customer_id = $1 {below} ORDER BY order_id DESC LIMIT $2",
            ORDERS.live(self.backend)
        );
        let mut query = sqlx::query(&sql).bind(customer_id).bind(limit as i64 + 1);
        if let Some(after) = after {
            query = query.bind(after);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut orders = rows.iter().map(order_row).collect::<Result<Vec<_>, _>>()?;
        let more = orders.len() > limit;
        orders.truncate(limit);
        self.attach_items(&mut orders).await?;
        let next_after = if more {
            orders.last().map(|o| o.order_id.clone())
        } else {
            None
        };
        Ok(OrdersPage { orders, next_after })
    }

    /// Orders whose checkout began at or before `cutoff` (unix ms) and is
    /// still open, oldest first, after `after` (the last one a previous
    /// call returned): the expirer's recovery scan walks them in pages, so
    /// a run of orders that never settle cannot hide the ones behind it.
    /// Orders from before `checkout_at` was kept count as oldest.
    pub async fn in_checkout(
        &self,
        cutoff: i64,
        after: Option<&CheckoutCursor>,
        limit: usize,
    ) -> Result<Vec<CheckoutCursor>, ProjectionError> {
        let (after_at, after_id) = after.map_or((-1, ""), |c| (c.checkout_at, c.order_id.as_str()));
        let sql = format!(
            "SELECT order_id, payment_id, COALESCE(checkout_at, 0) AS at FROM {} \
             WHERE status = 'CHECKOUT' AND COALESCE(checkout_at, 0) <= $1 \
             AND (COALESCE(checkout_at, 0) > $2 OR (COALESCE(checkout_at, 0) = $2 AND order_id > $3)) \
             ORDER BY COALESCE(checkout_at, 0), order_id LIMIT $4",
            ORDERS.live(self.backend)
        );
        let rows = sqlx::query(&sql)
            .bind(cutoff)
            .bind(after_at)
            .bind(after_id)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(CheckoutCursor {
                    order_id: row.try_get("order_id")?,
                    payment_id: row.try_get("payment_id")?,
                    checkout_at: row.try_get("at")?,
                })
            })
            .collect()
    }

    /// Paid orders with a seat on a cancelled show, for the expirer to
    /// refund; driven by the (few) cancelled shows and an index per show.
    pub async fn paid_on_cancelled_shows(
        &self,
        limit: usize,
    ) -> Result<Vec<String>, ProjectionError> {
        let sql = format!(
            "SELECT DISTINCT o.order_id FROM {shows} s \
             JOIN {items} i ON i.show_id = s.show_id \
             JOIN {orders} o ON o.order_id = i.order_id \
             WHERE s.status = 'CANCELLED' AND o.status = 'PAID' LIMIT $1",
            shows = SHOWS.live(self.backend),
            items = ORDER_ITEMS.live(self.backend),
            orders = ORDERS.live(self.backend),
        );
        let rows = sqlx::query(&sql)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get("order_id"))
            .collect::<Result<_, _>>()?)
    }

    /// Loads the items of all `orders` in one query.
    async fn attach_items(&self, orders: &mut [OrderRow]) -> Result<(), ProjectionError> {
        if orders.is_empty() {
            return Ok(());
        }
        let placeholders: Vec<String> = (1..=orders.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT order_id, reservation_id, show_id, seat_labels, price_minor FROM {} \
             WHERE order_id IN ({}) ORDER BY order_id, reservation_id",
            ORDER_ITEMS.live(self.backend),
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for order in orders.iter() {
            query = query.bind(order.order_id.clone());
        }
        for row in query.fetch_all(&self.pool).await? {
            let order_id: String = row.try_get("order_id")?;
            let item = OrderItemRow {
                reservation_id: row.try_get("reservation_id")?,
                show_id: row.try_get("show_id")?,
                seat_labels: labels_from_json(&row.try_get::<String, _>("seat_labels")?)?,
                price_minor: row.try_get("price_minor")?,
            };
            if let Some(order) = orders.iter_mut().find(|o| o.order_id == order_id) {
                order.items.push(item);
            }
        }
        Ok(())
    }
}

fn order_row(row: &AnyRow) -> Result<OrderRow, ProjectionError> {
    let status = match row.try_get::<String, _>("status")?.as_str() {
        "CART" => OrderStatus::Cart,
        "CHECKOUT" => OrderStatus::Checkout,
        "PAID" => OrderStatus::Paid,
        "PAYMENT_FAILED" => OrderStatus::PaymentFailed,
        "CANCELLED" => OrderStatus::Cancelled,
        "EXPIRED" => OrderStatus::Expired,
        "REFUNDED" => OrderStatus::Refunded,
        other => return Err(ProjectionError::Corrupt(format!("order status {other:?}"))),
    };
    Ok(OrderRow {
        order_id: row.try_get("order_id")?,
        customer_id: row.try_get("customer_id")?,
        status,
        currency: row.try_get("currency")?,
        total_minor: row.try_get("total_minor")?,
        payment_id: row.try_get("payment_id")?,
        failure_reason: row.try_get("failure_reason")?,
        opened_at: from_millis(row.try_get("opened_at")?),
        global_seq: row.try_get("global_seq")?,
        items: Vec::new(),
    })
}
