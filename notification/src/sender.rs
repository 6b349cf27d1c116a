//! The sending loop: claims due deliveries from the log, has each composed
//! ([`Compose`]) and sent ([`Mailer`]), and records the outcome.
//!
//! A failed attempt is retried after an exponential backoff with jitter
//! ([`SenderConfig::backoff`]) until `max_attempts`; a permanent failure
//! fails the delivery at once. Nothing is lost while the mail server is
//! down: deliveries wait in the log for their next attempt.
//!
//! Several senders, in one process or several, can share a log: each
//! delivery is leased to one of them ([`Deliveries::claim_due`]), and an
//! attempt only starts while the lease has `send_timeout` left, so it ends
//! before another sender may claim the delivery. This relies on the hosts'
//! clocks agreeing to well within that margin.

use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::stream::{self, StreamExt};
use rand::Rng;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tracing::Instrument;

use crate::deliveries::{Deliveries, DeliveryError, DueDelivery, UnixMillis};

/// How many deliveries of a batch are composed and sent at once.
const CONCURRENT_SENDS: usize = 8;
use crate::mailer::{MailError, Mailer, OutgoingMail};

mod config;

pub use config::SenderConfig;

/// Turns a due delivery into a mail: finds the recipient, renders the
/// tickets. Called again for every attempt, so it must not have effects
/// that a retry would repeat.
pub trait Compose: Send + Sync + 'static {
    fn compose(
        &self,
        delivery: &DueDelivery,
    ) -> impl Future<Output = Result<OutgoingMail, ComposeError>> + Send;
}

/// Why a mail could not be composed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    /// A later attempt may succeed (e.g. a lookup timed out).
    #[error("transient compose failure: {0}")]
    Transient(String),
    /// No attempt will succeed (e.g. the customer has no address).
    #[error("permanent compose failure: {0}")]
    Permanent(String),
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    pub claimed: usize,
    pub sent: usize,
    /// Failed attempts that will be retried.
    pub retrying: usize,
    /// Deliveries given up (`failed`).
    pub failed: usize,
    /// Claimed but not attempted (stopping, or the lease ran short), and
    /// handed back to the log.
    pub released: usize,
}

/// Wakes a [`Sender`] before its next poll, e.g. when
/// [`Deliveries::record_ticket`] queued a delivery. A wake while the sender
/// is busy is kept: its next pass starts right after the current one.
#[derive(Debug, Clone, Default)]
pub struct SenderWake(Arc<Notify>);

impl SenderWake {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Sends the mail of due deliveries.
pub struct Sender<M, C> {
    deliveries: Deliveries,
    mailer: M,
    composer: C,
    config: SenderConfig,
    wake: SenderWake,
}

impl<M: Mailer, C: Compose> Sender<M, C> {
    pub fn new(deliveries: Deliveries, mailer: M, composer: C, config: SenderConfig) -> Self {
        Sender {
            deliveries,
            mailer,
            composer,
            config,
            wake: SenderWake::default(),
        }
    }

    pub fn wake_handle(&self) -> SenderWake {
        self.wake.clone()
    }

    /// One pass: claims a batch of due deliveries and attempts each.
    pub async fn step(&self) -> Result<StepReport, DeliveryError> {
        self.pass(None).await
    }

    /// Passes until `shutdown` turns true (or its sender is dropped): right
    /// away while batches come back full, else after the poll interval or a
    /// wake. An attempt under way finishes; the rest of its batch is
    /// released. A log that cannot be reached is tried again at the next
    /// poll.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let more = match self.pass(Some(&shutdown)).await {
                Ok(report) => report.claimed == self.config.batch && report.released == 0,
                Err(error) => {
                    tracing::warn!(%error, "email sender cannot use the delivery log");
                    false
                }
            };
            if more {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = self.wake.0.notified() => {}
                changed = shutdown.changed() => if changed.is_err() { break },
            }
        }
    }

    async fn pass(
        &self,
        shutdown: Option<&watch::Receiver<bool>>,
    ) -> Result<StepReport, DeliveryError> {
        // Taken before the claim, so this end of the lease is never later
        // than the one the log records.
        let lease_ends = Instant::now() + self.config.lease;
        let due = self
            .deliveries
            .claim_due(now_ms(), self.config.lease, self.config.batch)
            .await?;
        let mut report = StepReport {
            claimed: due.len(),
            ..StepReport::default()
        };
        // A few at a time: composing renders a PDF and sending waits on the
        // mail server, and one slow mail must not hold up the batch.
        let attempts: Vec<_> = due
            .into_iter()
            .map(|delivery| async move {
                let stopping = shutdown.is_some_and(|s| *s.borrow());
                let lease_left = lease_ends.saturating_duration_since(Instant::now());
                if stopping || lease_left <= self.config.send_timeout {
                    return (delivery.order_id, Ok(Outcome::Unattempted));
                }
                let span = tracing::info_span!(
                    "email_send",
                    order_id = %delivery.order_id,
                    attempt = delivery.attempts + 1,
                );
                let outcome = self.attempt(&delivery).instrument(span).await;
                (delivery.order_id, outcome)
            })
            .collect();
        let outcomes: Vec<_> = stream::iter(attempts)
            .buffer_unordered(CONCURRENT_SENDS)
            .collect()
            .await;
        let mut unattempted = Vec::new();
        let mut sent = Vec::new();
        // A delivery whose outcome could not be recorded keeps its lease and
        // is tried again once it lapses; the others are recorded regardless.
        let mut unrecorded = None;
        for (order_id, outcome) in outcomes {
            match outcome {
                Ok(Outcome::Sent) => sent.push(order_id),
                Ok(Outcome::Retrying) => report.retrying += 1,
                Ok(Outcome::Failed) => report.failed += 1,
                Ok(Outcome::Unattempted) => unattempted.push(order_id),
                Err(error) => {
                    unrecorded.get_or_insert(error);
                }
            }
        }
        report.released = unattempted.len();
        self.deliveries.release(&unattempted).await?;
        // The pass's mails are marked sent together, in one statement: a
        // crash before it sends them again once their leases lapse, as a
        // crash between sending and marking one mail always could.
        report.sent = sent.len();
        if let Err(error) = self.deliveries.mark_sent(&sent, now_ms()).await {
            unrecorded.get_or_insert(error);
        }
        metrics::counter!("ticketing_emails_sent_total").increment(sent.len() as u64);
        if let Some(error) = unrecorded {
            return Err(error);
        }
        if let Ok(backlog) = self.deliveries.backlog().await {
            metrics::gauge!("ticketing_emails_queued").set(backlog as f64);
        }
        Ok(report)
    }

    async fn attempt(&self, delivery: &DueDelivery) -> Result<Outcome, DeliveryError> {
        let sent = tokio::time::timeout(self.config.send_timeout, async {
            let mail = self.composer.compose(delivery).await?;
            self.mailer.send(&mail).await?;
            Ok::<_, Failure>(())
        })
        .await
        .unwrap_or_else(|_| {
            Err(Failure {
                permanent: false,
                message: format!(
                    "composing and sending took longer than {:?}",
                    self.config.send_timeout
                ),
            })
        });
        let now = now_ms();
        let failure = match sent {
            Ok(()) => {
                tracing::info!("email sent");
                return Ok(Outcome::Sent);
            }
            Err(failure) => failure,
        };
        let kind = if failure.permanent {
            "permanent"
        } else {
            "transient"
        };
        metrics::counter!("ticketing_email_failures_total", "kind" => kind).increment(1);
        // The error may quote the recipient's address (a 550 usually does):
        // it goes to the log's last_error and to debug output only.
        tracing::debug!(error = %failure.message, "email attempt failed");
        let attempts = delivery.attempts + 1;
        if failure.permanent || attempts >= i64::from(self.config.max_attempts) {
            self.deliveries
                .mark_failed(&delivery.order_id, &failure.message, now, None)
                .await?;
            metrics::counter!("ticketing_emails_given_up_total").increment(1);
            tracing::warn!(
                kind,
                attempts,
                "email not sent; delivery failed until retried"
            );
            return Ok(Outcome::Failed);
        }
        let failed = u32::try_from(attempts).unwrap_or(u32::MAX);
        let wait = self
            .config
            .backoff(failed, rand::thread_rng().gen_range(0.5..=1.0));
        let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        self.deliveries
            .mark_failed(
                &delivery.order_id,
                &failure.message,
                now,
                Some(now.saturating_add(wait_ms)),
            )
            .await?;
        tracing::warn!(kind, attempts, retry_in = ?wait, "email not sent; will retry");
        Ok(Outcome::Retrying)
    }
}

enum Outcome {
    Sent,
    Retrying,
    Failed,
    /// Not tried (stopping, or too little of the lease left): released.
    Unattempted,
}

/// A failed compose or send, as the log records it.
struct Failure {
    permanent: bool,
    message: String,
}

impl From<ComposeError> for Failure {
    fn from(error: ComposeError) -> Self {
        Failure {
            permanent: matches!(error, ComposeError::Permanent(_)),
            message: error.to_string(),
        }
    }
}

impl From<MailError> for Failure {
    fn from(error: MailError) -> Self {
        Failure {
            permanent: error.is_permanent(),
            message: error.to_string(),
        }
    }
}

fn now_ms() -> UnixMillis {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
