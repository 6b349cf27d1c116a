//! `events export`: streams the log, in commit order, through the filters
//! into JSON Lines or CSV. Each event is encoded and written as it is read,
//! so memory stays flat on any size of log.
//!
//! A file export is written beside its target (`FILE.partial`) and renamed
//! into place once complete: a failed or interrupted export never leaves a
//! truncated file under the name an analyst will load.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{HumanCount, ProgressBar, ProgressState, ProgressStyle};

use super::filter::FilterArgs;
use super::format::{Encoder, Record};
use crate::config::DatabaseArgs;

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Output encoding.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: ExportFormat,
    /// Write to this file (with a progress bar on a terminal) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// JSON Lines: one JSON object per event.
    Jsonl,
    /// CSV with a header row; payload and metadata as JSON text.
    Csv,
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let store = super::connect(&args.db).await?;
    let Some(target) = &args.output else {
        let stdout = io::stdout();
        export(&store, &args, stdout, &ProgressBar::hidden()).await?;
        return Ok(());
    };
    let partial = partial_path(target);
    let file =
        File::create(&partial).with_context(|| format!("cannot create {}", target.display()))?;
    let progress = progress_bar();
    let outcome = export(&store, &args, file, &progress).await;
    progress.finish_and_clear();
    let written = match outcome {
        Ok(written) => written,
        Err(error) => {
            // Best effort: the export failed either way.
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    std::fs::rename(&partial, target)
        .with_context(|| format!("cannot move the export to {}", target.display()))?;
    eprintln!("exported {written} events to {}", target.display());
    Ok(())
}

/// Writes every matching event to `out`; returns how many.
async fn export<W: Write>(
    store: &ticketing_event_store::Store,
    args: &ExportArgs,
    out: W,
    progress: &ProgressBar,
) -> anyhow::Result<u64> {
    let mut encoder = match args.format {
        ExportFormat::Jsonl => Encoder::jsonl(out),
        ExportFormat::Csv => Encoder::csv(out)?,
    };
    // Counted in the visitor, shown after each page.
    let written = Cell::new(0u64);
    super::scan(
        store,
        |event| {
            if !args.filter.matches(&event) {
                return Ok(());
            }
            let position = event.global_seq;
            let record = Record::of(event)
                .with_context(|| format!("event at global position {position}"))?;
            encoder.write(&record)?;
            written.set(written.get() + 1);
            Ok(())
        },
        |read| {
            progress.set_position(read);
            progress.set_message(HumanCount(written.get()).to_string());
        },
    )
    .await?;
    encoder.finish()?.flush()?;
    Ok(written.get())
}

fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// A spinner with the events read (and the rate at which they are), those
/// written; drawn only when stderr is a terminal, so logs of scripted
/// exports stay clean.
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template(
        "{spinner} {human_pos} events read, {msg} written · {rate} · {elapsed}",
    )
    .expect("the template is valid")
    .with_key(
        "rate",
        |state: &ProgressState, out: &mut dyn std::fmt::Write| {
            // Best effort: a lost frame of the bar is harmless.
            let _ = write!(out, "{} events/s", HumanCount(state.per_sec() as u64));
        },
    );
    bar.set_style(style);
    bar.set_message("0");
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
