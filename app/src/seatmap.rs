//! `ticketing seatmap SHOW [--as-of TIME]`: a show's seat map in the
//! terminal — as it is now (folded from the log to the present), or as it
//! was at an instant — with a count per status.

use chrono::{DateTime, Utc};
use ticketing_aggregates::ShowId;
use ticketing_projections::{seat_map_as_of, SeatMapStatus};

use crate::analyst::parse_time;
use crate::config::DatabaseArgs;

#[derive(Debug, clap::Args)]
pub struct SeatMapArgs {
    /// The show id (s_…).
    pub show_id: String,
    /// The instant, RFC 3339 (2026-11-26T12:00:00Z) or a date; default now.
    #[arg(long, value_parser = parse_time)]
    pub as_of: Option<DateTime<Utc>>,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

pub async fn run(args: SeatMapArgs) -> anyhow::Result<()> {
    let show_id = ShowId::parse("show_id", &args.show_id)?;
    let store = crate::schema::connect(
        &args.db.url()?,
        ticketing_event_store::postgres::DEFAULT_MAX_CONNECTIONS,
    )
    .await?;
    let at = args.as_of.unwrap_or_else(Utc::now);
    let rows = seat_map_as_of(&store, &show_id, at)
        .await?
        .ok_or_else(|| anyhow::anyhow!("show {show_id} was not scheduled at {at}"))?;
    println!(
        "{:<16} {:<12} {:<6} {:>10}  status",
        "seat", "section", "row", "price"
    );
    let (mut available, mut held, mut sold) = (0, 0, 0);
    for row in &rows {
        let status = match row.status {
            SeatMapStatus::Available => {
                available += 1;
                "AVAILABLE"
            }
            SeatMapStatus::Held => {
                held += 1;
                "HELD"
            }
            SeatMapStatus::Sold => {
                sold += 1;
                "SOLD"
            }
        };
        println!(
            "{:<16} {:<12} {:<6} {:>10}  {status}",
            row.label, row.section, row.row, row.price_minor
        );
    }
    println!(
        "at {}: {available} available, {held} held, {sold} sold",
        at.to_rfc3339()
    );
    Ok(())
}
