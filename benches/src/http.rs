//! The reserve and contention phases over the HTTP/JSON API
//! (`POST /api/v1/reservations`), run right after their gRPC runs against
//! the same server, so the two faces compare in one run. HTTP/1.1 with
//! keep-alive: every client (a closed loop, or a contender) is a browser of
//! its own with one connection, opened before the measurement starts.

use std::sync::Arc;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use reqwest::StatusCode;
use tokio::sync::Barrier;

use crate::driver::{self, Step};
use crate::fixture::SeatSupply;
use crate::freshness::Freshness;
use crate::stats::{Outcome, Tally};

/// Connections opened at once while warming up.
const WARM_CONCURRENCY: usize = 64;

/// One client of the server's HTTP API, with its own connection.
pub struct Api {
    client: reqwest::Client,
    reservations: String,
    show: String,
}

impl Api {
    pub fn new(http_addr: &str, show_id: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder().build()?,
            reservations: format!("http://{http_addr}/api/v1/reservations"),
            show: format!("http://{http_addr}/api/v1/shows/{show_id}"),
        })
    }

    /// `count` clients, each with its connection opened by a cheap read,
    /// so what follows does not measure TCP set-up.
    pub async fn warm_clients(
        http_addr: &str,
        show_id: &str,
        count: usize,
    ) -> anyhow::Result<Vec<Self>> {
        let clients = (0..count)
            .map(|_| Self::new(http_addr, show_id))
            .collect::<anyhow::Result<Vec<_>>>()?;
        // A few connections at a time: a thousand SYNs at once overflow
        // the listen queue, and the retried ones take seconds.
        let reads = clients.iter().map(|api| api.client.get(&api.show).send());
        let mut reads = stream::iter(reads).buffer_unordered(WARM_CONCURRENCY);
        while let Some(read) = reads.next().await {
            read?.error_for_status()?;
        }
        drop(reads);
        Ok(clients)
    }

    /// One `POST /reservations` of `labels`, as the bench tallies it.
    pub async fn reserve(&self, token: &str, show_id: &str, labels: &[&str]) -> Outcome {
        let body = serde_json::json!({"show_id": show_id, "seat_labels": labels});
        let sent = self
            .client
            .post(&self.reservations)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return Outcome::Other(format!("HTTP transport: {e}")),
        };
        let status = response.status();
        if status == StatusCode::CREATED {
            return Outcome::Ok;
        }
        let reason = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|problem| problem["reason"].as_str().map(str::to_owned))
            .unwrap_or_default();
        match (status, reason.as_str()) {
            (StatusCode::CONFLICT, "SEAT_UNAVAILABLE") => Outcome::SeatUnavailable,
            _ => Outcome::Other(format!("HTTP {}/{reason}", status.as_u16())),
        }
    }
}

/// `clients` closed-loop clients, each POSTing one fresh seat per call.
pub async fn run(
    http_addr: &str,
    tokens: &[String],
    show_id: &str,
    seats: &Arc<SeatSupply>,
    clients: usize,
    duration: std::time::Duration,
    freshness: &Arc<Freshness>,
) -> anyhow::Result<driver::Run<Reserver>> {
    let apis = Api::warm_clients(http_addr, show_id, clients).await?;
    let clients = apis
        .into_iter()
        .enumerate()
        .map(|(i, api)| Reserver {
            api,
            token: tokens[i % tokens.len()].clone(),
            show_id: show_id.to_owned(),
            seats: Arc::clone(seats),
            freshness: Arc::clone(freshness),
        })
        .collect();
    driver::run(clients, duration).await
}

pub struct Reserver {
    api: Api,
    token: String,
    show_id: String,
    seats: Arc<SeatSupply>,
    freshness: Arc<Freshness>,
}

impl Step for Reserver {
    async fn step(&mut self) -> Option<Outcome> {
        let label = self.seats.take()?;
        let outcome = self.api.reserve(&self.token, &self.show_id, &[label]).await;
        if outcome == Outcome::Ok {
            self.freshness.answered(label);
        }
        Some(outcome)
    }
}

/// Fires `contenders` POSTs for `label` at once over as many warm
/// connections, and tallies how each ended.
pub async fn round(
    http_addr: &str,
    tokens: &[String],
    show_id: &str,
    label: &str,
    contenders: usize,
) -> anyhow::Result<Tally> {
    let apis = Api::warm_clients(http_addr, show_id, contenders).await?;
    let start = Arc::new(Barrier::new(contenders));
    let tasks: Vec<_> = apis
        .into_iter()
        .enumerate()
        .map(|(i, api)| {
            let start = Arc::clone(&start);
            let token = tokens[i % tokens.len()].clone();
            let (show_id, label) = (show_id.to_owned(), label.to_owned());
            tokio::spawn(async move {
                start.wait().await;
                let sent = Instant::now();
                let outcome = api.reserve(&token, &show_id, &[&label]).await;
                (outcome, sent.elapsed())
            })
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        let (outcome, latency) = task.await?;
        tally.record(outcome, latency);
    }
    Ok(tally)
}
