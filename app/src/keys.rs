//! `ticketing keys export-public|rotate`: the ticket-signing keys.
//!
//! The key ring lives in a file (default `<data-dir>/ticket-keys.json`,
//! mode 0600) or comes from `TICKETING_TICKET_SIGNING_KEY`. Both commands
//! publish the ring's public keys to the database, where every gateway
//! verifies check-ins from; `export-public` then prints every published key
//! as PEM, so a door scanner can verify tickets offline, tickets signed
//! before a rotation included.

use clap::{Args, Subcommand};
use ticketing_fulfillment::{publish_keys, published_keys, KeyRing, Verifier};

use crate::config::DatabaseArgs;
use crate::schema::open_store;
use crate::workers::TicketKeys;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print every key tickets may be signed with (PEM), active one last.
    ExportPublic(KeyArgs),
    /// Start signing new tickets with a fresh key; older tickets still verify.
    /// Restart the fulfillment role afterwards so it signs with the new key.
    Rotate(KeyArgs),
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// The key ring file; default `<data-dir>/ticket-keys.json`.
    #[arg(long, env = "TICKETING_TICKET_KEY_FILE")]
    pub ticket_key_file: Option<std::path::PathBuf>,
}

impl KeyArgs {
    /// The configured key: the seed in `TICKETING_TICKET_SIGNING_KEY`, else
    /// the key ring file.
    pub fn source(&self) -> TicketKeys {
        TicketKeys::configured(&self.db.data_dir, self.ticket_key_file.as_deref())
    }
}

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    let (args, ring) = match command {
        KeysCommand::ExportPublic(args) => {
            let ring = args.source().load()?;
            (args, ring)
        }
        KeysCommand::Rotate(args) => {
            let TicketKeys::File(path) = args.source() else {
                anyhow::bail!(
                    "the signing key comes from TICKETING_TICKET_SIGNING_KEY: rotate it there \
                     (and keep publishing the old public key) or use a key file"
                );
            };
            let ring = KeyRing::rotate(&path)?;
            eprintln!("new signing key {}", ring.active_kid());
            (args, ring)
        }
    };
    let store = open_store(&args.db.url()?).await?;
    publish_keys(store.read_pool(), store.backend(), &ring).await?;
    let keys = published_keys(store.read_pool(), store.backend()).await?;
    let verifier = Verifier::from_raw(keys.iter().map(|k| (k.kid.clone(), k.raw)))?;
    for key in &keys {
        let status = if key.kid == ring.active_kid() {
            "active"
        } else {
            "previous"
        };
        println!(
            "# kid={} status={status} published={}",
            key.kid,
            key.published_at.to_rfc3339()
        );
        print!("{}", verifier.pem(&key.kid).unwrap_or_default());
    }
    Ok(())
}
