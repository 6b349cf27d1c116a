//! `ticketing-rebuild-bench`: how fast a read model is rebuilt from a large
//! log, against how fast the same log can be read at all, in the same run
//! (style.md rule 7: only same-run ratios compare on these machines).
//!
//! Per backend it seeds a fresh database with about a million real events
//! (`ticketing_benches::seed`), then for each read model: reads the whole log with a plain
//! streamed `SELECT` (and, on Postgres, `COPY … TO STDOUT` through psql),
//! then rebuilds the model with the same code as `ticketing projections
//! rebuild`, and reports events/s of each and their ratio. The issue's
//! target: a rebuild reaches at least half the raw read rate.

mod measure;

use anyhow::Context;
use clap::Parser;
use std::time::Instant;
use ticketing_benches::seed;
use ticketing_event_store::Store;
use ticketing_projections::ReadModel;

/// The target: a rebuild at half the raw read rate or better. A
/// miss is a finding, printed as MISSED, not a failed run.
const TARGET: f64 = 0.5;

#[derive(Debug, Parser)]
#[command(
    name = "ticketing-rebuild-bench",
    about = "Rebuild rate of each read model against the raw read rate of the log."
)]
struct Args {
    /// Events to seed.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// postgres, sqlite, or both.
    #[arg(long, default_value = "both")]
    backend: String,
    /// Which read models to rebuild (default: all).
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// Keep the seeded databases (their URLs are printed) for a closer look.
    #[arg(long)]
    keep: bool,
    /// The Postgres server, without a database name.
    #[arg(
        long,
        env = "TICKETING_BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pg_url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let models: Vec<ReadModel> = if args.models.is_empty() {
        ReadModel::ALL.to_vec()
    } else {
        args.models
            .iter()
            .map(|m| ReadModel::parse(m).with_context(|| format!("unknown read model {m:?}")))
            .collect::<anyhow::Result<_>>()?
    };
    let backends: &[&str] = match args.backend.as_str() {
        "both" => &["postgres", "sqlite"],
        "postgres" => &["postgres"],
        "sqlite" => &["sqlite"],
        other => anyhow::bail!("--backend: postgres, sqlite or both, not {other:?}"),
    };
    println!("| backend | log events | events folded | read model | rebuild ev/s | SELECT ev/s | rebuild / SELECT | COPY ev/s | rebuild / COPY | target ≥ {TARGET:.2}× of SELECT |");
    println!("|---|--:|--:|---|--:|--:|--:|--:|--:|---|");
    for backend in backends {
        let db = measure::Database::create(backend, &args.pg_url).await?;
        let result = run(&db, args.events, &models).await;
        if args.keep {
            eprintln!("kept {}", db.url);
        } else {
            db.drop().await?;
        }
        result?;
    }
    Ok(())
}

async fn run(db: &measure::Database, events: usize, models: &[ReadModel]) -> anyhow::Result<()> {
    let store = Store::connect(&db.url).await?;
    store.migrate().await?;
    ticketing_projections::migrate(store.read_pool(), store.backend()).await?;
    let started = Instant::now();
    let written = seed::seed(&store, events, seed::Purchases::Some).await?;
    eprintln!(
        "{}: seeded {written} events in {:.1} s",
        db.backend,
        started.elapsed().as_secs_f64()
    );
    db.settle().await?;
    for &model in models {
        let select = measure::select_rate(db).await?;
        let copy = measure::copy_rate(db).await?;
        let started = Instant::now();
        let report = ticketing_projections::rebuild(&store, model, &mut |_| {}).await?;
        // Events of the log rebuilt from per second, as the SELECT's rate
        // is events of the log read per second: a rebuild reads only the
        // events its model folds (`report.events`) and the server passes
        // over the rest.
        let rebuild = written as f64 / started.elapsed().as_secs_f64();
        let ratio = |raw: Option<f64>| {
            raw.map(|r| format!("{:.2}×", rebuild / r))
                .unwrap_or_else(|| "–".into())
        };
        let rate = |raw: Option<f64>| raw.map(|r| format!("{r:.0}")).unwrap_or_else(|| "–".into());
        let verdict = if rebuild / select >= TARGET {
            "met"
        } else {
            "MISSED"
        };
        println!(
            "| {} | {written} | {} | {} | {rebuild:.0} | {select:.0} | {:.2}× | {} | {} | {verdict} |",
            db.backend,
            report.events,
            model.name(),
            rebuild / select,
            rate(copy),
            ratio(copy),
        );
    }
    Ok(())
}
