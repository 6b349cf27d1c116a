//! The in-process bus: the embedded deployment's stand-in for Kafka
//! (design.md §3). Subscribers in the same process receive every event
//! published after they subscribed, as a [`tokio::sync::broadcast`] of
//! [`IntegrationEvent`]s.
//!
//! Nothing here outlives the process: an event published while nobody
//! listens is gone, and a subscriber that falls more than the bus capacity
//! behind is told how many it missed (`RecvError::Lagged`). Consumers that
//! must not miss events subscribe before the relay starts and dedupe on the
//! envelope `id` like Kafka consumers.

use tokio::sync::broadcast;

use crate::envelope::IntegrationEvent;
use crate::publisher::{PublishError, Publisher};

/// Cheap to clone; every clone publishes to the same subscribers.
#[derive(Clone)]
pub struct MemoryBus {
    sender: broadcast::Sender<IntegrationEvent>,
}

impl MemoryBus {
    /// A bus whose subscribers may lag up to `capacity` events behind.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        MemoryBus { sender }
    }

    /// Receives every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<IntegrationEvent> {
        self.sender.subscribe()
    }
}

impl Default for MemoryBus {
    fn default() -> Self {
        MemoryBus::new(4096)
    }
}

impl Publisher for MemoryBus {
    /// Accepted once handed to every current subscriber's queue; with no
    /// subscriber there is nobody to deliver to, which is not a failure.
    async fn publish(&self, batch: &[IntegrationEvent]) -> Result<(), PublishError> {
        for event in batch {
            // Err only means "no subscribers".
            let _ = self.sender.send(event.clone());
        }
        Ok(())
    }
}
