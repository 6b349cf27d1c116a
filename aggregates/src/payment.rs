//! The Payment aggregate: one attempt to take an order's money through a
//! provider. Its id is the provider's idempotency key, so a retried or
//! resumed charge never charges twice.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{Currency, OrderId, PaymentId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PaymentStatus {
    #[default]
    Unknown,
    Requested,
    Succeeded,
    Failed,
    Refunded,
}

/// What the log keeps of the card a payment was asked of, as its provider
/// describes it. Never the token the customer submitted: a token can be
/// charged again, a fingerprint cannot.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CardRef {
    /// The provider that was asked (`simulated`, …).
    pub provider: String,
    /// The provider's name for the card: the same card, the same
    /// fingerprint, whatever token stood for it.
    pub fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last4: Option<String>,
}

/// A payment as it was requested (PaymentRequested version 2; older ones
/// are read through `upcast.rs`, which drops the token they may carry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequest {
    pub payment_id: PaymentId,
    pub order_id: OrderId,
    pub amount_minor: i64,
    pub currency: Currency,
    /// The card, by reference (empty in events from before it was kept).
    pub card: CardRef,
    /// When the checkout asked for the payment (absent in older events): a
    /// payment interrupted before its charge is voided only once it is old
    /// enough that no charge of it can still be on its way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Payment {
    pub status: PaymentStatus,
    pub request: Option<PaymentRequest>,
    pub provider_ref: Option<String>,
    pub failure_reason: Option<String>,
}

#[derive(Debug)]
pub enum PaymentCommand {
    Request(PaymentRequest),
    Succeed { provider_ref: String },
    Fail { reason: String },
    Refund { reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PaymentEvent {
    PaymentRequested(PaymentRequest),
    PaymentSucceeded { provider_ref: String },
    PaymentFailed { reason: String },
    PaymentRefunded { reason: String },
}

impl DomainEvent for PaymentEvent {
    fn event_type(&self) -> String {
        match self {
            PaymentEvent::PaymentRequested(_) => "PaymentRequested",
            PaymentEvent::PaymentSucceeded { .. } => "PaymentSucceeded",
            PaymentEvent::PaymentFailed { .. } => "PaymentFailed",
            PaymentEvent::PaymentRefunded { .. } => "PaymentRefunded",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            // 2: the card by reference, never a token (`upcast.rs`).
            PaymentEvent::PaymentRequested(_) => "2",
            _ => "1",
        }
        .to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("payment already requested")]
    AlreadyRequested,
    #[error("no such payment")]
    NotFound,
    #[error("the payment already has another outcome")]
    Settled,
    #[error("only a successful payment can be refunded")]
    NotRefundable,
    #[error("the amount must be positive")]
    NonPositiveAmount,
}

impl Aggregate for Payment {
    const TYPE: &'static str = "Payment";
    type Command = PaymentCommand;
    type Event = PaymentEvent;
    type Error = PaymentError;
    type Services = ();

    async fn handle(
        &mut self,
        command: PaymentCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), PaymentError> {
        use PaymentStatus::*;
        let event = match (command, self.status) {
            (PaymentCommand::Request(_), status) if status != Unknown => {
                return Err(PaymentError::AlreadyRequested)
            }
            (PaymentCommand::Request(request), _) if request.amount_minor <= 0 => {
                return Err(PaymentError::NonPositiveAmount)
            }
            (PaymentCommand::Request(request), _) => PaymentEvent::PaymentRequested(request),
            (_, Unknown) => return Err(PaymentError::NotFound),
            (PaymentCommand::Succeed { provider_ref }, Requested) => {
                PaymentEvent::PaymentSucceeded { provider_ref }
            }
            // Outcomes are recorded once; a resumed saga may report the same again.
            (PaymentCommand::Succeed { .. }, Succeeded | Refunded) => return Ok(()),
            (PaymentCommand::Fail { reason }, Requested) => PaymentEvent::PaymentFailed { reason },
            (PaymentCommand::Fail { .. }, Failed) => return Ok(()),
            (PaymentCommand::Succeed { .. } | PaymentCommand::Fail { .. }, _) => {
                return Err(PaymentError::Settled)
            }
            (PaymentCommand::Refund { reason }, Succeeded) => {
                PaymentEvent::PaymentRefunded { reason }
            }
            (PaymentCommand::Refund { .. }, Refunded) => return Ok(()),
            (PaymentCommand::Refund { .. }, _) => return Err(PaymentError::NotRefundable),
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: PaymentEvent) {
        match event {
            PaymentEvent::PaymentRequested(request) => {
                self.status = PaymentStatus::Requested;
                self.request = Some(request);
            }
            PaymentEvent::PaymentSucceeded { provider_ref } => {
                self.status = PaymentStatus::Succeeded;
                self.provider_ref = Some(provider_ref);
            }
            PaymentEvent::PaymentFailed { reason } => {
                self.status = PaymentStatus::Failed;
                self.failure_reason = Some(reason);
            }
            PaymentEvent::PaymentRefunded { .. } => self.status = PaymentStatus::Refunded,
        }
    }
}
