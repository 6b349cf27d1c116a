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
    /// The database URL to connect to, checked without touching the disk:
    /// the one given, else the SQLite file in the data dir.
    pub fn checked_url(&self) -> anyhow::Result<String> {
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
        Ok(format!(
            "sqlite://{}",
            self.data_dir.join("ticketing.db").display()
        ))
    }

    /// The database URL to connect to; creates the data dir for SQLite.
    pub fn url(&self) -> anyhow::Result<String> {
        let url = self.checked_url()?;
        if self.database_url.is_none() {
            std::fs::create_dir_all(&self.data_dir).map_err(|e| {
                anyhow::anyhow!("cannot create data dir {}: {e}", self.data_dir.display())
            })?;
        }
        Ok(url)
    }

    /// The secret that signs access tokens: `TICKETING_JWT_SECRET` when set
    /// (every gateway of a deployment must share it), else a random one kept
    /// in `<data-dir>/jwt-secret` so tokens survive a restart.
    pub fn jwt_secret(&self) -> anyhow::Result<Vec<u8>> {
        self.jwt_secret_source()?.load()
    }

    /// Where [`DatabaseArgs::jwt_secret`] comes from, with a configured
    /// secret checked; reads no file.
    pub fn jwt_secret_source(&self) -> anyhow::Result<JwtSecret> {
        if let Ok(secret) = std::env::var("TICKETING_JWT_SECRET") {
            anyhow::ensure!(
                secret.len() >= 32,
                "TICKETING_JWT_SECRET must be at least 32 bytes"
            );
            return Ok(JwtSecret::Configured(secret.into_bytes()));
        }
        Ok(JwtSecret::File(self.data_dir.join("jwt-secret")))
    }

    /// The secret `serve` signs tokens with. On Postgres it must be
    /// configured: a secret each host made up for itself would make tokens
    /// fail at random behind a balancer.
    pub fn serving_jwt_secret(&self) -> anyhow::Result<Vec<u8>> {
        self.serving_jwt_secret_source()?.load()
    }

    /// Where [`DatabaseArgs::serving_jwt_secret`] comes from, with every
    /// rule checked; reads no file.
    pub fn serving_jwt_secret_source(&self) -> anyhow::Result<JwtSecret> {
        let postgres = self
            .database_url
            .as_deref()
            .is_some_and(|url| url.starts_with("postgres"));
        anyhow::ensure!(
            !postgres || std::env::var_os("TICKETING_JWT_SECRET").is_some(),
            "serving on Postgres needs TICKETING_JWT_SECRET (32+ bytes, the same on every \
             gateway of the deployment); only embedded mode makes one up (in <data-dir>/jwt-secret)"
        );
        self.jwt_secret_source()
    }
}

/// Where the secret that signs access tokens comes from.
#[derive(Clone)]
pub enum JwtSecret {
    /// `TICKETING_JWT_SECRET`, 32 bytes or more.
    Configured(Vec<u8>),
    /// A file in the data dir, made up on first use (embedded mode).
    File(PathBuf),
}

impl JwtSecret {
    /// The secret's bytes; a missing or short file is made anew.
    pub fn load(self) -> anyhow::Result<Vec<u8>> {
        match self {
            JwtSecret::Configured(secret) => Ok(secret),
            JwtSecret::File(path) => read_or_create_secret(&path),
        }
    }
}

impl std::fmt::Debug for JwtSecret {
    /// Says where the secret is, never what it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtSecret::Configured(_) => f.write_str("TICKETING_JWT_SECRET"),
            JwtSecret::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// `url` without its password and query (which may carry one), for
/// messages and summaries.
pub fn redact_url(url: &str) -> String {
    let url = url.split('?').next().unwrap_or_default();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split(':').next().unwrap_or_default() {
            "" => format!("{scheme}://{host}{path}"),
            user => format!("{scheme}://{user}@{host}{path}"),
        },
        None => url.to_owned(),
    }
}

fn read_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(secret) = std::fs::read(path) {
        if secret.len() >= 32 {
            restrict(path)?;
            return Ok(secret);
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let secret = ticketing_identity::TokenConfig::generate_secret();
    write_private(path, &secret)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(secret)
}

/// Makes a secret file an older version wrote readable by its owner only.
fn restrict(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "secret file was readable by others; now 0600");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` readable by its owner only (mode 0600 on Unix),
/// through a temporary file renamed into place, so no reader ever sees a
/// partial secret or one with wider permissions.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let temp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // A leftover temp file keeps its old mode on open: reset it.
        if temp.exists() {
            std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let mut file = options.open(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temp, path)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_made_up_secret_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt-secret");
        let secret = read_or_create_secret(&path).unwrap();
        assert_eq!(secret.len(), 32);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "mode {mode:o}");
        assert_eq!(read_or_create_secret(&path).unwrap(), secret, "kept");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_or_create_secret(&path).unwrap(), secret);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "an old world-readable file is tightened");
    }

    #[test]
    fn redacted_urls_keep_no_password() {
        assert_eq!(
            redact_url("postgres://ticketing:s3cret@db:5432/ticketing?password=x"),
            "postgres://ticketing@db:5432/ticketing"
        );
        assert_eq!(
            redact_url("redis://:s3cret@redis:6379/0"),
            "redis://redis:6379/0"
        );
        assert_eq!(
            redact_url("postgres://db/ticketing"),
            "postgres://db/ticketing"
        );
        assert_eq!(
            redact_url("sqlite://./data/ticketing.db"),
            "sqlite://./data/ticketing.db"
        );
    }

    #[test]
    fn serving_on_postgres_needs_a_configured_secret() {
        // Only this test touches the variable in this binary.
        std::env::remove_var("TICKETING_JWT_SECRET");
        let dir = tempfile::tempdir().unwrap();
        let args = |url: Option<&str>| DatabaseArgs {
            data_dir: dir.path().to_owned(),
            database_url: url.map(str::to_owned),
        };
        let error = args(Some("postgres://db/ticketing"))
            .serving_jwt_secret()
            .unwrap_err()
            .to_string();
        assert!(error.contains("needs TICKETING_JWT_SECRET"), "{error}");
        assert!(!dir.path().join("jwt-secret").exists(), "no file made up");
        assert_eq!(
            args(None).serving_jwt_secret().unwrap().len(),
            32,
            "embedded makes one"
        );
    }
}
