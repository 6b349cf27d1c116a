//! The analysts' guard on event versions. The store the analyst commands
//! open upcasts every event it reads with the aggregates' rules
//! (`ticketing_aggregates::upcast`, design.md §4), so what reaches export
//! and replay is today's version; an event of a version no rule knows
//! (written by a newer engine, or corrupt) is refused with its position,
//! rather than printed as if it were today's.

use serde_json::Value;
use ticketing_aggregates::upcast::upcast_payload;

pub use ticketing_aggregates::upcast::current_version;

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
    let (version, payload) = upcast_payload(event_type, version, payload);
    if version == current_version(event_type) {
        Ok((version, payload))
    } else {
        Err(UpcastError::UnknownVersion {
            event_type: event_type.to_owned(),
            version,
        })
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
    fn older_versions_read_as_today() {
        let v1 = json!({ "PaymentRequested": { "token": "tok_visa", "amount_minor": 1 } });
        let (version, payload) = upcast("PaymentRequested", "1", v1).unwrap();
        assert_eq!(version, "2");
        assert!(!payload.to_string().contains("tok_visa"), "{payload}");
        assert!(upcast("ShowScheduled", "3", json!({})).is_err());
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
