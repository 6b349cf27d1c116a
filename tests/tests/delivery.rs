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
use ticketing_bus::{integration_events, Envelope, Handler, HandlerError};
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

/// The engine, mailing by SMTP to `sink`, with `tune` applied last.
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

/// A published show of 4 seats and a customer with an address of their own:
/// (show id, customer token, customer address).
async fn show_and_customer(app: &TestApp) -> (String, String, String) {
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 4).await;
    let email = format!(
        "{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    app.identity()
        .register(RegisterRequest {
            email: email.clone(),
            password: "correct horse".into(),
            display_name: HOLDER.into(),
        })
        .await
        .expect("register");
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
        let rows = deliveries(app)
            .list(None, MAX_LIST)
            .await
            .expect("list deliveries");
        let row = rows.into_iter().find(|row| row.order_id == order_id);
        if let Some(row) = row.as_ref().filter(|row| ready(row)) {
            return row.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the delivery of {order_id} never became {what}; last seen: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_until_sent(app: &TestApp, order_id: &str) -> DeliveryRow {
    wait_for_delivery(app, order_id, "sent", |row| {
        row.status == DeliveryStatus::Sent
    })
    .await
}

/// The Message-ID of every message the sink accepted, in arrival order.
fn message_ids(sink: &SmtpSink) -> Vec<String> {
    sink.messages()
        .iter()
        .map(|mail| {
            let message = MessageParser::default()
                .parse(&mail.data)
                .expect("an RFC 5322 message");
            message.message_id().expect("a Message-ID").to_owned()
        })
        .collect()
}

fn order_message_id(order_id: &str) -> String {
    format!("order-{order_id}@ticketing")
}

async fn smtp_delivery_gives_one_message_with_every_ticket(backend: Backend) {
    let sink = SmtpSink::start().await.expect("sink");
    let app = mailing_app(backend, &sink, |_| {}).await;
    let (show_id, customer, email) = show_and_customer(&app).await;

    let order = app.buy(&customer, &show_id, &["A-1", "A-2"]).await;
    let tickets = app.wait_for_tickets(&customer, &order.order_id, 2).await;
    // The sender marks a delivery sent only after the server took it.
    let row = wait_until_sent(&app, &order.order_id).await;
    assert_eq!(
        (row.tickets_expected, row.tickets_received, row.attempts),
        (2, 2, 1)
    );

    let received = sink.messages();
    assert_eq!(received.len(), 1, "one message for the order");
    assert_eq!(
        received[0].to,
        [email.clone()],
        "the envelope goes to the customer"
    );
    let message = MessageParser::default()
        .parse(&received[0].data)
        .expect("an RFC 5322 message");
    let to = message.to().and_then(|to| to.first()).expect("a recipient");
    assert_eq!(to.address(), Some(email.as_str()));
    assert_eq!(
        message.message_id(),
        Some(order_message_id(&order.order_id).as_str())
    );
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
    assert_eq!(
        scanned, issued,
        "each page's QR code is its ticket's payload"
    );
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
    let app = mailing_app(backend, &sink, |settings| {
        settings.mail.sender.max_attempts = 1_000
    })
    .await;
    let (show_id, customer, _) = show_and_customer(&app).await;

    let order = app.buy(&customer, &show_id, &["A-1", "A-2"]).await;
    app.wait_for_tickets(&customer, &order.order_id, 2).await;
    let row = wait_for_delivery(
        &app,
        &order.order_id,
        "queued after a failed attempt",
        |row| row.status == DeliveryStatus::Queued && row.attempts >= 1 && row.last_error.is_some(),
    )
    .await;
    let error = row.last_error.unwrap_or_default();
    assert!(
        error.starts_with("transient"),
        "a refused connection is worth retrying: {error}"
    );
    assert!(sink.messages().is_empty());

    sink.restart()
        .await
        .expect("the sink listens again on its port");
    let row = wait_until_sent(&app, &order.order_id).await;
    assert!(row.attempts >= 2, "sent by a retry: {row:?}");

    // A second order's mail is claimed by a pass that starts after the first
    // was sent: had that pass taken the first again, the sink would show it.
    let second = app.buy(&customer, &show_id, &["A-3"]).await;
    wait_until_sent(&app, &second.order_id).await;
    let mut ids = message_ids(&sink);
    ids.sort();
    let mut expected = [
        order_message_id(&order.order_id),
        order_message_id(&second.order_id),
    ];
    expected.sort();
    assert_eq!(ids, expected, "each order's message exactly once");
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

/// Names every ticket's holder as the engine's directory would.
struct SameHolder;

impl Holders for SameHolder {
    async fn holder_name(&self, _: &UserRef) -> Result<Option<String>, String> {
        Ok(Some(HOLDER.to_owned()))
    }
}

/// The checkpoint of [`second_fulfillment`].
const SECOND: &str = "worker:fulfillment-2";

/// A second fulfillment worker beside the engine's, with the app's signing
/// keys: reads the whole feed under a checkpoint of its own and hands each
/// `order-paid` envelope to its handler until it is handled, as the relay
/// crate's `Relay` + `Deliver` do (this crate does not depend on it).
async fn second_fulfillment(app: &TestApp) {
    let ring = KeyRing::load_or_create(&app.data_dir.path().join("ticket-keys.json"))
        .expect("the app's key ring");
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
        .expect("checkpoint");
    loop {
        let batch = app
            .store
            .read_feed(0, after, 256)
            .await
            .expect("read the feed");
        let Some(last) = batch.last().map(|event| event.position) else {
            return;
        };
        for event in integration_events(&app.store, &batch)
            .await
            .expect("envelopes")
        {
            if worker
                .topics()
                .iter()
                .any(|topic| topic.name == event.topic)
            {
                handle(&worker, &event.envelope).await;
            }
        }
        save_checkpoint(&mut conn, backend, SECOND, 0, last)
            .await
            .expect("save checkpoint");
        after = last;
    }
}

/// Retries as the consumers do; a rejected envelope is a failure here.
async fn handle(worker: &impl Handler, envelope: &Envelope) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match worker.handle(envelope).await {
            Ok(()) => return,
            Err(HandlerError::Retry(why)) if tokio::time::Instant::now() < deadline => {
                eprintln!("second worker retries envelope {}: {why}", envelope.id);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the second worker failed envelope {}: {error}", envelope.id),
        }
    }
}

/// Makes worker `name` read the feed again from its start. Deleted under
/// the lock the relay holds around each batch, so a batch in flight cannot
/// save its end over the deletion.
async fn forget_checkpoint(app: &TestApp, name: &str) {
    let mut tx = app.store.read_pool().begin().await.expect("begin");
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("{name}:0"))
        .execute(&mut *tx)
        .await
        .expect("the relay's lock");
    delete_checkpoint(&mut tx, app.store.backend(), name, 0)
        .await
        .expect("delete checkpoint");
    tx.commit().await.expect("commit");
}

/// Waits until every checkpoint in `names` is at the feed's head. The
/// checkpoints are read before the head, so whatever a worker appended
/// before saving its checkpoint is within the head the others must reach.
async fn wait_for_checkpoints(app: &TestApp, names: &[&str]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut conn = app.store.read_pool().acquire().await.expect("connection");
        let mut at = Vec::new();
        for name in names {
            at.push(
                load_checkpoint(&mut conn, app.store.backend(), name, 0)
                    .await
                    .expect("checkpoint"),
            );
        }
        drop(conn);
        settle_feed(&app.store).await;
        let head = app.store.feed_head(0).await.expect("feed head");
        assert!(head > FeedPosition::START);
        if at.iter().all(|position| *position >= head) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "checkpoints {names:?} at {at:?} never reached the head {head:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many `TicketIssued` each ticket stream holds.
async fn issued_per_ticket(app: &TestApp) -> BTreeMap<String, usize> {
    let mut issued = BTreeMap::new();
    for (aggregate_type, id, event_type) in log(&app.store).await {
        if aggregate_type == "Ticket" && event_type == "TicketIssued" {
            *issued.entry(id).or_insert(0) += 1;
        }
    }
    issued
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_order_paid_seen_again_issues_and_mails_nothing_new() {
    let sink = SmtpSink::start().await.expect("sink");
    let app = mailing_app(Backend::Postgres, &sink, |_| {}).await;
    let (show_id, customer, _) = show_and_customer(&app).await;
    let order = app.buy(&customer, &show_id, &["A-1", "A-2"]).await;
    let tickets = app.wait_for_tickets(&customer, &order.order_id, 2).await;
    let before = wait_until_sent(&app, &order.order_id).await;
    assert_eq!(sink.messages().len(), 1);
    let workers = ["worker:fulfillment", "worker:notifier"];
    wait_for_checkpoints(&app, &workers).await;
    let one_each: BTreeMap<String, usize> =
        tickets.iter().map(|t| (t.ticket_id.clone(), 1)).collect();
    assert_eq!(issued_per_ticket(&app).await, one_each);

    // Every envelope again: the engine's workers from the feed's start, and
    // a second fulfillment worker racing them.
    let forget = async {
        for name in workers {
            forget_checkpoint(&app, name).await;
        }
    };
    tokio::join!(forget, second_fulfillment(&app));
    // Back at the head means each re-read the feed from its start: a
    // deleted checkpoint reads as the start, and only a batch saves one.
    wait_for_checkpoints(&app, &workers).await;
    let after = wait_until_sent(&app, &order.order_id).await;

    assert_eq!(
        issued_per_ticket(&app).await,
        one_each,
        "one TicketIssued per seat"
    );
    let listed = app.wait_for_tickets(&customer, &order.order_id, 2).await;
    let mut listed: Vec<(String, String)> = listed
        .into_iter()
        .map(|t| (t.ticket_id, t.qr_payload))
        .collect();
    let mut first: Vec<(String, String)> = tickets
        .into_iter()
        .map(|t| (t.ticket_id, t.qr_payload))
        .collect();
    listed.sort();
    first.sort();
    assert_eq!(listed, first, "the same tickets, signed once");
    assert_eq!(
        message_ids(&sink),
        [order_message_id(&order.order_id)],
        "mailed once"
    );
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
    let listed = deliveries(&app)
        .list(Some(DeliveryStatus::Failed), MAX_LIST)
        .await
        .expect("list");
    assert_eq!(listed, [failed]);
    assert!(sink.messages().is_empty());

    sink.set_mode(SinkMode::Accept);
    let now = chrono::Utc::now().timestamp_millis();
    let queued = deliveries(&app)
        .retry(Some(&order.order_id), now)
        .await
        .expect("retry");
    assert_eq!(queued, 1);
    wait_until_sent(&app, &order.order_id).await;
    let received = sink.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].to, [email]);
    assert_eq!(message_ids(&sink), [order_message_id(&order.order_id)]);

    // Only failed deliveries are retried: a sent one stays sent.
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(
        deliveries(&app)
            .retry(Some(&order.order_id), now)
            .await
            .expect("retry"),
        0
    );
    assert_eq!(wait_until_sent(&app, &order.order_id).await.attempts, 1);
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
