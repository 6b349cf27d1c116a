//! The orders read model answers `get`, `list_for_customer` and
//! `in_checkout` exactly as the log says, on both backends: a scripted
//! history with items added and removed, a failed then a successful
//! payment, a cancellation, a pending checkout and another customer's cart;
//! and it answers the same after a rebuild repaired it from the log.

mod support;

use chrono::{DateTime, Utc};
use support::{labels, open_store, read_all, rebuild_over_corruption, Log};
use ticketing_aggregates::*;
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ticketing_event_store::Backend;
use ticketing_projections::*;

fn item(show: &ShowId, seats: &[&str], price_minor: i64) -> OrderItem {
    OrderItem {
        reservation_id: ReservationId::generate(),
        show_id: show.clone(),
        seat_labels: labels(seats),
        price_minor,
        seat_prices: Vec::new(),
    }
}

fn item_row(item: &OrderItem) -> OrderItemRow {
    OrderItemRow {
        reservation_id: item.reservation_id.to_string(),
        show_id: item.show_id.to_string(),
        seat_labels: item.seat_labels.iter().map(|l| l.to_string()).collect(),
        price_minor: item.price_minor,
    }
}

async fn scripted_history_answers_every_query(url: String) {
    let store = open_store(&url).await;
    let backend = store.backend();
    // Small batches, so orders span batches; the rebuild below folds the
    // whole log in one, and its drift check compares the two.
    let projector =
        Projector::new(store.clone(), OrdersProjection(Target::live(backend))).with_batch_size(3);
    let orders = Orders {
        pool: store.read_pool().clone(),
        backend,
    };
    let mut log = Log::new(store.clone());

    let (customer, other) = (UserRef::generate(), UserRef::generate());
    let show = ShowId::generate();
    // Generated in one millisecond, ULIDs need sorting to be in time order.
    let mut ids: Vec<OrderId> = (0..4).map(|_| OrderId::generate()).collect();
    ids.sort();
    let [o1, o2, o3, o4] = <[OrderId; 4]>::try_from(ids).unwrap();
    let [p1, p2, p3] = std::array::from_fn(|_| PaymentId::generate());
    let opened = |order_id: &OrderId, customer: &UserRef| OrderEvent::OrderOpened {
        order_id: order_id.clone(),
        customer: customer.clone(),
        currency: Currency::parse("currency", "EUR").unwrap(),
    };
    let checkout = |payment_id: &PaymentId, total_minor| OrderEvent::CheckoutStarted {
        payment_id: payment_id.clone(),
        total_minor,
    };
    let (kept, removed) = (
        item(&show, &["A-1", "A-2"], 5000),
        item(&show, &["B-1"], 2000),
    );
    let later = item(&show, &["D-1"], 1500);

    // Two items in, one out, then checkout.
    let events = [
        opened(&o1, &customer),
        OrderEvent::ItemAdded(kept.clone()),
        OrderEvent::ItemAdded(removed.clone()),
        OrderEvent::ItemRemoved {
            reservation_id: removed.reservation_id.clone(),
        },
        checkout(&p1, 5000),
    ];
    log.append("Order", o1.as_str(), &events).await;
    ticketing_event_store::testing::settle_feed(&store).await;
    projector.catch_up().await.unwrap();
    let row = orders.get(o1.as_str()).await.unwrap().unwrap();
    assert_eq!((row.status, row.total_minor), (OrderStatus::Checkout, 5000));
    assert_eq!(row.items, vec![item_row(&kept)]);
    let waiting = vec![(o1.to_string(), p1.to_string())];
    assert_eq!(waiting_at(&orders, i64::MAX).await, waiting);

    // The first payment fails.
    let failed = OrderEvent::OrderPaymentFailed {
        payment_id: p1.clone(),
        reason: "card declined".into(),
    };
    log.append("Order", o1.as_str(), &[failed]).await;
    ticketing_event_store::testing::settle_feed(&store).await;
    projector.catch_up().await.unwrap();
    let row = orders.get(o1.as_str()).await.unwrap().unwrap();
    assert_eq!(row.status, OrderStatus::PaymentFailed);
    assert_eq!(row.failure_reason.as_deref(), Some("card declined"));
    assert_eq!(row.payment_id, Some(p1.to_string()));
    assert_eq!(waiting_at(&orders, i64::MAX).await, vec![]);

    // The second succeeds; a cancelled order, a pending one, another's cart.
    let paid = OrderEvent::OrderPaid {
        payment_id: p2.clone(),
    };
    log.append("Order", o1.as_str(), &[checkout(&p2, 5000), paid])
        .await;
    let cancelled = [opened(&o2, &customer), OrderEvent::OrderCancelled {}];
    log.append("Order", o2.as_str(), &cancelled).await;
    let pending = [
        opened(&o3, &customer),
        OrderEvent::ItemAdded(later.clone()),
        checkout(&p3, 1500),
    ];
    log.append("Order", o3.as_str(), &pending).await;
    log.append("Order", o4.as_str(), &[opened(&o4, &other)])
        .await;
    ticketing_event_store::testing::settle_feed(&store).await;
    projector.catch_up().await.unwrap();

    // Everything below is answered by a model rebuilt from the log after
    // it was corrupted: one item lost, one status wrong (three rows differ).
    let schema = if backend == Backend::Postgres {
        "bc_ordering."
    } else {
        ""
    };
    rebuild_over_corruption(
        &store,
        ReadModel::Orders,
        &[
            &format!("DELETE FROM {schema}order_items WHERE order_id = '{o3}'"),
            &format!("UPDATE {schema}orders SET status = 'PAID' WHERE order_id = '{o4}'"),
        ],
        3,
        &["orders_customer", "orders_status"],
    )
    .await;

    let feed = read_all(&store).await;
    let expected = |id: &OrderId,
                    owner: &UserRef,
                    status: OrderStatus,
                    payment: Option<&PaymentId>,
                    items: &[&OrderItem]| {
        let events = feed.iter().filter(|e| e.event.aggregate_id == id.as_str());
        let opened_at = events.clone().next().unwrap().recorded_at;
        OrderRow {
            order_id: id.to_string(),
            customer_id: owner.to_string(),
            status,
            currency: "EUR".into(),
            total_minor: items.iter().map(|i| i.price_minor).sum(),
            payment_id: payment.map(|p| p.to_string()),
            failure_reason: None,
            opened_at: DateTime::<Utc>::from_timestamp_millis(opened_at.timestamp_millis())
                .unwrap(),
            global_seq: events.map(|e| e.global_seq).max().unwrap(),
            items: items.iter().map(|i| item_row(i)).collect(),
        }
    };
    let paid = expected(&o1, &customer, OrderStatus::Paid, Some(&p2), &[&kept]);
    let cancelled = expected(&o2, &customer, OrderStatus::Cancelled, None, &[]);
    let pending = expected(&o3, &customer, OrderStatus::Checkout, Some(&p3), &[&later]);
    let cart = expected(&o4, &other, OrderStatus::Cart, None, &[]);
    for row in [&paid, &cancelled, &pending, &cart] {
        let actual = orders.get(&row.order_id).await.unwrap();
        assert_eq!(actual.as_ref(), Some(row));
    }
    let unknown = OrderId::generate();
    assert_eq!(orders.get(unknown.as_str()).await.unwrap(), None);
    let waiting = vec![(o3.to_string(), p3.to_string())];
    assert_eq!(waiting_at(&orders, i64::MAX).await, waiting);
    // Its checkout began when CheckoutStarted was recorded (the rebuilt
    // row too): not before that, and a page after it is empty.
    let began = feed
        .iter()
        .find(|e| e.event.aggregate_id == o3.as_str() && e.event.event_type == "CheckoutStarted")
        .map(|e| e.recorded_at.timestamp_millis())
        .unwrap();
    let found = orders.in_checkout(began, None, 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].checkout_at, began);
    assert_eq!(waiting_at(&orders, began - 1).await, vec![]);
    let after = orders
        .in_checkout(began, Some(&found[0]), 10)
        .await
        .unwrap();
    assert_eq!(after, vec![]);

    // "My orders": newest first, one per page, then all at once.
    let page = |rows: &[&OrderRow], next_after: Option<&OrderId>| OrdersPage {
        orders: rows.iter().map(|&r| r.clone()).collect(),
        next_after: next_after.map(|o| o.to_string()),
    };
    let me = customer.as_str();
    let mine = orders.list_for_customer(me, None, 1).await.unwrap();
    assert_eq!(mine, page(&[&pending], Some(&o3)));
    let mine = orders
        .list_for_customer(me, Some(o3.as_str()), 1)
        .await
        .unwrap();
    assert_eq!(mine, page(&[&cancelled], Some(&o2)));
    let mine = orders
        .list_for_customer(me, Some(o2.as_str()), 1)
        .await
        .unwrap();
    assert_eq!(mine, page(&[&paid], None));
    let mine = orders.list_for_customer(me, None, 10).await.unwrap();
    assert_eq!(mine, page(&[&pending, &cancelled, &paid], None));
    let theirs = orders
        .list_for_customer(other.as_str(), None, 10)
        .await
        .unwrap();
    assert_eq!(theirs, page(&[&cart], None));
}

#[tokio::test]
async fn sqlite_orders_follow_the_log() {
    scripted_history_answers_every_query(fresh_sqlite_url()).await;
}

#[tokio::test]
async fn postgres_orders_follow_the_log() {
    scripted_history_answers_every_query(fresh_postgres_url().await).await;
}

/// `(order, payment)` of the orders whose checkout began by `cutoff`.
async fn waiting_at(orders: &Orders, cutoff: i64) -> Vec<(String, String)> {
    orders
        .in_checkout(cutoff, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.order_id, c.payment_id))
        .collect()
}
