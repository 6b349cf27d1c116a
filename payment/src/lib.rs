//! Payment providers behind the [`PaymentProvider`] port of the domain.
//!
//! [`SimulatedProvider`] stands in for a card processor in tests, demos and
//! the embedded engine. It keeps its charges in its own table
//! (`bc_payment.simulated_card_charges` on Postgres), so like a real
//! provider it remembers every idempotency key across restarts of the
//! engine. Its test cards ([`cards`]):
//!
//! | token | card | outcome |
//! |---|---|---|
//! | `tok_visa` | visa 4242 | succeeds |
//! | `tok_declined` | visa 0002 | declined, reason "card declined" |
//! | `tok_timeout` | visa 3220 | charged, but the first answer for a key is lost (timeout); asking again with the key returns the success |
//! | any other | none | declined, reason "unknown test card" |
//!
//! Neither the log nor the provider's tables keep a token: the engine
//! records the card's reference ([`PaymentProvider::card`]), the provider
//! the card's fingerprint. Refunds are kept in a second table, one row per
//! refund key: a refund asked for again with its key refunds nothing more,
//! and a charge is refunded at most once whatever the key.
//!
//! [`PaymentProvider`]: ticketing_aggregates::PaymentProvider
//! [`PaymentProvider::card`]: ticketing_aggregates::PaymentProvider::card

pub mod cards;
mod simulated;

pub use simulated::{migrate, migrate_on, SimulatedCharge, SimulatedProvider, VOIDED};
