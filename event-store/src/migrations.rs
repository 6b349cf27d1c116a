//! Versioned schema migrations, one numbered list per bounded context.
//!
//! Each context (the event store, the read models, identity, payment,
//! fulfillment, notification) owns a [`Context`]: its migrations, numbered
//! from 1, applied in order and recorded in `ticketing_schema_migrations`
//! `(context, version, description, applied_at)`. [`apply`] runs every
//! pending one in **one transaction** under one lock, so two `migrate`
//! processes started at once apply each migration once (the second waits,
//! then finds nothing to do), and a failure leaves the schema as it was.
//! On Postgres the lock is a transaction-scoped advisory lock; on SQLite
//! `BEGIN IMMEDIATE`, the file's write lock.
//!
//! Version 1 of every context is its baseline: the `CREATE … IF NOT
//! EXISTS` list that every role ran at start before versions existed. It is
//! idempotent, so on a database made before versions it creates what is
//! missing and is then recorded like on a fresh one. Every later version
//! runs exactly once; write it as a plain change (an `ALTER`, a new table),
//! and keep it backwards compatible with the binaries still running
//! (add, then stop using, then drop in a later release).

use chrono::Utc;
use futures::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Row};

use crate::Backend;

/// The table that records what was applied.
const TABLE: &str = "ticketing_schema_migrations";

/// `pg_advisory_xact_lock` key of migrations (any value no other lock uses).
const LOCK: i64 = 0x7469_636b_6574_0001;

/// What a migration runs, on a connection inside the migration transaction.
pub type Step =
    for<'c> fn(&'c mut AnyConnection, Backend) -> BoxFuture<'c, Result<(), sqlx::Error>>;

/// One numbered change of a context's schema.
pub struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub run: Step,
}

/// A bounded context's schema: its name in the migrations table and its
/// migrations in version order (1, 2, …).
pub struct Context {
    pub name: &'static str,
    pub migrations: &'static [Migration],
}

/// One migration and whether (when) it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub context: &'static str,
    pub version: i64,
    pub description: &'static str,
    /// Unix milliseconds; `None`: pending.
    pub applied_at: Option<i64>,
}

/// What [`check`] found wrong: the schema is older than this binary.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "the database schema is older than this binary: {pending} migration(s) pending \
         (first: {first}); run `ticketing migrate` with the same --database-url, then start again"
    )]
    Pending { pending: usize, first: String },
    #[error("migration {context} v{version} ({description}) failed: {source}")]
    Failed {
        context: &'static str,
        version: i64,
        description: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("schema migrations: {0}")]
    Database(#[from] sqlx::Error),
}

impl MigrationError {
    /// As a database error, for contexts whose errors wrap sqlx's: a
    /// failed step gives its own error, a pending schema a configuration
    /// error that says what to run.
    pub fn into_sqlx(self) -> sqlx::Error {
        match self {
            MigrationError::Failed { source, .. } | MigrationError::Database(source) => source,
            pending @ MigrationError::Pending { .. } => {
                sqlx::Error::Configuration(pending.to_string().into())
            }
        }
    }
}

/// Applies every pending migration of `contexts` in one transaction, under
/// the migration lock; returns the ones it applied (none: already current).
pub async fn apply(
    pool: &AnyPool,
    backend: Backend,
    contexts: &[&Context],
) -> Result<Vec<MigrationStatus>, MigrationError> {
    let mut tx = match backend {
        Backend::Postgres => pool.begin().await?,
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
    };
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOCK)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (
            context TEXT NOT NULL,
            version BIGINT NOT NULL,
            description TEXT NOT NULL,
            applied_at BIGINT NOT NULL,
            PRIMARY KEY (context, version))"
    ))
    .execute(&mut *tx)
    .await?;
    let applied = applied_versions(&mut tx).await?;
    let now = Utc::now().timestamp_millis();
    let mut done = Vec::new();
    for context in contexts {
        for migration in context.migrations {
            if applied.contains(&(context.name.to_owned(), migration.version)) {
                continue;
            }
            (migration.run)(&mut tx, backend)
                .await
                .map_err(|source| MigrationError::Failed {
                    context: context.name,
                    version: migration.version,
                    description: migration.description,
                    source,
                })?;
            sqlx::query(&format!(
                "INSERT INTO {TABLE} (context, version, description, applied_at) \
                 VALUES ($1, $2, $3, $4)"
            ))
            .bind(context.name)
            .bind(migration.version)
            .bind(migration.description)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            done.push(MigrationStatus {
                context: context.name,
                version: migration.version,
                description: migration.description,
                applied_at: Some(now),
            });
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// Every migration of `contexts`, applied or pending, without changing
/// anything (a database never migrated has them all pending).
pub async fn status(
    pool: &AnyPool,
    contexts: &[&Context],
) -> Result<Vec<MigrationStatus>, MigrationError> {
    let mut conn = pool.acquire().await?;
    let applied = match recorded(&mut conn).await {
        Ok(rows) => rows,
        // No table yet: nothing was ever applied.
        Err(sqlx::Error::Database(_)) => Vec::new(),
        Err(other) => return Err(other.into()),
    };
    Ok(contexts
        .iter()
        .flat_map(|context| {
            let applied = &applied;
            context.migrations.iter().map(move |m| MigrationStatus {
                context: context.name,
                version: m.version,
                description: m.description,
                applied_at: applied
                    .iter()
                    .find(|(c, v, _)| c == context.name && *v == m.version)
                    .map(|(_, _, at)| *at),
            })
        })
        .collect())
}

/// Fails with [`MigrationError::Pending`] unless every migration of
/// `contexts` was applied. Versions newer than this binary's are fine: a
/// release's migrations keep the previous release working.
pub async fn check(pool: &AnyPool, contexts: &[&Context]) -> Result<(), MigrationError> {
    let pending: Vec<MigrationStatus> = status(pool, contexts)
        .await?
        .into_iter()
        .filter(|m| m.applied_at.is_none())
        .collect();
    match pending.first() {
        None => Ok(()),
        Some(first) => Err(MigrationError::Pending {
            pending: pending.len(),
            first: format!("{} v{} {}", first.context, first.version, first.description),
        }),
    }
}

async fn applied_versions(
    conn: &mut AnyConnection,
) -> Result<std::collections::HashSet<(String, i64)>, sqlx::Error> {
    Ok(recorded(conn)
        .await?
        .into_iter()
        .map(|(context, version, _)| (context, version))
        .collect())
}

async fn recorded(conn: &mut AnyConnection) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT context, version, applied_at FROM {TABLE} ORDER BY context, version"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect()
}

/// Runs `statements` in order: the body of most migrations.
pub async fn run_all(
    conn: &mut AnyConnection,
    statements: impl IntoIterator<Item = impl AsRef<str>>,
) -> Result<(), sqlx::Error> {
    for statement in statements {
        sqlx::query(statement.as_ref()).execute(&mut *conn).await?;
    }
    Ok(())
}
