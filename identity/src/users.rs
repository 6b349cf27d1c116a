//! The user store: one table of accounts on the engine's database, reached
//! through the sqlx `Any` driver so the same code serves Postgres
//! (`bc_identity.users`) and SQLite (`users`).
//!
//! Through `Any` only plain scalars bind and decode, so timestamps are stored
//! as unix milliseconds and roles as their lower-case names.

use chrono::DateTime;
use sqlx::{AnyPool, Row};
use ticketing_event_store::{find_idempotency, insert_idempotency, Backend, IdempotencyRecord};

use crate::domain::{DisplayName, Email, User, UserId};
use crate::error::IdentityError;

/// Creates the users table (and on Postgres its schema) if missing.
pub async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), IdentityError> {
    if backend == Backend::Postgres {
        sqlx::query("CREATE SCHEMA IF NOT EXISTS bc_identity")
            .execute(pool)
            .await?;
    }
    let ddl = format!(
        "CREATE TABLE IF NOT EXISTS {} (
            user_id TEXT PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL,
            role TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )",
        table(backend)
    );
    sqlx::query(&ddl).execute(pool).await?;
    Ok(())
}

fn table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "bc_identity.users",
        Backend::Sqlite => "users",
    }
}

/// A user together with the stored hash of their password.
pub(crate) struct StoredUser {
    pub user: User,
    pub password_hash: String,
}

/// Reads and writes `users`. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub(crate) struct Users {
    pool: AnyPool,
    backend: Backend,
    insert_sql: String,
    by_email_sql: String,
    by_id_sql: String,
}

impl Users {
    pub fn new(pool: AnyPool, backend: Backend) -> Self {
        let table = table(backend);
        Self {
            pool,
            backend,
            insert_sql: format!(
                "INSERT INTO {table} \
                 (user_id, email, display_name, role, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            by_email_sql: format!(
                "SELECT user_id, email, display_name, role, password_hash, created_at \
                 FROM {table} WHERE email = $1"
            ),
            by_id_sql: format!(
                "SELECT user_id, email, display_name, role, password_hash, created_at \
                 FROM {table} WHERE user_id = $1"
            ),
        }
    }

    /// Stores a new user; [`IdentityError::EmailTaken`] if the email is.
    pub async fn insert(&self, user: &User, password_hash: &str) -> Result<(), IdentityError> {
        let mut conn = self.pool.acquire().await?;
        self.insert_on(&mut conn, user, password_hash).await
    }

    async fn insert_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        user: &User,
        password_hash: &str,
    ) -> Result<(), IdentityError> {
        sqlx::query(&self.insert_sql)
            .bind(user.user_id.as_str())
            .bind(user.email.as_str())
            .bind(user.display_name.as_str())
            .bind(user.role.as_str())
            .bind(password_hash)
            .bind(user.created_at.timestamp_millis())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Stores a new user and the idempotency record of the request that
    /// created it, in one transaction.
    pub async fn insert_with_record(
        &self,
        user: &User,
        password_hash: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), IdentityError> {
        let mut tx = self.pool.begin().await?;
        self.insert_on(&mut tx, user, password_hash).await?;
        insert_idempotency(&mut tx, self.backend, record)
            .await
            .map_err(IdentityError::from_store)?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn idempotency(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, IdentityError> {
        let mut conn = self.pool.acquire().await?;
        find_idempotency(&mut conn, self.backend, scope, key)
            .await
            .map_err(IdentityError::from_store)
    }

    pub async fn find_by_email(&self, email: &Email) -> Result<Option<StoredUser>, IdentityError> {
        self.find_one(&self.by_email_sql, email.as_str()).await
    }

    pub async fn find_by_id(&self, user_id: &UserId) -> Result<Option<StoredUser>, IdentityError> {
        self.find_one(&self.by_id_sql, user_id.as_str()).await
    }

    async fn find_one(&self, sql: &str, key: &str) -> Result<Option<StoredUser>, IdentityError> {
        let Some(row) = sqlx::query(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let text = |column: &str| row.try_get::<String, _>(column);
        let created_at_ms: i64 = row.try_get("created_at")?;
        // A row that no longer validates was written by a bug or by hand:
        // report it as internal rather than as the caller's mistake.
        let user = User {
            user_id: UserId::parse(&text("user_id")?).map_err(IdentityError::internal)?,
            email: Email::parse(&text("email")?).map_err(IdentityError::internal)?,
            display_name: DisplayName::parse(&text("display_name")?)
                .map_err(IdentityError::internal)?,
            role: text("role")?.parse().map_err(IdentityError::internal)?,
            created_at: DateTime::from_timestamp_millis(created_at_ms).ok_or_else(|| {
                IdentityError::internal(format!("created_at out of range: {created_at_ms}"))
            })?,
        };
        Ok(Some(StoredUser {
            user,
            password_hash: text("password_hash")?,
        }))
    }
}
