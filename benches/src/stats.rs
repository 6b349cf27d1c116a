//! How one call ended and what many calls add up to: outcomes sorted into
//! success, SEAT_UNAVAILABLE and other errors by code, and latency
//! percentiles over every sample (a few ten thousand at most, so sorting
//! them beats keeping a histogram).

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tonic_types::StatusExt;

/// The ErrorInfo reason the engine gives a loser of a seat race.
const SEAT_UNAVAILABLE: &str = "SEAT_UNAVAILABLE";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    SeatUnavailable,
    /// Anything else, named by gRPC code and ErrorInfo reason if any.
    Other(String),
}

impl Outcome {
    pub fn of<T>(result: &Result<T, tonic::Status>) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(status) => {
                let reason = status.get_details_error_info().map(|info| info.reason);
                if status.code() == tonic::Code::FailedPrecondition
                    && reason.as_deref() == Some(SEAT_UNAVAILABLE)
                {
                    Self::SeatUnavailable
                } else {
                    Self::Other(describe(status.code(), reason.as_deref()))
                }
            }
        }
    }

    /// A flow of several calls that failed at `call`: always an error, named
    /// by the call so a report says which step broke.
    pub fn failed_at(call: &str, status: &tonic::Status) -> Self {
        let reason = status.get_details_error_info().map(|info| info.reason);
        Self::Other(format!(
            "{call}:{}",
            describe(status.code(), reason.as_deref())
        ))
    }
}

fn describe(code: tonic::Code, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("{code:?}/{reason}"),
        None => format!("{code:?}"),
    }
}

/// Outcome counts and latencies of a batch of calls.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: u64,
    pub seat_unavailable: u64,
    pub other: BTreeMap<String, u64>,
    latencies: Vec<Duration>,
}

impl Tally {
    pub fn record(&mut self, outcome: Outcome, latency: Duration) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::SeatUnavailable => self.seat_unavailable += 1,
            Outcome::Other(what) => *self.other.entry(what).or_default() += 1,
        }
        self.latencies.push(latency);
    }

    pub fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.seat_unavailable += other.seat_unavailable;
        for (what, n) in other.other {
            *self.other.entry(what).or_default() += n;
        }
        self.latencies.extend(other.latencies);
    }

    /// Every failed call by code and reason, seat races included: for runs
    /// where no call should fail.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        let mut errors = self.other.clone();
        if self.seat_unavailable > 0 {
            errors.insert(
                format!("FailedPrecondition/{SEAT_UNAVAILABLE}"),
                self.seat_unavailable,
            );
        }
        errors
    }

    pub fn latency(&mut self) -> Latency {
        Latency::of(self.latencies.clone())
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// Percentiles of `samples`, in any order.
    pub fn of(mut samples: Vec<Duration>) -> Latency {
        samples.sort_unstable();
        Latency {
            p50_ms: percentile_ms(&samples, 0.50),
            p99_ms: percentile_ms(&samples, 0.99),
            max_ms: samples.last().map_or(0.0, ms),
        }
    }
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted samples.
fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    ms(&sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut tally = Tally::default();
        for i in 1..=100 {
            tally.record(Outcome::Ok, Duration::from_millis(i));
        }
        let latency = tally.latency();
        assert_eq!(latency.p50_ms, 50.0);
        assert_eq!(latency.p99_ms, 99.0);
        assert_eq!(latency.max_ms, 100.0);
    }

    #[test]
    fn seat_unavailable_needs_the_reason_not_just_the_code() {
        let plain = tonic::Status::failed_precondition("taken");
        assert_eq!(
            Outcome::of::<()>(&Err(plain)),
            Outcome::Other("FailedPrecondition".into())
        );
        let rich = tonic::Status::with_error_details(
            tonic::Code::FailedPrecondition,
            "taken",
            tonic_types::ErrorDetails::with_error_info(SEAT_UNAVAILABLE, "ticketing", []),
        );
        assert_eq!(Outcome::of::<()>(&Err(rich)), Outcome::SeatUnavailable);
    }

    #[test]
    fn a_failed_flow_is_an_error_named_by_its_call_even_a_seat_race() {
        let lost = tonic::Status::with_error_details(
            tonic::Code::FailedPrecondition,
            "taken",
            tonic_types::ErrorDetails::with_error_info(SEAT_UNAVAILABLE, "ticketing", []),
        );
        let mut tally = Tally::default();
        tally.record(
            Outcome::failed_at("ReserveSeats", &lost),
            Duration::from_millis(1),
        );
        let errors = tally.errors();
        assert_eq!(
            errors.get("ReserveSeats:FailedPrecondition/SEAT_UNAVAILABLE"),
            Some(&1)
        );
    }
}
