//! Settings shared by every command that touches the database, and how the
//! embedded default is derived from them: with no `--database-url`, a SQLite
//! file in the data directory.

use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the engine keeps its data.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Directory for the embedded database and local secrets.
    #[arg(long, env = "TICKETING_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// `postgres://…` selects Postgres; default: SQLite in the data dir.
    #[arg(long, env = "TICKETING_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl DatabaseArgs {
    /// The database URL to connect to; creates the data dir for SQLite.
    pub fn url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            anyhow::ensure!(
                url.starts_with("postgres://")
                    || url.starts_with("postgresql://")
                    || url.starts_with("sqlite:"),
                "--database-url must start with postgres:// or sqlite:, got {:?}",
                url.split(':').next().unwrap_or_default()
            );
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir).map_err(|e| {
            anyhow::anyhow!("cannot create data dir {}: {e}", self.data_dir.display())
        })?;
        Ok(format!(
            "sqlite://{}",
            self.data_dir.join("ticketing.db").display()
        ))
    }

    /// The secret that signs access tokens: `TICKETING_JWT_SECRET` when set
    /// (every gateway of a deployment must share it), else a random one kept
    /// in `<data-dir>/jwt-secret` so tokens survive a restart.
    pub fn jwt_secret(&self) -> anyhow::Result<Vec<u8>> {
        if let Ok(secret) = std::env::var("TICKETING_JWT_SECRET") {
            anyhow::ensure!(
                secret.len() >= 32,
                "TICKETING_JWT_SECRET must be at least 32 bytes"
            );
            return Ok(secret.into_bytes());
        }
        let path = self.data_dir.join("jwt-secret");
        read_or_create_secret(&path)
    }
}

fn read_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(secret) = std::fs::read(path) {
        if secret.len() >= 32 {
            return Ok(secret);
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let secret = ticketing_identity::TokenConfig::generate_secret();
    std::fs::write(path, &secret)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(secret)
}

/// Parses durations such as `30m`, `90s`, `1h`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let duration =
        humantime::parse_duration(raw).map_err(|e| format!("{e} (try 30m, 90s or 1h)"))?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}
