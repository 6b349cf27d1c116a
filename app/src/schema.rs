//! The database schema of every bounded context, versioned
//! (`ticketing_event_store::migrations`), and the two ways a command opens
//! the store:
//!
//! * [`migrate_store`] applies what is pending: `ticketing migrate`, and
//!   `demo`, which sets up a sample database from nothing;
//! * [`open_store`], for everything else (`serve`, `users`, …): embedded
//!   SQLite migrates itself; on Postgres, where many processes of several
//!   roles share the database, a schema older than this binary stops the
//!   command with a message naming `ticketing migrate`, so a deployment
//!   upgrades its schema once, on purpose, before its roles.

use futures::future::BoxFuture;
use sqlx::AnyConnection;
use ticketing_event_store::migrations::{self, Context, Migration, MigrationStatus};
use ticketing_event_store::{Backend, Store, Upcasters};

/// The simulated payment provider's tables (`bc_payment`); the provider
/// knows nothing of the event store, so its context is declared here.
pub static PAYMENT: Context = Context {
    name: "payment",
    migrations: &[Migration {
        version: 1,
        description: "baseline: simulated provider's charges and refunds",
        run: payment_baseline,
    }],
};

fn payment_baseline(
    conn: &mut AnyConnection,
    backend: Backend,
) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(ticketing_payment::migrate_on(
        conn,
        backend == Backend::Postgres,
    ))
}

/// Every context, in the order their migrations apply.
pub fn contexts() -> [&'static Context; 6] {
    [
        &ticketing_event_store::EVENT_STORE,
        &ticketing_projections::READ_MODELS,
        &ticketing_identity::IDENTITY,
        &PAYMENT,
        &ticketing_fulfillment::FULFILLMENT,
        &ticketing_notification::NOTIFICATION,
    ]
}

/// Connects with pools of `max_connections`, reading every event in
/// today's version (the aggregates' upcasting rules); changes nothing.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
    Ok(Store::connect_with(url, max_connections)
        .await?
        .with_upcasters(upcasters()))
}

/// The aggregates' upcasting rules, as every store of the binary applies
/// them.
pub fn upcasters() -> Upcasters {
    Upcasters::new(ticketing_aggregates::upcast::upcasters())
}

/// Connects and applies every pending migration; returns what it applied.
pub async fn migrate_store(url: &str) -> anyhow::Result<(Store, Vec<MigrationStatus>)> {
    let store = connect(
        url,
        ticketing_event_store::postgres::DEFAULT_MAX_CONNECTIONS,
    )
    .await?;
    let applied = migrations::apply(store.read_pool(), store.backend(), &contexts()).await?;
    Ok((store, applied))
}

/// Connects; migrates embedded SQLite, and on Postgres refuses a schema
/// older than this binary (see the module doc).
pub async fn open_store(url: &str) -> anyhow::Result<Store> {
    open_store_with(
        url,
        ticketing_event_store::postgres::DEFAULT_MAX_CONNECTIONS,
    )
    .await
}

/// [`open_store`] with pools of `max_connections` (`--db-max-connections`).
pub async fn open_store_with(url: &str, max_connections: u32) -> anyhow::Result<Store> {
    let store = connect(url, max_connections).await?;
    match store.backend() {
        Backend::Sqlite => {
            migrations::apply(store.read_pool(), store.backend(), &contexts()).await?;
        }
        Backend::Postgres => migrations::check(store.read_pool(), &contexts()).await?,
    }
    Ok(store)
}

/// `ticketing migrate [--status]`.
pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    if args.check_config {
        let url = args.db.checked_url()?;
        let known: usize = contexts().iter().map(|c| c.migrations.len()).sum();
        println!(
            "config ok: migrate {} to the {known} migrations of this binary",
            crate::config::redact_url(&url)
        );
        return Ok(());
    }
    let url = args.db.url()?;
    if args.status {
        let store = Store::connect(&url).await?;
        let all = migrations::status(store.read_pool(), &contexts()).await?;
        println!(
            "{:<14} {:>7}  {:<24} description",
            "context", "version", "applied"
        );
        for m in &all {
            let applied = m.applied_at.map_or("pending".to_owned(), |at| {
                chrono::DateTime::from_timestamp_millis(at).map_or(at.to_string(), |t| {
                    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
                })
            });
            println!(
                "{:<14} {:>7}  {:<24} {}",
                m.context, m.version, applied, m.description
            );
        }
        let pending = all.iter().filter(|m| m.applied_at.is_none()).count();
        println!("{pending} pending");
        return Ok(());
    }
    let (_, applied) = migrate_store(&url).await?;
    if applied.is_empty() {
        println!("schema is current: nothing to apply");
    }
    for m in &applied {
        println!("applied {} v{}: {}", m.context, m.version, m.description);
    }
    Ok(())
}

/// `ticketing migrate`'s arguments.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub db: crate::config::DatabaseArgs,
    /// List every migration, applied or pending, and change nothing.
    #[arg(long)]
    pub status: bool,
    /// Check the flags and environment, print a one-line summary and exit,
    /// connecting to nothing.
    #[arg(long, conflicts_with = "status")]
    pub check_config: bool,
}
