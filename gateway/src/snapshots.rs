//! Seat-map snapshots shared by the watches that open on one show within a
//! second: the first builds it (the projector's checkpoint, then the read
//! model), the others wait for that one and take a copy, so a crowd of
//! watchers (or one address opening its 32) costs one read of a show's map
//! per second, not one per watch. Reuse keeps the watch's consistency: a
//! snapshot taken at checkpoint P is followed by every change after P.
//! A failed build is not kept; the next watch builds again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ticketing_aggregates::ShowId;
use ticketing_event_store::FeedPosition;
use ticketing_proto::v1 as pb;
use tokio::sync::OnceCell;

use crate::AppError;

/// How long a snapshot serves new watches of its show.
pub const REUSE_FOR: Duration = Duration::from_secs(1);

type Snapshot = (FeedPosition, Arc<pb::SeatMap>);

/// When a show's snapshot was begun, and the snapshot once built.
type Building = (Instant, Arc<OnceCell<Snapshot>>);

#[derive(Default)]
pub(crate) struct Snapshots(Mutex<HashMap<ShowId, Building>>);

impl Snapshots {
    /// The show's recent snapshot, or the one `build` makes (shared with
    /// every watch that asks meanwhile).
    pub async fn get<F, Fut>(&self, show_id: &ShowId, build: F) -> Result<Snapshot, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Snapshot, AppError>>,
    {
        let cell = {
            let mut shows = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            // Only the shows watched within the last second stay.
            shows.retain(|_, (begun, _)| now.duration_since(*begun) < REUSE_FOR);
            let (_, cell) = shows
                .entry(show_id.clone())
                .or_insert_with(|| (now, Arc::new(OnceCell::new())));
            Arc::clone(cell)
        };
        cell.get_or_try_init(build).await.cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_watches_share_one_build_and_a_failure_is_not_kept() {
        let snapshots = Snapshots::default();
        let show = ShowId::generate();
        let builds = AtomicUsize::new(0);
        let build = || async {
            builds.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok((FeedPosition::START, Arc::new(pb::SeatMap::default())))
        };
        let all = futures::future::join_all((0..32).map(|_| snapshots.get(&show, build))).await;
        assert!(all.iter().all(Result::is_ok));
        assert_eq!(builds.load(Ordering::SeqCst), 1, "one build for 32 watches");

        let other = ShowId::generate();
        let failed = snapshots
            .get(&other, || async {
                Err(AppError::Unavailable("down".into()))
            })
            .await;
        assert!(failed.is_err());
        snapshots.get(&other, build).await.expect("built again");
        assert_eq!(builds.load(Ordering::SeqCst), 2);
    }
}
