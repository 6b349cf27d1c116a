//! Fresh databases for adapter tests: a SQLite file in the temp directory,
//! or a new Postgres database on the server at `TICKETING_TEST_PG_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`). A missing
//! Postgres fails the test rather than skipping it.

use sqlx::AnyPool;
use ticketing_event_store::Backend;
use ticketing_identity::{migrate, Identity, TokenConfig};

pub struct TestDb {
    pub pool: AnyPool,
    pub backend: Backend,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    Database { admin_url: String, name: String },
}

impl TestDb {
    pub async fn sqlite() -> Self {
        sqlx::any::install_default_drivers();
        let path = std::env::temp_dir().join(format!("identity-{}.db", ulid::Ulid::new()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = AnyPool::connect(&url).await.expect("open sqlite");
        migrate(&pool, Backend::Sqlite).await.expect("migrate");
        Self {
            pool,
            backend: Backend::Sqlite,
            cleanup: Cleanup::File(path),
        }
    }

    pub async fn postgres() -> Self {
        sqlx::any::install_default_drivers();
        let admin_url = std::env::var("TICKETING_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("t_{}", ulid::Ulid::new().to_string().to_lowercase());
        let admin = AnyPool::connect(&admin_url)
            .await
            .expect("Postgres must be running for these tests (TICKETING_TEST_PG_URL)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let pool = AnyPool::connect(&database_url(&admin_url, &name))
            .await
            .expect("connect to test database");
        migrate(&pool, Backend::Postgres).await.expect("migrate");
        Self {
            pool,
            backend: Backend::Postgres,
            cleanup: Cleanup::Database { admin_url, name },
        }
    }

    pub fn identity(&self, tokens: TokenConfig) -> Identity {
        Identity::new(self.pool.clone(), self.backend, tokens)
    }

    /// Removes the database; call at the end of a passing test.
    pub async fn drop(self) {
        self.pool.close().await;
        match self.cleanup {
            Cleanup::File(path) => {
                let _ = std::fs::remove_file(path);
            }
            Cleanup::Database { admin_url, name } => {
                let admin = AnyPool::connect(&admin_url).await.expect("reconnect");
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&admin)
                    .await
                    .expect("drop test database");
            }
        }
    }
}

/// `admin_url` with its database path replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let host = base.rsplit_once('/').map_or(base, |(host, _)| host);
    format!("{host}/{name}{query}")
}

pub fn tokens(secret: &[u8], ttl: chrono::Duration) -> TokenConfig {
    TokenConfig {
        secret: secret.to_vec(),
        ttl,
        issuer: "ticketing-test".to_owned(),
    }
}
