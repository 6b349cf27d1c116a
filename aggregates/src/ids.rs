//! Validated identifiers: every id that crosses into the domain is parsed
//! here once, so aggregates never see a malformed one.
//!
//! Show and reservation ids are a type prefix plus a ULID (`s_01J…`,
//! `r_01J…`); a seat's id is `{show_id}/{seat_label}` (design.md §4).

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::ValidationError;

macro_rules! prefixed_ulid_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A new, time-ordered id.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, ulid::Ulid::new()))
            }

            /// Parses an id given by a user; `field` names it in the error.
            pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
                let ok = raw
                    .strip_prefix($prefix)
                    .is_some_and(|rest| ulid::Ulid::from_string(rest).is_ok());
                if ok {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(ValidationError::new(
                        field,
                        format!(concat!("must be '", $prefix, "' followed by a 26-character ULID, got {:?}"), truncate(raw)),
                    ))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(stringify!($name), &raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_ulid_id!(
    /// Identifies a show.
    ShowId,
    "s_"
);
prefixed_ulid_id!(
    /// Identifies a reservation.
    ReservationId,
    "r_"
);
prefixed_ulid_id!(
    /// Identifies a user (customer, organizer or admin); issued by identity.
    UserRef,
    "u_"
);
prefixed_ulid_id!(
    /// Identifies an order (a cart until checkout).
    OrderId,
    "o_"
);
prefixed_ulid_id!(
    /// Identifies one payment attempt; also the provider's idempotency key.
    PaymentId,
    "p_"
);

prefixed_ulid_id!(
    /// Identifies a ticket: one seat of one paid order.
    TicketId,
    "t_"
);

impl TicketId {
    /// The ticket of `seat` of `show` bought by `order`: derived, not
    /// random, so issuing it twice is an append conflict on one stream
    /// rather than a second ticket.
    pub fn for_seat(order: &OrderId, show: &ShowId, seat: &SeatLabel) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{order}/{show}/{seat}").as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(format!("t_{}", ulid::Ulid::from_bytes(bytes)))
    }
}

/// Cuts user input before echoing it in an error message.
fn truncate(raw: &str) -> String {
    raw.chars().take(40).collect()
}

/// A seat's id inside its show, e.g. `ORC-A-12`: 1–32 characters of ASCII
/// letters, digits, `-`, `_` and `.`; unique per show.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SeatLabel(String);

impl SeatLabel {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if raw.is_empty() || raw.len() > 32 || !raw.chars().all(valid_char) {
            return Err(ValidationError::new(
                field,
                format!(
                    "a seat label is 1-32 characters of letters, digits, '-', '_' or '.', got {:?}",
                    truncate(raw)
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SeatLabel {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse("seat_label", &raw)
    }
}

impl From<SeatLabel> for String {
    fn from(label: SeatLabel) -> String {
        label.0
    }
}

impl fmt::Display for SeatLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The stream id of a Seat aggregate: `{show_id}/{seat_label}`.
pub fn seat_id(show: &ShowId, label: &SeatLabel) -> String {
    format!("{show}/{label}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = ShowId::generate();
        assert_eq!(ShowId::parse("show_id", id.as_str()).unwrap(), id);
        assert!(ShowId::parse("show_id", "s_nope").is_err());
        assert!(ShowId::parse("show_id", &id.as_str().replace("s_", "r_")).is_err());
        let err = ReservationId::parse("reservation_id", "").unwrap_err();
        assert_eq!(err.field, "reservation_id");
    }

    #[test]
    fn ticket_ids_are_derived_from_order_and_seat() {
        let (order, show) = (OrderId::generate(), ShowId::generate());
        let a1 = SeatLabel::parse("l", "A-1").unwrap();
        let a2 = SeatLabel::parse("l", "A-2").unwrap();
        let id = TicketId::for_seat(&order, &show, &a1);
        assert_eq!(id, TicketId::for_seat(&order, &show, &a1));
        assert_ne!(id, TicketId::for_seat(&order, &show, &a2));
        assert_ne!(id, TicketId::for_seat(&OrderId::generate(), &show, &a1));
        assert_eq!(TicketId::parse("ticket_id", id.as_str()).unwrap(), id);
    }

    #[test]
    fn seat_labels_are_bounded() {
        assert!(SeatLabel::parse("l", "ORC-A-12").is_ok());
        assert!(SeatLabel::parse("l", "").is_err());
        assert!(SeatLabel::parse("l", "A 1").is_err());
        assert!(SeatLabel::parse("l", &"A".repeat(33)).is_err());
    }
}
