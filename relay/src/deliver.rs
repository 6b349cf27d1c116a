//! [`Deliver`]: the in-process adapter of the consuming port. As the
//! destination of a [`Relay`](crate::Relay) running under the worker's own
//! checkpoint, it hands every integration event of the worker's topics to
//! its [`Handler`] — the same envelopes the relay publishes to Kafka — and
//! the relay advances the checkpoint only once the whole batch is handled.
//!
//! Events of one key are handled in feed order; different keys run side by
//! side, a few at a time, since a worker's effects per aggregate are
//! independent (an order's tickets do not wait for another order's). A
//! handler that takes batches ([`Handler::BATCHES`]) gets the whole batch
//! at once instead.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};
use ticketing_bus::{deliver, deliver_batch, Handler, IntegrationEvent, Topic};
use tokio::sync::watch;

use crate::publisher::{PublishError, Publisher};

/// How many keys a batch handles at once.
const CONCURRENT_KEYS: usize = 8;

pub struct Deliver<H> {
    handler: H,
    stop: watch::Receiver<bool>,
}

impl<H: Handler> Deliver<H> {
    /// `stop` ends the retries of a handler that keeps failing at shutdown.
    pub fn new(handler: H, stop: watch::Receiver<bool>) -> Self {
        Self { handler, stop }
    }

    /// The checkpoint a worker named `name` reads the feed under.
    pub fn checkpoint(name: &str) -> String {
        format!("worker:{name}")
    }
}

impl<H: Handler> Publisher for Deliver<H> {
    fn topics(&self) -> &'static [Topic] {
        self.handler.topics()
    }

    async fn publish(&self, batch: &[IntegrationEvent]) -> Result<(), PublishError> {
        if H::BATCHES {
            let envelopes: Vec<_> = batch.iter().map(|event| &event.envelope).collect();
            if envelopes.is_empty()
                || deliver_batch(&self.handler, &envelopes, &mut self.stop.clone()).await
            {
                return Ok(());
            }
            return Err(PublishError::Stopped);
        }
        let mut by_key: Vec<Vec<&IntegrationEvent>> = Vec::new();
        let mut slot: HashMap<&str, usize> = HashMap::new();
        for event in batch {
            let index = *slot.entry(event.key.as_str()).or_insert_with(|| {
                by_key.push(Vec::new());
                by_key.len() - 1
            });
            by_key[index].push(event);
        }
        // Built up front: a stream's `map` closure over borrowed events
        // trips the compiler's higher-ranked `Send` check.
        let keys: Vec<_> = by_key
            .into_iter()
            .map(|events| {
                let mut stop = self.stop.clone();
                async move {
                    for event in events {
                        if !deliver(&self.handler, &event.envelope, &mut stop).await {
                            return false;
                        }
                    }
                    true
                }
            })
            .collect();
        let handled: Vec<bool> = stream::iter(keys)
            .buffer_unordered(CONCURRENT_KEYS)
            .collect()
            .await;
        if handled.iter().all(|done| *done) {
            Ok(())
        } else {
            Err(PublishError::Stopped)
        }
    }
}
