//! The contention round: many customers ask for the same fresh seat at the
//! same instant. Exactly one should win; the rest must hear
//! SEAT_UNAVAILABLE quickly, which is what the latency percentiles judge.

use std::sync::Arc;
use std::time::Instant;
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use tokio::sync::Barrier;
use tonic::transport::Channel;

use crate::fixture::authed;
use crate::stats::{Outcome, Tally};

/// Fires `contenders` ReserveSeats for `label` at once, spread over
/// `channels` and the customers' `tokens`, and tallies how each ended.
pub async fn round(
    channels: &[Channel],
    tokens: &[String],
    show_id: &str,
    label: &str,
    contenders: usize,
) -> anyhow::Result<Tally> {
    // Requests are built before the barrier so the burst is only the calls.
    let start = Arc::new(Barrier::new(contenders));
    let mut tasks = Vec::with_capacity(contenders);
    for i in 0..contenders {
        let mut inventory = InventoryServiceClient::new(channels[i % channels.len()].clone());
        let request = authed(
            &tokens[i % tokens.len()],
            pb::ReserveSeatsRequest {
                show_id: show_id.to_owned(),
                seat_labels: vec![label.to_owned()],
            },
        )?;
        let start = Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let sent = Instant::now();
            let result = inventory.reserve_seats(request).await;
            (Outcome::of(&result), sent.elapsed())
        }));
    }
    let mut tally = Tally::default();
    for task in tasks {
        let (outcome, latency) = task.await?;
        tally.record(outcome, latency);
    }
    Ok(tally)
}
