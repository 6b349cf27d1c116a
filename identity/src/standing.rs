//! Whether an account still stands behind its tokens: it exists, is not
//! disabled, and is at the generation the token was issued at. Asked on
//! every authenticated call, so answers are remembered for a short time
//! ([`STANDING_TTL`]): a change made through another process takes effect
//! here within it, one made through this process at once. Bounded like the
//! verified-token cache: emptied when full.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::UserId;
use crate::users::Standing;

/// How long an account's standing is remembered.
pub const STANDING_TTL: Duration = Duration::from_secs(2);

/// Accounts remembered at most (some 100 bytes each).
const CAPACITY: usize = 65_536;

/// `None` as a remembered standing: no such account.
type Entry = (Instant, Option<Standing>);

pub(crate) struct Standings {
    ttl: Duration,
    entries: Mutex<HashMap<UserId, Entry>>,
}

impl Standings {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The remembered standing, if it is recent: `Some(None)` for an
    /// account known not to exist.
    pub fn get(&self, user: &UserId, now: Instant) -> Option<Option<Standing>> {
        let entries = self.lock();
        let (at, standing) = entries.get(user)?;
        (now.saturating_duration_since(*at) < self.ttl).then_some(*standing)
    }

    pub fn put(&self, user: &UserId, standing: Option<Standing>, now: Instant) {
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(user.clone(), (now, standing));
    }

    /// Forgets `user`, after a change to the account made here.
    pub fn forget(&self, user: &UserId) {
        self.lock().remove(user);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Entry>> {
        // Entries are inserted whole: a panic cannot leave one half-made.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standing_is_remembered_for_the_ttl_only_and_the_cache_stays_bounded() {
        let standings = Standings::new(Duration::from_secs(2));
        let user = UserId::generate();
        let now = Instant::now();
        let standing = Standing {
            disabled: false,
            generation: 3,
        };
        standings.put(&user, Some(standing), now);
        assert_eq!(standings.get(&user, now), Some(Some(standing)));
        let later = now + Duration::from_secs(2);
        assert_eq!(standings.get(&user, later), None, "stale after the ttl");
        standings.forget(&user);
        assert_eq!(standings.get(&user, now), None);
        for _ in 0..CAPACITY + 10 {
            standings.put(&UserId::generate(), None, now);
        }
        assert!(standings.lock().len() <= CAPACITY);
    }
}
