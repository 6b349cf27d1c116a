//! Fixtures shared by the QR and PDF tests: key rings from fixed seeds and
//! claims with fresh ids.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use ticketing_aggregates::{SeatLabel, ShowId, TicketId};
use ticketing_fulfillment::{KeyRing, TicketClaim};

/// A ring whose one key is derived from `byte`, so two calls with the same
/// byte give the same key and different bytes give different keys.
pub fn ring(byte: u8) -> KeyRing {
    KeyRing::from_seed(&STANDARD.encode([byte; 32])).unwrap()
}

pub fn claim(seat_label: &str, issued_at: DateTime<Utc>) -> TicketClaim {
    TicketClaim::new(
        TicketId::generate(),
        ShowId::generate(),
        SeatLabel::parse("seat_label", seat_label).unwrap(),
        issued_at,
    )
}
