//! [`Application`]: the composition root. Connects the store, runs the
//! migrations, wires engine, identity, projectors, expirer, relay and
//! gateway, and runs the roles this process has until one shutdown signal
//! stops them all.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use ticketing_aggregates::Clock;
use ticketing_commands::{Engine, EngineConfig};
use ticketing_event_store::Store;
use ticketing_identity::{Identity, TokenConfig};
use ticketing_payment::SimulatedProvider;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::roles;
use crate::workers::{self, MailSettings, TicketKeys};

/// Which parts of the engine this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Everything in one process: gateway, projectors, expirer, relay,
    /// fulfillment and notifier.
    All,
    /// The gRPC gateway only (scale out behind a balancer).
    Gateway,
    /// The projectors only.
    Projector,
    /// Releases holds past their deadline and resumes interrupted payments.
    Expirer,
    /// Publishes integration events to Kafka (needs --kafka-brokers).
    Relay,
    /// Issues signed tickets for paid orders.
    Fulfillment,
    /// Mails each paid order's tickets.
    Notifier,
}

/// Which payment provider charges customers; chosen explicitly on
/// Postgres (`--payment-provider`), so a production deployment never takes
/// test cards by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PaymentProvider {
    /// Test cards only (`tok_visa`, `tok_declined`, `tok_timeout`); no
    /// money moves.
    Simulated,
}

#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    /// The size of each of the process's Postgres pools.
    pub db_max_connections: u32,
    pub grpc_addr: SocketAddr,
    pub role: Role,
    pub jwt_secret: Vec<u8>,
    pub token_ttl: Duration,
    pub engine: EngineConfig,
    /// The engine's clock: the system clock, or a test's.
    pub clock: Arc<dyn Clock>,
    /// How often the expirer looks for work.
    pub expirer_interval: Duration,
    /// How old a checkout must be before the expirer resumes its payment.
    pub resume_checkouts_after: Duration,
    /// Where `/metrics`, `/healthz` and `/readyz` are served; `None`: nowhere.
    pub admin_addr: Option<SocketAddr>,
    /// Where the HTTP/JSON API and the web page are served (gateway roles);
    /// `None`: nowhere.
    pub http_addr: Option<SocketAddr>,
    /// Browser origins allowed to call the HTTP API and grpc-web; empty:
    /// CORS off.
    pub cors_origins: ticketing_http::Origins,
    /// Advisory seat locks in Redis, for the gateway roles; `None`: none.
    pub seat_locks: Option<ticketing_locks::SeatLockConfig>,
    /// The Kafka cluster of the relay, and of the workers when they run as
    /// roles of their own; `None`: workers read the feed in process.
    pub kafka: Option<ticketing_bus::KafkaCluster>,
    /// The ticket-signing key (fulfillment).
    pub ticket_keys: TicketKeys,
    /// Where the notifier sends mail.
    pub mail: MailSettings,
    /// Who charges customers at checkout.
    pub payment_provider: PaymentProvider,
    /// What one client can make the gRPC server do.
    pub limits: ticketing_gateway::ServerLimits,
    /// How long a query waits for its read model to reflect the caller's
    /// write (read-your-writes) before answering READ_MODEL_BEHIND.
    pub read_your_writes_wait: Duration,
    /// A pause before each projector step: zero, except in tests that slow
    /// the read side on purpose (no flag sets it).
    pub projection_delay: Duration,
    /// Which projector shard this process is (`--shard K/N`), when it runs
    /// the projectors.
    pub projector_shard: ticketing_projections::Shard,
}

impl Settings {
    /// The defaults of `ticketing serve` (role all, no admin port, no
    /// Kafka, mail to `<data_dir>/outbox`, the key ring in `data_dir`) on
    /// `database_url`; callers change what they need.
    pub fn new(database_url: String, data_dir: &std::path::Path, jwt_secret: Vec<u8>) -> Self {
        Self {
            database_url,
            db_max_connections: ticketing_event_store::postgres::DEFAULT_MAX_CONNECTIONS,
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            role: Role::All,
            jwt_secret,
            token_ttl: Duration::from_secs(12 * 3600),
            engine: EngineConfig::default(),
            clock: Arc::new(ticketing_aggregates::SystemClock),
            expirer_interval: Duration::from_secs(1),
            resume_checkouts_after: crate::expirer::RESUME_AFTER,
            admin_addr: None,
            http_addr: None,
            cors_origins: ticketing_http::Origins::default(),
            kafka: None,
            seat_locks: None,
            ticket_keys: TicketKeys::configured(data_dir, None),
            mail: MailSettings {
                smtp_url: None,
                from: "Tickets <tickets@localhost>".to_owned(),
                outbox: data_dir.join("outbox"),
                sender: ticketing_notification::SenderConfig::default(),
            },
            payment_provider: PaymentProvider::Simulated,
            limits: ticketing_gateway::ServerLimits::default(),
            read_your_writes_wait: ticketing_gateway::DEFAULT_WAIT,
            projection_delay: Duration::ZERO,
            projector_shard: ticketing_projections::Shard::WHOLE,
        }
    }
}

pub struct Application {
    store: Store,
    listener: Option<TcpListener>,
    http: Option<TcpListener>,
    admin: Option<TcpListener>,
    settings: Settings,
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

/// The command engine with the configured payment provider (simulated is
/// the only one so far; a real one plugs into the same port).
pub fn engine(store: &Store, settings: &Settings) -> Engine {
    let provider = match settings.payment_provider {
        PaymentProvider::Simulated => SimulatedProvider::new(store.read_pool().clone()),
    };
    Engine::new(
        store.clone(),
        settings.clock.clone(),
        settings.engine.clone(),
    )
    .with_provider(Arc::new(provider))
}

impl Application {
    /// Opens the store and binds the gRPC, HTTP and admin ports (port 0
    /// picks a free one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        crate::serve::validate(&settings)?;
        let store =
            crate::schema::open_store_with(&settings.database_url, settings.db_max_connections)
                .await?;
        let listener = match settings.role {
            Role::All | Role::Gateway => Some(bind(settings.grpc_addr).await?),
            Role::Projector | Role::Expirer | Role::Relay | Role::Fulfillment | Role::Notifier => {
                None
            }
        };
        let http = match settings.http_addr {
            Some(addr) if listener.is_some() => Some(bind(addr).await?),
            _ => None,
        };
        let admin = match settings.admin_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        crate::admin::recorder()?;
        Ok(Self {
            store,
            listener,
            http,
            admin,
            settings,
        })
    }

    /// The bound admin address, when this process serves one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound HTTP address, when this process serves the HTTP face.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound gRPC address, when this process runs the gateway.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs until `shutdown` resolves; in-flight calls finish, projectors
    /// stop between batches and the expirer between passes.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            store,
            listener,
            http,
            admin,
            settings,
        } = self;
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let store_for_admin = store.clone();
        let mut health = crate::admin::Health::default();
        if matches!(settings.role, Role::All | Role::Projector) {
            health.projectors =
                roles::spawn_projectors(&mut tasks, &store, &settings, &stopped).await?;
        }
        if matches!(settings.role, Role::All | Role::Expirer) {
            tasks.spawn(roles::expirer(&store, &settings).run(stopped.clone()));
        }
        if matches!(settings.role, Role::All | Role::Relay) {
            health.relay = roles::spawn_relay(&mut tasks, &store, &settings, &stopped)?;
        }
        if matches!(settings.role, Role::All | Role::Fulfillment) {
            workers::spawn_fulfillment(&mut tasks, &store, &settings, &stopped).await?;
        }
        if matches!(settings.role, Role::All | Role::Notifier) {
            workers::spawn_notifier(&mut tasks, &store, &settings, &stopped).await?;
        }
        let seat_locks = match (&settings.seat_locks, settings.role) {
            (Some(config), Role::All | Role::Gateway) => {
                let locks = ticketing_locks::RedisSeatLocks::new(config.clone())?;
                health.seat_locks = Some(locks.health());
                Some(locks)
            }
            _ => None,
        };
        if let Some(admin) = admin {
            let until_stop = until(stopped.clone());
            let role = settings.role;
            tracing::info!(addr = %admin.local_addr()?, "admin HTTP listening");
            tasks.spawn(async move {
                if let Err(error) =
                    crate::admin::serve(admin, store_for_admin, role, health, until_stop).await
                {
                    tracing::error!(%error, "admin server stopped");
                }
            });
        }
        let gateway = match listener {
            Some(listener) => {
                let services =
                    roles::gateway_services(&store, &settings, seat_locks, stopped.clone())?;
                if let Some(http) = http {
                    tracing::info!(addr = %http.local_addr()?, "HTTP API and web page listening");
                    let router = ticketing_http::router(
                        services.clone(),
                        &settings.cors_origins,
                        &settings.limits,
                    );
                    let until_stop = until(stopped.clone());
                    tasks.spawn(async move {
                        if let Err(error) = ticketing_http::serve(http, router, until_stop).await {
                            tracing::error!(%error, "HTTP server stopped");
                        }
                    });
                }
                tracing::info!(addr = %listener.local_addr()?, "gRPC gateway listening");
                Some(tokio::spawn(ticketing_gateway::serve(
                    listener,
                    roles::grpc_services(&services, settings.limits.max_message_bytes),
                    settings.cors_origins.clone(),
                    settings.limits.clone(),
                    until(stopped.clone()),
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

/// Resolves once `stopped` turns true.
async fn until(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
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
