//! The expirer role: every tick, expires the reservations whose deadline
//! has passed (found in the `reservations` read model, not by scanning the
//! log), resumes payments left in checkout by a crash, and undoes what a
//! cancelled show leaves: its live holds are withdrawn and its paid orders
//! refunded (their tickets voided). All of it is idempotent, so two
//! expirers, or an expirer racing a checkout, are safe; a read model that
//! lags only delays the work to a later tick.

use std::time::Duration;
use ticketing_aggregates::{OrderId, PaymentId, ReservationId};
use ticketing_commands::Engine;
use ticketing_projections::{Orders, Reservations};
use tokio::sync::watch;

/// Work taken per tick; the next tick takes the rest.
const BATCH: usize = 500;

pub struct Expirer {
    pub engine: Engine,
    pub reservations: Reservations,
    pub orders: Orders,
    pub interval: Duration,
}

impl Expirer {
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
        let mut resumed = 0;
        match self.orders.in_checkout(BATCH).await {
            Ok(pending) => {
                for (order, payment) in pending {
                    let Ok(payment) = PaymentId::parse("payment_id", &payment) else {
                        continue;
                    };
                    match self.engine.resume_payment(&payment, None, None).await {
                        Ok(_) => resumed += 1,
                        Err(error) => tracing::info!(%order, %error, "payment not settled yet"),
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read orders in checkout"),
        }
        metrics::counter!("ticketing_holds_expired_total").increment(expired as u64);
        metrics::counter!("ticketing_payments_resumed_total").increment(resumed as u64);
        if expired + resumed > 0 {
            tracing::info!(expired, resumed, "expirer pass");
        }
        (expired, resumed)
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
