//! The sender against a real SMTP conversation (`SmtpSink` on loopback),
//! on both backends: one intact message per order, mail kept through an
//! outage and sent once the server is back, permanent rejections failed at
//! once until an operator retries, temporary ones retried up to the limit.

mod common;

use std::time::Duration;

use mail_parser::MimeHeaders;
use serde_json::json;
use ticketing_event_store::Backend;
use ticketing_notification::testing::{SinkMode, SmtpSink};
use ticketing_notification::{
    Deliveries, DeliveryRow, DeliveryStatus, Recorded, Sender, SenderConfig, SmtpMailer, StepReport,
};
use tokio::sync::watch;

use common::{deliveries, message_id, on_both_backends, pdf_bytes, TicketMail};

const FROM: &str = "Tickets <tickets@example.com>";

/// Short waits so retries come quickly in real time.
fn config() -> SenderConfig {
    SenderConfig {
        poll_interval: Duration::from_millis(10),
        lease: Duration::from_secs(60),
        batch: 8,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_attempts: 12,
        send_timeout: Duration::from_secs(10),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// Records an order of two tickets, the second one completing it.
async fn paid_order(log: &Deliveries, order_id: &str) {
    for (ticket_id, seat) in [("t_2", "A-2"), ("t_1", "A-1")] {
        let data = json!({ "seat": seat });
        log.record_ticket(order_id, "c_1", ticket_id, 2, &data, now_ms())
            .await
            .expect("record");
    }
}

async fn delivery(log: &Deliveries, order_id: &str) -> DeliveryRow {
    log.list(None, 100)
        .await
        .expect("list")
        .into_iter()
        .find(|row| row.order_id == order_id)
        .expect("delivery")
}

/// Waits (up to 10 s) until `done` holds for the delivery.
async fn until(
    log: &Deliveries,
    order_id: &str,
    done: impl Fn(&DeliveryRow) -> bool,
) -> DeliveryRow {
    for _ in 0..1000 {
        let row = delivery(log, order_id).await;
        if done(&row) {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{order_id} never got there: {:?}",
        delivery(log, order_id).await
    );
}

async fn delivers_one_intact_message(backend: Backend) {
    let log = deliveries(backend).await;
    let sink = SmtpSink::start().await.expect("sink");
    let mailer = SmtpMailer::from_url(&sink.url(), FROM).expect("mailer");
    let sender = Sender::new(log.clone(), mailer, TicketMail, config());
    paid_order(&log, "o_1").await;

    let report = sender.step().await.expect("step");
    assert_eq!(
        report,
        StepReport {
            claimed: 1,
            sent: 1,
            ..StepReport::default()
        }
    );
    assert_eq!(sender.step().await.expect("step").claimed, 0, "sent once");

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].from, "tickets@example.com");
    assert_eq!(messages[0].to, ["ada@example.com"]);
    let parsed = mail_parser::MessageParser::default()
        .parse(&messages[0].data)
        .expect("a MIME message");
    assert_eq!(parsed.message_id(), Some("order-o_1@ticketing"));
    assert_eq!(parsed.subject(), Some("Your 2 tickets"));
    let body = parsed.body_text(0).expect("text body");
    assert_eq!(
        body.replace("\r\n", "\n"),
        "Seats: A-1, A-2\n.\n..a line with dots\n",
        "dot lines survive stuffing"
    );
    let attachments: Vec<_> = parsed.attachments().collect();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0].attachment_name(), Some("tickets.pdf"));
    assert_eq!(attachments[0].contents(), pdf_bytes().as_slice());

    let row = delivery(&log, "o_1").await;
    assert_eq!((row.status, row.attempts), (DeliveryStatus::Sent, 1));
    assert!(row.sent_at.is_some());
}

async fn an_outage_delays_mail_but_loses_none(backend: Backend) {
    let log = deliveries(backend).await;
    let sink = SmtpSink::start().await.expect("sink");
    sink.stop().await;
    let mailer = SmtpMailer::from_url(&sink.url(), FROM).expect("mailer");
    let sender = Sender::new(log.clone(), mailer, TicketMail, config());
    let wake = sender.wake_handle();
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(sender.run(shutdown));

    paid_order(&log, "o_1").await;
    wake.wake();
    let waiting = until(&log, "o_1", |row| row.attempts >= 3).await;
    assert_eq!(
        waiting.status,
        DeliveryStatus::Queued,
        "still waiting to be sent"
    );
    assert!(waiting.last_error.is_some());
    assert!(
        waiting
            .next_attempt_at
            .is_some_and(|at| at > waiting.updated_at),
        "the next attempt is later: {waiting:?}"
    );

    sink.restart().await.expect("restart on the same port");
    let sent = until(&log, "o_1", |row| row.status == DeliveryStatus::Sent).await;
    assert!(sent.attempts >= 4, "{sent:?}");
    // More passes find nothing to send again.
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(true).expect("stop");
    running.await.expect("sender stopped");
    assert_eq!(sink.messages().len(), 1, "delivered exactly once");
}

async fn a_wake_sends_without_waiting_for_the_poll(backend: Backend) {
    let log = deliveries(backend).await;
    let sink = SmtpSink::start().await.expect("sink");
    let mailer = SmtpMailer::from_url(&sink.url(), FROM).expect("mailer");
    let config = SenderConfig {
        poll_interval: Duration::from_secs(3600),
        ..config()
    };
    let sender = Sender::new(log.clone(), mailer, TicketMail, config);
    let wake = sender.wake_handle();
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(sender.run(shutdown));
    // Let the first pass find nothing, so only the wake can send.
    tokio::time::sleep(Duration::from_millis(50)).await;

    let data = json!({ "seat": "B-1" });
    let recorded = log
        .record_ticket("o_1", "c_1", "t_1", 1, &data, now_ms())
        .await
        .expect("record");
    assert_eq!(recorded, Recorded::Ready);
    wake.wake();
    until(&log, "o_1", |row| row.status == DeliveryStatus::Sent).await;
    stop.send(true).expect("stop");
    running.await.expect("sender stopped");
    assert_eq!(sink.messages().len(), 1);
}

async fn a_rejected_recipient_fails_until_retried(backend: Backend) {
    let log = deliveries(backend).await;
    let sink = SmtpSink::start().await.expect("sink");
    sink.set_mode(SinkMode::RejectRecipients);
    let mailer = SmtpMailer::from_url(&sink.url(), FROM).expect("mailer");
    let sender = Sender::new(log.clone(), mailer, TicketMail, config());
    paid_order(&log, "o_1").await;

    let report = sender.step().await.expect("step");
    assert_eq!((report.claimed, report.failed), (1, 1), "no retry of a 5xx");
    let row = delivery(&log, "o_1").await;
    assert_eq!((row.status, row.attempts), (DeliveryStatus::Failed, 1));
    assert!(
        row.last_error.as_deref().is_some_and(|e| e.contains("550")),
        "{row:?}"
    );
    assert_eq!(sender.step().await.expect("step").claimed, 0);

    sink.set_mode(SinkMode::Accept);
    assert_eq!(log.retry(Some("o_1"), now_ms()).await.expect("retry"), 1);
    assert_eq!(delivery(&log, "o_1").await.status, DeliveryStatus::Queued);
    assert_eq!(sender.step().await.expect("step").sent, 1);
    assert_eq!(delivery(&log, "o_1").await.status, DeliveryStatus::Sent);
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let parsed = mail_parser::MessageParser::default()
        .parse(&messages[0].data)
        .expect("a MIME message");
    assert_eq!(
        parsed.message_id().map(|id| format!("<{id}>")),
        Some(message_id("o_1"))
    );
}

async fn temporary_failures_are_retried_up_to_the_limit(backend: Backend) {
    let log = deliveries(backend).await;
    let sink = SmtpSink::start().await.expect("sink");
    sink.set_mode(SinkMode::TemporaryFailure);
    let mailer = SmtpMailer::from_url(&sink.url(), FROM).expect("mailer");
    let config = SenderConfig {
        max_attempts: 2,
        ..config()
    };
    let sender = Sender::new(log.clone(), mailer, TicketMail, config);
    paid_order(&log, "o_1").await;

    assert_eq!(
        sender.step().await.expect("step").retrying,
        1,
        "451 is retried"
    );
    let row = until(&log, "o_1", |row| {
        row.next_attempt_at.is_some_and(|at| at <= now_ms())
    })
    .await;
    assert!(
        row.last_error.as_deref().is_some_and(|e| e.contains("451")),
        "{row:?}"
    );
    assert_eq!(
        sender.step().await.expect("step").failed,
        1,
        "gave up at the limit"
    );
    assert_eq!(delivery(&log, "o_1").await.status, DeliveryStatus::Failed);
    assert!(sink.messages().is_empty());
}

async fn a_short_lease_hands_deliveries_back(backend: Backend) {
    let log = deliveries(backend).await;
    let sink = SmtpSink::start().await.expect("sink");
    let mailer = SmtpMailer::from_url(&sink.url(), FROM).expect("mailer");
    // No attempt could finish within the lease.
    let config = SenderConfig {
        lease: Duration::from_secs(5),
        send_timeout: Duration::from_secs(10),
        ..config()
    };
    let sender = Sender::new(log.clone(), mailer, TicketMail, config);
    paid_order(&log, "o_1").await;
    paid_order(&log, "o_2").await;

    let report = sender.step().await.expect("step");
    assert_eq!((report.claimed, report.released, report.sent), (2, 2, 0));
    assert!(sink.messages().is_empty());
    let due = log
        .claim_due(now_ms(), Duration::from_secs(60), 10)
        .await
        .expect("claim");
    assert_eq!(due.len(), 2, "released deliveries are claimable at once");
    assert_eq!(
        delivery(&log, "o_1").await.attempts,
        0,
        "no attempt counted"
    );
}

on_both_backends!(
    delivers_one_intact_message,
    an_outage_delays_mail_but_loses_none,
    a_wake_sends_without_waiting_for_the_poll,
    a_rejected_recipient_fails_until_retried,
    temporary_failures_are_retried_up_to_the_limit,
    a_short_lease_hands_deliveries_back,
);
