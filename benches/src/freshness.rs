//! Seat-map freshness: how long after a ReserveSeats answer the seat's
//! change arrives on a WatchSeatMap stream of the same show.
//!
//! One stream is opened before the timed run, on its own connection (the
//! snapshot of a 100,000-seat show is a few megabytes). Every OK answer
//! records the time under the seat's label; the stream's task records when
//! each label's first change arrives. A change may even arrive before the
//! answer is recorded (the answer travels back while the projector and
//! the feed move on): that counts as zero. Seats whose change never
//! arrived within the grace period are counted, not hidden.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use ticketing_proto::v1::seat_map_update::Kind;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::stats::Latency;

/// How long after the run a late change may still arrive.
const GRACE: Duration = Duration::from_secs(5);

type Times = Arc<Mutex<HashMap<String, Instant>>>;

pub struct Freshness {
    answered: Times,
    arrived: Times,
    /// The stream's task, taken by [`Freshness::finish`].
    stream: Mutex<Option<JoinHandle<anyhow::Result<()>>>>,
}

/// The freshness of one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measured {
    pub latency: Latency,
    /// OK answers whose change never arrived within the grace period.
    pub missing: u64,
}

impl Freshness {
    /// Opens the stream and waits for its snapshot.
    pub async fn watch(channel: Channel, show_id: &str) -> anyhow::Result<Freshness> {
        let mut client = InventoryServiceClient::new(channel).max_decoding_message_size(64 << 20);
        let request = pb::WatchSeatMapRequest {
            min_consistency_token: Default::default(),
            show_id: show_id.to_owned(),
            resume_after: String::new(),
        };
        let mut updates = client
            .watch_seat_map(request)
            .await
            .context("WatchSeatMap")?
            .into_inner();
        let first = updates.message().await.context("WatchSeatMap snapshot")?;
        anyhow::ensure!(
            matches!(first.and_then(|u| u.kind), Some(Kind::Snapshot(_))),
            "WatchSeatMap did not open with a snapshot"
        );
        let arrived: Times = Arc::default();
        let sink = Arc::clone(&arrived);
        let stream = tokio::spawn(async move {
            while let Some(update) = updates.message().await? {
                match update.kind {
                    Some(Kind::Change(change)) => {
                        let now = Instant::now();
                        lock(&sink).entry(change.label).or_insert(now);
                    }
                    Some(Kind::Resync(resync)) => {
                        anyhow::bail!("the stream was dropped: {}", resync.reason)
                    }
                    _ => {}
                }
            }
            Ok(())
        });
        Ok(Freshness {
            answered: Arc::default(),
            arrived,
            stream: Mutex::new(Some(stream)),
        })
    }

    /// Records that ReserveSeats answered OK for `label` now.
    pub fn answered(&self, label: &str) {
        lock(&self.answered).insert(label.to_owned(), Instant::now());
    }

    /// Waits out late changes (up to [`GRACE`]), ends the stream and
    /// returns the percentiles.
    pub async fn finish(&self) -> anyhow::Result<Measured> {
        let stream = self
            .stream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .context("the run was already finished")?;
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline && !stream.is_finished() {
            let complete = {
                let arrived = lock(&self.arrived);
                lock(&self.answered)
                    .keys()
                    .all(|label| arrived.contains_key(label))
            };
            if complete {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if stream.is_finished() {
            stream.await.context("the watch task")??;
        } else {
            stream.abort();
        }
        let arrived = lock(&self.arrived);
        let mut missing = 0;
        let mut delays = Vec::new();
        for (label, answered) in lock(&self.answered).iter() {
            match arrived.get(label) {
                Some(at) => delays.push(at.saturating_duration_since(*answered)),
                None => missing += 1,
            }
        }
        Ok(Measured {
            latency: Latency::of(delays),
            missing,
        })
    }
}

fn lock(times: &Times) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
    times.lock().unwrap_or_else(PoisonError::into_inner)
}
