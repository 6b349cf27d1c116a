//! [`Skip`]: how a follower of the feed passes over events it has no use
//! for without a database transaction for each of them.
//!
//! A follower (a projector, a relay, a worker) saves its checkpoint in a
//! transaction per batch. Most followers read few kinds of events — the
//! shows projector only Show events, the fulfillment worker only
//! OrderPaid — so during an on-sale most of their batches would be a
//! locked transaction that applies nothing and moves the checkpoint. With a
//! `Skip`, the follower's run loop reads the feed from memory
//! ([`Store::skip_unwanted`]) and only remembers how far it has passed
//! over unwanted events; its next step reads from there and saves that
//! checkpoint along with the events it reads next. Under load a step comes
//! at least every [`MAX_SKIP_AGE`], and once the feed goes idle the step
//! saves the checkpoint past the skipped events.
//!
//! Why it is safe: skipping writes nothing, so it cannot apply anything
//! twice or out of order. The skipped range starts at the checkpoint the
//! follower last read or saved under its lock; a step uses it only if the
//! checkpoint it reads under the lock is still that one ([`Skip::resume`]).
//! If another runner of the same follower moved the checkpoint meanwhile,
//! the step reads from the stored checkpoint as if nothing was skipped.

use std::time::{Duration, Instant};

use crate::{FeedEvent, FeedPosition, FeedRead, Store};

/// The longest a follower passes over unwanted events before its next step
/// saves the checkpoint: what a restart re-reads, at most. Short enough
/// that the checkpoint stays within the feed reader's window under load,
/// where read-your-writes checks it in memory (`Tail::seen_of`).
pub const MAX_SKIP_AGE: Duration = Duration::from_millis(250);

/// Feed events after `from` (a checkpoint the follower read or saved) up
/// to `to` that the follower does not want.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip {
    from: FeedPosition,
    to: FeedPosition,
    started: Option<Instant>,
}

impl Skip {
    /// Nothing skipped yet after `checkpoint`.
    pub fn at(checkpoint: FeedPosition) -> Skip {
        Skip {
            from: checkpoint,
            to: checkpoint,
            started: None,
        }
    }

    /// Where a step reads from, given the checkpoint `saved` it has just
    /// read under its lock: after the skipped events if the checkpoint is
    /// still the one they were skipped from, else `saved`.
    pub fn resume(&self, saved: FeedPosition) -> FeedPosition {
        if saved == self.from {
            self.to
        } else {
            saved
        }
    }

    /// How far the follower has passed.
    pub fn position(&self) -> FeedPosition {
        self.to
    }

    fn pass(&mut self, to: FeedPosition) {
        self.to = to;
        self.started.get_or_insert_with(Instant::now);
    }

    fn aged(&self) -> bool {
        self.started.is_some_and(|at| at.elapsed() >= MAX_SKIP_AGE)
    }
}

impl Store {
    /// Follows the feed after `skip`, passing over every event `wants`
    /// refuses, until a step is due: an event it wants is there, `idle`
    /// went by with nothing new (the step then saves how far it skipped,
    /// or polls), the skip is [`MAX_SKIP_AGE`] old, or reading failed (the
    /// step reads again and reports it), or the follower is behind the
    /// window of this process's feed reader: it reads memory only.
    pub async fn skip_unwanted(
        &self,
        skip: &mut Skip,
        limit: usize,
        idle: Duration,
        wants: impl Fn(&FeedEvent) -> bool,
    ) {
        loop {
            if skip.aged() {
                return;
            }
            tokio::select! {
                _ = self.feed_past(skip.to) => {}
                _ = tokio::time::sleep(idle) => return,
            }
            // Memory only: a follower behind the window steps instead, so
            // skipping never adds database reads beside its steps.
            let Ok(events) = self.read_feed_as(FeedRead::Memory, 0, skip.to, limit).await else {
                return;
            };
            let Some(last) = events.last() else { return };
            if events.iter().any(&wants) {
                return;
            }
            skip.pass(last.position);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seq: i64) -> FeedPosition {
        FeedPosition { tx: 0, seq }
    }

    #[test]
    fn a_step_resumes_after_the_skipped_events_only_from_the_same_checkpoint() {
        let mut skip = Skip::at(at(10));
        assert_eq!(skip.resume(at(10)), at(10));
        skip.pass(at(20));
        assert_eq!(skip.resume(at(10)), at(20));
        // Another runner moved the checkpoint: what it skipped is unknown
        // to this one's range, so read from the stored checkpoint.
        assert_eq!(skip.resume(at(15)), at(15));
        assert_eq!(skip.resume(at(30)), at(30));
    }

    #[test]
    fn a_skip_ages_from_its_first_passed_event() {
        let mut skip = Skip::at(at(1));
        assert!(!skip.aged());
        skip.pass(at(2));
        skip.started = Some(Instant::now() - MAX_SKIP_AGE);
        assert!(skip.aged());
    }
}
