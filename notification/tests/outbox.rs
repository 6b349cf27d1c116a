//! The outbox, the embedded engine's mail: one complete, parseable `.eml`
//! per Message-ID, however often and however concurrently it is sent.

mod common;

use std::path::{Path, PathBuf};

use mail_parser::MimeHeaders;
use ticketing_event_store::Backend;
use ticketing_notification::{
    Compose, DueDelivery, MailError, Mailer, OutboxMailer, OutgoingMail, Sender, SenderConfig,
};

use common::{deliveries, message_id, pdf_bytes, TicketMail};

const FROM: &str = "Tickets <tickets@example.com>";

fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("ticketing-outbox-{}", ulid::Ulid::new()))
}

/// Every file in `dir`, hidden ones included.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("outbox dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

async fn mail_for(order_id: &str) -> OutgoingMail {
    let delivery = DueDelivery {
        order_id: order_id.into(),
        customer_id: "c_1".into(),
        attempts: 0,
        tickets: vec![serde_json::json!({ "seat": "A-1" })],
    };
    TicketMail.compose(&delivery).await.expect("compose")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_file_per_message_id_however_often_sent() {
    let root = scratch_dir();
    let dir = root.join("outbox");
    let outbox = OutboxMailer::new(&dir, FROM).expect("outbox");
    let first = mail_for("o_1").await;
    outbox.send(&first).await.expect("send");
    outbox.send(&first).await.expect("send again");

    let mut senders = tokio::task::JoinSet::new();
    for n in 0..8 {
        let outbox = outbox.clone();
        let mail = mail_for(if n % 2 == 0 { "o_1" } else { "o_2" }).await;
        senders.spawn(async move { outbox.send(&mail).await });
    }
    while let Some(sent) = senders.join_next().await {
        sent.expect("task").expect("send");
    }

    assert_eq!(
        files(&dir),
        ["order-o_1@ticketing.eml", "order-o_2@ticketing.eml"],
        "one file per message id, no temporary files left"
    );
    let path = outbox.path_of(&message_id("o_1"));
    let bytes = std::fs::read(&path).expect("read the .eml");
    let parsed = mail_parser::MessageParser::default()
        .parse(&bytes)
        .expect("a MIME message");
    assert_eq!(parsed.message_id(), Some("order-o_1@ticketing"));
    let attachment = parsed.attachments().next().expect("attachment");
    assert_eq!(attachment.attachment_name(), Some("tickets.pdf"));
    assert_eq!(attachment.contents(), pdf_bytes().as_slice());
    std::fs::remove_dir_all(root).expect("clean up");
}

#[tokio::test]
async fn a_malformed_recipient_writes_nothing() {
    let dir = scratch_dir();
    let outbox = OutboxMailer::new(&dir, FROM).expect("outbox");
    let mail = OutgoingMail {
        to_address: "ada at example dot com".into(),
        ..mail_for("o_1").await
    };
    let err = outbox.send(&mail).await.expect_err("bad address");
    assert!(matches!(err, MailError::Permanent(_)), "{err}");
    assert!(!dir.exists());
    assert!(matches!(
        OutboxMailer::new(&dir, "not an address"),
        Err(MailError::Config(_))
    ));
}

#[tokio::test]
async fn the_embedded_sender_fills_the_outbox() {
    let log = deliveries(Backend::Sqlite).await;
    let root = scratch_dir();
    let outbox = OutboxMailer::new(&root, FROM).expect("outbox");
    let sender = Sender::new(
        log.clone(),
        outbox.clone(),
        TicketMail,
        SenderConfig::default(),
    );
    let data = serde_json::json!({ "seat": "A-1" });
    log.record_ticket("o_1", "c_1", "t_1", 1, &data, 0)
        .await
        .expect("record");
    assert_eq!(sender.step().await.expect("step").sent, 1);
    assert!(outbox.path_of(&message_id("o_1")).is_file());
    std::fs::remove_dir_all(root).expect("clean up");
}
