//! [`Upcasters`]: the rules that bring a stored event of an older
//! `event_version` to the shape of today's, applied by the [`crate::Store`]
//! on every path that reads the log: aggregate loads ([`crate::Store::load`],
//! [`crate::Store::load_streams`], the cqrs-es repository), as-of reads
//! ([`crate::Store::history_of`]) and the feed (projections, the relay, the
//! workers, export and replay). Nothing downstream sees an old shape.
//!
//! The rules themselves live next to the event types (the aggregates
//! crate), as cqrs-es [`EventUpcaster`]s; the composition root hands them to
//! the store with [`crate::Store::with_upcasters`].

use std::sync::Arc;

pub use cqrs_es::persist::EventUpcaster;

use crate::SerializedEvent;

/// An ordered set of rules; empty by default (a store that only ever held
/// events of today's versions).
#[derive(Clone, Default)]
pub struct Upcasters {
    rules: Arc<Vec<Box<dyn EventUpcaster>>>,
}

impl Upcasters {
    pub fn new(rules: Vec<Box<dyn EventUpcaster>>) -> Self {
        Self {
            rules: Arc::new(rules),
        }
    }

    /// `event` in today's shape: every rule that applies, in turn (1 → 2,
    /// then 2 → 3, …). A rule must raise the version; the chain stops after
    /// as many steps as there are rules, so a faulty one cannot loop.
    pub fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        for _ in 0..self.rules.len() {
            let Some(rule) = self
                .rules
                .iter()
                .find(|r| r.can_upcast(&event.event_type, &event.event_version))
            else {
                break;
            };
            event = rule.upcast(event);
        }
        event
    }

    /// Whether a rule applies to `event` (it is of an older version).
    pub(crate) fn applies(&self, event: &SerializedEvent) -> bool {
        self.rules
            .iter()
            .any(|r| r.can_upcast(&event.event_type, &event.event_version))
    }

    pub(crate) fn upcast_all(&self, events: Vec<SerializedEvent>) -> Vec<SerializedEvent> {
        if self.rules.is_empty() {
            return events;
        }
        events.into_iter().map(|e| self.upcast(e)).collect()
    }
}
