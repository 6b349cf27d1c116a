//! `ticketing-abuse-bench` (issue #10): a scripted attack from one address —
//! 2,000 concurrent Login calls with wrong passwords and 500 WatchSeatMap
//! streams that are never read — while customers keep reserving seats, on
//! a release `ticketing serve` with its default limits. Reports the
//! customers' ReserveSeats p50/p99 during the attack beside a quiet run of
//! the same loop just before, what the attack got (answers by code), the
//! server's peak RSS, and whether gRPC health stayed SERVING throughout.
//! Targets: ReserveSeats p99 under 1 s during the attack, always SERVING,
//! peak RSS under `--rss-bound-mb`. See docs/benchmarks.md.

mod attack;

use ticketing_benches::{fixture, postgres, server, stats};

use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use attack::{Attack, AttackReport};
use postgres::Postgres;
use server::{Backend, Server, ServerArgs};
use stats::Latency;

#[derive(Debug, Parser)]
#[command(
    name = "ticketing-abuse-bench",
    about = "Floods a server with wrong logins and idle watches while customers reserve seats."
)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Concurrent Login calls with wrong passwords.
    #[arg(long, default_value_t = 2_000)]
    logins: usize,
    /// WatchSeatMap streams opened and never read.
    #[arg(long, default_value_t = 500)]
    watches: usize,
    /// Customers reserving one seat at a time, each in a loop.
    #[arg(long, default_value_t = 4)]
    reservers: usize,
    /// How long the quiet run lasts; the attacked run lasts at least as
    /// long, and until every attacking call has been answered.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// The RSS bound checked (and documented in docs/security.md).
    #[arg(long, default_value_t = 400.0)]
    rss_bound_mb: f64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("a target was missed");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One backend's results.
struct Row {
    backend: &'static str,
    quiet: Latency,
    quiet_calls: usize,
    attacked: Latency,
    attacked_calls: usize,
    reserve_errors: usize,
    attack: AttackReport,
    /// Peak RSS before the attack (the show scheduled, the quiet run done).
    rss_before_mb: Option<f64>,
    peak_rss_mb: Option<f64>,
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let work = std::env::temp_dir().join(format!("ticketing-abuse-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let postgres = Postgres::new(&args.server.pg_url, &work);
    let mut rows = Vec::new();
    for &backend in &args.server.backend {
        let server = Server::start(&args.server.ticketing_bin, backend, &postgres, &work).await?;
        let row = measure(&args, backend, &server).await;
        server.shutdown(&postgres).await?;
        rows.push(row?);
    }
    if !args.server.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(report(&args, &rows))
}

async fn measure(args: &Args, backend: Backend, server: &Server) -> anyhow::Result<Row> {
    let name = backend.name();
    let channel = server.channel().await?;
    eprintln!("{name}: {} customers and a show…", args.reservers);
    let tokens = fixture::customers(&channel, args.reservers).await?;
    let organizer = fixture::organizer(&channel).await?;
    let (show_id, seats) = fixture::published_show(&channel, &organizer).await?;
    let seats = Arc::new(seats);
    let reservers = attack::Reservers {
        channel: server.channel().await?,
        tokens,
        show_id: show_id.clone(),
        seats,
    };

    eprintln!("{name}: quiet run, {:?}…", args.duration);
    let quiet = reservers.run_for(args.duration).await;
    let rss_before_mb = server.peak_rss_mb();
    eprintln!("{name}: attacked run…");
    let attack = Attack {
        logins: args.logins,
        watches: args.watches,
        show_id,
    };
    let (attacked, report) = attack.run(server, &reservers, args.duration).await?;
    let peak_rss_mb = server.peak_rss_mb();
    if !report.others.is_empty() {
        eprintln!("{name}: other answers to the attack: {:?}", report.others);
    }
    if !attacked.errors.is_empty() {
        eprintln!(
            "{name}: reservation errors under attack: {:?}",
            attacked.errors
        );
    }
    Ok(Row {
        backend: name,
        quiet_calls: quiet.latencies.len(),
        quiet: Latency::of(quiet.latencies),
        attacked_calls: attacked.latencies.len(),
        reserve_errors: attacked.errors.len(),
        attacked: Latency::of(attacked.latencies),
        attack: report,
        rss_before_mb,
        peak_rss_mb,
    })
}

fn mb(value: Option<f64>) -> String {
    value.map_or("n/a".to_owned(), |mb| format!("{mb:.0}"))
}

/// Prints the table; true if every target was met.
fn report(args: &Args, rows: &[Row]) -> bool {
    println!(
        "| backend | quiet reserve p50 / p99 / max ms | attacked reserve p50 / p99 / max ms | p99 ratio | reservations quiet / attacked | reserve errors | logins: unauthenticated / throttled / other | watches: open / refused / other | health not SERVING | peak RSS MB before / after | the organizer's login after |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|");
    let mut met = true;
    for row in rows {
        let a = &row.attack;
        println!(
            "| {} | {:.1} / {:.1} / {:.0} | {:.1} / {:.1} / {:.0} | {:.2}× | {} / {} | {} | {} / {} / {} | {} / {} / {} | {} of {} | {} / {} | {} |",
            row.backend,
            row.quiet.p50_ms,
            row.quiet.p99_ms,
            row.quiet.max_ms,
            row.attacked.p50_ms,
            row.attacked.p99_ms,
            row.attacked.max_ms,
            row.attacked.p99_ms / row.quiet.p99_ms.max(0.001),
            row.quiet_calls,
            row.attacked_calls,
            row.reserve_errors,
            a.logins_unauthenticated,
            a.logins_throttled,
            a.logins_other,
            a.watches_open,
            a.watches_refused,
            a.watches_other,
            a.health_failures,
            a.health_checks,
            mb(row.rss_before_mb),
            mb(row.peak_rss_mb),
            a.victim_login,
        );
        met &= row.attacked.p99_ms < 1000.0
            && row.reserve_errors == 0
            && row.attacked_calls > 0
            && a.health_failures == 0
            && a.logins_other == 0
            && row.peak_rss_mb.is_some_and(|mb| mb < args.rss_bound_mb);
    }
    println!(
        "targets: reserve p99 < 1000 ms under attack, no reservation errors, always SERVING, peak RSS < {} MB: {}",
        args.rss_bound_mb,
        if met { "met" } else { "MISSED" }
    );
    met
}
