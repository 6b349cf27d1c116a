//! A log of about a million events shaped like a busy on-sale, written
//! through the store's own append path: a number of 2,000-seat shows, then
//! cycles of a customer holding two seats and either letting go (most) or
//! buying them (cart, checkout, payment, seats sold). Every event is a real
//! domain event, so the projections fold it as they would in production.
//! The rebuild bench folds it; `ticketing-bench --seed-events` runs the
//! engine on it, without purchases ([`Purchases::None`]): their customers
//! are made up, and the engine's workers would spend the measurement
//! issuing their tickets.

use chrono::{Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::HashMap;
use ticketing_aggregates::*;
use ticketing_event_store::{NewEvent, Store, StreamAppend};

const SEATS_PER_SHOW: usize = 2000;
const SEATS_PER_ROW: usize = 40;
/// Events per append: one multi-row insert, well under the bind limits.
const EVENTS_PER_APPEND: usize = 1000;
/// One purchase in this many holds.
const BUY_ONE_IN: u32 = 8;

/// Appends in batches, keeping each stream's sequence.
struct Writer<'a> {
    store: &'a Store,
    sequences: HashMap<String, usize>,
    pending: Vec<StreamAppend>,
    pending_events: usize,
    written: usize,
}

impl<'a> Writer<'a> {
    fn push<E: cqrs_es::DomainEvent>(&mut self, aggregate_type: &str, id: &str, events: &[E]) {
        let sequence = self.sequences.entry(id.to_owned()).or_default();
        let expected_sequence = *sequence;
        *sequence += events.len();
        self.pending_events += events.len();
        self.pending.push(StreamAppend {
            aggregate_type: aggregate_type.into(),
            aggregate_id: id.into(),
            expected_sequence,
            events: events
                .iter()
                .map(|event| NewEvent {
                    event_type: event.event_type(),
                    event_version: event.event_version(),
                    payload: serde_json::to_value(event).expect("events serialize"),
                    metadata: json!({"command": "Seed"}),
                })
                .collect(),
        });
    }

    async fn flush_if_full(&mut self) -> anyhow::Result<()> {
        if self.pending_events >= EVENTS_PER_APPEND {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.store.append(&self.pending, None).await?;
        self.written += self.pending_events;
        self.pending.clear();
        self.pending_events = 0;
        Ok(())
    }
}

fn plan(show: usize) -> SeatingPlan {
    let rows = (0..SEATS_PER_SHOW / SEATS_PER_ROW)
        .map(|r| RawRow {
            name: format!("{r}"),
            seats: (0..SEATS_PER_ROW)
                .map(|s| (format!("S{show}-{r}-{s}"), 2000 + 500 * (r as i64 % 4)))
                .collect(),
        })
        .collect();
    SeatingPlan::parse(&[RawSection {
        name: "Hall".into(),
        rows,
    }])
    .expect("a valid plan")
}

/// Whether some holds end in a purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purchases {
    /// One hold in eight is bought.
    Some,
    /// Every hold is let go.
    None,
}

/// Writes at least `events` events; returns how many were written.
pub async fn seed(store: &Store, events: usize, purchases: Purchases) -> anyhow::Result<usize> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut writer = Writer {
        store,
        sequences: HashMap::new(),
        pending: Vec::new(),
        pending_events: 0,
        written: 0,
    };
    let currency = Currency::parse("currency", "EUR").expect("EUR");
    // Enough shows that one purchase in eight holds never sells them out.
    let shows_needed = (events / 7 / BUY_ONE_IN as usize * 2 / SEATS_PER_SHOW).max(1) * 2;
    let mut free: Vec<(ShowId, Vec<SeatLabel>)> = Vec::new();
    for n in 0..shows_needed {
        let show_id = ShowId::generate();
        let plan = plan(n);
        let labels = plan.seats().map(|(seat, _)| seat.label.clone()).collect();
        let details = ShowDetails {
            show_id: show_id.clone(),
            organizer: UserRef::generate(),
            title: format!("Show {n}"),
            venue: "Hall".into(),
            starts_at: Utc::now() + Duration::days(30),
            time_zone: TimeZoneName::utc(),
            currency: currency.clone(),
            plan,
            max_held_seats: None,
        };
        let scheduled = [
            ShowEvent::ShowScheduled(details),
            ShowEvent::ShowPublished {},
        ];
        writer.push("Show", show_id.as_str(), &scheduled);
        writer.flush_if_full().await?;
        free.push((show_id, labels));
    }
    while writer.written + writer.pending_events < events {
        let (show_id, labels) = &mut free[rng.gen_range(0..shows_needed)];
        if labels.len() < 2 {
            continue;
        }
        let picks = [
            labels.swap_remove(rng.gen_range(0..labels.len())),
            labels.swap_remove(rng.gen_range(0..labels.len())),
        ];
        let (show_id, customer) = (show_id.clone(), UserRef::generate());
        let reservation = ReservationId::generate();
        let until = Utc::now() + Duration::minutes(30);
        let created = ReservationEvent::ReservationCreated {
            reservation_id: reservation.clone(),
            customer: customer.clone(),
            show_id: show_id.clone(),
            seats: picks.to_vec(),
            until,
        };
        writer.push("Reservation", reservation.as_str(), &[created]);
        for label in &picks {
            let held = SeatEvent::SeatHeld {
                reservation: reservation.clone(),
                until,
            };
            writer.push("Seat", &format!("{show_id}/{label}"), &[held]);
        }
        if purchases == Purchases::Some && rng.gen_ratio(1, BUY_ONE_IN) {
            buy(
                &mut writer,
                &show_id,
                &customer,
                &reservation,
                &picks,
                &currency,
            );
        } else {
            writer.push(
                "Reservation",
                reservation.as_str(),
                &[ReservationEvent::ReservationReleased {}],
            );
            for label in &picks {
                let released = SeatEvent::SeatReleased {
                    reservation: reservation.clone(),
                    reason: ReleaseReason::Released,
                };
                writer.push("Seat", &format!("{show_id}/{label}"), &[released]);
            }
            // Released seats are for sale again.
            let labels = &mut free
                .iter_mut()
                .find(|(s, _)| *s == show_id)
                .expect("show")
                .1;
            labels.extend(picks);
        }
        writer.flush_if_full().await?;
    }
    writer.flush().await?;
    Ok(writer.written)
}

/// The events of a paid order for one reservation.
fn buy(
    writer: &mut Writer<'_>,
    show_id: &ShowId,
    customer: &UserRef,
    reservation: &ReservationId,
    seats: &[SeatLabel],
    currency: &Currency,
) {
    let (order_id, payment_id) = (OrderId::generate(), PaymentId::generate());
    let total_minor = 5000;
    let order = [
        OrderEvent::OrderOpened {
            order_id: order_id.clone(),
            customer: customer.clone(),
            currency: currency.clone(),
        },
        OrderEvent::ItemAdded(OrderItem {
            reservation_id: reservation.clone(),
            show_id: show_id.clone(),
            seat_labels: seats.to_vec(),
            price_minor: total_minor,
            seat_prices: Vec::new(),
        }),
        OrderEvent::CheckoutStarted {
            payment_id: payment_id.clone(),
            total_minor,
        },
        OrderEvent::OrderPaid {
            payment_id: payment_id.clone(),
        },
    ];
    writer.push("Order", order_id.as_str(), &order);
    let payment = [
        PaymentEvent::PaymentRequested(PaymentRequest {
            payment_id: payment_id.clone(),
            order_id: order_id.clone(),
            amount_minor: total_minor,
            currency: currency.clone(),
            card: CardRef {
                provider: "simulated".into(),
                fingerprint: "fp_sim_visa_4242".into(),
                brand: Some("visa".into()),
                last4: Some("4242".into()),
            },
            requested_at: None,
        }),
        PaymentEvent::PaymentSucceeded {
            provider_ref: format!("sim_{payment_id}"),
        },
    ];
    writer.push("Payment", payment_id.as_str(), &payment);
    let converted = ReservationEvent::ReservationConverted {
        order_id: order_id.clone(),
    };
    writer.push("Reservation", reservation.as_str(), &[converted]);
    for label in seats {
        let sold = SeatEvent::SeatSold {
            reservation: reservation.clone(),
        };
        writer.push("Seat", &format!("{show_id}/{label}"), &[sold]);
    }
}
