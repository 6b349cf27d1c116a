//! The buyer's journey over gRPC against a [`Server`]: a customer with a
//! mail address, a paid order, the order's tickets as ListTickets shows
//! them (folded from the log), and the emails an outbox receives, with
//! their PDF tickets.

// Not every test binary uses all of this.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use ticketing_proto::v1::fulfillment_service_client::FulfillmentServiceClient;
use ticketing_proto::v1::identity_service_client::IdentityServiceClient;
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use ticketing_proto::v1::ordering_service_client::OrderingServiceClient;
use ticketing_proto::v1::*;
use ticketing_tests::{authed, emails_in};

use super::Server;

/// A registered customer: the access token and the address mail goes to.
pub struct Customer {
    pub token: String,
    pub email: String,
}

impl Server {
    /// Registers a customer named `name` through the API and logs in.
    pub async fn customer_named(&self, name: &str) -> Customer {
        let email = format!(
            "{}@example.com",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let mut identity = IdentityServiceClient::new(self.channel.clone());
        let register = RegisterRequest {
            email: email.clone(),
            password: "correct horse".into(),
            display_name: name.into(),
        };
        identity.register(register).await.expect("register");
        Customer {
            token: self.login(&email).await,
            email,
        }
    }

    /// Reserves `labels`, puts them in the cart and pays with `tok_visa`;
    /// returns the paid order.
    pub async fn buy(&self, customer: &str, show_id: &str, labels: &[&str]) -> Order {
        let mut inventory = InventoryServiceClient::new(self.channel.clone());
        let reserve = ReserveSeatsRequest {
            show_id: show_id.into(),
            seat_labels: labels.iter().map(|l| l.to_string()).collect(),
        };
        let reservation = inventory
            .reserve_seats(authed(customer, reserve))
            .await
            .expect("reserve")
            .into_inner();
        let mut ordering = OrderingServiceClient::new(self.channel.clone());
        let add = AddToCartRequest {
            reservation_id: reservation.reservation_id,
        };
        let cart = ordering
            .add_to_cart(authed(customer, add))
            .await
            .expect("add to cart")
            .into_inner();
        let pay = CheckoutRequest {
            order_id: cart.order_id,
            payment_token: "tok_visa".into(),
        };
        let order = ordering
            .checkout(authed(customer, pay))
            .await
            .expect("checkout")
            .into_inner();
        assert_eq!(order.status, OrderStatus::Paid as i32, "paid");
        order
    }

    /// Polls ListTickets until the order has `count` tickets (never more);
    /// panics after 30 s. Returns them.
    pub async fn wait_for_tickets(
        &self,
        customer: &str,
        order_id: &str,
        count: usize,
    ) -> Vec<Ticket> {
        let mut fulfillment = FulfillmentServiceClient::new(self.channel.clone());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let list = ListTicketsRequest {
                order_id: order_id.into(),
                ..Default::default()
            };
            let tickets = fulfillment
                .list_tickets(authed(customer, list))
                .await
                .expect("list tickets")
                .into_inner()
                .tickets;
            assert!(
                tickets.len() <= count,
                "more tickets than seats: {tickets:?}"
            );
            if tickets.len() == count {
                return tickets;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "order {order_id} has {} of {count} tickets",
                tickets.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Polls `outbox` until it holds `count` emails (never more); panics after
/// 30 s. Returns their raw contents in file-name order.
pub async fn wait_for_emails(outbox: &Path, count: usize) -> Vec<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let emails = emails_in(outbox);
        assert!(
            emails.len() <= count,
            "{} emails, {count} expected",
            emails.len()
        );
        if emails.len() == count {
            return emails;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {count} emails in {}",
            emails.len(),
            outbox.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The recipient of an `.eml` message and its one PDF attachment.
pub fn email_pdf(eml: &[u8]) -> (String, Vec<u8>) {
    let message = MessageParser::default()
        .parse(eml)
        .expect("the outbox holds an RFC 5322 message");
    let to = message
        .to()
        .and_then(|to| to.first())
        .and_then(|to| to.address())
        .expect("a recipient")
        .to_owned();
    let pdfs: Vec<_> = message
        .attachments()
        .filter(|a| a.content_type().is_some_and(|t| t.subtype() == Some("pdf")))
        .collect();
    assert_eq!(pdfs.len(), 1, "one PDF attached");
    (to, pdfs[0].contents().to_vec())
}

/// The kid field of a QR payload (`T1.….<kid>.<signature>`).
pub fn kid_of(payload: &str) -> &str {
    payload.rsplit('.').nth(1).expect("a payload with a kid")
}
