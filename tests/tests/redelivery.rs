//! Workers that see every envelope again issue no ticket and send no mail
//! a second time: after a purchase has its tickets and its one email, the
//! engine's in-process workers read the whole feed again and a second
//! fulfillment worker reads it beside them.

use std::collections::BTreeMap;
use std::sync::Arc;

use std::time::Duration;
use ticketing_aggregates::{SystemClock, UserRef};
use ticketing_bus::{Envelope, Handler, HandlerError, Topic};
use ticketing_commands::{Engine, EngineConfig};
use ticketing_event_store::testing::settle_feed;
use ticketing_event_store::{delete_checkpoint, load_checkpoint, FeedPosition};
use ticketing_fulfillment::{Fulfillment, Holders, KeyRing, RingSigner};
use ticketing_notification::testing::SmtpSink;
use ticketing_relay::{Deliver, Relay};
use ticketing_tests::mail::*;
use ticketing_tests::v1::*;
use ticketing_tests::*;

/// The checkpoints of the engine's in-process workers.
const WORKERS: [&str; 2] = ["worker:fulfillment", "worker:notifier"];

/// The checkpoint of [`second_fulfillment`].
const SECOND: &str = "worker:fulfillment-2";

/// Names every holder as identity names the test's customer.
struct SameHolder;

impl Holders for SameHolder {
    async fn holder_name(&self, _: &UserRef) -> Result<Option<String>, String> {
        Ok(Some(HOLDER.to_owned()))
    }
}

/// A worker whose every refusal fails the test: a rejected envelope would
/// have been skipped, and the test would prove nothing about it.
struct Strict<H>(H);

impl<H: Handler> Handler for Strict<H> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn topics(&self) -> &'static [Topic] {
        self.0.topics()
    }

    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        match self.0.handle(envelope).await {
            Err(HandlerError::Reject(why)) => {
                panic!("the second worker rejected envelope {}: {why}", envelope.id)
            }
            other => other,
        }
    }
}

/// A second fulfillment worker beside the engine's, with the app's keys,
/// reading the whole feed under a checkpoint of its own.
async fn second_fulfillment(app: &TestApp) {
    let keys = app.data_dir.path().join("ticket-keys.json");
    let ring = KeyRing::load_or_create(&keys).expect("the app's key ring");
    let engine = Engine::new(
        app.store.clone(),
        Arc::new(SystemClock),
        EngineConfig::default(),
    );
    let worker = Strict(Fulfillment::new(engine, RingSigner::new(ring), SameHolder));
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    settle_feed(&app.store).await;
    Relay::new(app.store.clone(), Deliver::new(worker, stopped))
        .with_checkpoint(SECOND)
        .catch_up()
        .await
        .expect("the second worker reads the feed");
}

/// Makes the in-process worker of checkpoint `name` read the feed again
/// from its start. Deleted under the lock the relay holds around a batch
/// (`<checkpoint>:<shard>`), so no batch in flight saves over the deletion.
async fn forget_checkpoint(app: &TestApp, name: &str) {
    let mut tx = app.store.read_pool().begin().await.expect("begin");
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("{name}:0"))
        .execute(&mut *tx)
        .await
        .expect("the relay's lock");
    let backend = app.store.backend();
    let at = load_checkpoint(&mut tx, backend, name, 0)
        .await
        .expect("load");
    assert!(at > FeedPosition::START, "{name} has read the feed");
    delete_checkpoint(&mut tx, backend, name, 0)
        .await
        .expect("delete");
    tx.commit().await.expect("commit");
}

/// Waits until the checkpoints `names` are at the feed's head. They are
/// read before the head, so whatever a worker appended before saving its
/// checkpoint is within the head the others must reach.
async fn wait_for_checkpoints(app: &TestApp, names: &[&str]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut conn = app.store.read_pool().acquire().await.expect("connection");
        let mut at = Vec::new();
        for name in names {
            let backend = app.store.backend();
            at.push(
                load_checkpoint(&mut conn, backend, name, 0)
                    .await
                    .expect("load"),
            );
        }
        drop(conn);
        settle_feed(&app.store).await;
        let head = app.store.feed_head(0).await.expect("feed head");
        if at.iter().all(|position| *position >= head) {
            return;
        }
        let late = tokio::time::Instant::now() >= deadline;
        assert!(!late, "{names:?} at {at:?} never reached the head {head:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many `TicketIssued` the log holds per ticket.
async fn issued_per_ticket(app: &TestApp) -> BTreeMap<String, usize> {
    let mut issued = BTreeMap::new();
    for (aggregate_type, id, event_type) in log(&app.store).await {
        if aggregate_type == "Ticket" && event_type == "TicketIssued" {
            *issued.entry(id).or_insert(0) += 1;
        }
    }
    issued
}

/// Each ticket's id and QR payload, sorted.
fn signed(tickets: &[Ticket]) -> Vec<(String, String)> {
    let mut signed: Vec<_> = tickets
        .iter()
        .map(|t| (t.ticket_id.clone(), t.qr_payload.clone()))
        .collect();
    signed.sort();
    signed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_order_paid_seen_again_issues_and_mails_nothing_new() {
    let sink = SmtpSink::start().await.expect("sink");
    let app = mailing_app(Backend::Postgres, &sink, |_| {}).await;
    let (show_id, customer, _) = show_and_customer(&app).await;
    let order = app.buy(&customer, &show_id, &["A-1", "A-2"]).await;
    let tickets = app.wait_for_tickets(&customer, &order.order_id, 2).await;
    let before = wait_until_sent(&app, &order.order_id).await;
    wait_for_checkpoints(&app, &WORKERS).await;
    let one_each: BTreeMap<String, usize> =
        tickets.iter().map(|t| (t.ticket_id.clone(), 1)).collect();
    assert_eq!(issued_per_ticket(&app).await, one_each);
    assert_eq!(mailed_orders(&sink), [order.order_id.as_str()]);

    // Every envelope again: the engine's workers from the feed's start, and
    // a second fulfillment worker beside them.
    let forget = async {
        for name in WORKERS {
            forget_checkpoint(&app, name).await;
        }
    };
    tokio::join!(forget, second_fulfillment(&app));
    // A forgotten checkpoint reads as the feed's start and only a batch
    // saves one: back at the head, each worker has read the feed again.
    wait_for_checkpoints(&app, &WORKERS).await;
    let after = wait_until_sent(&app, &order.order_id).await;

    assert_eq!(
        issued_per_ticket(&app).await,
        one_each,
        "one TicketIssued per seat"
    );
    let listed = app.wait_for_tickets(&customer, &order.order_id, 2).await;
    assert_eq!(
        signed(&listed),
        signed(&tickets),
        "the tickets as first issued"
    );
    assert_eq!(mailed_orders(&sink), [order.order_id], "mailed once");
    assert_eq!(
        (after.attempts, after.sent_at),
        (before.attempts, before.sent_at)
    );
    app.stop().await;
}
