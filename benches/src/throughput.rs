//! The throughput phase: `clients` tasks, each looping ReserveSeats for one
//! never-reserved seat, for a fixed duration. No two calls touch the same
//! seat, so every call should succeed; the rate says how fast the engine
//! appends a hold when nothing conflicts.

use anyhow::bail;
use std::sync::Arc;
use std::time::{Duration, Instant};
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use tokio::sync::Barrier;
use tonic::transport::Channel;

use crate::fixture::{authed, SeatSupply};
use crate::stats::{Outcome, Tally};

/// Unmeasured calls per client first, so connection set-up and the
/// engine's first load of the show are not in the numbers.
const WARM_UP_CALLS: usize = 3;

/// What one throughput run measured.
pub struct Throughput {
    pub tally: Tally,
    pub elapsed: Duration,
    /// Holds made by the warm-up calls, outside the numbers.
    pub warm_up_ok: u64,
    /// Set when the show ran out of fresh seats before the time was up.
    pub exhausted: bool,
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        self.tally.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `clients` concurrent loops for `duration`; client `i` uses
/// `channels[i % len]` and customer `tokens[i % len]`.
pub async fn run(
    channels: &[Channel],
    tokens: &[String],
    show_id: &str,
    seats: &Arc<SeatSupply>,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Throughput> {
    // Everyone starts the timed loop together, after every warm-up is done.
    let start = Arc::new(Barrier::new(clients + 1));
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let client = Client {
            inventory: InventoryServiceClient::new(channels[i % channels.len()].clone()),
            token: tokens[i % tokens.len()].clone(),
            show_id: show_id.to_owned(),
            seats: Arc::clone(seats),
        };
        let start = Arc::clone(&start);
        tasks.push(tokio::spawn(client.run(start, duration)));
    }
    start.wait().await;
    let began = Instant::now();
    let mut total = Tally::default();
    let mut warm_up_ok = 0;
    let mut exhausted = false;
    for task in tasks {
        let (warm_up, tally, ran_out) = task.await?;
        warm_up_ok += warm_up.ok;
        total.merge(tally);
        exhausted |= ran_out;
    }
    if total.ok == 0 {
        bail!("no ReserveSeats call succeeded: {:?}", total.other);
    }
    Ok(Throughput {
        tally: total,
        elapsed: began.elapsed(),
        warm_up_ok,
        exhausted,
    })
}

struct Client {
    inventory: InventoryServiceClient<Channel>,
    token: String,
    show_id: String,
    seats: Arc<SeatSupply>,
}

impl Client {
    /// Warms up, then loops until `duration` after the start; returns the
    /// warm-up and timed tallies and whether the seat supply ran dry.
    async fn run(mut self, start: Arc<Barrier>, duration: Duration) -> (Tally, Tally, bool) {
        let mut warm_up = Tally::default();
        let mut tally = Tally::default();
        for _ in 0..WARM_UP_CALLS {
            if !self.reserve_next(&mut warm_up).await {
                // Still meet the others at the barrier, or they wait forever.
                start.wait().await;
                return (warm_up, tally, true);
            }
        }
        start.wait().await;
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            if !self.reserve_next(&mut tally).await {
                return (warm_up, tally, true);
            }
        }
        (warm_up, tally, false)
    }

    /// One ReserveSeats for the next fresh seat; false when none is left.
    async fn reserve_next(&mut self, tally: &mut Tally) -> bool {
        let Some(label) = self.seats.take() else {
            return false;
        };
        let request = pb::ReserveSeatsRequest {
            show_id: self.show_id.clone(),
            seat_labels: vec![label.to_owned()],
        };
        let sent = Instant::now();
        let result = match authed(&self.token, request) {
            Ok(request) => self.inventory.reserve_seats(request).await,
            Err(e) => Err(tonic::Status::internal(e.to_string())),
        };
        tally.record(Outcome::of(&result), sent.elapsed());
        true
    }
}
