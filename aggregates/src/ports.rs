//! Ports through which the outside world reaches the domain. Aggregates
//! never call them: application services read them and pass values in.

use chrono::{DateTime, Utc};

/// The source of "now". Production uses the system clock; tests inject one
/// they move by hand, so a 30-minute hold expires in a millisecond.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What the provider is asked to charge. `key` is the payment's id: the
/// provider charges a key at most once, however often it is asked. The
/// token lives only as long as the checkout call that brought it; the log
/// keeps the provider's [`crate::CardRef`] instead.
#[derive(Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub key: crate::PaymentId,
    pub amount_minor: i64,
    pub currency: crate::Currency,
    pub token: String,
}

/// Leaves the token out, so a request can be logged.
impl std::fmt::Debug for ChargeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChargeRequest")
            .field("key", &self.key)
            .field("amount_minor", &self.amount_minor)
            .field("currency", &self.currency)
            .finish_non_exhaustive()
    }
}

/// What the provider is asked to give back: the whole amount of the
/// succeeded charge `payment`. `key` is the refund's own idempotency key:
/// asking again with it never refunds twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub key: String,
    pub payment: crate::PaymentId,
    pub amount_minor: i64,
    pub currency: crate::Currency,
}

impl RefundRequest {
    /// The one refund a payment can have: its key is derived from the
    /// payment, so every retry and every racing refunder asks for the same.
    pub fn full(payment: crate::PaymentId, amount_minor: i64, currency: crate::Currency) -> Self {
        Self {
            key: format!("refund-{payment}"),
            payment,
            amount_minor,
            currency,
        }
    }
}

/// How a charge ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Money was taken; `provider_ref` identifies the charge at the provider.
    Succeeded { provider_ref: String },
    /// The provider refused; `reason` is shown to the customer.
    Declined { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// No answer in time: the charge may or may not have happened. Asking
    /// again with the same key is safe and tells which.
    #[error("payment provider timed out")]
    Timeout,
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
}

/// A boxed future, so providers can be used as trait objects.
pub type ProviderFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ProviderError>> + Send + 'a>>;

/// A payment provider (card processor).
///
/// Contract:
/// * `card` describes the card behind a token without contacting anyone;
///   what it returns is what the log keeps, so it must not let anyone
///   charge the card again (no token, no card number).
/// * `charge` is idempotent by `request.key`: the first call that reaches
///   the provider decides the outcome; every later call with the same key
///   returns that outcome and never charges again.
/// * `Err(Timeout)` means "unknown": the caller retries with the same key.
/// * `lookup` tells the outcome of the charge under a key, `None` if the
///   provider never saw the key; it charges nothing.
/// * `void` closes a key: afterwards no charge under it can succeed. It
///   returns the outcome that stands: the charge's own if one reached the
///   provider first, else a decline. The engine voids a payment whose
///   checkout was interrupted before the charge, since the token that
///   could complete it is gone.
/// * `refund` returns the money of a succeeded charge and is idempotent by
///   `request.key`: asking again with the key refunds nothing more; a
///   charge that did not succeed has nothing to refund.
pub trait PaymentProvider: Send + Sync + 'static {
    fn card(&self, token: &str) -> crate::CardRef;
    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> ProviderFuture<'a, ChargeOutcome>;
    fn lookup<'a>(&'a self, key: &'a crate::PaymentId)
        -> ProviderFuture<'a, Option<ChargeOutcome>>;
    fn void<'a>(&'a self, key: &'a crate::PaymentId) -> ProviderFuture<'a, ChargeOutcome>;
    fn refund<'a>(&'a self, request: &'a RefundRequest) -> ProviderFuture<'a, ()>;
}

/// Signs what a door scanner checks offline: the QR payload of a ticket.
/// The fulfillment worker's key ring implements it; the aggregates never
/// see a key.
pub trait TicketSigner: Send + Sync + 'static {
    /// The signed QR payload naming `ticket`, its show and seat, and when
    /// it was issued.
    fn sign(
        &self,
        ticket: &crate::TicketId,
        show: &crate::ShowId,
        seat: &crate::SeatLabel,
        issued_at: DateTime<Utc>,
    ) -> String;
}
