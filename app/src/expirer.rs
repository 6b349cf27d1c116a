//! The expirer role: every tick, expires the reservations whose deadline
//! has passed (found in the `reservations` read model, not by scanning the
//! log), resumes payments left in checkout by a crash, and undoes what a
//! cancelled show leaves: its live holds are withdrawn and its paid orders
//! refunded (their tickets voided). All of it is idempotent, so two
//! expirers, or an expirer racing a checkout, are safe; a read model that
//! lags only delays the work to a later tick.
//!
//! **Payments left in checkout.** Only those whose checkout began more
//! than `--resume-checkouts-after` ago (default [`RESUME_AFTER`], 1 min) are resumed, oldest
//! first: a younger one may still be finishing in the call that began it.
//! Resuming never charges a card (the token lived only in that call): it
//! settles from the provider's answer for the payment's key, or voids the
//! key once the charge can no longer arrive. Each tick takes the next
//! page after where the last one stopped and starts over at the end, so
//! orders that stay unsettled for minutes cannot hide the ones behind
//! them.

use std::time::Duration;
use ticketing_aggregates::{OrderId, PaymentId, ReservationId};
use ticketing_commands::Engine;
use ticketing_projections::{CheckoutCursor, Orders, Reservations};
use tokio::sync::{watch, Mutex};

/// Work taken per tick; the next tick takes the rest.
pub const BATCH: usize = 500;

/// How old a checkout must be before the expirer resumes it, by default.
pub const RESUME_AFTER: Duration = Duration::from_secs(60);

pub struct Expirer {
    engine: Engine,
    reservations: Reservations,
    orders: Orders,
    interval: Duration,
    resume_after: Duration,
    /// The last order in checkout the previous tick looked at.
    cursor: Mutex<Option<CheckoutCursor>>,
}

impl Expirer {
    pub fn new(
        engine: Engine,
        reservations: Reservations,
        orders: Orders,
        interval: Duration,
        resume_after: Duration,
    ) -> Self {
        Self {
            engine,
            reservations,
            orders,
            interval,
            resume_after,
            cursor: Mutex::new(None),
        }
    }

    /// One pass: how many reservations it expired and payments it resumed.
    pub async fn tick(&self) -> (usize, usize) {
        self.sweep_cancelled_shows().await;
        let mut expired = 0;
        match self.reservations.due(self.engine.now(), BATCH).await {
            Ok(due) => {
                for id in due {
                    let Ok(id) = ReservationId::parse("reservation_id", &id) else {
                        continue;
                    };
                    match self.engine.expire_reservation(&id).await {
                        Ok(true) => expired += 1,
                        Ok(false) => {}
                        Err(error) => {
                            tracing::warn!(reservation = %id, %error, "expiry failed; retried next tick")
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read due reservations"),
        }
        let resumed = self.resume_payments().await;
        metrics::counter!("ticketing_holds_expired_total").increment(expired as u64);
        metrics::counter!("ticketing_payments_resumed_total").increment(resumed as u64);
        if expired + resumed > 0 {
            tracing::info!(expired, resumed, "expirer pass");
        }
        (expired, resumed)
    }

    /// Resumes the next page of payments left in checkout; returns how many
    /// it settled.
    async fn resume_payments(&self) -> usize {
        let resume_after =
            chrono::Duration::from_std(self.resume_after).unwrap_or(chrono::Duration::MAX);
        let cutoff = (self.engine.now() - resume_after).timestamp_millis();
        let mut cursor = self.cursor.lock().await;
        let page = match self
            .orders
            .in_checkout(cutoff, cursor.as_ref(), BATCH)
            .await
        {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "cannot read orders in checkout");
                return 0;
            }
        };
        // A short page reached the end: the next tick starts over.
        *cursor = if page.len() < BATCH {
            None
        } else {
            page.last().cloned()
        };
        drop(cursor);
        let mut resumed = 0;
        for waiting in page {
            let Ok(payment) = PaymentId::parse("payment_id", &waiting.payment_id) else {
                continue;
            };
            match self.engine.resume_payment(&payment, None, None).await {
                Ok(_) => resumed += 1,
                Err(error) => {
                    tracing::info!(order = %waiting.order_id, %error, "payment not settled yet")
                }
            }
        }
        resumed
    }

    /// Withdraws the live holds and refunds the paid orders of cancelled
    /// shows.
    async fn sweep_cancelled_shows(&self) {
        match self.reservations.live_on_cancelled_shows(BATCH).await {
            Ok(live) => {
                for id in live {
                    let Ok(id) = ReservationId::parse("reservation_id", &id) else {
                        continue;
                    };
                    if let Err(error) = self.engine.withdraw_reservation(&id).await {
                        tracing::warn!(reservation = %id, %error, "withdrawal failed; retried next tick");
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read holds on cancelled shows"),
        }
        match self.orders.paid_on_cancelled_shows(BATCH).await {
            Ok(paid) => {
                for id in paid {
                    let Ok(id) = OrderId::parse("order_id", &id) else {
                        continue;
                    };
                    match self
                        .engine
                        .refund_order(&id, "the show was cancelled")
                        .await
                    {
                        Ok(true) => {
                            metrics::counter!("ticketing_orders_refunded_total").increment(1);
                            tracing::info!(order = %id, "refunded: the show was cancelled");
                        }
                        Ok(false) => {}
                        Err(error) => {
                            tracing::warn!(order = %id, %error, "refund failed; retried next tick")
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read paid orders of cancelled shows"),
        }
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            self.tick().await;
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
