//! Which events a reading command looks at: by aggregate type and id, and by
//! the time the store recorded them (`--since` inclusive, `--until`
//! exclusive, so consecutive windows never count an event twice).

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use cqrs_es::Aggregate;
use ticketing_aggregates::{Cart, Order, Payment, Reservation, Seat, Show};
use ticketing_event_store::FeedEvent;

/// The aggregate types of the log, named as stored in `aggregate_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AggregateKind {
    #[value(name = "Show")]
    Show,
    #[value(name = "Seat")]
    Seat,
    #[value(name = "Reservation")]
    Reservation,
    #[value(name = "Order")]
    Order,
    #[value(name = "Payment")]
    Payment,
    #[value(name = "Cart")]
    Cart,
}

impl AggregateKind {
    /// The `aggregate_type` the store keeps for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateKind::Show => Show::TYPE,
            AggregateKind::Seat => Seat::TYPE,
            AggregateKind::Reservation => Reservation::TYPE,
            AggregateKind::Order => Order::TYPE,
            AggregateKind::Payment => Payment::TYPE,
            AggregateKind::Cart => Cart::TYPE,
        }
    }

    /// The kind an id names by its prefix: `s_…/LABEL` a seat, `s_` a show,
    /// `r_` a reservation, `o_` an order, `p_` a payment, `u_` a customer's
    /// cart.
    pub fn of_id(id: &str) -> Option<AggregateKind> {
        if id.starts_with("s_") && id.contains('/') {
            return Some(AggregateKind::Seat);
        }
        match id.split_once('_')?.0 {
            "s" => Some(AggregateKind::Show),
            "r" => Some(AggregateKind::Reservation),
            "o" => Some(AggregateKind::Order),
            "p" => Some(AggregateKind::Payment),
            "u" => Some(AggregateKind::Cart),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Only events of this aggregate type.
    #[arg(long, value_enum, ignore_case = true)]
    pub aggregate_type: Option<AggregateKind>,
    /// Only events of this aggregate (e.g. o_01J…, or s_01J…/A-12 for a seat).
    #[arg(long)]
    pub aggregate_id: Option<String>,
    /// Only events recorded at or after this time (RFC 3339, e.g.
    /// 2026-11-26T12:00:00Z, or a date, meaning its midnight UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Only events recorded before this time (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
}

impl FilterArgs {
    pub fn matches(&self, event: &FeedEvent) -> bool {
        let stored = &event.event;
        self.aggregate_type
            .is_none_or(|kind| stored.aggregate_type == kind.as_str())
            && self
                .aggregate_id
                .as_ref()
                .is_none_or(|id| stored.aggregate_id == *id)
            && self.since.is_none_or(|since| event.recorded_at >= since)
            && self.until.is_none_or(|until| event.recorded_at < until)
    }
}

/// Parses `--since`/`--until`: an RFC 3339 time with its offset, or a bare
/// date taken as midnight UTC.
pub fn parse_time(raw: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(raw) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map(|date| date.and_time(chrono::NaiveTime::MIN).and_utc())
        .map_err(|_| {
            "expected an RFC 3339 time such as 2026-11-26T12:00:00Z or a date such as 2026-11-26"
                .to_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_parse_with_offsets_and_as_dates() {
        let noon = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        assert_eq!(parse_time("2026-11-26T12:00:00Z"), Ok(noon));
        assert_eq!(parse_time("2026-11-26T13:00:00+01:00"), Ok(noon));
        assert_eq!(
            parse_time("2026-11-26"),
            Ok(Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap())
        );
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2026-11-26 12:00").is_err());
    }

    #[test]
    fn ids_name_their_aggregate() {
        let ulid = "01JD3QXKZ4T5V6W7X8Y9Z0ABCD";
        let cases = [
            (format!("s_{ulid}"), Some(AggregateKind::Show)),
            (format!("s_{ulid}/A-12"), Some(AggregateKind::Seat)),
            (format!("r_{ulid}"), Some(AggregateKind::Reservation)),
            (format!("o_{ulid}"), Some(AggregateKind::Order)),
            (format!("p_{ulid}"), Some(AggregateKind::Payment)),
            (format!("u_{ulid}"), Some(AggregateKind::Cart)),
            (format!("x_{ulid}"), None),
            (ulid.to_owned(), None),
        ];
        for (id, kind) in cases {
            assert_eq!(AggregateKind::of_id(&id), kind, "{id}");
        }
    }
}
