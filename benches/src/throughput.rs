//! The reserve phase: `clients` closed-loop clients, each calling
//! ReserveSeats for one never-reserved seat, for a fixed duration. No two
//! calls touch the same seat, so every call should succeed; the rate says
//! how fast the engine appends a hold when nothing conflicts. Each OK
//! answer is also timed against a WatchSeatMap stream (`freshness`).

use std::sync::Arc;
use std::time::Duration;
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use tonic::transport::Channel;

use crate::driver::{self, Step};
use crate::fixture::{authed, SeatSupply};
use crate::freshness::Freshness;
use crate::stats::Outcome;

/// Runs `clients` concurrent loops for `duration`; client `i` uses
/// `channels[i % len]` and customer `tokens[i % len]`.
pub async fn run(
    channels: &[Channel],
    tokens: &[String],
    show_id: &str,
    seats: &Arc<SeatSupply>,
    clients: usize,
    duration: Duration,
    freshness: &Arc<Freshness>,
) -> anyhow::Result<driver::Run<Reserver>> {
    let clients = (0..clients)
        .map(|i| Reserver {
            inventory: InventoryServiceClient::new(channels[i % channels.len()].clone()),
            token: tokens[i % tokens.len()].clone(),
            show_id: show_id.to_owned(),
            seats: Arc::clone(seats),
            freshness: Arc::clone(freshness),
        })
        .collect();
    driver::run(clients, duration).await
}

pub struct Reserver {
    inventory: InventoryServiceClient<Channel>,
    token: String,
    show_id: String,
    seats: Arc<SeatSupply>,
    freshness: Arc<Freshness>,
}

impl Step for Reserver {
    /// One ReserveSeats for the next fresh seat.
    async fn step(&mut self) -> Option<Outcome> {
        let label = self.seats.take()?;
        let request = pb::ReserveSeatsRequest {
            show_id: self.show_id.clone(),
            seat_labels: vec![label.to_owned()],
        };
        let result = match authed(&self.token, request) {
            Ok(request) => self.inventory.reserve_seats(request).await,
            Err(e) => Err(tonic::Status::internal(e.to_string())),
        };
        if result.is_ok() {
            self.freshness.answered(label);
        }
        Some(Outcome::of(&result))
    }
}
