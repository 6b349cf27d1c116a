//! Upcasting: a stored event of an older `event_version` rewritten into the
//! shape of the current one, so a replay of the whole history reads every
//! event with today's types (design.md §4).
//!
//! Every event type is at version 1 today, so upcasting is the identity.
//! When an event's shape changes, its version rises in the aggregate's
//! `DomainEvent::event_version`, [`CURRENT_VERSION`] follows, and a
//! `(type, old version)` arm here rewrites the old payload.

use serde_json::Value;

/// The version every event type is written at today.
pub const CURRENT_VERSION: &str = "1";

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum UpcastError {
    /// Written by a newer engine, or corrupt: no rule reads it.
    #[error("{event_type} version {version:?} is unknown to this build")]
    UnknownVersion { event_type: String, version: String },
}

/// The event as the current version, returned as `(version, payload)`.
pub fn upcast(
    event_type: &str,
    version: &str,
    payload: Value,
) -> Result<(String, Value), UpcastError> {
    match version {
        CURRENT_VERSION => Ok((CURRENT_VERSION.to_owned(), payload)),
        _ => Err(UpcastError::UnknownVersion {
            event_type: event_type.to_owned(),
            version: version.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_current_version_reads_unchanged() {
        let payload =
            json!({ "SeatHeld": { "reservation": "r_1", "until": "2026-11-26T12:30:00Z" } });
        assert_eq!(
            upcast("SeatHeld", "1", payload.clone()),
            Ok(("1".to_owned(), payload))
        );
    }

    #[test]
    fn versions_without_a_rule_are_refused() {
        assert_eq!(
            upcast("SeatHeld", "2", json!({})),
            Err(UpcastError::UnknownVersion {
                event_type: "SeatHeld".into(),
                version: "2".into()
            })
        );
    }
}
