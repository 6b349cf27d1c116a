//! The analysts' tools, `ticketing events …`: read the event log without
//! touching it, on SQLite and Postgres alike.
//!
//! * `export.rs` — `events export`: the log in commit order as JSON Lines or
//!   CSV, to stdout or a file (with a progress bar).
//! * `format.rs` — one exported row and the two writers that encode it.
//! * `filter.rs` — the filters every reading command shares (aggregate type
//!   and id, `--since`/`--until` on the recorded time).
//! * `upcast.rs` — stored events of older versions brought to the current one.
//! * `replay.rs` — `events replay`: one aggregate's history and its state
//!   after each event.
//! * `stats.rs` — `events stats`: counts per event type and per UTC day.
//!
//! Commands that read the whole log page through the global feed and write
//! as they go, so memory stays flat however long the log is. They read the
//! log as it stood when they started: events committed later are left for
//! the next run.

use std::io;

use clap::Subcommand;
use ticketing_event_store::{FeedEvent, FeedPosition, Store, StoreError};

use crate::config::DatabaseArgs;

mod export;
mod filter;
mod format;
mod replay;
mod stats;
mod upcast;

pub use export::{ExportArgs, ExportFormat};
pub use filter::{parse_time, AggregateKind, FilterArgs};
pub use replay::ReplayArgs;
pub use stats::StatsArgs;
pub use upcast::{current_version, upcast, UpcastError};

/// `ticketing events …`
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Write the event log in commit order as JSON Lines or CSV.
    Export(ExportArgs),
    /// Print one aggregate's events and its state after each of them.
    Replay(ReplayArgs),
    /// Print event counts per type and per UTC day.
    Stats(StatsArgs),
}

pub async fn run(command: EventsCommand) -> anyhow::Result<()> {
    let result = match command {
        EventsCommand::Export(args) => export::run(args).await,
        EventsCommand::Replay(args) => replay::run(args).await,
        EventsCommand::Stats(args) => stats::run(args).await,
    };
    match result {
        // The reader went away (`… | head`): what it wanted was written.
        Err(error) if is_broken_pipe(&error) => Ok(()),
        other => other,
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Opens the store read-only: no migration, so an analyst's database role
/// needs no more than SELECT.
async fn connect(db: &DatabaseArgs) -> anyhow::Result<Store> {
    let url = db.url()?;
    Ok(Store::connect(&url)
        .await
        .map_err(store_error)?
        .with_upcasters(crate::schema::upcasters()))
}

/// A store error as one line: its message already names its cause, which
/// the `{:#}` chain would otherwise print a second time.
fn store_error(error: StoreError) -> anyhow::Error {
    anyhow::anyhow!("{error}")
}

/// Context for the first read of the log, whose usual failure is a
/// database without the event store's tables.
const MIGRATE_HINT: &str = "reading the event log (has `ticketing migrate` run on it?)";

/// Events per feed read: large enough to amortise the round trip, small
/// enough that a page of big payloads stays a few megabytes.
const PAGE: usize = 1000;

/// Calls `visit` with every event of the log, in commit order, up to the
/// feed's head when the scan starts; `on_page` after each page with the
/// number of events read so far.
async fn scan(
    store: &Store,
    mut visit: impl FnMut(FeedEvent) -> anyhow::Result<()>,
    mut on_page: impl FnMut(u64),
) -> anyhow::Result<()> {
    let head = store
        .feed_head(0)
        .await
        .map_err(|e| store_error(e).context(MIGRATE_HINT))?;
    let mut after = FeedPosition::START;
    let mut read = 0u64;
    while after < head {
        let page = store.read_feed(0, after, PAGE).await.map_err(store_error)?;
        let Some(last) = page.last() else { break };
        after = last.position;
        for event in page {
            if event.position > head {
                return Ok(());
            }
            read += 1;
            visit(event)?;
        }
        on_page(read);
    }
    Ok(())
}
