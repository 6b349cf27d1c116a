//! The admin HTTP port (`--admin-addr`, default 127.0.0.1:9090):
//! `/metrics` in the Prometheus text format, `/healthz` (the process is up)
//! and `/readyz`, which answers for this process's role:
//!
//! * every role is ready when its schema is current (checked before this
//!   port opens) and the store answers within [`PROBE_TIMEOUT`];
//! * a process that runs the projectors adds each one's lag to the answer
//!   (`seat_map 1/2 is 0.4 s behind` for a projector shard),
//!   and a relay its backlog, and whether its batches keep failing
//!   ([`Health`]). None of these makes it unready: writes never wait
//!   for the read side, and a gateway taken out of the balancer because a
//!   projector is slow would turn a lag into an outage. Lag is a metric,
//!   `ticketing_projection_lag_seconds`, set at each scrape, with an alert
//!   rule in docs/operations.md, labelled by projection and shard.
//!
//! RPC latency is a Prometheus histogram (fixed buckets, [`LATENCY_BUCKETS`])
//! so it aggregates across gateways.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::Mutex;
use std::time::Duration;
use ticketing_event_store::Store;
use ticketing_projections::{projection_lag_seconds, ReadModel, Shard};
use tokio::net::TcpListener;

use crate::application::Role;

/// How long the readiness probe waits for the store.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Upper bounds (seconds) of the buckets of every `*_duration_seconds`
/// histogram: 1 ms to 10 s, dense around the 250 ms objective.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The checkpoint the relay keeps (see `relay/`).
const RELAY_CHECKPOINT: &str = ticketing_relay::CHECKPOINT;

/// The process-wide metrics recorder, installed by the first caller (calls
/// may race: several engines in one test process start at once).
pub fn recorder() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);
    let mut handle = HANDLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handle) = handle.as_ref() {
        return Ok(handle.clone());
    }
    let installed = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), LATENCY_BUCKETS)?
        .install_recorder()?;
    *handle = Some(installed.clone());
    Ok(installed)
}

/// What this process's workers say about themselves, for `/readyz`.
#[derive(Clone, Default)]
pub struct Health {
    /// The projectors this process runs, each with its shard.
    pub projectors: Vec<(ReadModel, Shard)>,
    /// The Kafka relay's, when this process runs it.
    pub relay: Option<ticketing_relay::RelayHealth>,
    /// The gateway's seat locks, when Redis is configured.
    pub seat_locks: Option<ticketing_locks::SeatLockHealth>,
}

#[derive(Clone)]
struct Admin {
    metrics: PrometheusHandle,
    store: Store,
    role: Role,
    health: Health,
}

pub async fn serve(
    listener: TcpListener,
    store: Store,
    role: Role,
    health: Health,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let admin = Admin {
        metrics: recorder()?,
        store,
        role,
        health,
    };
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(admin);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

async fn metrics(State(admin): State<Admin>) -> String {
    let now = chrono::Utc::now();
    for &(model, shard) in &admin.health.projectors {
        if let Ok(lag) = projection_lag_seconds(&admin.store, model.name(), shard, now).await {
            let index = shard.index().to_string();
            metrics::gauge!("ticketing_projection_lag_seconds", "projection" => model.name(), "shard" => index)
                .set(lag);
        }
    }
    admin.metrics.render()
}

async fn ready(State(admin): State<Admin>) -> (StatusCode, String) {
    let probe = sqlx::query("SELECT 1").execute(admin.store.read_pool());
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("store unreachable: {error}"),
            )
        }
        Err(_) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("store did not answer within {PROBE_TIMEOUT:?}"),
            )
        }
    }
    let now = chrono::Utc::now();
    let mut lags = Vec::new();
    for &(model, shard) in &admin.health.projectors {
        lags.push(behind(&admin.store, model.name(), shard, now).await);
    }
    if admin.role == Role::Relay {
        lags.push(behind(&admin.store, RELAY_CHECKPOINT, Shard::WHOLE, now).await);
    }
    if let Some(stuck) = admin.health.relay.as_ref().and_then(|r| r.describe()) {
        lags.push(format!("{RELAY_CHECKPOINT} {stuck}"));
    }
    if let Some(locks) = &admin.health.seat_locks {
        lags.push(locks.describe());
    }
    if lags.is_empty() {
        (StatusCode::OK, "ready".into())
    } else {
        (StatusCode::OK, format!("ready; {}", lags.join("; ")))
    }
}

/// `name is 1.5 s behind` (`name K/N` for a shard of a split model), or
/// why that cannot be told.
async fn behind(
    store: &Store,
    checkpoint: &str,
    shard: Shard,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let name = match shard.count() {
        1 => checkpoint.to_owned(),
        _ => format!("{checkpoint} {shard}"),
    };
    match projection_lag_seconds(store, checkpoint, shard, now).await {
        Ok(lag) => format!("{name} is {lag:.1} s behind"),
        Err(error) => format!("{name}: {error}"),
    }
}
