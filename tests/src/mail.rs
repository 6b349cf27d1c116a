//! Mail in black-box tests: the engine sending by SMTP to a recording
//! sink, a customer with an address of their own, and the delivery log
//! waited on row by row.

use std::time::Duration;

use mail_parser::MessageParser;
use ticketing_identity::Role;
use ticketing_notification::deliveries::MAX_LIST;
use ticketing_notification::testing::SmtpSink;
use ticketing_notification::{Deliveries, DeliveryRow, DeliveryStatus};
use ticketing_proto::v1::RegisterRequest;

use crate::{database_url, spawn_app_configured, Backend, TestApp};

/// How long a wait on the delivery log may take.
pub const WAIT: Duration = Duration::from_secs(20);
/// The display name of [`show_and_customer`]'s customer.
pub const HOLDER: &str = "Ann Example";

/// The engine mailing by SMTP to `sink`, its settings then changed by `tune`.
pub async fn mailing_app(
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
pub async fn show_and_customer(app: &TestApp) -> (String, String, String) {
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

pub fn deliveries(app: &TestApp) -> Deliveries {
    Deliveries::new(app.store.read_pool().clone(), app.store.backend())
}

/// Polls the delivery log until the order's delivery is `what`; panics
/// after 20 s with the row last seen.
pub async fn wait_for_delivery(
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
pub async fn wait_until_sent(app: &TestApp, order_id: &str) -> DeliveryRow {
    let sent = |row: &DeliveryRow| row.status == DeliveryStatus::Sent;
    wait_for_delivery(app, order_id, "sent", sent).await
}

/// The order of every message the sink accepted (from its Message-ID
/// `<order-…@ticketing>`), sorted.
pub fn mailed_orders(sink: &SmtpSink) -> Vec<String> {
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
