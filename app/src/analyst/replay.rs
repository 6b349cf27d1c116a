//! `events replay`: folds one aggregate's stream event by event, the way the
//! engine does when it loads it, and prints each event (upcast) with the
//! aggregate's state after it, as JSON.

use std::io::{self, BufWriter, Write};

use anyhow::Context;
use clap::Args;
use cqrs_es::Aggregate;
use serde::Serialize;
use ticketing_aggregates::{Cart, Order, Payment, Reservation, Seat, Show};
use ticketing_event_store::{SerializedEvent, Store};

use super::filter::AggregateKind;
use super::upcast::upcast;
use crate::config::DatabaseArgs;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// The aggregate to replay, e.g. o_01J… or s_01J…/A-12 for a seat.
    #[arg(long)]
    pub aggregate_id: String,
    /// Its type; by default told by the id's prefix (s_ show, s_…/LABEL
    /// seat, r_ reservation, o_ order, p_ payment, u_ cart).
    #[arg(long, value_enum, ignore_case = true)]
    pub aggregate_type: Option<AggregateKind>,
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let id = args.aggregate_id.as_str();
    let kind = args
        .aggregate_type
        .or_else(|| AggregateKind::of_id(id))
        .with_context(|| {
            format!("cannot tell the aggregate type of {id:?}; pass --aggregate-type")
        })?;
    let store = super::connect(&args.db).await?;
    let mut out = BufWriter::new(io::stdout());
    match kind {
        AggregateKind::Show => replay::<Show>(&store, id, &mut out).await?,
        AggregateKind::Seat => replay::<Seat>(&store, id, &mut out).await?,
        AggregateKind::Reservation => replay::<Reservation>(&store, id, &mut out).await?,
        AggregateKind::Order => replay::<Order>(&store, id, &mut out).await?,
        AggregateKind::Payment => replay::<Payment>(&store, id, &mut out).await?,
        AggregateKind::Cart => replay::<Cart>(&store, id, &mut out).await?,
    }
    out.flush()?;
    Ok(())
}

async fn replay<A: Aggregate + Serialize>(
    store: &Store,
    id: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let events = store
        .load::<A>(id, 0)
        .await
        .map_err(|e| super::store_error(e).context(super::MIGRATE_HINT))?;
    anyhow::ensure!(!events.is_empty(), "no events for {} {id}", A::TYPE);
    writeln!(out, "{} {id}: {} events", A::TYPE, events.len())?;
    let mut aggregate = A::default();
    for stored in events {
        print_step(&mut aggregate, stored, out)?;
    }
    Ok(())
}

/// Applies one stored event and prints it with the state it leads to.
fn print_step<A: Aggregate + Serialize>(
    aggregate: &mut A,
    stored: SerializedEvent,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let SerializedEvent {
        sequence,
        event_type,
        event_version,
        payload,
        ..
    } = stored;
    let at = || format!("event #{sequence} ({event_type})");
    let (version, payload) = upcast(&event_type, &event_version, payload).with_context(at)?;
    let event: A::Event = serde_json::from_value(payload.clone()).with_context(at)?;
    aggregate.apply(event);
    writeln!(out, "#{sequence} {event_type} v{version}")?;
    writeln!(out, "  event: {payload}")?;
    writeln!(out, "  state: {}", serde_json::to_string(aggregate)?)?;
    Ok(())
}
