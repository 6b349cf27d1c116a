//! `ticketing`: parses the command line and runs one command. All wiring is
//! in the library (`application.rs`).

use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;
use ticketing::cli::{Cli, Command, LogFormat};
use ticketing::telemetry;

// Under the benchmark (a 100,000-seat show, then sustained ReserveSeats) the
// gateway held 1.1 GB RSS with glibc malloc, fragmented by the large plan's
// transient copies across worker threads; with mimalloc 0.29 GB, at the same
// throughput (A/B in docs/benchmarks.md).
// `--no-default-features` builds without it, for heap profiles.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (its index in v3's `mi_option_e`, which
/// the crate's bindings do not name): how long freed memory is kept before
/// it is returned to the OS, 1 s by default in mimalloc v3.
#[cfg(feature = "mimalloc")]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
#[cfg(feature = "mimalloc")]
const MI_DEFAULT_PURGE_DELAY: std::os::raw::c_long = 1000;

/// mimalloc's `allow_thp` option (its index in v3's `mi_option_e`).
#[cfg(feature = "mimalloc")]
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Returns freed memory to the OS at once instead of after a second: the
/// transient copies of a large seating plan then never pile up, and the
/// bench's peak RSS after a 100,000-seat show fell from 151 to 113 MB
/// (SQLite) and 122 to 115 MB (Postgres) at the same reservation rate.
/// A delay set through `MIMALLOC_PURGE_DELAY` is left as it is.
///
/// And no transparent huge pages for this process (what mimalloc does
/// with `MIMALLOC_ALLOW_THP=0`, which it reads before `main`): its arenas
/// grew in 2 MiB pages that stayed resident, 16–23 MB of the peak RSS
/// while seats are held (docs/benchmarks.md, #13 part 5). Unless
/// `MIMALLOC_ALLOW_THP` is set.
#[cfg(feature = "mimalloc")]
fn tune_allocator() {
    // SAFETY: plain option getters and setters of the global allocator.
    unsafe {
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == MI_DEFAULT_PURGE_DELAY
            && std::env::var_os("MIMALLOC_PURGE_DELAY").is_none()
        {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
    }
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: an option setter of the global allocator.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0) };
        // Existing mappings too: the kernel checks this flag at each fault.
        #[cfg(target_os = "linux")]
        // SAFETY: prctl with integer arguments only; no memory is passed.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    #[cfg(feature = "mimalloc")]
    tune_allocator();
    let cli = Cli::parse();
    // A healthcheck runs every few seconds: no logs, no trace exporter.
    if let Command::Probe(args) = cli.command {
        return match ticketing::probe::run(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    let format = LogFormat::resolve(cli.log_format, std::io::stderr().is_terminal());
    let telemetry = match telemetry::init(format, cli.otlp_endpoint.as_deref()) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let code = match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "fatal");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => ticketing::serve::run(*args).await,
        Command::Projections(command) => ticketing::ops::run(command).await,
        Command::Demo(db) => ticketing::demo::run(db).await,
        Command::Seatmap(args) => ticketing::seatmap::run(args).await,
        Command::Events(command) => ticketing::analyst::run(command).await,
        Command::Keys(command) => ticketing::keys::run(command).await,
        Command::Notifications(command) => ticketing::notifications::run(command).await,
        Command::Migrate(args) => ticketing::schema::run(args).await,
        Command::Users(command) => ticketing::users::run(command).await,
        Command::Probe(args) => ticketing::probe::run(args).await,
    }
}

#[cfg(all(test, feature = "mimalloc"))]
mod tests {
    use super::*;

    /// The option index points at the purge delay: the only option of
    /// mimalloc v3 whose default is 1,000 (a shifted enum or another
    /// mimalloc would fail here).
    #[test]
    fn the_purge_delay_option_is_the_one_we_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: an option getter.
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, MI_DEFAULT_PURGE_DELAY);
    }
}
