//! The ticket email by SMTP, through outages and repeats: a purchase gives
//! one message with every ticket at a recording sink; a mail server that is
//! down gets the message once it is back, and only once; a recipient the
//! server refuses fails the delivery until an operator retries it; and
//! workers that see every envelope again issue no ticket and send no mail a
//! second time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use ticketing_aggregates::{SystemClock, UserRef};
use ticketing_bus::{integration_events_of, Envelope, Handler, HandlerError};
use ticketing_commands::{Engine, EngineConfig};
use ticketing_event_store::testing::settle_feed;
use ticketing_event_store::{delete_checkpoint, load_checkpoint, save_checkpoint, FeedPosition};
use ticketing_fulfillment::testing::{page_qr_payloads, page_texts};
use ticketing_fulfillment::{Fulfillment, Holders, KeyRing, RingSigner};
use ticketing_identity::Role;
use ticketing_notification::deliveries::MAX_LIST;
use ticketing_notification::testing::{SinkMode, SmtpSink};
use ticketing_notification::{Deliveries, DeliveryRow, DeliveryStatus};
use ticketing_tests::v1::*;
use ticketing_tests::*;

const WAIT: Duration = Duration::from_secs(20);
const HOLDER: &str = "Ann Example";

/// The engine mailing by SMTP to `sink`, its settings then changed by `tune`.
async fn mailing_app(
    backend: Backend,
    sink: &SmtpSink,
    tune: fn(&mut ticketing::Settings),
) -> TestApp {
    let url = sink.url();
    spawn_app_configured(database_url(backend).await, move |settings| {
        settings.mail.smtp_url = Some(url);
        tune(settings);
    })
    .await
}

/// A published show of 4 seats and a customer with an address of their
/// own: (show id, customer token, address).
async fn show_and_customer(app: &TestApp) -> (String, String, String) {
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 4).await;
    let email = format!(
        "{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let register = RegisterRequest {
        email: email.clone(),
        password: "correct horse".into(),
        display_name: HOLDER.into(),
    };
    app.identity().register(register).await.expect("register");
    let token = app.login(&email, "correct horse").await;
    (show_id, token, email)
}

fn deliveries(app: &TestApp) -> Deliveries {
    Deliveries::new(app.store.read_pool().clone(), app.store.backend())
}

/// Polls the delivery log until the order's delivery is `what`; panics
/// after 20 s with the row last seen.
async fn wait_for_delivery(
    app: &TestApp,
    order_id: &str,
    what: &str,
    ready: impl Fn(&DeliveryRow) -> bool,
) -> DeliveryRow {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = deliveries(app).list(None, MAX_LIST).await.expect("list");
        let row = rows.into_iter().find(|row| row.order_id == order_id);
        match row {
            Some(row) if ready(&row) => return row,
            row => assert!(
                tokio::time::Instant::now() < deadline,
                "the delivery of {order_id} never became {what}; last seen: {row:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The sender marks a delivery sent only once the server took the mail, so
/// whatever a sent delivery was mailed as is at the sink by then.
async fn wait_until_sent(app: &TestApp, order_id: &str) -> DeliveryRow {
    let sent = |row: &DeliveryRow| row.status == DeliveryStatus::Sent;
    wait_for_delivery(app, order_id, "sent", sent).await
}

/// The order of every message the sink accepted (from its Message-ID
/// `<order-…@ticketing>`), sorted.
fn mailed_orders(sink: &SmtpSink) -> Vec<String> {
    let mut orders: Vec<String> = sink
        .messages()
        .iter()
        .map(|mail| {
            let message = MessageParser::default()
                .parse(&mail.data)
                .expect("RFC 5322");
            let id = message.message_id().expect("a Message-ID");
            let order = id
                .strip_prefix("order-")
                .and_then(|id| id.strip_suffix("@ticketing"));
            order
                .unwrap_or_else(|| panic!("Message-ID {id}"))
                .to_owned()
        })
        .collect();
    orders.sort();
    orders
}

async fn smtp_delivery_gives_one_message_with_every_ticket(backend: Backend) {
    let sink = SmtpSink::start().await.expect("sink");
    let app = mailing_app(backend, &sink, |_| {}).await;
    let (show_id, customer, email) = show_and_customer(&app).await;

    let order = app.buy(&customer, &show_id, &["A-1", "A-2"]).await;
    let tickets = app.wait_for_tickets(&customer, &order.order_id, 2).await;
    let row = wait_until_sent(&app, &order.order_id).await;
    let counts = (row.tickets_expected, row.tickets_received, row.attempts);
    assert_eq!(counts, (2, 2, 1), "{row:?}");

    assert_eq!(
        mailed_orders(&sink),
        [order.order_id.as_str()],
        "one message"
    );
    let mail = &sink.messages()[0];
    assert_eq!(
        mail.to,
        [email.as_str()],
        "the envelope goes to the customer"
    );
    let message = MessageParser::default()
        .parse(&mail.data)
        .expect("RFC 5322");
    let to = message.to().and_then(|to| to.first()).expect("a recipient");
    assert_eq!(to.address(), Some(email.as_str()));
    let pdfs: Vec<_> = message
        .attachments()
        .filter(|a| a.content_type().is_some_and(|t| t.subtype() == Some("pdf")))
        .collect();
    assert_eq!(pdfs.len(), 1, "one PDF attached");
    assert_eq!(page_texts(pdfs[0].contents()).len(), 2, "a page per ticket");
    let mut scanned = page_qr_payloads(pdfs[0].contents());
    let mut issued: Vec<String> = tickets.iter().map(|t| t.qr_payload.clone()).collect();
    scanned.sort();
    issued.sort();
    assert_eq!(scanned, issued, "each page's QR code is its ticket's");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_smtp_delivery_gives_one_message_with_every_ticket() {
    smtp_delivery_gives_one_message_with_every_ticket(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_smtp_delivery_gives_one_message_with_every_ticket() {
    smtp_delivery_gives_one_message_with_every_ticket(Backend::Sqlite).await;
}

async fn the_email_waits_out_a_mail_server_outage(backend: Backend) {
    let sink = SmtpSink::start().await.expect("sink");
    sink.stop().await;
    // Retried every 50–500 ms for as long as the test takes, never given up.
    let app = mailing_app(backend, &sink, |s| s.mail.sender.max_attempts = 1_000).await;
    let (show_id, customer, _) = show_and_customer(&app).await;

    let order = app.buy(&customer, &show_id, &["A-1", "A-2"]).await;
    app.wait_for_tickets(&customer, &order.order_id, 2).await;
    let row = wait_for_delivery(&app, &order.order_id, "retried", |row| {
        row.status == DeliveryStatus::Queued && row.attempts >= 1 && row.last_error.is_some()
    })
    .await;
    let error = row.last_error.unwrap_or_default();
    assert!(error.starts_with("transient"), "worth retrying: {error}");
    assert!(sink.messages().is_empty());

    sink.restart()
        .await
        .expect("the sink listens on its port again");
    let row = wait_until_sent(&app, &order.order_id).await;
    assert!(row.attempts >= 2, "sent by a retry: {row:?}");
    // The second order's mail goes out in a pass that starts after the
    // first was sent: had the sender taken the first again, it shows here.
    let second = app.buy(&customer, &show_id, &["A-3"]).await;
    wait_until_sent(&app, &second.order_id).await;
    let first = wait_until_sent(&app, &order.order_id).await;
    assert_eq!((first.attempts, first.sent_at), (row.attempts, row.sent_at));
    let mut orders = [order.order_id, second.order_id];
    orders.sort();
    assert_eq!(mailed_orders(&sink), orders, "each order mailed once");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_the_email_waits_out_a_mail_server_outage() {
    the_email_waits_out_a_mail_server_outage(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_the_email_waits_out_a_mail_server_outage() {
    the_email_waits_out_a_mail_server_outage(Backend::Sqlite).await;
}

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

/// A second fulfillment worker beside the engine's, with the app's keys:
/// reads the whole feed under a checkpoint of its own and hands it every
/// `order-paid` envelope until handled, as the relay crate's `Relay` and
/// `Deliver` would (this crate does not depend on that one). A rejected
/// envelope fails the test: that worker would have done nothing.
async fn second_fulfillment(app: &TestApp) {
    let keys = app.data_dir.path().join("ticket-keys.json");
    let ring = KeyRing::load_or_create(&keys).expect("the app's key ring");
    let engine = Engine::new(
        app.store.clone(),
        Arc::new(SystemClock),
        EngineConfig::default(),
    );
    let worker = Fulfillment::new(engine, RingSigner::new(ring), SameHolder);
    let backend = app.store.backend();
    settle_feed(&app.store).await;
    let mut conn = app.store.read_pool().acquire().await.expect("connection");
    let mut after = load_checkpoint(&mut conn, backend, SECOND, 0)
        .await
        .expect("load");
    loop {
        let batch = app
            .store
            .read_feed(0, after, 256)
            .await
            .expect("read the feed");
        let Some(last) = batch.last().map(|event| event.position) else {
            return;
        };
        let envelopes = integration_events_of(&app.store, &batch, worker.topics());
        for event in envelopes.await.expect("envelopes") {
            handle(&worker, &event.envelope).await;
        }
        save_checkpoint(&mut conn, backend, SECOND, 0, last)
            .await
            .expect("save");
        after = last;
    }
}

async fn handle(worker: &impl Handler, envelope: &Envelope) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match worker.handle(envelope).await {
            Ok(()) => return,
            Err(HandlerError::Retry(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the second worker on envelope {}: {error}", envelope.id),
        }
    }
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

async fn a_refused_recipient_fails_until_retried(backend: Backend) {
    let sink = SmtpSink::start().await.expect("sink");
    sink.set_mode(SinkMode::RejectRecipients);
    let app = mailing_app(backend, &sink, |_| {}).await;
    let (show_id, customer, email) = show_and_customer(&app).await;
    let order = app.buy(&customer, &show_id, &["A-1"]).await;

    let failed = wait_for_delivery(&app, &order.order_id, "failed", |row| {
        row.status == DeliveryStatus::Failed
    })
    .await;
    assert_eq!(failed.attempts, 1, "a 550 is not retried: {failed:?}");
    let error = failed.last_error.clone().unwrap_or_default();
    assert!(
        error.starts_with("permanent") && error.contains("550"),
        "{error}"
    );
    let ops = deliveries(&app);
    let listed = ops.list(Some(DeliveryStatus::Failed), MAX_LIST);
    assert_eq!(listed.await.expect("list"), [failed]);
    assert!(sink.messages().is_empty());

    sink.set_mode(SinkMode::Accept);
    let now = chrono::Utc::now().timestamp_millis();
    let retried = ops.retry(Some(&order.order_id), now).await;
    assert_eq!(retried.expect("retry"), 1);
    let sent = wait_until_sent(&app, &order.order_id).await;
    assert_eq!(sent.attempts, 1, "attempts start again from zero");
    assert_eq!(mailed_orders(&sink), [order.order_id.as_str()]);
    assert_eq!(sink.messages()[0].to, [email]);

    // Only failed deliveries are queued again.
    let now = chrono::Utc::now().timestamp_millis();
    let retried = ops.retry(Some(&order.order_id), now).await;
    assert_eq!(retried.expect("retry"), 0, "a sent delivery stays sent");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_refused_recipient_fails_until_retried() {
    a_refused_recipient_fails_until_retried(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_refused_recipient_fails_until_retried() {
    a_refused_recipient_fails_until_retried(Backend::Sqlite).await;
}
