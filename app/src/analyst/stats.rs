//! `events stats`: streams the log through the filters and keeps only
//! counters — per event type and per UTC day of `recorded_at` — then prints
//! them sorted by name and by date.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use clap::Args;

use super::filter::FilterArgs;
use crate::config::DatabaseArgs;

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Debug, Default)]
struct Counts {
    total: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    per_type: BTreeMap<String, u64>,
    per_day: BTreeMap<NaiveDate, u64>,
}

impl Counts {
    fn add(&mut self, event_type: &str, recorded_at: DateTime<Utc>) {
        self.total += 1;
        self.first = Some(self.first.map_or(recorded_at, |t| t.min(recorded_at)));
        self.last = Some(self.last.map_or(recorded_at, |t| t.max(recorded_at)));
        match self.per_type.get_mut(event_type) {
            Some(count) => *count += 1,
            None => {
                self.per_type.insert(event_type.to_owned(), 1);
            }
        }
        *self.per_day.entry(recorded_at.date_naive()).or_default() += 1;
    }

    fn print(&self, out: &mut impl Write) -> io::Result<()> {
        let time = |t: Option<DateTime<Utc>>| {
            t.map_or_else(String::new, |t| {
                t.to_rfc3339_opts(SecondsFormat::Millis, true)
            })
        };
        match self.total {
            0 => writeln!(out, "0 events")?,
            n => writeln!(
                out,
                "{n} events, recorded {} to {}",
                time(self.first),
                time(self.last)
            )?,
        }
        writeln!(out, "\nper event type")?;
        for (event_type, count) in &self.per_type {
            writeln!(out, "  {event_type:<28} {count:>12}")?;
        }
        writeln!(out, "\nper day (UTC)")?;
        for (day, count) in &self.per_day {
            let day = day.to_string();
            writeln!(out, "  {day:<28} {count:>12}")?;
        }
        Ok(())
    }
}

pub async fn run(args: StatsArgs) -> anyhow::Result<()> {
    let store = super::connect(&args.db).await?;
    let mut counts = Counts::default();
    super::scan(
        &store,
        |event| {
            if args.filter.matches(&event) {
                counts.add(&event.event.event_type, event.recorded_at);
            }
            Ok(())
        },
        |_| {},
    )
    .await?;
    let mut out = BufWriter::new(io::stdout());
    counts.print(&mut out)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn counts_group_by_type_and_utc_day() {
        let mut counts = Counts::default();
        let late = Utc.with_ymd_and_hms(2026, 11, 26, 23, 59, 59).unwrap();
        let early = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap();
        counts.add("SeatHeld", early);
        counts.add("SeatHeld", late);
        counts.add("SeatSold", early);
        let mut out = Vec::new();
        counts.print(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(
            lines[0],
            "3 events, recorded 2026-11-26T23:59:59.000Z to 2026-11-27T00:00:00.000Z"
        );
        let rows: Vec<Vec<&str>> = lines[1..]
            .iter()
            .filter(|l| l.starts_with("  "))
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows,
            [
                ["SeatHeld", "2"],
                ["SeatSold", "1"],
                ["2026-11-26", "1"],
                ["2026-11-27", "2"]
            ]
        );
    }
}
