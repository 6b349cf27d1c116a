//! The Postgres server as the machine's reference: databases are made and
//! dropped with `psql`, and the baseline is `pgbench` doing single-row
//! inserts at the engine's client count. Spawning the stock client tools
//! keeps a database driver out of this crate, and pgbench is the number
//! anyone can reproduce without it.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A Postgres server reached by its base URL (no database name).
pub struct Postgres {
    base_url: String,
    baseline_db: Option<String>,
    script: PathBuf,
}

impl Postgres {
    /// `base_url` is like `postgres://postgres@127.0.0.1:5432`; the pgbench
    /// script is written into `work_dir`.
    pub fn new(base_url: &str, work_dir: &Path) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            baseline_db: None,
            script: work_dir.join("pgbench-insert.sql"),
        }
    }

    pub fn url(&self, database: &str) -> String {
        format!("{}/{database}", self.base_url)
    }

    /// Runs one statement; returns what it printed, unaligned.
    async fn psql(&self, database: &str, sql: &str) -> anyhow::Result<String> {
        let out = Command::new("psql")
            .args(["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .arg(self.url(database))
            .output()
            .await
            .context("running psql (is the Postgres client installed?)")?;
        if !out.status.success() {
            bail!(
                "psql {sql:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Lets the server finish what earlier phases left it (a checkpoint of
    /// their WAL, autovacuum of the tables they filled) so that neither the
    /// baseline nor the engine run after it pays for them. Without this the
    /// first pgbench run after the show was seeded came out at a third of
    /// the later ones.
    async fn settle(&self) -> anyhow::Result<()> {
        self.psql("postgres", "CHECKPOINT").await?;
        let busy = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'";
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        while self.psql("postgres", busy).await? != "0" {
            if tokio::time::Instant::now() >= deadline {
                eprintln!("autovacuum still busy after {SETTLE_TIMEOUT:?}; measuring anyway");
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    pub async fn create_database(&self, name: &str) -> anyhow::Result<()> {
        self.psql("postgres", &format!("CREATE DATABASE {name}"))
            .await?;
        Ok(())
    }

    pub async fn drop_database(&self, name: &str) -> anyhow::Result<()> {
        self.psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await?;
        Ok(())
    }

    /// Creates the scratch database, its table and the pgbench script.
    pub async fn prepare_baseline(&mut self) -> anyhow::Result<()> {
        let name = format!("bench_baseline_{}", chrono::Utc::now().timestamp_millis());
        self.create_database(&name).await?;
        self.baseline_db = Some(name.clone());
        self.psql(
            &name,
            "CREATE TABLE bench_baseline(id bigserial primary key, payload text)",
        )
        .await?;
        std::fs::write(
            &self.script,
            "INSERT INTO bench_baseline(payload) VALUES ('x');\n",
        )
        .with_context(|| format!("writing {}", self.script.display()))?;
        Ok(())
    }

    /// pgbench single-row inserts with `clients` connections for `duration`;
    /// returns its tps without initial connection time.
    pub async fn baseline_tps(&self, clients: usize, duration: Duration) -> anyhow::Result<f64> {
        let Some(db) = &self.baseline_db else {
            bail!("prepare_baseline was not called");
        };
        // Every run starts from an empty table, so a later run does not pay
        // for a bigger index than an earlier one.
        self.psql(db, "TRUNCATE bench_baseline").await?;
        self.settle().await?;
        let secs = duration.as_secs().max(1).to_string();
        let out = Command::new("pgbench")
            .args([
                "-n",
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-T",
                &secs,
                "-f",
            ])
            .arg(&self.script)
            .arg(self.url(db))
            .output()
            .await
            .context(
                "running pgbench (Debian: apt-get install postgresql-15 or postgresql-contrib)",
            )?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "pgbench failed: {}{}",
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        parse_tps(&stdout).with_context(|| format!("no tps line in pgbench output:\n{stdout}"))
    }

    pub async fn drop_baseline(&mut self) -> anyhow::Result<()> {
        if let Some(db) = self.baseline_db.take() {
            self.drop_database(&db).await?;
        }
        Ok(())
    }
}

/// Reads `tps = 1234.5 (without initial connection time)`.
fn parse_tps(output: &str) -> Option<f64> {
    output
        .lines()
        .find(|line| line.contains("without initial connection time"))?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::parse_tps;

    #[test]
    fn reads_the_tps_excluding_connection_time() {
        let out = "number of failed transactions: 0 (0.000%)\n\
                   latency average = 2.1 ms\n\
                   initial connection time = 10.0 ms\n\
                   tps = 3811.216347 (without initial connection time)\n";
        assert_eq!(parse_tps(out), Some(3811.216347));
    }
}
