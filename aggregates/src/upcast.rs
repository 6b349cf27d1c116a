//! Upcasting: how a stored event of an older `event_version` is read as
//! today's. The log is never rewritten; the store applies these rules on
//! every read path (`ticketing_event_store::Upcasters`), so aggregates,
//! projections, the relay, the workers, export and replay only ever see
//! today's shapes, and the types here need not read old ones.
//!
//! Rules for contributors (docs/architecture.md, "Upcasting"):
//! * Change an event's shape only by raising its version in its
//!   `DomainEvent::event_version` and adding a [`Rule`] from the previous
//!   version to [`RULES`], in the same commit, with a test that a stored
//!   payload of the old version reads as the new one.
//! * A rule is a pure function of the one event's payload: no other event,
//!   no clock, no database. What cannot be derived so is a new field with a
//!   default that says "unknown", not a guess.
//! * Never remove a rule, and never change what an old version means: the
//!   log keeps its events forever.
//!
//! History:
//! * ShowScheduled 1 → 2: each seat of the plan is a pair `["A-12", 5000]`
//!   instead of `{"label": "A-12", "price_minor": 5000}` (a map per seat
//!   took six times the memory once parsed).
//! * PaymentRequested 1 → 2: the card is kept by reference (`card`:
//!   provider, fingerprint, brand, last 4), never the token. Version 1 as
//!   written before that carried the customer's `token`, which could be
//!   charged again: it is dropped on read, so no export, replay or relay
//!   shows it, and a missing `card` reads as an unknown one.

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use serde_json::{json, Value};

/// One step of one event type, from version `from` to version `to`.
pub struct Rule {
    pub event_type: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub change: fn(Value) -> Value,
}

/// Every rule, oldest first.
pub const RULES: &[Rule] = &[
    Rule {
        event_type: "ShowScheduled",
        from: "1",
        to: "2",
        change: seats_as_pairs,
    },
    Rule {
        event_type: "PaymentRequested",
        from: "1",
        to: "2",
        change: card_not_token,
    },
];

impl EventUpcaster for &'static Rule {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        self.event_type == event_type && self.from == event_version
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        let payload = std::mem::take(&mut event.payload);
        event.payload = (self.change)(payload);
        event.event_version = self.to.to_owned();
        event
    }
}

/// The rules as the store takes them.
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    RULES
        .iter()
        .map(|rule| Box::new(rule) as Box<dyn EventUpcaster>)
        .collect()
}

/// The version `event_type` is written at today.
pub fn current_version(event_type: &str) -> &'static str {
    RULES
        .iter()
        .rev()
        .find(|rule| rule.event_type == event_type)
        .map_or("1", |rule| rule.to)
}

/// `(version, payload)` of a stored event brought to today's version by
/// the rules, for callers holding a bare payload (the store upcasts whole
/// events itself).
pub fn upcast_payload(event_type: &str, version: &str, mut payload: Value) -> (String, Value) {
    let mut version = version.to_owned();
    for rule in RULES {
        if rule.event_type == event_type && rule.from == version {
            payload = (rule.change)(payload);
            version = rule.to.to_owned();
        }
    }
    (version, payload)
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

/// PaymentRequested 1 → 2: no `token`; a `card` always (an unknown one,
/// empty provider and fingerprint, when the event kept none).
fn card_not_token(mut payload: Value) -> Value {
    if let Some(Value::Object(request)) = payload.get_mut("PaymentRequested") {
        request.remove("token");
        request
            .entry("card")
            .or_insert_with(|| json!({ "provider": "", "fingerprint": "" }));
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(event_type: &str, version: &str, payload: Value) -> SerializedEvent {
        SerializedEvent::new(
            "id".into(),
            1,
            "Type".into(),
            event_type.into(),
            version.into(),
            payload,
            json!({}),
        )
    }

    /// As the store applies them: every rule that matches, in turn.
    fn today(event: SerializedEvent) -> SerializedEvent {
        let upcasters = upcasters();
        let mut event = event;
        while let Some(rule) = upcasters
            .iter()
            .find(|u| u.can_upcast(&event.event_type, &event.event_version))
        {
            event = rule.upcast(event);
        }
        event
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
        let read = today(stored("ShowScheduled", "1", v1));
        assert_eq!((read.event_version.as_str(), &read.payload), ("2", &v2));
        let again = today(stored("ShowScheduled", "2", v2.clone()));
        assert_eq!(again.payload, v2, "today's version is left as it is");
    }

    #[test]
    fn payment_requested_1_reads_as_2_without_a_token() {
        let with_token = json!({ "PaymentRequested": {
            "payment_id": "p_1", "order_id": "o_1", "amount_minor": 5000,
            "currency": "EUR", "token": "tok_visa"
        } });
        let read = today(stored("PaymentRequested", "1", with_token));
        assert_eq!(read.event_version, "2");
        assert_eq!(
            read.payload,
            json!({ "PaymentRequested": {
                "payment_id": "p_1", "order_id": "o_1", "amount_minor": 5000,
                "currency": "EUR", "card": { "provider": "", "fingerprint": "" }
            } })
        );
        // Version 1 as the releases that kept the card wrote it: unchanged
        // but for its version.
        let with_card = json!({ "PaymentRequested": {
            "payment_id": "p_1", "order_id": "o_1", "amount_minor": 5000, "currency": "EUR",
            "card": { "provider": "simulated", "fingerprint": "fp", "last4": "4242" },
            "requested_at": "2026-11-26T12:00:00Z"
        } });
        let read = today(stored("PaymentRequested", "1", with_card.clone()));
        assert_eq!(
            (read.event_version.as_str(), read.payload),
            ("2", with_card)
        );
    }

    #[test]
    fn current_versions_follow_the_rules_and_the_types() {
        use crate::{PaymentEvent, PaymentRequest, ShowEvent};
        use cqrs_es::DomainEvent;
        assert_eq!(current_version("ShowScheduled"), "2");
        assert_eq!(current_version("PaymentRequested"), "2");
        assert_eq!(current_version("SeatHeld"), "1");
        let request = PaymentRequest {
            payment_id: crate::PaymentId::generate(),
            order_id: crate::OrderId::generate(),
            amount_minor: 1,
            currency: crate::Currency::parse("currency", "EUR").unwrap(),
            card: crate::CardRef::default(),
            requested_at: None,
        };
        assert_eq!(
            PaymentEvent::PaymentRequested(request).event_version(),
            current_version("PaymentRequested"),
            "the type writes the version the rules end at"
        );
        assert_eq!(
            ShowEvent::ShowPublished {}.event_version(),
            current_version("ShowPublished")
        );
        assert_eq!(
            upcast_payload("PaymentRequested", "1", json!({"PaymentRequested": {}})).0,
            "2"
        );
    }
}
