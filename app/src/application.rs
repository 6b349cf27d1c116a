//! [`Application`]: the composition root. Connects the store, runs the
//! migrations, wires engine, identity, projectors and gateway, and runs them
//! until one shutdown signal stops them all.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use ticketing_commands::{Engine, EngineConfig, SystemClock};
use ticketing_event_store::Store;
use ticketing_gateway::{CatalogApi, GatewayServices, IdentityApi, InventoryApi};
use ticketing_identity::{Identity, TokenConfig};
use ticketing_projections::{Projector, SeatMapProjection, SeatMaps, Shows, ShowsProjection};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Which parts of the engine this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Gateway and projectors in one process.
    All,
    /// The gRPC gateway only (scale out behind a balancer).
    Gateway,
    /// The projectors only.
    Projector,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub grpc_addr: SocketAddr,
    pub role: Role,
    pub jwt_secret: Vec<u8>,
    pub token_ttl: Duration,
    pub engine: EngineConfig,
}

pub struct Application {
    store: Store,
    listener: Option<TcpListener>,
    settings: Settings,
}

/// Connects and migrates; used by `serve`, `migrate` and `users`.
pub async fn open_store(url: &str) -> anyhow::Result<Store> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    ticketing_projections::migrate(store.read_pool(), store.backend()).await?;
    ticketing_identity::migrate(store.read_pool(), store.backend()).await?;
    Ok(store)
}

pub fn identity(store: &Store, secret: Vec<u8>, ttl: Duration) -> anyhow::Result<Identity> {
    let tokens = TokenConfig {
        secret,
        ttl: chrono::Duration::from_std(ttl)?,
        issuer: "ticketing".into(),
    };
    Ok(Identity::new(
        store.read_pool().clone(),
        store.backend(),
        tokens,
    ))
}

impl Application {
    /// Opens the store and binds the gRPC port (port 0 picks a free one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = open_store(&settings.database_url).await?;
        let listener =
            match settings.role {
                Role::Projector => None,
                _ => Some(TcpListener::bind(settings.grpc_addr).await.map_err(|e| {
                    anyhow::anyhow!("cannot listen on {}: {e}", settings.grpc_addr)
                })?),
            };
        Ok(Self {
            store,
            listener,
            settings,
        })
    }

    /// The bound gRPC address, when this process runs the gateway.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs until `shutdown` resolves; in-flight calls finish and projectors
    /// stop between batches.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            store,
            listener,
            settings,
        } = self;
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        if settings.role != Role::Gateway {
            let backend = store.backend();
            tasks.spawn(
                Projector::new(store.clone(), SeatMapProjection { backend }).run(stopped.clone()),
            );
            tasks.spawn(
                Projector::new(store.clone(), ShowsProjection { backend }).run(stopped.clone()),
            );
        }
        let gateway = match listener {
            Some(listener) => {
                let services = gateway_services(&store, &settings)?;
                tracing::info!(addr = %listener.local_addr()?, "gRPC gateway listening");
                let mut stopped = stopped.clone();
                let until_stop = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                Some(tokio::spawn(ticketing_gateway::serve(
                    listener, services, until_stop,
                )))
            }
            None => None,
        };
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
        if let Some(gateway) = gateway {
            gateway.await??;
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}

fn gateway_services(store: &Store, settings: &Settings) -> anyhow::Result<GatewayServices> {
    let engine = Engine::new(
        store.clone(),
        Arc::new(SystemClock),
        settings.engine.clone(),
    );
    let identity = identity(store, settings.jwt_secret.clone(), settings.token_ttl)?;
    let pool = store.read_pool().clone();
    let backend = store.backend();
    let shows = Shows {
        pool: pool.clone(),
        backend,
    };
    let seat_maps = SeatMaps { pool, backend };
    Ok(GatewayServices::new()
        .add_service(IdentityApi::new(identity.clone()).into_server())
        .add_service(CatalogApi::new(engine.clone(), identity.clone(), shows.clone()).into_server())
        .add_service(InventoryApi::new(engine, identity, seat_maps, shows).into_server()))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
