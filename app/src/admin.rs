//! The admin HTTP port (`--admin-addr`, default 127.0.0.1:9090):
//! `/metrics` in the Prometheus text format, `/healthz` (the process is up)
//! and `/readyz` (migrations ran — they run before this port opens — and
//! every projector is within [`READY_LAG_SECONDS`] of the log).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::Mutex;
use ticketing_event_store::Store;
use ticketing_projections::{projection_lag_seconds, ReadModel};
use tokio::net::TcpListener;

/// How far behind the log a projector may be for the process to be ready.
pub const READY_LAG_SECONDS: f64 = 5.0;

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
    let installed = PrometheusBuilder::new().install_recorder()?;
    *handle = Some(installed.clone());
    Ok(installed)
}

#[derive(Clone)]
struct Admin {
    metrics: PrometheusHandle,
    store: Store,
}

pub async fn serve(
    listener: TcpListener,
    store: Store,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let admin = Admin {
        metrics: recorder()?,
        store,
    };
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(a): State<Admin>| async move { a.metrics.render() }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(admin);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

async fn ready(State(admin): State<Admin>) -> (StatusCode, String) {
    let now = chrono::Utc::now();
    let mut behind = Vec::new();
    for name in ReadModel::ALL.map(ReadModel::name) {
        match projection_lag_seconds(&admin.store, name, now).await {
            Ok(lag) if lag <= READY_LAG_SECONDS => {}
            Ok(lag) => behind.push(format!("{name} is {lag:.1} s behind")),
            Err(error) => behind.push(format!("{name}: {error}")),
        }
    }
    if behind.is_empty() {
        (StatusCode::OK, "ready".into())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, behind.join("; "))
    }
}
