//! The notification bounded context (design.md §9): every paid order gets
//! one email with all its tickets attached, however its tickets arrive, and
//! the email survives a mail server that is down for a while.
//!
//! * [`deliveries`] — the delivery log in `bc_notification`: tickets
//!   collected per order, the order's delivery queued once all have
//!   arrived, attempts and their errors, operators' list and retry.
//! * [`mailer`] — the [`Mailer`] port with its two adapters: SMTP through
//!   lettre ([`SmtpMailer`]) and a directory of `.eml` files
//!   ([`OutboxMailer`], the embedded default).
//! * [`sender`] — the loop that claims due deliveries, has them composed
//!   ([`Compose`], implemented by the caller) and sent, and retries with
//!   backoff.
//! * [`worker`] — [`Notifier`], the [`Handler`](ticketing_bus::Handler) of
//!   `ticket-issued` that feeds the delivery log.
//! * [`compose`] — [`TicketMail`], the email: the order's tickets as one
//!   PDF, to the address identity has for the customer ([`Recipients`]).
//! * `testing` (feature `testing`) — `SmtpSink`, an SMTP server on loopback
//!   that records what it receives.

pub mod compose;
pub mod deliveries;
pub mod mailer;
pub mod sender;
#[cfg(feature = "testing")]
pub mod testing;
pub mod worker;

pub use compose::{Recipient, Recipients, TicketMail};
pub use deliveries::{
    migrate, Deliveries, DeliveryError, DeliveryRow, DeliveryStatus, DueDelivery, NewTicket,
    Recorded, UnixMillis, NOTIFICATION,
};
pub use mailer::{Attachment, MailError, Mailer, OutboxMailer, OutgoingMail, SmtpMailer};
pub use sender::{Compose, ComposeError, Sender, SenderConfig, SenderWake, StepReport};
pub use worker::Notifier;
