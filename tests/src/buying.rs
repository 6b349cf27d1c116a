//! Buying through the API as a customer does, and waiting for what the
//! workers make of it: tickets (folded from the log, so they are there the
//! moment the fulfillment worker issued them) and the email in the outbox.

use std::path::PathBuf;
use std::time::Duration;

use ticketing_proto::v1 as pb;
use ticketing_proto::v1::fulfillment_service_client::FulfillmentServiceClient;
use ticketing_proto::v1::ordering_service_client::OrderingServiceClient;
use tonic::transport::Channel;

use crate::{authed, TestApp};

impl TestApp {
    pub fn fulfillment(&self) -> FulfillmentServiceClient<Channel> {
        FulfillmentServiceClient::new(self.channel.clone())
    }

    pub fn ordering(&self) -> OrderingServiceClient<Channel> {
        OrderingServiceClient::new(self.channel.clone())
    }

    /// Reserves `labels`, puts them in the cart and pays with `tok_visa`;
    /// returns the paid order.
    pub async fn buy(&self, customer: &str, show_id: &str, labels: &[&str]) -> pb::Order {
        let reservation = self
            .inventory()
            .reserve_seats(authed(
                customer,
                pb::ReserveSeatsRequest {
                    show_id: show_id.into(),
                    seat_labels: labels.iter().map(|l| l.to_string()).collect(),
                },
            ))
            .await
            .expect("reserve")
            .into_inner();
        let cart = self
            .ordering()
            .add_to_cart(authed(
                customer,
                pb::AddToCartRequest {
                    reservation_id: reservation.reservation_id,
                },
            ))
            .await
            .expect("add to cart")
            .into_inner();
        let order = self
            .ordering()
            .checkout(authed(
                customer,
                pb::CheckoutRequest {
                    order_id: cart.order_id,
                    payment_token: "tok_visa".into(),
                },
            ))
            .await
            .expect("checkout")
            .into_inner();
        assert_eq!(order.status, pb::OrderStatus::Paid as i32, "paid");
        order
    }

    /// Polls ListTickets until the order has `count` tickets; panics after
    /// 20 s. Returns them.
    pub async fn wait_for_tickets(
        &self,
        customer: &str,
        order_id: &str,
        count: usize,
    ) -> Vec<pb::Ticket> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let tickets = self
                .fulfillment()
                .list_tickets(authed(
                    customer,
                    pb::ListTicketsRequest {
                        order_id: order_id.into(),
                        ..Default::default()
                    },
                ))
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

    /// The engine's mail outbox (embedded mode writes `.eml` files there).
    pub fn outbox(&self) -> PathBuf {
        self.data_dir.path().join("outbox")
    }

    /// Polls the outbox until it holds `count` emails; panics after 20 s.
    /// Returns their raw contents, in file-name order.
    pub async fn wait_for_emails(&self, count: usize) -> Vec<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let emails = emails_in(&self.outbox());
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
                "{} of {count} emails in the outbox",
                emails.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Every `.eml` file in `dir`, in file-name order.
pub fn emails_in(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("read email"))
        .collect()
}
