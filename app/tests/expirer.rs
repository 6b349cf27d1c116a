//! The expirer's recovery of payments left in checkout, on both backends:
//! it leaves a checkout younger than its threshold alone (the call that
//! began it may still be finishing), resumes the older ones oldest first,
//! and a full page of orders that stay unsettled does not hide the ones
//! behind it.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};
use ticketing::expirer::{Expirer, BATCH};
use ticketing_aggregates::{
    ChargeRequest, Clock, Currency, OrderId, OrderStatus, PaymentId, PaymentProvider, SeatLabel,
    ShowId, UserRef,
};
use ticketing_commands::testing::{one_row_show, published_show};
use ticketing_commands::{Engine, EngineConfig};
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url, settle_feed};
use ticketing_event_store::Store;
use ticketing_payment::SimulatedProvider;
use ticketing_projections::{Orders, Projector, ReadModel, Reservations, Target};

/// The engine's clock: starts at the real now (the orders read model keeps
/// the store's time of each checkout) and moves only when told.
#[derive(Clone)]
struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

struct World {
    store: Store,
    engine: Engine,
    clock: TestClock,
    provider: SimulatedProvider,
    show: ShowId,
    orders: Orders,
}

async fn world(url: &str, seats: usize) -> World {
    let (store, _) = ticketing::migrate_store(url).await.expect("migrate");
    let provider = SimulatedProvider::new(store.read_pool().clone());
    let clock = TestClock(Arc::new(Mutex::new(Utc::now())));
    let engine = Engine::new(
        store.clone(),
        Arc::new(clock.clone()),
        EngineConfig::default(),
    )
    .with_provider(Arc::new(provider.clone()));
    let show = published_show(
        &engine,
        one_row_show("Hamlet", "Globe", Utc::now() + Duration::days(30), seats),
    )
    .await;
    let orders = Orders {
        pool: store.read_pool().clone(),
        backend: store.backend(),
    };
    World {
        store,
        engine,
        clock,
        provider,
        show,
        orders,
    }
}

impl World {
    /// An order of one seat whose checkout began and was interrupted before
    /// its charge (each order has a customer of its own).
    async fn interrupted_checkout(&self, seat: usize) -> (OrderId, PaymentId) {
        let customer = UserRef::generate();
        let label = SeatLabel::parse("seat", &format!("A-{seat}")).unwrap();
        let reservation = self
            .engine
            .reserve_seats(&customer, &self.show, vec![label], None)
            .await
            .unwrap()
            .reservation_id;
        let order = self
            .engine
            .add_to_cart(&customer, &reservation, None)
            .await
            .unwrap()
            .order_id;
        let payment = self
            .engine
            .start_checkout(&customer, &order, "tok_visa")
            .await
            .unwrap();
        (order, payment)
    }

    fn expirer(&self) -> Expirer {
        Expirer::new(
            self.engine.clone(),
            Reservations {
                pool: self.store.read_pool().clone(),
                backend: self.store.backend(),
            },
            self.orders.clone(),
            std::time::Duration::from_secs(1),
            ticketing::expirer::RESUME_AFTER,
        )
    }

    async fn project_orders(&self) {
        settle_feed(&self.store).await;
        let projection = ReadModel::Orders.projection(Target::live(self.store.backend()));
        Projector::new(self.store.clone(), projection)
            .catch_up()
            .await
            .unwrap();
    }

    async fn status(&self, order: &OrderId) -> OrderStatus {
        self.project_orders().await;
        self.orders
            .get(order.as_str())
            .await
            .unwrap()
            .expect("the order is in the read model")
            .status
    }

    fn advance(&self, by: Duration) {
        *self.clock.0.lock().unwrap() += by;
    }
}

async fn unsettled_orders_do_not_hide_later_ones(url: String) {
    let w = world(&url, BATCH + 1).await;
    // A page of checkouts interrupted before their charge: for five minutes
    // the provider knows nothing of them and each resume answers
    // PAYMENT_PENDING.
    for seat in 1..=BATCH {
        w.interrupted_checkout(seat).await;
    }
    // Behind them, one whose charge reached the provider: resuming it
    // settles it from the provider's answer.
    let (later, payment) = w.interrupted_checkout(BATCH + 1).await;
    let charge = ChargeRequest {
        key: payment,
        amount_minor: 5000,
        currency: Currency::parse("currency", "EUR").unwrap(),
        token: "tok_visa".into(),
    };
    w.provider.charge(&charge).await.unwrap();
    w.project_orders().await;
    let expirer = w.expirer();

    // Younger than the threshold: nothing is resumed, not even the one the
    // provider could settle (its checkout may still be finishing).
    assert_eq!(expirer.tick().await, (0, 0));
    assert_eq!(w.status(&later).await, OrderStatus::Checkout);

    // Two minutes on: the first tick takes the oldest page, all unsettled.
    w.advance(Duration::minutes(2));
    assert_eq!(expirer.tick().await, (0, 0));
    assert_eq!(w.status(&later).await, OrderStatus::Checkout);
    // The next takes the page after it.
    assert_eq!(expirer.tick().await, (0, 1));
    assert_eq!(w.status(&later).await, OrderStatus::Paid);
    // Then it starts over with the unsettled ones; no charge was made by
    // any resume (the only one is the test's own).
    assert_eq!(expirer.tick().await, (0, 0));
    let charges = w.provider.charges().await.unwrap();
    assert_eq!(charges.len(), 1, "{charges:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_unsettled_orders_do_not_hide_later_ones() {
    unsettled_orders_do_not_hide_later_ones(fresh_sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unsettled_orders_do_not_hide_later_ones() {
    unsettled_orders_do_not_hide_later_ones(fresh_postgres_url().await).await;
}
