//! The buyers: each its own customer, in a closed loop — take the next 1–4
//! seats of the show (so buyers never race each other), ReserveSeats,
//! AddToCart, Checkout with `tok_visa` — until no seat is left.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use rand::{Rng, SeedableRng};
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use ticketing_proto::v1::ordering_service_client::OrderingServiceClient;
use tonic::transport::Channel;

use crate::fixture::authed;
use crate::server::Server;

/// HTTP/2 connections the buyers share.
const CHANNELS: usize = 8;

pub async fn channels(server: &Server) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(CHANNELS);
    for _ in 0..CHANNELS {
        channels.push(server.channel().await?);
    }
    Ok(channels)
}

/// What the sale did, as the buyers saw it.
pub struct Sold {
    pub orders: usize,
    pub seats: usize,
    pub errors: usize,
    pub elapsed: Duration,
}

struct Seats {
    labels: Vec<String>,
    next: AtomicUsize,
}

impl Seats {
    /// The next `want` seats nobody was given yet (fewer at the end).
    fn take(&self, want: usize) -> &[String] {
        let start = self
            .next
            .fetch_add(want, Ordering::Relaxed)
            .min(self.labels.len());
        let end = (start + want).min(self.labels.len());
        &self.labels[start..end]
    }
}

pub async fn sell_out(
    channels: &[Channel],
    tokens: &[String],
    show_id: &str,
    labels: Vec<String>,
    max_seats: usize,
) -> anyhow::Result<Sold> {
    let seats = Arc::new(Seats {
        labels,
        next: AtomicUsize::new(0),
    });
    let began = Instant::now();
    let buyers = tokens.iter().enumerate().map(|(i, token)| {
        let channel = channels[i % channels.len()].clone();
        let seats = Arc::clone(&seats);
        let (token, show_id) = (token.clone(), show_id.to_owned());
        tokio::spawn(async move { buy(channel, token, show_id, seats, max_seats, i as u64).await })
    });
    let mut sold = Sold {
        orders: 0,
        seats: 0,
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for buyer in try_join_all(buyers).await? {
        let (orders, seats, errors) = buyer?;
        sold.orders += orders;
        sold.seats += seats;
        sold.errors += errors;
    }
    sold.elapsed = began.elapsed();
    Ok(sold)
}

/// One buyer until the seats run out: (orders paid, seats, failed orders).
async fn buy(
    channel: Channel,
    token: String,
    show_id: String,
    seats: Arc<Seats>,
    max_seats: usize,
    seed: u64,
) -> anyhow::Result<(usize, usize, usize)> {
    let mut inventory = InventoryServiceClient::new(channel.clone());
    let mut ordering = OrderingServiceClient::new(channel);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut orders, mut sold, mut errors) = (0, 0, 0);
    loop {
        let want = rng.gen_range(1..=max_seats);
        let labels = seats.take(want);
        if labels.is_empty() {
            return Ok((orders, sold, errors));
        }
        let reserve = pb::ReserveSeatsRequest {
            show_id: show_id.clone(),
            seat_labels: labels.to_vec(),
        };
        let bought = async {
            let reservation = inventory
                .reserve_seats(authed(&token, reserve)?)
                .await?
                .into_inner();
            let add = pb::AddToCartRequest {
                reservation_id: reservation.reservation_id,
            };
            let cart = ordering
                .add_to_cart(authed(&token, add)?)
                .await?
                .into_inner();
            let pay = pb::CheckoutRequest {
                order_id: cart.order_id,
                payment_token: "tok_visa".into(),
            };
            let order = ordering.checkout(authed(&token, pay)?).await?.into_inner();
            anyhow::ensure!(order.status() == pb::OrderStatus::Paid, "not paid");
            Ok::<_, anyhow::Error>(())
        }
        .await;
        match bought {
            Ok(()) => {
                orders += 1;
                sold += labels.len();
            }
            Err(error) => {
                errors += 1;
                eprintln!("an order failed: {error:#}");
            }
        }
    }
}
