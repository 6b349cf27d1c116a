//! `ticketing projections list|status|rebuild`: the ops tools for read
//! models. A rebuild folds the log into a shadow table with a progress bar
//! and swaps it in while the engine keeps serving; `--dry-run` compares a
//! fresh fold with the live model instead (a drift check to schedule);
//! `--shards N` leaves the rebuilt model to N projector shards (the only
//! way to change N: docs/operations.md). A model split among shards is
//! listed one line per shard, `seat_map 1/2`.

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use ticketing_projections::{
    drift, projection_status, rebuild, reshard, ReadModel, RebuildReport, MAX_SHARDS,
};

use crate::config::DatabaseArgs;
use crate::schema::open_store;

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Every projector (every shard of one) with its checkpoint, lag and
    /// last error.
    List(DatabaseArgs),
    /// One projector's checkpoint, lag and last error (in full), per shard.
    Status {
        /// seat_map, shows, reservations or orders.
        name: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Rebuild a read model from the log into a shadow table, then swap it in.
    Rebuild {
        /// seat_map, shows, reservations or orders (omit with --all).
        name: Option<String>,
        /// Every rebuildable read model.
        #[arg(long)]
        all: bool,
        /// Compare a fresh fold with the live model; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Leave the rebuilt model to this many projector shards (start
        /// them as `serve --role projector --shard K/N`); default: as many
        /// as keep it now. Only seat_map is split.
        #[arg(long, conflicts_with = "dry_run", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SHARDS)))]
        shards: Option<u32>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

pub async fn run(command: ProjectionsCommand) -> anyhow::Result<()> {
    match command {
        ProjectionsCommand::List(db) => {
            let store = open_store(&db.url()?).await?;
            println!(
                "{:<14} {:>24} {:>12} {:>10}  last error",
                "projection", "checkpoint (tx.seq)", "lag events", "lag s"
            );
            for model in ReadModel::ALL {
                print_status(&store, model.name(), Some(LIST_ERROR_CHARS)).await?;
            }
            Ok(())
        }
        ProjectionsCommand::Status { name, db } => {
            let model = parse(&name)?;
            let store = open_store(&db.url()?).await?;
            print_status(&store, model.name(), None).await
        }
        ProjectionsCommand::Rebuild {
            name,
            all,
            dry_run,
            shards,
            db,
        } => {
            let targets: Vec<ReadModel> = match (name, all) {
                (None, true) => ReadModel::ALL.to_vec(),
                (Some(name), false) => vec![parse(&name)?],
                _ => anyhow::bail!("name one projection or pass --all"),
            };
            let store = open_store(&db.url()?).await?;
            let mut clean = true;
            for which in targets {
                let bar = progress_bar(&store, which.name()).await?;
                let mut progress = |n: usize| bar.set_position(n as u64);
                if dry_run {
                    let found = drift(&store, which, &mut progress).await?;
                    bar.finish_and_clear();
                    clean &= found.is_clean();
                    println!(
                        "{}: {} rows only in the live model, {} only in a fresh fold",
                        which.name(),
                        found.only_live_count,
                        found.only_fresh_count
                    );
                    found
                        .only_live
                        .iter()
                        .for_each(|row| println!("  live:  {row}"));
                    found
                        .only_fresh
                        .iter()
                        .for_each(|row| println!("  fresh: {row}"));
                } else {
                    let report = match shards {
                        Some(shards) if which.sharded() || !all => {
                            reshard(&store, which, shards, &mut progress).await?
                        }
                        _ => rebuild(&store, which, &mut progress).await?,
                    };
                    bar.finish_and_clear();
                    println!("{}: {}", which.name(), rebuilt(&report));
                }
            }
            anyhow::ensure!(clean, "drift found");
            Ok(())
        }
    }
}

/// `rebuilt from 12 events, swapped in at 0.12`, and the shards to start
/// when there are several.
fn rebuilt(report: &RebuildReport) -> String {
    let swapped = format!(
        "rebuilt from {} events, swapped in at {}.{}",
        report.events, report.position.tx, report.position.seq
    );
    match report.shards {
        1 => swapped,
        n => format!(
            "{swapped}; kept by {n} projector shards: start them as --shard 0/{n} to {}/{n}",
            n - 1
        ),
    }
}

/// How much of a last error `projections list` shows on its one line.
const LIST_ERROR_CHARS: usize = 100;

fn parse(name: &str) -> anyhow::Result<ReadModel> {
    ReadModel::parse(name).ok_or_else(|| {
        let known: Vec<_> = ReadModel::ALL.iter().map(|r| r.name()).collect();
        anyhow::anyhow!("unknown projection {name:?}; known: {}", known.join(", "))
    })
}

/// One line per projector; the last error cut to `error_chars` when given.
async fn print_status(
    store: &ticketing_event_store::Store,
    name: &str,
    error_chars: Option<usize>,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    for status in projection_status(store, name, now).await? {
        print_line(&status, now, error_chars);
    }
    Ok(())
}

fn print_line(
    status: &ticketing_projections::ProjectionStatus,
    now: chrono::DateTime<chrono::Utc>,
    error_chars: Option<usize>,
) {
    let at = format!("{}.{}", status.checkpoint.tx, status.checkpoint.seq);
    let error = match &status.last_error {
        None => "-".to_owned(),
        Some((when, message)) => {
            let message = message.replace('\n', " ");
            let message = match error_chars {
                Some(max) if message.chars().count() > max => {
                    format!("{}…", message.chars().take(max).collect::<String>())
                }
                _ => message,
            };
            let ago = (now - *when).num_seconds().max(0);
            format!(
                "{} ({ago} s ago): {message}",
                when.format("%Y-%m-%dT%H:%M:%SZ")
            )
        }
    };
    let name = match status.shard.count() {
        1 => status.name.clone(),
        _ => format!("{} {}", status.name, status.shard),
    };
    println!(
        "{:<14} {:>24} {:>12} {:>10.1}  {error}",
        name, at, status.lag_events, status.lag_seconds
    );
}

/// A bar sized by the log's length, drawn on stderr (hidden when it is not
/// a terminal), with events/s and ETA.
async fn progress_bar(
    store: &ticketing_event_store::Store,
    name: &str,
) -> anyhow::Result<ProgressBar> {
    let total = store.feed_head(0).await?.seq.max(0) as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(ProgressStyle::with_template(
        "{msg:12} {wide_bar} {pos}/{len} events {per_sec} ETA {eta}",
    )?);
    bar.set_message(name.to_owned());
    Ok(bar)
}
