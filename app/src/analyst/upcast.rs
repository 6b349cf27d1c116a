//! Upcasting: a stored event of an older `event_version` rewritten into the
//! shape of the current one, so a replay of the whole history reads every
//! event with today's types (design.md §4).
//!
//! When an event's shape changes, its version rises in the aggregate's
//! `DomainEvent::event_version`, [`current_version`] follows, and a
//! `(type, old version)` arm of [`upcast`] rewrites the old payload.
//! History so far: ShowScheduled 1 → 2 stores each seat of the plan as a
//! pair `["A-12", 5000]` instead of `{"label": "A-12", "price_minor": 5000}`.

use serde_json::Value;

/// The version `event_type` is written at today.
pub fn current_version(event_type: &str) -> &'static str {
    match event_type {
        "ShowScheduled" => "2",
        _ => "1",
    }
}

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
    let current = current_version(event_type);
    match (event_type, version) {
        (_, v) if v == current => Ok((current.to_owned(), payload)),
        ("ShowScheduled", "1") => Ok((current.to_owned(), seats_as_pairs(payload))),
        _ => Err(UpcastError::UnknownVersion {
            event_type: event_type.to_owned(),
            version: version.to_owned(),
        }),
    }
}

/// ShowScheduled 1 → 2: every `{"label", "price_minor"}` seat of the plan
/// becomes `[label, price_minor]`; anything else is left as it was.
fn seats_as_pairs(mut payload: Value) -> Value {
    let sections = payload
        .pointer_mut("/ShowScheduled/plan/sections")
        .and_then(Value::as_array_mut);
    for section in sections.into_iter().flatten() {
        let rows = section.get_mut("rows").and_then(Value::as_array_mut);
        for row in rows.into_iter().flatten() {
            let seats = row.get_mut("seats").and_then(Value::as_array_mut);
            for seat in seats.into_iter().flatten() {
                if let Value::Object(fields) = seat {
                    if let (Some(label), Some(price)) =
                        (fields.remove("label"), fields.remove("price_minor"))
                    {
                        *seat = Value::Array(vec![label, price]);
                    }
                }
            }
        }
    }
    payload
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
    fn show_scheduled_1_reads_as_2_with_its_seats_as_pairs() {
        let v1 = json!({ "ShowScheduled": { "title": "t", "plan": { "sections": [
            { "name": "A", "rows": [{ "name": "1", "seats": [
                { "label": "A-1", "price_minor": 5000 },
                { "label": "A-2", "price_minor": 0 }
            ] }] }
        ] } } });
        let v2 = json!({ "ShowScheduled": { "title": "t", "plan": { "sections": [
            { "name": "A", "rows": [{ "name": "1", "seats": [["A-1", 5000], ["A-2", 0]] }] }
        ] } } });
        assert_eq!(
            upcast("ShowScheduled", "1", v1),
            Ok(("2".to_owned(), v2.clone()))
        );
        assert_eq!(
            upcast("ShowScheduled", "2", v2.clone()),
            Ok(("2".to_owned(), v2))
        );
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
