//! The consuming port: a worker is a [`Handler`] of envelopes, and neither
//! knows nor cares which adapter feeds it — the in-process one (a
//! checkpointed reader of the global feed, in the relay crate) or
//! [`KafkaConsumer`](crate::KafkaConsumer).
//!
//! The contract both adapters keep: an envelope is handed over at least
//! once, in order per key, and the adapter moves past it only after
//! `handle` returned `Ok` — so `handle` must have made its effect durable
//! by then, and must make a second delivery of the same envelope `id` a
//! no-op (dedupe).

use std::future::Future;
use std::sync::Arc;

use crate::envelope::{Envelope, Topic};

pub trait Handler: Send + Sync + 'static {
    /// Names the consumer: its checkpoint, or its Kafka consumer group.
    fn name(&self) -> &'static str;

    /// The topics it handles; envelopes of other topics never reach it.
    fn topics(&self) -> &'static [Topic];

    /// Applies one envelope.
    fn handle(&self, envelope: &Envelope) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Whether [`Handler::handle_batch`] applies an adapter's batch better
    /// than [`Handler::handle`] applies its envelopes one by one. Only for a
    /// handler whose effects do not depend on the order envelopes come in
    /// (the notifier counts tickets), since a batch mixes keys.
    const BATCHES: bool = false;

    /// Applies every envelope of `envelopes` (feed order, several keys),
    /// each under the contract of [`Handler::handle`]: all durable when it
    /// returns `Ok`, and a second delivery of any a no-op. `Retry` hands
    /// the whole batch over again. `Reject` says some envelope can never be
    /// handled: the adapter then hands them over one by one, so the bad one
    /// is rejected alone. The default does just that.
    fn handle_batch(
        &self,
        envelopes: &[&Envelope],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = envelopes;
        async {
            Err(HandlerError::reject(
                "this handler takes envelopes one by one",
            ))
        }
    }
}

impl<H: Handler> Handler for Arc<H> {
    fn name(&self) -> &'static str {
        H::name(self)
    }

    fn topics(&self) -> &'static [Topic] {
        H::topics(self)
    }

    fn handle(&self, envelope: &Envelope) -> impl Future<Output = Result<(), HandlerError>> + Send {
        H::handle(self, envelope)
    }

    const BATCHES: bool = H::BATCHES;

    fn handle_batch(
        &self,
        envelopes: &[&Envelope],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        H::handle_batch(self, envelopes)
    }
}

/// Why an envelope was not handled.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A dependency is down or a race was lost: the same envelope is handed
    /// over again after a backoff, and nothing after it is handled before.
    #[error("retry later: {0}")]
    Retry(String),
    /// The envelope can never be handled (malformed data, a contract
    /// violation): it is logged and counted, and the consumer moves on.
    #[error("rejected: {0}")]
    Reject(String),
}

impl HandlerError {
    pub fn retry(error: impl std::fmt::Display) -> Self {
        Self::Retry(error.to_string())
    }

    pub fn reject(error: impl std::fmt::Display) -> Self {
        Self::Reject(error.to_string())
    }
}

/// The wait between attempts at the same envelope or batch: 50 ms,
/// doubling up to 10 s.
struct Backoff(std::time::Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(std::time::Duration::from_millis(50))
    }
}

impl Backoff {
    /// Waits, then doubles the next wait; `false` if `stop` turned true
    /// first.
    async fn wait(&mut self, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(self.0) => {}
            _ = stop.wait_for(|stop| *stop) => return false,
        }
        self.0 = (self.0 * 2).min(std::time::Duration::from_secs(10));
        true
    }
}

/// Hands `envelope` to `handler` until it is handled or rejected, backing
/// off between attempts; `false` if `stop` turned true first. Both adapters
/// call this, so retries behave the same over the feed and over Kafka.
pub async fn deliver<H: Handler>(
    handler: &H,
    envelope: &Envelope,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> bool {
    let mut backoff = Backoff::default();
    loop {
        let span = tracing::info_span!("bus_handle", consumer = handler.name(), id = envelope.id, topic = %envelope.event_type);
        let handled = tracing::Instrument::instrument(handler.handle(envelope), span).await;
        match handled {
            Ok(()) => {
                metrics::counter!("ticketing_bus_handled_total", "consumer" => handler.name())
                    .increment(1);
                return true;
            }
            Err(HandlerError::Reject(why)) => {
                tracing::error!(consumer = handler.name(), id = envelope.id, topic = %envelope.event_type, %why, "envelope rejected; moving on");
                metrics::counter!("ticketing_bus_rejected_total", "consumer" => handler.name())
                    .increment(1);
                return true;
            }
            Err(HandlerError::Retry(why)) => {
                tracing::warn!(consumer = handler.name(), id = envelope.id, %why, "handler failed; retrying");
                metrics::counter!("ticketing_bus_retries_total", "consumer" => handler.name())
                    .increment(1);
            }
        }
        if !backoff.wait(stop).await {
            return false;
        }
    }
}

/// Hands `envelopes` to `handler` as one batch ([`Handler::handle_batch`])
/// until it is handled, backing off between attempts, or one by one
/// ([`deliver`], in order) if the batch was rejected; `false` if `stop`
/// turned true first.
pub async fn deliver_batch<H: Handler>(
    handler: &H,
    envelopes: &[&Envelope],
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> bool {
    let mut backoff = Backoff::default();
    loop {
        let span = tracing::info_span!(
            "bus_handle_batch",
            consumer = handler.name(),
            envelopes = envelopes.len()
        );
        let handled = tracing::Instrument::instrument(handler.handle_batch(envelopes), span).await;
        match handled {
            Ok(()) => {
                metrics::counter!("ticketing_bus_handled_total", "consumer" => handler.name())
                    .increment(envelopes.len() as u64);
                return true;
            }
            Err(HandlerError::Reject(why)) => {
                tracing::debug!(consumer = handler.name(), %why, "batch rejected; handling its envelopes one by one");
                for envelope in envelopes {
                    if !deliver(handler, envelope, stop).await {
                        return false;
                    }
                }
                return true;
            }
            Err(HandlerError::Retry(why)) => {
                tracing::warn!(consumer = handler.name(), envelopes = envelopes.len(), %why, "batch failed; retrying");
                metrics::counter!("ticketing_bus_retries_total", "consumer" => handler.name())
                    .increment(1);
            }
        }
        if !backoff.wait(stop).await {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Takes batches; a batch holding envelope 13 is rejected, and 13
    /// alone is rejected again.
    #[derive(Default)]
    struct Counting {
        batches: Mutex<Vec<Vec<i64>>>,
        one_by_one: Mutex<Vec<i64>>,
        /// Batches holding envelope 7 fail with `Retry` this many times.
        retries_of_7: Mutex<u32>,
    }

    impl Handler for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }

        fn topics(&self) -> &'static [Topic] {
            &[]
        }

        const BATCHES: bool = true;

        async fn handle_batch(&self, envelopes: &[&Envelope]) -> Result<(), HandlerError> {
            if envelopes.iter().any(|e| e.id == 13) {
                return Err(HandlerError::reject("13 is malformed"));
            }
            if envelopes.iter().any(|e| e.id == 7) {
                let mut left = self.retries_of_7.lock().unwrap();
                if *left > 0 {
                    *left -= 1;
                    return Err(HandlerError::retry("the database is away"));
                }
            }
            let ids = envelopes.iter().map(|e| e.id).collect();
            self.batches.lock().unwrap().push(ids);
            Ok(())
        }

        async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
            if envelope.id == 13 {
                return Err(HandlerError::reject("13 is malformed"));
            }
            self.one_by_one.lock().unwrap().push(envelope.id);
            Ok(())
        }
    }

    fn envelope(id: i64) -> Envelope {
        Envelope {
            id,
            event_type: "ticket-issued".to_owned(),
            source: "test".to_owned(),
            subject: format!("o_{id}"),
            time: chrono::Utc::now(),
            data: serde_json::Value::Null,
            schema_version: 1,
        }
    }

    #[tokio::test]
    async fn a_batch_is_handled_at_once_and_a_rejected_one_envelope_by_envelope() {
        let handler = Counting::default();
        let (_stop_tx, mut stop) = tokio::sync::watch::channel(false);
        let good: Vec<Envelope> = [1, 2, 3].map(envelope).to_vec();
        let refs: Vec<&Envelope> = good.iter().collect();
        assert!(deliver_batch(&handler, &refs, &mut stop).await);
        assert_eq!(*handler.batches.lock().unwrap(), [vec![1, 2, 3]]);
        assert!(handler.one_by_one.lock().unwrap().is_empty());

        let mixed: Vec<Envelope> = [4, 13, 5].map(envelope).to_vec();
        let refs: Vec<&Envelope> = mixed.iter().collect();
        assert!(deliver_batch(&handler, &refs, &mut stop).await);
        assert_eq!(handler.batches.lock().unwrap().len(), 1, "no second batch");
        assert_eq!(
            *handler.one_by_one.lock().unwrap(),
            [4, 5],
            "the others handled in order, the bad one rejected alone"
        );
    }

    #[tokio::test]
    async fn a_batch_that_fails_is_retried_whole_until_it_is_handled_or_stopped() {
        let handler = Counting::default();
        *handler.retries_of_7.lock().unwrap() = 2;
        let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
        let batch: Vec<Envelope> = [7, 8].map(envelope).to_vec();
        let refs: Vec<&Envelope> = batch.iter().collect();
        assert!(deliver_batch(&handler, &refs, &mut stop).await);
        assert_eq!(
            *handler.batches.lock().unwrap(),
            [vec![7, 8]],
            "handled once, after two retries"
        );

        *handler.retries_of_7.lock().unwrap() = u32::MAX;
        let stopping = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            stop_tx.send(true).expect("stop");
        });
        assert!(
            !deliver_batch(&handler, &refs, &mut stop).await,
            "a batch that keeps failing gives way to a stop"
        );
        stopping.await.expect("stopper");
        assert_eq!(handler.batches.lock().unwrap().len(), 1);
    }
}
