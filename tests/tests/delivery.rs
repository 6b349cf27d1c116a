//! The ticket email by SMTP, through outages and repeats: a purchase gives
//! one message with every ticket at a recording sink; a mail server that is
//! down gets the message once it is back, and only once; a recipient the
//! server refuses fails the delivery until an operator retries it
//! (redelivered envelopes: `redelivery.rs`).

use mail_parser::{MessageParser, MimeHeaders};
use ticketing_fulfillment::testing::{page_qr_payloads, page_texts};
use ticketing_notification::deliveries::MAX_LIST;
use ticketing_notification::testing::{SinkMode, SmtpSink};
use ticketing_notification::DeliveryStatus;
use ticketing_tests::mail::*;
use ticketing_tests::*;

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
