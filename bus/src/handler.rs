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

/// Hands `envelope` to `handler` until it is handled or rejected, backing
/// off between attempts; `false` if `stop` turned true first. Both adapters
/// call this, so retries behave the same over the feed and over Kafka.
pub async fn deliver<H: Handler>(
    handler: &H,
    envelope: &Envelope,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> bool {
    let mut backoff = std::time::Duration::from_millis(50);
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
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|stop| *stop) => return false,
        }
        backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
    }
}
