//! The results of a run: a serializable summary (written as JSON with
//! `--json-out`) and the plain-text tables printed at the end, with each
//! target of the issue judged against the numbers and the purchase rate,
//! which has no target, shown beside them as information.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::freshness::Measured;
use crate::server::Backend;
use crate::stats::Latency;

/// ReserveSeats/s at 32 clients on Postgres, as a share of pgbench's tps.
pub const TARGET_RATIO_AT_32: f64 = 0.30;
/// p99 latency of every contention round.
pub const TARGET_CONTENTION_P99_MS: f64 = 250.0;
const BASELINE_NOTE: &str = "pgbench single-row INSERT on the same Postgres server, \
same client count and duration, run just before the engine; used for both backends as the \
machine's reference speed";

#[derive(Debug, Serialize)]
pub struct Summary {
    pub date: String,
    pub cores: usize,
    pub duration_s: f64,
    /// The phases this run measured, in order.
    pub phases: Vec<String>,
    pub baseline: &'static str,
    pub backends: Vec<BackendReport>,
}

impl Summary {
    pub fn new(duration_s: f64, phases: Vec<String>) -> Self {
        Self {
            date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            duration_s,
            phases,
            baseline: BASELINE_NOTE,
            backends: Vec::new(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct BackendReport {
    pub backend: Backend,
    pub throughput: Vec<ThroughputRow>,
    pub purchase: Vec<PurchaseRow>,
    pub contention: Vec<ContentionRow>,
}

#[derive(Debug, Serialize)]
pub struct ThroughputRow {
    pub clients: usize,
    pub reservations: u64,
    pub reservations_per_s: f64,
    pub latency: Latency,
    /// Non-OK calls by code (and reason); a correct run has none.
    pub errors: BTreeMap<String, u64>,
    pub pgbench_tps: f64,
    pub ratio: f64,
    pub seats_exhausted: bool,
    /// From each OK answer to the seat's change on a WatchSeatMap stream.
    pub freshness: Measured,
}

/// The whole flow: ReserveSeats, AddToCart, Checkout with `tok_visa`.
#[derive(Debug, Serialize)]
pub struct PurchaseRow {
    pub clients: usize,
    /// Flows whose Checkout answered PAID.
    pub orders: u64,
    pub orders_per_s: f64,
    /// Of the whole three-call flow, as one customer waits for it.
    pub latency: Latency,
    /// Failed flows by the call that failed and its code; a correct run has none.
    pub errors: BTreeMap<String, u64>,
    pub pgbench_tps: f64,
    pub ratio: f64,
    pub seats_exhausted: bool,
}

#[derive(Debug, Serialize)]
pub struct ContentionRow {
    pub round: usize,
    pub seat: String,
    pub contenders: usize,
    pub ok: u64,
    pub seat_unavailable: u64,
    pub other: BTreeMap<String, u64>,
    pub latency: Latency,
}

fn errors_cell(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return "0".into();
    }
    errors
        .iter()
        .map(|(what, n)| format!("{what}={n}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// p99 of the seat-map freshness, and how many changes never arrived.
fn freshness_cell(measured: &Measured) -> String {
    match measured.missing {
        0 => format!("{:.1}", measured.latency.p99_ms),
        missing => format!("{:.1} ({missing} lost)", measured.latency.p99_ms),
    }
}

fn ran(summary: &Summary, phase: &str) -> bool {
    summary.phases.iter().any(|p| p == phase)
}

fn exhausted_note(exhausted: bool) -> &'static str {
    if exhausted {
        " (show ran out of seats)"
    } else {
        ""
    }
}

/// The tables and verdicts as printed at the end of a run.
pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "\n{} on {} cores, {} s per throughput run\nbaseline: {}\n",
        summary.date, summary.cores, summary.duration_s, summary.baseline
    ));
    if ran(summary, "reserve") {
        out.push_str("\nReserve throughput: ReserveSeats of one fresh seat per call\n");
        out.push_str(&format!(
            "{:<9} {:>7} {:>10} {:>9} {:>9} {:>12} {:>7} {:>14}  errors\n",
            "backend",
            "clients",
            "reserve/s",
            "p50 ms",
            "p99 ms",
            "pgbench tps",
            "ratio",
            "fresh p99 ms"
        ));
        for report in &summary.backends {
            for row in &report.throughput {
                out.push_str(&format!(
                    "{:<9} {:>7} {:>10.0} {:>9.1} {:>9.1} {:>12.0} {:>6.2}x {:>14}  {}{}\n",
                    report.backend.name(),
                    row.clients,
                    row.reservations_per_s,
                    row.latency.p50_ms,
                    row.latency.p99_ms,
                    row.pgbench_tps,
                    row.ratio,
                    freshness_cell(&row.freshness),
                    errors_cell(&row.errors),
                    exhausted_note(row.seats_exhausted),
                ));
            }
        }
    }
    if ran(summary, "purchase") {
        out.push_str("\nPurchase: ReserveSeats + AddToCart + Checkout(tok_visa) per order, one customer per client\n");
        out.push_str(&format!(
            "{:<9} {:>7} {:>10} {:>9} {:>9} {:>12} {:>7}  errors\n",
            "backend", "clients", "orders/s", "p50 ms", "p99 ms", "pgbench tps", "ratio"
        ));
        for report in &summary.backends {
            for row in &report.purchase {
                // Three decimals: a purchase is a small fraction of an insert.
                out.push_str(&format!(
                    "{:<9} {:>7} {:>10.0} {:>9.1} {:>9.1} {:>12.0} {:>6.3}x  {}{}\n",
                    report.backend.name(),
                    row.clients,
                    row.orders_per_s,
                    row.latency.p50_ms,
                    row.latency.p99_ms,
                    row.pgbench_tps,
                    row.ratio,
                    errors_cell(&row.errors),
                    exhausted_note(row.seats_exhausted),
                ));
            }
        }
    }
    if ran(summary, "contention") {
        out.push_str("\nContention: every contender asks for the same fresh seat at once\n");
        out.push_str(&format!(
            "{:<9} {:>5} {:>11} {:>4} {:>16} {:>9} {:>9} {:>9}  other\n",
            "backend",
            "round",
            "contenders",
            "ok",
            "SEAT_UNAVAILABLE",
            "p50 ms",
            "p99 ms",
            "max ms"
        ));
        for report in &summary.backends {
            for row in &report.contention {
                out.push_str(&format!(
                    "{:<9} {:>5} {:>11} {:>4} {:>16} {:>9.1} {:>9.1} {:>9.1}  {}\n",
                    report.backend.name(),
                    row.round,
                    row.contenders,
                    row.ok,
                    row.seat_unavailable,
                    row.latency.p50_ms,
                    row.latency.p99_ms,
                    row.latency.max_ms,
                    errors_cell(&row.other),
                ));
            }
        }
    }
    out.push_str("\nTargets\n");
    for line in verdicts(summary) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// No reserve or purchase step failed and every contention round had one
/// winner.
pub fn sound(summary: &Summary) -> bool {
    summary.backends.iter().all(|report| {
        report.throughput.iter().all(|r| r.errors.is_empty())
            && report.purchase.iter().all(|r| r.errors.is_empty())
            && report
                .contention
                .iter()
                .all(|r| r.ok == 1 && r.other.is_empty())
    })
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met   "
    } else {
        "MISSED"
    }
}

/// One line per target that this run measured.
fn verdicts(summary: &Summary) -> Vec<String> {
    let mut lines = Vec::new();
    for report in &summary.backends {
        let name = report.backend.name();
        if report.backend == Backend::Postgres {
            if let Some(row) = report.throughput.iter().find(|r| r.clients == 32) {
                lines.push(format!(
                    "{} {name}: ReserveSeats/s at 32 clients >= {:.0}% of pgbench: {:.2}x",
                    verdict(row.ratio >= TARGET_RATIO_AT_32),
                    TARGET_RATIO_AT_32 * 100.0,
                    row.ratio
                ));
            }
        }
        for row in &report.contention {
            let single_winner = row.ok == 1 && row.other.is_empty();
            lines.push(format!(
                "{} {name}: contention round {} p99 <= {TARGET_CONTENTION_P99_MS:.0} ms: {:.1} ms",
                verdict(row.latency.p99_ms <= TARGET_CONTENTION_P99_MS),
                row.round,
                row.latency.p99_ms
            ));
            lines.push(format!(
                "{} {name}: contention round {} has exactly one winner, no other errors: {} ok",
                verdict(single_winner),
                row.round,
                row.ok
            ));
        }
        // The issue sets no target for whole purchases: shown, not judged.
        for row in &report.purchase {
            lines.push(format!(
                "info   {name}: orders/s at {} clients vs pgbench (no target): {:.0} orders/s, {:.3}x",
                row.clients, row.orders_per_s, row.ratio
            ));
        }
        let throughput_errors: u64 = report
            .throughput
            .iter()
            .map(|r| r.errors.values().sum::<u64>())
            .sum();
        if !report.throughput.is_empty() {
            lines.push(format!(
                "{} {name}: reserve runs without errors: {throughput_errors} errors",
                verdict(throughput_errors == 0)
            ));
        }
        let purchase_errors: u64 = report
            .purchase
            .iter()
            .map(|r| r.errors.values().sum::<u64>())
            .sum();
        if !report.purchase.is_empty() {
            lines.push(format!(
                "{} {name}: purchase runs without errors: {purchase_errors} errors",
                verdict(purchase_errors == 0)
            ));
        }
    }
    lines
}
