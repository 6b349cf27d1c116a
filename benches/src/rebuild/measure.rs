//! The scratch database of one backend, and the raw read rates the
//! rebuild is compared with: a plain `SELECT` of every column of every
//! event, streamed, each column decoded into a Rust value (payload and
//! metadata parsed as JSON, as any reader of the log must), and on
//! Postgres `COPY (SELECT …) TO STDOUT` through psql into nothing.

use anyhow::Context;
use futures::TryStreamExt;
use sqlx::{Connection, Executor, Row};
use std::process::Stdio;
use std::time::Instant;

pub struct Database {
    pub backend: &'static str,
    pub url: String,
    /// Postgres: the server's `postgres` database, to create and drop ours.
    admin: Option<String>,
    name: String,
}

impl Database {
    pub async fn create(backend: &str, pg_url: &str) -> anyhow::Result<Self> {
        let name = format!("rebuild_bench_{}", chrono::Utc::now().timestamp_millis());
        if backend == "sqlite" {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            return Ok(Self {
                backend: "sqlite",
                url: format!("sqlite://{}", path.display()),
                admin: None,
                name: path.display().to_string(),
            });
        }
        let base = pg_url.trim_end_matches('/');
        let admin = format!("{base}/postgres");
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .with_context(|| format!("connecting to {admin}"))?;
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        Ok(Self {
            backend: "postgres",
            url: format!("{base}/{name}"),
            admin: Some(admin),
            name,
        })
    }

    pub async fn drop(&self) -> anyhow::Result<()> {
        match &self.admin {
            Some(admin) => {
                let mut conn = sqlx::PgConnection::connect(admin).await?;
                let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                conn.execute(sql.as_str()).await?;
            }
            None => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", self.name));
                }
            }
        }
        Ok(())
    }

    fn events_table(&self) -> &'static str {
        if self.admin.is_some() {
            "event_store.events"
        } else {
            "events"
        }
    }

    /// Lets the server finish writing what the seed left (WAL, statistics)
    /// so the reads after it do not pay for it.
    pub async fn settle(&self) -> anyhow::Result<()> {
        if self.admin.is_some() {
            let mut conn = sqlx::PgConnection::connect(&self.url).await?;
            conn.execute("VACUUM ANALYZE event_store.events").await?;
            conn.execute("CHECKPOINT").await?;
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        }
        Ok(())
    }

    fn select_sql(&self) -> String {
        format!(
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, global_seq, recorded_at \
             FROM {} ORDER BY global_seq",
            self.events_table()
        )
    }
}

/// Events per second of a streamed, decoded plain SELECT of the whole log.
pub async fn select_rate(db: &Database) -> anyhow::Result<f64> {
    let sql = db.select_sql();
    let started = Instant::now();
    let mut rows = 0u64;
    let mut bytes = 0usize;
    if db.admin.is_some() {
        let mut conn = sqlx::PgConnection::connect(&db.url).await?;
        let mut stream = sqlx::query(&sql).fetch(&mut conn);
        while let Some(row) = stream.try_next().await? {
            let payload: serde_json::Value = row.try_get("payload")?;
            let metadata: serde_json::Value = row.try_get("metadata")?;
            let at: chrono::DateTime<chrono::Utc> = row.try_get("recorded_at")?;
            bytes +=
                strings(&row)? + json(&payload, &metadata) + at.timestamp_subsec_nanos() as usize;
            rows += 1;
        }
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await?;
        let mut stream = sqlx::query(&sql).fetch(&mut conn);
        while let Some(row) = stream.try_next().await? {
            let payload: serde_json::Value = serde_json::from_str(row.try_get("payload")?)?;
            let metadata: serde_json::Value = serde_json::from_str(row.try_get("metadata")?)?;
            let at: String = row.try_get("recorded_at")?;
            bytes += strings(&row)? + json(&payload, &metadata) + at.len();
            rows += 1;
        }
    }
    std::hint::black_box(bytes);
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

/// Decodes the text and integer columns every reader of the log needs.
fn strings<R: Row>(row: &R) -> anyhow::Result<usize>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let mut len = 0;
    for column in [
        "aggregate_type",
        "aggregate_id",
        "event_type",
        "event_version",
    ] {
        len += row.try_get::<String, _>(column)?.len();
    }
    len += (row.try_get::<i64, _>("sequence")? + row.try_get::<i64, _>("global_seq")?) as usize;
    Ok(len)
}

fn json(payload: &serde_json::Value, metadata: &serde_json::Value) -> usize {
    usize::from(payload.is_object()) + usize::from(metadata.is_object())
}

/// Events per second of `COPY … TO STDOUT` into /dev/null (Postgres only).
pub async fn copy_rate(db: &Database) -> anyhow::Result<Option<f64>> {
    if db.admin.is_none() {
        return Ok(None);
    }
    let rows: i64 = {
        let mut conn = sqlx::PgConnection::connect(&db.url).await?;
        sqlx::query_scalar("SELECT count(*) FROM event_store.events")
            .fetch_one(&mut conn)
            .await?
    };
    let copy = format!("COPY ({}) TO STDOUT", db.select_sql());
    let started = Instant::now();
    let status = tokio::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", &copy, &db.url])
        .stdout(Stdio::null())
        .status()
        .await
        .context("running psql (is the Postgres client installed?)")?;
    anyhow::ensure!(status.success(), "psql COPY failed");
    Ok(Some(rows as f64 / started.elapsed().as_secs_f64()))
}
