//! Checkout: the payment saga. Starting it (CheckoutStarted + a Payment
//! requested) is one append; the provider is charged with the payment's id
//! as its idempotency key; the outcome is settled in one more append:
//! PaymentSucceeded + OrderPaid + every ReservationConverted and SeatSold —
//! or, when a hold ended first, a refund and OrderExpired.
//!
//! The log keeps the card's reference, never the token, so the token lives
//! only as long as the checkout call. A crash anywhere leaves the order in
//! CHECKOUT, and [`Engine::resume_payment`] (run by the expirer role)
//! completes it: from the provider's answer for the key if the charge
//! reached it, else by voiding the key once no charge can still be on its
//! way ([`VOID_INTERRUPTED_AFTER`]); the order then fails its payment and
//! the customer pays again. A customer who retries the checkout brings the
//! token back and completes the payment instead.

use std::sync::Arc;

use ticketing_aggregates::{
    Cart, CartCommand, ChargeOutcome, ChargeRequest, Order, OrderCommand, OrderId, OrderStatus,
    Payment, PaymentCommand, PaymentId, PaymentProvider, PaymentRequest, ProviderError,
    ReservationStatus, ShowStatus, UserRef,
};

use crate::cart::order_error;
use crate::engine::{exhausted, Commit, MAX_ATTEMPTS};
use crate::load::{fold, load, load_batch, metadata, whole, Loaded};
use crate::sale::{HoldStreams, Holds};
use crate::settle::Read;
use crate::{CommandError, Engine, IdempotencyKey, OrderView};

/// Attempts per charge when the provider times out (same key each time).
const CHARGE_ATTEMPTS: usize = 3;

/// A payment whose charge never reached the provider is voided once it was
/// requested this long ago: longer than `CHARGE_ATTEMPTS` answers of a
/// provider that takes up to a minute each, so the checkout that requested
/// it has charged or given up by then.
pub const VOID_INTERRUPTED_AFTER: chrono::Duration = chrono::Duration::minutes(5);

/// A test hook: with `TICKETING_FAULT=after-charge` the process aborts right
/// after the provider took the money, before the engine records it — the
/// worst instant for a crash, which the kill tests use.
fn crash_after_charge() -> bool {
    std::env::var("TICKETING_FAULT").is_ok_and(|fault| fault == "after-charge")
}

impl Engine {
    #[tracing::instrument(name = "command.checkout", skip_all, fields(order = %order_id))]
    pub async fn checkout(
        &self,
        customer: &UserRef,
        order_id: &OrderId,
        token: &str,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<OrderView, CommandError> {
        if let Some(view) = self.replayed(idempotency).await? {
            return Ok(view);
        }
        match self.begin_checkout(customer, order_id, token).await? {
            Begun::New(started) => {
                let Started { request, read } = *started;
                self.charge_and_settle(&request, token, idempotency, Some(read))
                    .await
            }
            Begun::Existing(payment_id) => {
                self.resume_payment(&payment_id, Some(token), idempotency)
                    .await
            }
        }
    }

    /// Records CheckoutStarted and PaymentRequested, or finds the payment a
    /// retried checkout already started. [`Engine::checkout`] runs it and then
    /// [`Engine::resume_payment`]; tests run the two apart to put a crash or a
    /// race between them.
    pub async fn start_checkout(
        &self,
        customer: &UserRef,
        order_id: &OrderId,
        token: &str,
    ) -> Result<PaymentId, CommandError> {
        Ok(
            match self.begin_checkout(customer, order_id, token).await? {
                Begun::New(started) => started.request.payment_id,
                Begun::Existing(payment_id) => payment_id,
            },
        )
    }

    async fn begin_checkout(
        &self,
        customer: &UserRef,
        order_id: &OrderId,
        token: &str,
    ) -> Result<Begun, CommandError> {
        let meta = metadata("Checkout", customer.as_str());
        // Before anything is recorded: no order waits in checkout for a
        // provider that is not there.
        let provider = self.provider()?;
        for _ in 0..MAX_ATTEMPTS {
            // The order with the customer's cart, then its holds and shows;
            // all in one read when the order's items were last written here
            // (the guess is checked against the order read).
            let carted = self.carted_here.get(order_id.as_str());
            let guess = carted.as_deref().map(HoldStreams::of);
            let mut streams = vec![
                whole::<Order>(order_id.as_str()),
                self.carts.stream(customer.as_str()),
            ];
            if let Some(guess) = &guess {
                streams.extend(guess.streams());
            }
            let mut read = load_batch(&self.store, &streams).await?;
            let mut order: Loaded<Order> = read.next()?;
            let mut cart: Loaded<Cart> = self
                .carts
                .checked(&self.store, customer.as_str(), read.next()?)
                .await?;
            if order.aggregate.customer.as_ref() != Some(customer) {
                return Err(CommandError::NotFound("order"));
            }
            if let (OrderStatus::Checkout | OrderStatus::Paid, Some(payment)) =
                (order.aggregate.status, &order.aggregate.payment)
            {
                return Ok(Begun::Existing(payment.clone()));
            }
            let now = self.clock.now();
            let holds = match guess {
                Some(guess) if carted.as_deref() == Some(order.aggregate.items.as_slice()) => {
                    guess.take(&mut read)?
                }
                _ => self.read_holds(&order.aggregate).await?,
            };
            self.refuse_ended_holds(&holds, now).await?;
            let payment_id = PaymentId::generate();
            let started = order
                .decide(
                    OrderCommand::Checkout {
                        customer: customer.clone(),
                        payment_id: payment_id.clone(),
                    },
                    &(),
                )
                .await
                .map_err(order_error)?;
            let closed = cart
                .decide(
                    CartCommand::Close {
                        order_id: order_id.clone(),
                    },
                    &(),
                )
                .await
                .map_err(CommandError::internal)?;
            let currency = order
                .aggregate
                .currency
                .clone()
                .ok_or(CommandError::NotFound("order"))?;
            // A fresh payment: its stream is empty, nothing to read.
            let mut payment = fold::<Payment>(payment_id.as_str(), Vec::new())?;
            let request = PaymentRequest {
                payment_id: payment_id.clone(),
                order_id: order_id.clone(),
                amount_minor: order.aggregate.total_minor(),
                currency,
                card: provider.card(token),
                requested_at: Some(now),
            };
            let requested = payment
                .decide(PaymentCommand::Request(request.clone()), &())
                .await
                .map_err(CommandError::internal)?;
            let appends = [
                order.append(&started, &meta)?,
                cart.append(&closed, &meta)?,
                payment.append(&requested, &meta)?,
            ];
            if let Commit::Done = self.commit(&appends, &(), None).await? {
                order.committed(&started);
                payment.committed(&requested);
                return Ok(Begun::New(Box::new(Started {
                    request,
                    read: Read {
                        payment,
                        order,
                        holds,
                    },
                })));
            }
        }
        Err(exhausted())
    }

    /// Checkout answers FAILED_PRECONDITION before any money is asked for
    /// when a hold of the order has ended, or its show is cancelled or has
    /// begun.
    async fn refuse_ended_holds(
        &self,
        holds: &Holds,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), CommandError> {
        for (show_id, state) in &holds.shows {
            if state.status == ShowStatus::Cancelled {
                return Err(CommandError::Precondition {
                    reason: "SHOW_CANCELLED",
                    message: format!("show {show_id} is cancelled"),
                });
            }
            if self.plan_index(show_id).await?.show.starts_at <= now {
                return Err(CommandError::Precondition {
                    reason: "SHOW_STARTED",
                    message: format!("show {show_id} has already started"),
                });
            }
        }
        for hold in &holds.items {
            let reservation = &hold.reservation;
            let live = reservation.aggregate.status == ReservationStatus::Active
                && reservation.aggregate.until.is_some_and(|until| until > now);
            if !live {
                return Err(CommandError::Precondition {
                    reason: "RESERVATION_EXPIRED",
                    message: format!(
                        "the hold of reservation {} has ended; remove it from the cart",
                        reservation.id
                    ),
                });
            }
        }
        Ok(())
    }

    /// Completes a payment left in checkout and settles it: with the
    /// provider's outcome for its key when the charge reached the provider;
    /// else by charging `token` (a customer retrying the checkout); else, once
    /// the payment is older than [`VOID_INTERRUPTED_AFTER`], by voiding the
    /// key (the order's payment then fails). Until then it answers
    /// FAILED_PRECONDITION `PAYMENT_PENDING`. Safe to run any number of
    /// times, concurrently too: the provider decides a key once and the
    /// settlement is one optimistic append.
    pub async fn resume_payment(
        &self,
        payment_id: &PaymentId,
        token: Option<&str>,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<OrderView, CommandError> {
        let provider = self.provider()?;
        let payment = load::<Payment>(&self.store, payment_id.as_str()).await?;
        let request = payment
            .aggregate
            .request
            .ok_or(CommandError::NotFound("payment"))?;
        let known = provider
            .lookup(payment_id)
            .await
            .map_err(|error| pending(payment_id, &error))?;
        if let Some(outcome) = known {
            return self
                .settle_payment(&request, outcome, idempotency, None)
                .await;
        }
        if let Some(token) = token {
            return self
                .charge_and_settle(&request, token, idempotency, None)
                .await;
        }
        let age = request
            .requested_at
            .map_or(VOID_INTERRUPTED_AFTER, |at| self.clock.now() - at);
        if age < VOID_INTERRUPTED_AFTER {
            return Err(CommandError::Precondition {
                reason: "PAYMENT_PENDING",
                message: "the checkout is still charging the card".into(),
            });
        }
        let outcome = provider
            .void(payment_id)
            .await
            .map_err(|error| pending(payment_id, &error))?;
        tracing::warn!(payment = %payment_id, ?outcome, "voided a payment whose checkout ended before its charge");
        self.settle_payment(&request, outcome, idempotency, None)
            .await
    }

    fn provider(&self) -> Result<Arc<dyn PaymentProvider>, CommandError> {
        self.provider.clone().ok_or_else(|| {
            CommandError::Unavailable(ticketing_event_store::StoreError::Other(
                "no payment provider configured".into(),
            ))
        })
    }

    /// Asks the provider for the money (again, with the payment's key) and
    /// records the outcome, deciding on `read` first when the checkout has
    /// just read everything the settlement needs.
    async fn charge_and_settle(
        &self,
        request: &PaymentRequest,
        token: &str,
        idempotency: Option<&IdempotencyKey>,
        read: Option<Read>,
    ) -> Result<OrderView, CommandError> {
        let provider = self.provider()?;
        let payment_id = &request.payment_id;
        let charge = ChargeRequest {
            key: payment_id.clone(),
            amount_minor: request.amount_minor,
            currency: request.currency.clone(),
            token: token.to_owned(),
        };
        let mut outcome = Err(ProviderError::Timeout);
        for _ in 0..CHARGE_ATTEMPTS {
            outcome = provider.charge(&charge).await;
            if !matches!(outcome, Err(ProviderError::Timeout)) {
                break;
            }
        }
        let outcome = outcome.map_err(|error| pending(payment_id, &error))?;
        if crash_after_charge() && matches!(outcome, ChargeOutcome::Succeeded { .. }) {
            tracing::error!("fault injection: aborting after the charge");
            std::process::abort();
        }
        self.settle_payment(request, outcome, idempotency, read)
            .await
    }
}

/// The provider did not answer: the order stays in checkout, and the
/// expirer completes it later.
fn pending(payment_id: &PaymentId, error: &ProviderError) -> CommandError {
    tracing::warn!(payment = %payment_id, %error, "payment provider did not answer; the order stays in checkout");
    CommandError::Precondition {
        reason: "PAYMENT_PENDING",
        message: "the payment provider did not answer; the payment will be completed shortly"
            .into(),
    }
}

/// How a checkout began: a payment requested now, or the one a retried
/// checkout had already started.
enum Begun {
    New(Box<Started>),
    Existing(PaymentId),
}

/// A payment requested now, with what its checkout read and wrote: the
/// settlement decides on it without reading again.
struct Started {
    request: PaymentRequest,
    read: Read,
}
