//! `spawn_app`: a gateway serving the identity service on a random port
//! over a fresh SQLite database, stopped through its shutdown future.

use std::net::SocketAddr;
use std::path::PathBuf;

use sqlx::AnyPool;
use ticketing_event_store::Backend;
use ticketing_gateway::{serve, GatewayServices, IdentityApi, Origins, ServeError, ServerLimits};
use ticketing_identity::{migrate, Identity, TokenConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

pub struct TestApp {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<Result<(), ServeError>>,
    db_path: PathBuf,
}

pub async fn spawn_app() -> TestApp {
    sqlx::any::install_default_drivers();
    let db_path = std::env::temp_dir().join(format!("gateway-{}.db", ulid::Ulid::new()));
    let pool = AnyPool::connect(&format!("sqlite://{}?mode=rwc", db_path.display()))
        .await
        .expect("open sqlite");
    migrate(&pool, Backend::Sqlite).await.expect("migrate");
    let identity = Identity::new(
        pool,
        Backend::Sqlite,
        TokenConfig {
            secret: TokenConfig::generate_secret(),
            ttl: chrono::Duration::minutes(15),
            issuer: "ticketing-test".to_owned(),
        },
    );

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let services = GatewayServices::new().add_service(IdentityApi::new(identity).into_server());
    let (stop, stopped) = oneshot::channel::<()>();
    let limits = ServerLimits::default();
    let server = tokio::spawn(serve(
        listener,
        services,
        Origins::default(),
        limits,
        async {
            let _ = stopped.await;
        },
    ));
    TestApp {
        addr,
        stop,
        server,
        db_path,
    }
}

impl TestApp {
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    /// Triggers shutdown and asserts the server stopped cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.server
            .await
            .expect("server task")
            .expect("server stopped cleanly");
        let _ = std::fs::remove_file(self.db_path);
    }
}
