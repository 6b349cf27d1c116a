//! `ticketing projections list|status|rebuild`: the ops tools for read
//! models. A rebuild folds the log into a shadow table with a progress bar
//! and swaps it in while the engine keeps serving; `--dry-run` compares a
//! fresh fold with the live model instead (a drift check to schedule).

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use ticketing_projections::{drift, projection_status, rebuild, Rebuildable, PROJECTIONS};

use crate::application::open_store;
use crate::config::DatabaseArgs;

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Every projector with its checkpoint and lag.
    List(DatabaseArgs),
    /// One projector's checkpoint and lag.
    Status {
        /// seat_map, shows, reservations or orders.
        name: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Rebuild a read model from the log into a shadow table, then swap it in.
    Rebuild {
        /// seat_map or shows (omit with --all).
        name: Option<String>,
        /// Every rebuildable read model.
        #[arg(long)]
        all: bool,
        /// Compare a fresh fold with the live model; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

pub async fn run(command: ProjectionsCommand) -> anyhow::Result<()> {
    match command {
        ProjectionsCommand::List(db) => {
            let store = open_store(&db.url()?).await?;
            println!(
                "{:<14} {:>24} {:>12} {:>10}",
                "projection", "checkpoint (tx.seq)", "lag events", "lag s"
            );
            for name in PROJECTIONS {
                print_status(&store, name).await?;
            }
            Ok(())
        }
        ProjectionsCommand::Status { name, db } => {
            anyhow::ensure!(
                PROJECTIONS.contains(&name.as_str()),
                "unknown projection {name:?}; known: {}",
                PROJECTIONS.join(", ")
            );
            let store = open_store(&db.url()?).await?;
            print_status(&store, &name).await
        }
        ProjectionsCommand::Rebuild {
            name,
            all,
            dry_run,
            db,
        } => {
            let targets: Vec<Rebuildable> = match (name, all) {
                (None, true) => Rebuildable::ALL.to_vec(),
                (Some(name), false) => vec![Rebuildable::parse(&name).ok_or_else(|| {
                    let known: Vec<_> = Rebuildable::ALL.iter().map(|r| r.name()).collect();
                    anyhow::anyhow!(
                        "{name:?} cannot be rebuilt; rebuildable: {}",
                        known.join(", ")
                    )
                })?],
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
                    let report = rebuild(&store, which, &mut progress).await?;
                    bar.finish_and_clear();
                    println!(
                        "{}: rebuilt from {} events, swapped in at {}.{}",
                        which.name(),
                        report.events,
                        report.position.tx,
                        report.position.seq
                    );
                }
            }
            anyhow::ensure!(clean, "drift found");
            Ok(())
        }
    }
}

async fn print_status(store: &ticketing_event_store::Store, name: &str) -> anyhow::Result<()> {
    let status = projection_status(store, name, chrono::Utc::now()).await?;
    let at = format!("{}.{}", status.checkpoint.tx, status.checkpoint.seq);
    println!(
        "{:<14} {:>24} {:>12} {:>10.1}",
        status.name, at, status.lag_events, status.lag_seconds
    );
    Ok(())
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
