//! `ticketing-sellout-bench`: 64 buyers sell out a 20,000-seat show, each
//! order 1–4 seats, from ReserveSeats to the email written, on a release
//! `ticketing serve` (every role in one process: embedded SQLite, or
//! Postgres). Reports the wall time from the first reservation to the last
//! ticket issued and to the last email, and p50/p99 of order-paid → ticket
//! issued → email, all read from the engine's own records (the log and the
//! delivery log) after the run. The target (issue #8): a Postgres sell-out
//! within 60 s. See docs/benchmarks.md.

mod buyers;
mod timeline;

use ticketing_benches::{fixture, postgres, server};

use anyhow::Context;
use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;

use postgres::Postgres;
use server::{Backend, Server, ServerArgs};

/// How long the pgbench baseline runs before each backend's sell-out.
const BASELINE: Duration = Duration::from_secs(10);

#[derive(Debug, Parser)]
#[command(
    name = "ticketing-sellout-bench",
    about = "Sells out a show through the API and times it to the last ticket and email."
)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Concurrent buyers, each its own customer.
    #[arg(long, default_value_t = 64)]
    buyers: usize,
    /// Seats of the show: rows of 50 in sections of 20 rows.
    #[arg(long, default_value_t = 20_000)]
    seats: usize,
    /// Most seats per order (each order takes 1 to this many).
    #[arg(long, default_value_t = 4)]
    max_seats: usize,
    /// How long to wait for the last ticket and email after the last sale.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    drain_timeout: Duration,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.seats.is_multiple_of(50) && args.seats > 0,
        "--seats must be a multiple of 50"
    );
    anyhow::ensure!((1..=10).contains(&args.max_seats), "--max-seats is 1-10");
    let binary = std::fs::canonicalize(&args.server.ticketing_bin).with_context(|| {
        format!(
            "{} not found; cargo build --release -p ticketing",
            args.server.ticketing_bin.display()
        )
    })?;
    let work_dir = std::env::temp_dir().join(format!("ticketing-sellout-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir)?;
    let mut pg = Postgres::new(&args.server.pg_url, &work_dir);
    pg.prepare_baseline().await?;
    let mut rows = Vec::new();
    for &backend in &args.server.backend {
        // The machine's yardstick, taken right before: pgbench single-row
        // inserts at as many clients as buyers.
        let baseline = pg.baseline_tps(args.buyers, BASELINE).await?;
        eprintln!("{}: pgbench {baseline:.0} tps", backend.name());
        let server = Server::start(&binary, backend, &pg, &work_dir).await?;
        let measured = sell_out(&args, backend, &server)
            .await
            .with_context(|| format!("server log tail:\n{}", server.log_tail()));
        let stopped = server.shutdown(&pg).await;
        rows.push(measured?.with_baseline(baseline));
        stopped?;
    }
    pg.drop_baseline().await?;
    if args.server.keep {
        eprintln!("kept {}", work_dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    println!("{}", timeline::render(&rows));
    Ok(())
}

async fn sell_out(
    args: &Args,
    backend: Backend,
    server: &Server,
) -> anyhow::Result<timeline::Report> {
    let name = backend.name();
    let channels = buyers::channels(server).await?;
    let organizer = fixture::organizer(&channels[0]).await?;
    let rows = args.seats / 50;
    let sections = rows.div_ceil(20);
    let plan = fixture::plan(sections, 20, 50);
    let plan: Vec<_> = trim(plan, args.seats);
    let (show_id, labels) = fixture::show_on_sale(&channels[0], &organizer, plan).await?;
    eprintln!(
        "{name}: {} seats on sale; registering {} buyers…",
        labels.len(),
        args.buyers
    );
    let tokens = fixture::customers(&channels[0], args.buyers).await?;
    eprintln!("{name}: selling out…");
    let sold = buyers::sell_out(&channels, &tokens, &show_id, labels, args.max_seats).await?;
    eprintln!(
        "{name}: {} orders, {} seats sold in {:.1?} ({} errors); waiting for tickets and emails…",
        sold.orders, sold.seats, sold.elapsed, sold.errors
    );
    timeline::measure(backend, &server.database_url, &sold, args.drain_timeout).await
}

/// Drops seats from the end of the plan until it has `seats`.
fn trim(
    mut plan: Vec<ticketing_proto::v1::SectionPlan>,
    seats: usize,
) -> Vec<ticketing_proto::v1::SectionPlan> {
    let mut left = seats;
    for section in &mut plan {
        let rows = (left / 50).min(section.rows.len());
        section.rows.truncate(rows);
        left -= rows * 50;
    }
    plan.retain(|s| !s.rows.is_empty());
    plan
}
