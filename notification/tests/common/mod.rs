//! Shared by the integration tests: a fresh delivery log per test on either
//! backend (a new Postgres database at `TICKETING_TEST_PG_URL`, or a new
//! SQLite file), and a composer that mails an order's tickets as one PDF.

#![allow(dead_code, unused_macros, unused_imports)] // each test binary uses its own part of this module

use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ticketing_event_store::{Backend, Store};
use ticketing_notification::{
    migrate, Attachment, Compose, ComposeError, Deliveries, DueDelivery, OutgoingMail,
};

/// A new, migrated database; returns its URL, for tests that open it twice
/// as two processes would.
pub async fn fresh_log(backend: Backend) -> String {
    let url = match backend {
        Backend::Postgres => fresh_postgres_url().await,
        Backend::Sqlite => fresh_sqlite_url(),
    };
    let store = Store::connect(&url).await.expect("connect");
    migrate(store.read_pool(), backend).await.expect("migrate");
    migrate(store.read_pool(), backend)
        .await
        .expect("migrate again");
    url
}

/// The delivery log at `url` through a pool of its own.
pub async fn open(url: &str) -> Deliveries {
    let store = Store::connect(url).await.expect("connect");
    Deliveries::new(store.read_pool().clone(), store.backend())
}

pub async fn deliveries(backend: Backend) -> Deliveries {
    open(&fresh_log(backend).await).await
}

/// Bytes a text transfer would mangle: NUL, CR/LF pairs, a lone dot line,
/// every byte value.
pub fn pdf_bytes() -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\r\n.\r\n..\n\x00".to_vec();
    bytes.extend(0..=255u8);
    bytes.extend(b"\r\n%%EOF");
    bytes
}

pub fn message_id(order_id: &str) -> String {
    format!("<order-{order_id}@ticketing>")
}

/// Lists the seats of the tickets in the body and attaches one "PDF".
pub struct TicketMail;

impl Compose for TicketMail {
    async fn compose(&self, delivery: &DueDelivery) -> Result<OutgoingMail, ComposeError> {
        let seats: Vec<&str> = delivery
            .tickets
            .iter()
            .map(|ticket| ticket["seat"].as_str().unwrap_or("?"))
            .collect();
        Ok(OutgoingMail {
            message_id: message_id(&delivery.order_id),
            to_address: "ada@example.com".into(),
            to_name: "Ada Lovelace".into(),
            subject: format!("Your {} tickets", seats.len()),
            text_body: format!("Seats: {}\n.\n..a line with dots\n", seats.join(", ")),
            attachments: vec![Attachment {
                filename: "tickets.pdf".into(),
                content_type: "application/pdf".into(),
                content: pdf_bytes(),
            }],
        })
    }
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(ticketing_event_store::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(ticketing_event_store::Backend::Postgres).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;
