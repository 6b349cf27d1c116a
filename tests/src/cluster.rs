//! [`PgCluster`]: a Postgres server of the test's own, made with `initdb`
//! in a fresh directory under the system temp dir and run with `pg_ctl`,
//! for tests that restart or stop the database under a running engine —
//! which they must never do to the machine's shared server.
//!
//! The server listens on a free loopback port with trust authentication
//! and keeps its unix socket in its own directory. When the test runs as
//! root, `initdb` and `pg_ctl` run as the `postgres` OS user (the server
//! refuses root) and the directory is handed to that user. Dropping the
//! guard stops the server and deletes the directory, also when the test
//! panics. Without `initdb` the test fails: it never skips.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The OS user the server runs as when the test runs as root.
const SERVER_USER: &str = "postgres";

/// A running Postgres server, stopped and deleted on drop.
pub struct PgCluster {
    bindir: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// `Some(user)` when commands run as that OS user (the test is root).
    run_as: Option<&'static str>,
}

impl PgCluster {
    /// Creates and starts a server; panics with the reason if it cannot.
    pub fn start() -> PgCluster {
        let bindir = bindir();
        let run_as = is_root().then_some(SERVER_USER);
        let mut builder = tempfile::Builder::new();
        builder.prefix("ticketing-pg-");
        // In /tmp when the server runs as another user: it must reach the
        // directory, and a TMPDIR of root's may be closed to it.
        let dir = match run_as {
            Some(_) => builder.tempdir_in("/tmp"),
            None => builder.tempdir(),
        }
        .expect("a temp dir for the cluster");
        if let Some(user) = run_as {
            let (uid, gid) = ids_of(user);
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("hand the cluster's dir to the postgres user");
        }
        let cluster = PgCluster {
            bindir,
            port: free_port(),
            dir,
            run_as,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            cluster.port,
            cluster.dir.path().display()
        );
        let log = cluster.log();
        cluster.run(
            "pg_ctl",
            &[
                "start", "-w", "-t", "60", "-D", &data, "-l", &log, "-o", &options,
            ],
        );
        cluster
    }

    /// The URL of its `postgres` database, as the superuser `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl restart -m fast`: every session is terminated (57P01), the
    /// server shuts down cleanly and starts again on the same port; returns
    /// once it accepts connections.
    pub fn restart_fast(&self) {
        // The log again: without it the new server would write to, and
        // hold open, the pipe this process reads pg_ctl's output from.
        self.run(
            "pg_ctl",
            &[
                "restart",
                "-w",
                "-t",
                "60",
                "-m",
                "fast",
                "-D",
                &self.data(),
                "-l",
                &self.log(),
            ],
        );
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn log(&self) -> String {
        self.dir.path().join("server.log").display().to_string()
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bindir.join(program);
        match self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    /// Runs a server program; panics with its output and the server's log
    /// if it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        if !output.status.success() {
            let log = std::fs::read_to_string(self.log()).unwrap_or_default();
            panic!(
                "{program} {args:?} failed ({}):\n{}{}\nserver log:\n{log}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            );
        }
    }
}

impl Drop for PgCluster {
    /// Stops the server at once (no checkpoint: the data is thrown away);
    /// the temp dir then deletes itself.
    fn drop(&mut self) {
        if !self.dir.path().join("data/postmaster.pid").exists() {
            return;
        }
        let stopped = self
            .command("pg_ctl")
            .args(["stop", "-w", "-m", "immediate", "-D", &self.data()])
            .output();
        if !stopped.is_ok_and(|o| o.status.success()) {
            eprintln!("could not stop the test cluster in {}", self.data());
        }
    }
}

/// The directory of `initdb` and `pg_ctl`: `pg_config --bindir`, else
/// where `initdb` is on the PATH.
fn bindir() -> PathBuf {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let on_path = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("initdb"))
                .find(|initdb| initdb.is_file())
                .and_then(|initdb| initdb.canonicalize().ok())
                .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
        })
    };
    from_pg_config
        .filter(|dir| dir.join("initdb").is_file())
        .or_else(on_path)
        .unwrap_or_else(|| {
            panic!(
                "initdb not found (neither in `pg_config --bindir` nor on PATH): \
                 install the Postgres server packages; this test needs a cluster of its own"
            )
        })
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The uid and gid of an OS user.
fn ids_of(user: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id")
            .args([flag, user])
            .output()
            .expect("run id");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no OS user {user:?} to run the test cluster as"))
    };
    (id("-u"), id("-g"))
}

fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr").port()
}
