//! The seating plan of a show: sections → rows → seats, each seat with its
//! price. Built once from user input with every violation reported by field
//! path (`sections[0].rows[2].seats[5].label`), then immutable.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

use crate::{PriceMinor, SeatLabel, ValidationError};

/// At most this many seats in one show; a plan larger than any real venue is
/// a mistake or an attack on memory.
pub const MAX_SEATS_PER_SHOW: usize = 100_000;
const MAX_NAME_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatingPlan {
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub name: String,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    pub seats: Vec<PlannedSeat>,
}

/// Stored as a pair, `["A-12", 5000]`: a plan holds up to
/// [`MAX_SEATS_PER_SHOW`] of them, and as a JSON object each took about
/// six times the memory once parsed (a map per seat). ShowScheduled of
/// version 1 stored objects; the store upcasts them (`upcast.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "(SeatLabel, PriceMinor)", from = "(SeatLabel, PriceMinor)")]
pub struct PlannedSeat {
    pub label: SeatLabel,
    pub price_minor: PriceMinor,
}

impl From<PlannedSeat> for (SeatLabel, PriceMinor) {
    fn from(seat: PlannedSeat) -> Self {
        (seat.label, seat.price_minor)
    }
}

impl From<(SeatLabel, PriceMinor)> for PlannedSeat {
    fn from((label, price_minor): (SeatLabel, PriceMinor)) -> Self {
        PlannedSeat { label, price_minor }
    }
}

/// Unvalidated plan as a user sends it.
#[derive(Debug, Clone, Default)]
pub struct RawSection {
    pub name: String,
    pub rows: Vec<RawRow>,
}

#[derive(Debug, Clone, Default)]
pub struct RawRow {
    pub name: String,
    pub seats: Vec<(String, i64)>,
}

/// Where a seat sits and what it costs; looked up by label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatPlace<'a> {
    pub section: &'a str,
    pub row: &'a str,
    pub price_minor: PriceMinor,
}

impl SeatingPlan {
    /// Validates a plan; collects every violation rather than the first.
    pub fn parse(raw: &[RawSection]) -> Result<Self, Vec<ValidationError>> {
        let mut errors = Vec::new();
        if raw.is_empty() {
            errors.push(ValidationError::new(
                "sections",
                "a seating plan needs at least one section",
            ));
        }
        let total: usize = raw
            .iter()
            .flat_map(|s| &s.rows)
            .map(|r| r.seats.len())
            .sum();
        if total > MAX_SEATS_PER_SHOW {
            return Err(vec![ValidationError::new(
                "sections",
                format!("at most {MAX_SEATS_PER_SHOW} seats per show, got {total}"),
            )]);
        }
        let mut seen = HashSet::new();
        let mut sections = Vec::with_capacity(raw.len());
        for (si, section) in raw.iter().enumerate() {
            let path = format!("sections[{si}]");
            check_name(&mut errors, &format!("{path}.name"), &section.name);
            if section.rows.is_empty() {
                errors.push(ValidationError::new(
                    format!("{path}.rows"),
                    "a section needs at least one row",
                ));
            }
            let mut rows = Vec::with_capacity(section.rows.len());
            for (ri, row) in section.rows.iter().enumerate() {
                let path = format!("{path}.rows[{ri}]");
                check_name(&mut errors, &format!("{path}.name"), &row.name);
                if row.seats.is_empty() {
                    errors.push(ValidationError::new(
                        format!("{path}.seats"),
                        "a row needs at least one seat",
                    ));
                }
                let mut seats = Vec::with_capacity(row.seats.len());
                for (i, (label, price)) in row.seats.iter().enumerate() {
                    let path = format!("{path}.seats[{i}]");
                    let label = SeatLabel::parse(&format!("{path}.label"), label);
                    let price = PriceMinor::parse(&format!("{path}.price_minor"), *price);
                    match (label, price) {
                        (Ok(label), Ok(price_minor)) => {
                            if !seen.insert(label.clone()) {
                                errors.push(ValidationError::new(
                                    format!("{path}.label"),
                                    format!("seat label {label} appears twice in the plan"),
                                ));
                            }
                            seats.push(PlannedSeat { label, price_minor });
                        }
                        (label, price) => errors.extend(label.err().into_iter().chain(price.err())),
                    }
                }
                rows.push(Row {
                    name: row.name.clone(),
                    seats,
                });
            }
            sections.push(Section {
                name: section.name.clone(),
                rows,
            });
        }
        if errors.is_empty() {
            Ok(Self { sections })
        } else {
            Err(errors)
        }
    }

    pub fn seat_count(&self) -> usize {
        self.seats().count()
    }

    /// Every seat with its place, in plan order.
    pub fn seats(&self) -> impl Iterator<Item = (&PlannedSeat, SeatPlace<'_>)> {
        self.sections.iter().flat_map(|section| {
            section.rows.iter().flat_map(move |row| {
                row.seats.iter().map(move |seat| {
                    let place = SeatPlace {
                        section: &section.name,
                        row: &row.name,
                        price_minor: seat.price_minor,
                    };
                    (seat, place)
                })
            })
        })
    }

    /// An index by label, for answering "is this seat in the plan" quickly.
    pub fn index(&self) -> HashMap<SeatLabel, PriceMinor> {
        self.seats()
            .map(|(seat, _)| (seat.label.clone(), seat.price_minor))
            .collect()
    }
}

fn check_name(errors: &mut Vec<ValidationError>, field: &str, name: &str) {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        errors.push(ValidationError::new(
            field,
            format!("must be 1-{MAX_NAME_LEN} characters without control characters"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, seats: &[(&str, i64)]) -> RawRow {
        RawRow {
            name: name.into(),
            seats: seats.iter().map(|(l, p)| (l.to_string(), *p)).collect(),
        }
    }

    #[test]
    fn a_valid_plan_lists_its_seats_in_order() {
        let plan = SeatingPlan::parse(&[RawSection {
            name: "Stalls".into(),
            rows: vec![row("A", &[("A-1", 1000), ("A-2", 1500)])],
        }])
        .unwrap();
        assert_eq!(plan.seat_count(), 2);
        let labels: Vec<_> = plan.seats().map(|(s, _)| s.label.to_string()).collect();
        assert_eq!(labels, ["A-1", "A-2"]);
    }

    #[test]
    fn every_violation_is_reported_by_path() {
        let errors = SeatingPlan::parse(&[RawSection {
            name: " ".into(),
            rows: vec![row("A", &[("A-1", -5), ("A-1", 10), ("bad label", 1)])],
        }])
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "sections[0].name",
                "sections[0].rows[0].seats[0].price_minor",
                "sections[0].rows[0].seats[2].label",
            ]
        );
        let errors = SeatingPlan::parse(&[RawSection {
            name: "S".into(),
            rows: vec![row("A", &[("A-1", 1), ("A-1", 1)])],
        }])
        .unwrap_err();
        assert_eq!(errors[0].field, "sections[0].rows[0].seats[1].label");
    }

    #[test]
    fn an_empty_plan_is_refused() {
        assert_eq!(SeatingPlan::parse(&[]).unwrap_err()[0].field, "sections");
        let errors = SeatingPlan::parse(&[RawSection {
            name: "S".into(),
            rows: vec![],
        }])
        .unwrap_err();
        assert_eq!(errors[0].field, "sections[0].rows");
    }
}
