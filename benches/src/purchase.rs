//! The purchase phase: the whole customer flow in a closed loop —
//! ReserveSeats of one fresh seat, AddToCart of that reservation, Checkout
//! of the order with `tok_visa` — counting an order only when Checkout
//! answers PAID. A customer has one open cart at a time and checkout closes
//! it, so every client is its own customer and makes its calls one after
//! another; two clients sharing a customer would fill each other's cart.

use std::sync::Arc;
use std::time::Duration;
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use ticketing_proto::v1::ordering_service_client::OrderingServiceClient;
use tonic::transport::Channel;

use crate::driver::{self, Step};
use crate::fixture::{authed, SeatSupply};
use crate::stats::Outcome;

/// The simulated provider's card that always pays.
const PAYING_CARD: &str = "tok_visa";

/// What one purchase run measured, with the seats it left taken so the next
/// phase can wait for the projector to show them.
pub struct Purchases {
    pub run: driver::Run<Customer>,
    /// Seats held by any successful ReserveSeats, warm-up included.
    pub reserved: u64,
    /// Seats in the orders that came back PAID, warm-up included.
    pub sold: u64,
}

/// Runs `clients` buyers for `duration`; client `i` is customer `tokens[i]`
/// on `channels[i % len]`. Needs a customer per client.
pub async fn run(
    channels: &[Channel],
    tokens: &[String],
    show_id: &str,
    seats: &Arc<SeatSupply>,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Purchases> {
    anyhow::ensure!(
        tokens.len() >= clients,
        "the purchase phase needs a customer per client: {} customers for {clients} clients",
        tokens.len()
    );
    let buyers = tokens[..clients]
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let channel = channels[i % channels.len()].clone();
            Customer {
                inventory: InventoryServiceClient::new(channel.clone()),
                ordering: OrderingServiceClient::new(channel),
                token: token.clone(),
                show_id: show_id.to_owned(),
                seats: Arc::clone(seats),
                reserved: 0,
                sold: 0,
            }
        })
        .collect();
    let run = driver::run(buyers, duration).await?;
    let reserved = run.clients.iter().map(|c| c.reserved).sum();
    let sold = run.clients.iter().map(|c| c.sold).sum();
    Ok(Purchases {
        run,
        reserved,
        sold,
    })
}

pub struct Customer {
    inventory: InventoryServiceClient<Channel>,
    ordering: OrderingServiceClient<Channel>,
    token: String,
    show_id: String,
    seats: Arc<SeatSupply>,
    reserved: u64,
    sold: u64,
}

impl Step for Customer {
    /// Buys the next fresh seat; any failed call ends the step as an error.
    async fn step(&mut self) -> Option<Outcome> {
        let label = self.seats.take()?.to_owned();
        Some(match self.buy(&label).await {
            Ok(()) => Outcome::Ok,
            Err(failed) => failed,
        })
    }
}

impl Customer {
    async fn buy(&mut self, label: &str) -> Result<(), Outcome> {
        let reserve = pb::ReserveSeatsRequest {
            show_id: self.show_id.clone(),
            seat_labels: vec![label.to_owned()],
        };
        let reservation = self
            .inventory
            .reserve_seats(self.request(reserve)?)
            .await
            .map_err(|s| Outcome::failed_at("ReserveSeats", &s))?
            .into_inner();
        self.reserved += reservation.seat_labels.len() as u64;

        let add = pb::AddToCartRequest {
            reservation_id: reservation.reservation_id,
        };
        let cart = self
            .ordering
            .add_to_cart(self.request(add)?)
            .await
            .map_err(|s| Outcome::failed_at("AddToCart", &s))?
            .into_inner();

        let checkout = pb::CheckoutRequest {
            order_id: cart.order_id,
            payment_token: PAYING_CARD.into(),
        };
        let order = self
            .ordering
            .checkout(self.request(checkout)?)
            .await
            .map_err(|s| Outcome::failed_at("Checkout", &s))?
            .into_inner();
        if order.status() != pb::OrderStatus::Paid {
            return Err(Outcome::Other(format!(
                "Checkout:{}",
                order.status().as_str_name()
            )));
        }
        // A Checkout that failed before it began leaves its item in the open
        // cart, to be paid with the next one: count seats from the order.
        self.sold += order
            .items
            .iter()
            .map(|item| item.seat_labels.len() as u64)
            .sum::<u64>();
        Ok(())
    }

    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Outcome> {
        authed(&self.token, message)
            .map_err(|e| Outcome::failed_at("auth", &tonic::Status::internal(e.to_string())))
    }
}
