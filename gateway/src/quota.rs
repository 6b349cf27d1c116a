//! Open seat-map watches (gRPC `WatchSeatMap` and the HTTP face's SSE
//! stream, which is the same call) are bounded per process and per peer
//! address: each holds a task, a buffer and a place in the feed's
//! fan-out. A watch beyond either bound is refused with RESOURCE_EXHAUSTED
//! and RetryInfo. A [`WatchSlot`] is held by the stream's task and given
//! back when the stream ends, however it ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::AppError;

/// How long a refused watcher should wait before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct WatchQuota {
    max: usize,
    per_peer: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_peer: HashMap<IpAddr, usize>,
}

/// One open watch; dropping it gives its place back.
#[derive(Debug)]
pub struct WatchSlot {
    quota: Arc<WatchQuota>,
    peer: Option<IpAddr>,
}

impl WatchQuota {
    pub fn new(max: usize, per_peer: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            per_peer,
            open: Mutex::new(Open::default()),
        })
    }

    fn open(&self) -> std::sync::MutexGuard<'_, Open> {
        // Counts only: a panic elsewhere leaves them usable.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for one more watch from `peer`, if both bounds allow it.
    pub fn acquire(self: &Arc<Self>, peer: Option<IpAddr>) -> Result<WatchSlot, AppError> {
        let mut open = self.open();
        let refused = |message: &str| AppError::Throttled {
            reason: "TOO_MANY_WATCHES",
            message: message.to_owned(),
            retry_after: RETRY_AFTER,
        };
        if open.total >= self.max {
            return Err(refused(
                "this server has as many seat-map watches open as it allows",
            ));
        }
        if let Some(peer) = peer {
            let mine = open.by_peer.entry(peer).or_default();
            if *mine >= self.per_peer {
                return Err(refused(
                    "this address has as many seat-map watches open as it may",
                ));
            }
            *mine += 1;
        }
        open.total += 1;
        Ok(WatchSlot {
            quota: Arc::clone(self),
            peer,
        })
    }
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let mut open = self.quota.open();
        open.total = open.total.saturating_sub(1);
        if let Some(peer) = self.peer {
            if let Some(mine) = open.by_peer.get_mut(&peer) {
                *mine -= 1;
                if *mine == 0 {
                    open.by_peer.remove(&peer);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_are_bounded_per_peer_and_in_all_and_given_back() {
        let quota = WatchQuota::new(3, 2);
        let (a, b) = (
            Some(IpAddr::from([10, 0, 0, 1])),
            Some(IpAddr::from([10, 0, 0, 2])),
        );
        let first = quota.acquire(a).unwrap();
        let _second = quota.acquire(a).unwrap();
        assert!(quota.acquire(a).is_err(), "a third from one address");
        let _third = quota.acquire(b).unwrap();
        assert!(quota.acquire(b).is_err(), "a fourth in all");
        drop(first);
        assert!(
            quota.acquire(b).is_ok(),
            "a closed watch gives its place back"
        );
        assert!(quota.open().by_peer.len() <= 2);
    }
}
