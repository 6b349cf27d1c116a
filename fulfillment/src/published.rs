//! The published verifying keys: every public key a ticket may have been
//! signed with, in `bc_fulfillment.ticket_keys` (SQLite: `ticket_keys`).
//!
//! Whoever holds the key ring (the fulfillment role, `ticketing keys
//! rotate`) publishes its public keys here; gateways verify check-ins with
//! them, so no gateway needs a secret, and a rotation reaches every
//! gateway without a restart: a payload signed by a key a [`Scanner`] does
//! not know makes it read the table again (at most once per
//! [`RELOAD_EVERY`], so garbage cannot turn into a query storm).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Row};
use ticketing_event_store::migrations::{self, Context, Migration, MigrationError};
use ticketing_event_store::Backend;

use crate::keys::{KeyError, KeyRing, Verifier};
use crate::qr::{verify_claim, QrError, TicketClaim};

/// How often a scanner may read the table again for an unknown key.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

fn table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "bc_fulfillment.ticket_keys",
        Backend::Sqlite => "ticket_keys",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishedError {
    #[error("ticket keys table: {0}")]
    Database(#[from] sqlx::Error),
    #[error("published ticket key {kid}: {source}")]
    Key {
        kid: String,
        #[source]
        source: KeyError,
    },
}

/// The fulfillment context's schema (`bc_fulfillment`): the published keys.
pub static FULFILLMENT: Context = Context {
    name: "fulfillment",
    migrations: &[Migration {
        version: 1,
        description: "baseline: published ticket keys",
        run: baseline,
    }],
};

/// Applies the fulfillment context's pending migrations ([`FULFILLMENT`]).
pub async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), PublishedError> {
    migrations::apply(pool, backend, &[&FULFILLMENT])
        .await
        .map_err(MigrationError::into_sqlx)?;
    Ok(())
}

fn baseline(conn: &mut AnyConnection, backend: Backend) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    let mut statements = Vec::new();
    if backend == Backend::Postgres {
        statements.push("CREATE SCHEMA IF NOT EXISTS bc_fulfillment".to_owned());
    }
    statements.push(format!(
        "CREATE TABLE IF NOT EXISTS {} (
            kid TEXT PRIMARY KEY,
            public_key TEXT NOT NULL,
            published_at BIGINT NOT NULL)",
        table(backend)
    ));
    Box::pin(migrations::run_all(conn, statements))
}

/// Publishes every public key of `ring` (keys already there stay as they are).
pub async fn publish(
    pool: &AnyPool,
    backend: Backend,
    ring: &KeyRing,
) -> Result<(), PublishedError> {
    let sql = format!(
        "INSERT INTO {} (kid, public_key, published_at) VALUES ($1, $2, $3) \
         ON CONFLICT (kid) DO NOTHING",
        table(backend)
    );
    let now = Utc::now().timestamp_millis();
    for key in ring.public_keys() {
        sqlx::query(&sql)
            .bind(&key.kid)
            .bind(STANDARD.encode(key.raw()))
            .bind(now)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// One published key: its id, the raw 32-byte key, and when it appeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    pub kid: String,
    pub raw: [u8; 32],
    pub published_at: DateTime<Utc>,
}

/// Every published key, oldest first.
pub async fn published(
    pool: &AnyPool,
    backend: Backend,
) -> Result<Vec<PublishedKey>, PublishedError> {
    let sql = format!(
        "SELECT kid, public_key, published_at FROM {} ORDER BY published_at, kid",
        table(backend)
    );
    let rows = sqlx::query(&sql).fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            let kid: String = row.try_get("kid")?;
            let text: String = row.try_get("public_key")?;
            let raw = STANDARD
                .decode(text.as_bytes())
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| PublishedError::Key {
                    kid: kid.clone(),
                    source: KeyError::InvalidPublicKey { kid: kid.clone() },
                })?;
            let at: i64 = row.try_get("published_at")?;
            Ok(PublishedKey {
                kid,
                raw,
                published_at: DateTime::from_timestamp_millis(at).unwrap_or_default(),
            })
        })
        .collect()
}

/// Verifies scanned payloads against the published keys. Cheap to clone.
#[derive(Clone)]
pub struct Scanner {
    pool: AnyPool,
    backend: Backend,
    state: Arc<Mutex<ScannerState>>,
    /// Held while the table is read, so scans that meet an unknown key at
    /// the same time wait for one reload instead of failing beside it.
    reloading: Arc<tokio::sync::Mutex<()>>,
}

struct ScannerState {
    verifier: Arc<Verifier>,
    loaded_at: Option<Instant>,
}

impl Scanner {
    pub fn new(pool: AnyPool, backend: Backend) -> Self {
        Self {
            pool,
            backend,
            state: Arc::new(Mutex::new(ScannerState {
                verifier: Arc::new(Verifier::default()),
                loaded_at: None,
            })),
            reloading: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The claim of a payload that verifies with a published key. A key not
    /// known yet makes the scanner read the table again (rate-limited).
    pub async fn verify(&self, payload: &str) -> Result<TicketClaim, ScanError> {
        let verifier = self.state().verifier.clone();
        let kid = match verify_claim(&verifier, payload) {
            Err(QrError::UnknownKid { kid }) => kid,
            other => return Ok(other?),
        };
        let _reloading = self.reloading.lock().await;
        // Another scan may have reloaded while this one waited.
        let mut verifier = self.state().verifier.clone();
        if !verifier.knows(&kid) && self.may_reload() {
            verifier = self.reload().await?;
        }
        Ok(verify_claim(&verifier, payload)?)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ScannerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims the right to reload, at most once per [`RELOAD_EVERY`].
    fn may_reload(&self) -> bool {
        let mut state = self.state();
        let due = state
            .loaded_at
            .is_none_or(|at| at.elapsed() >= RELOAD_EVERY);
        if due {
            state.loaded_at = Some(Instant::now());
        }
        due
    }

    async fn reload(&self) -> Result<Arc<Verifier>, ScanError> {
        let keys = published(&self.pool, self.backend).await?;
        let verifier =
            Verifier::from_raw(keys.into_iter().map(|k| (k.kid, k.raw))).map_err(|source| {
                PublishedError::Key {
                    kid: String::new(),
                    source,
                }
            })?;
        let verifier = Arc::new(verifier);
        self.state().verifier = verifier.clone();
        Ok(verifier)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The payload is not a valid ticket: INVALID at the door.
    #[error(transparent)]
    Invalid(#[from] QrError),
    /// The keys could not be read: retry.
    #[error(transparent)]
    Keys(#[from] PublishedError),
}
