//! The user store: one table of accounts on the engine's database, reached
//! through the sqlx `Any` driver so the same code serves Postgres
//! (`bc_identity.users`) and SQLite (`users`).
//!
//! Through `Any` only plain scalars bind and decode, so timestamps are stored
//! as unix milliseconds and roles as their lower-case names.
//!
//! An account's `generation` counts the changes that end its sessions
//! (disable, role change, password reset): a token carries the generation
//! it was issued at, and stops working once the row has moved on.

use chrono::DateTime;
use futures::future::BoxFuture;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use ticketing_event_store::migrations::{self, Context, Migration, MigrationError};
use ticketing_event_store::{find_idempotency, insert_idempotency, Backend, IdempotencyRecord};

use crate::domain::{DisplayName, Email, User, UserId};
use crate::error::IdentityError;

/// The identity context's schema (`bc_identity`).
pub static IDENTITY: Context = Context {
    name: "identity",
    migrations: &[Migration {
        version: 1,
        description: "baseline: users, with account standing and the by-role index",
        run: baseline,
    }],
};

/// Applies the identity context's pending migrations ([`IDENTITY`]).
pub async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), IdentityError> {
    migrations::apply(pool, backend, &[&IDENTITY])
        .await
        .map_err(MigrationError::into_sqlx)?;
    Ok(())
}

fn baseline(conn: &mut AnyConnection, backend: Backend) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        if backend == Backend::Postgres {
            sqlx::query("CREATE SCHEMA IF NOT EXISTS bc_identity")
                .execute(&mut *conn)
                .await?;
        }
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} (
                user_id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE,
                display_name TEXT NOT NULL,
                role TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                disabled BIGINT NOT NULL DEFAULT 0,
                generation BIGINT NOT NULL DEFAULT 0
            )",
            table(backend)
        );
        sqlx::query(&ddl).execute(&mut *conn).await?;
        // ListUsers of one role walks this index, not the whole table.
        let index = format!(
            "CREATE INDEX IF NOT EXISTS users_by_role ON {} (role, user_id)",
            table(backend)
        );
        sqlx::query(&index).execute(&mut *conn).await?;
        add_account_columns(conn, backend).await
    })
}

/// The columns a table made before accounts could be managed lacks.
async fn add_account_columns(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<(), sqlx::Error> {
    for column in ["disabled", "generation"] {
        let ddl = match backend {
            Backend::Postgres => format!(
                "ALTER TABLE bc_identity.users ADD COLUMN IF NOT EXISTS {column} \
                 BIGINT NOT NULL DEFAULT 0"
            ),
            Backend::Sqlite => {
                let present: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pragma_table_info('users') WHERE name = $1",
                )
                .bind(column)
                .fetch_one(&mut *conn)
                .await?;
                if present > 0 {
                    continue;
                }
                format!("ALTER TABLE users ADD COLUMN {column} BIGINT NOT NULL DEFAULT 0")
            }
        };
        sqlx::query(&ddl).execute(&mut *conn).await?;
    }
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
    pub standing: Standing,
}

/// What decides whether an account's tokens still work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Standing {
    pub disabled: bool,
    pub generation: i64,
}

/// A change an operator makes to an account; each but `Enable` ends the
/// account's sessions.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    Disable,
    Enable,
    SetRole(crate::Role),
    SetPasswordHash(String),
}

const COLUMNS: &str =
    "user_id, email, display_name, role, password_hash, created_at, disabled, generation";

/// Reads and writes `users`. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub(crate) struct Users {
    pool: AnyPool,
    backend: Backend,
    insert_sql: String,
    by_email_sql: String,
    by_id_sql: String,
    standing_sql: String,
    list_sql: String,
    list_of_role_sql: String,
    table: &'static str,
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
            by_email_sql: format!("SELECT {COLUMNS} FROM {table} WHERE email = $1"),
            by_id_sql: format!("SELECT {COLUMNS} FROM {table} WHERE user_id = $1"),
            standing_sql: format!("SELECT disabled, generation FROM {table} WHERE user_id = $1"),
            list_sql: format!(
                "SELECT {COLUMNS} FROM {table} WHERE user_id > $1 ORDER BY user_id LIMIT $2"
            ),
            // A row comparison, so that even a generic plan walks the role
            // index (500,000 users: 0.5 ms, where `role = $1 AND user_id >
            // $2` walked the primary key for 8–76 ms).
            list_of_role_sql: format!(
                "SELECT {COLUMNS} FROM {table} WHERE (role, user_id) > ($1, $2) AND role = $1 \
                 ORDER BY role, user_id LIMIT $3"
            ),
            table,
        }
    }

    /// The account's standing; `None` if there is no such account.
    pub async fn standing(&self, user_id: &UserId) -> Result<Option<Standing>, IdentityError> {
        let row = sqlx::query(&self.standing_sql)
            .bind(user_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(Standing {
                disabled: row.try_get::<i64, _>("disabled")? != 0,
                generation: row.try_get("generation")?,
            })
        })
        .transpose()
    }

    /// Accounts in user-id order (which is creation order), after `after`,
    /// of `role` if given; at most `limit`.
    pub async fn list(
        &self,
        after: Option<&UserId>,
        role: Option<crate::Role>,
        limit: u32,
    ) -> Result<Vec<StoredUser>, IdentityError> {
        let after = after.map_or("", |id| id.as_str());
        let query = match role {
            None => sqlx::query(&self.list_sql).bind(after),
            Some(role) => sqlx::query(&self.list_of_role_sql)
                .bind(role.as_str())
                .bind(after),
        };
        let rows = query.bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }

    /// Applies `change` to the account, moving its generation on unless the
    /// change is `Enable`; the account as it is now, `None` if none.
    pub async fn change(
        &self,
        user_id: &UserId,
        change: &Change,
    ) -> Result<Option<StoredUser>, IdentityError> {
        let (set, value) = match change {
            Change::Disable => ("disabled = 1, generation = generation + 1", None),
            Change::Enable => ("disabled = 0", None),
            Change::SetRole(role) => (
                "role = $2, generation = generation + 1",
                Some(role.as_str().to_owned()),
            ),
            Change::SetPasswordHash(hash) => (
                "password_hash = $2, generation = generation + 1",
                Some(hash.clone()),
            ),
        };
        let sql = format!(
            "UPDATE {} SET {set} WHERE user_id = $1 RETURNING {COLUMNS}",
            self.table
        );
        let mut query = sqlx::query(&sql).bind(user_id.as_str());
        if let Some(value) = value {
            query = query.bind(value);
        }
        let row = query.fetch_optional(&self.pool).await?;
        row.as_ref().map(decode).transpose()
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
        let row = sqlx::query(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode).transpose()
    }
}

fn decode(row: &AnyRow) -> Result<StoredUser, IdentityError> {
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
    Ok(StoredUser {
        user,
        password_hash: text("password_hash")?,
        standing: Standing {
            disabled: row.try_get::<i64, _>("disabled")? != 0,
            generation: row.try_get("generation")?,
        },
    })
}
