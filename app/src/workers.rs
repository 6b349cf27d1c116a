//! The fulfillment and notifier roles: each worker is a handler of
//! integration events, fed in process (a checkpointed reader of the global
//! feed, as `--role all` and the embedded default run it) or by Kafka (a
//! consumer group, when the role runs on its own with `--kafka-brokers`).
//!
//! Identity answers both workers' questions about a customer — the name a
//! ticket prints, the address the email goes to — through
//! [`CustomerDirectory`].

use std::path::PathBuf;

use ticketing_aggregates::UserRef;
use ticketing_bus::{Handler, KafkaConsumer, KafkaConsumerConfig};
use ticketing_event_store::Store;
use ticketing_fulfillment::{publish_keys, Fulfillment, Holders, KeyRing, RingSigner};
use ticketing_identity::{Identity, UserId};
use ticketing_notification::{
    Deliveries, MailError, Mailer, Notifier, OutboxMailer, OutgoingMail, Recipient, Recipients,
    Sender, SenderConfig, SmtpMailer, TicketMail,
};
use ticketing_relay::{Deliver, Relay};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::application::{engine, identity, Role, Settings};

/// Feed events an in-process worker reads per batch.
const WORKER_BATCH: usize = 2048;

/// Where mail goes.
#[derive(Clone)]
pub struct MailSettings {
    /// `smtp://…`; `None`: `.eml` files in `outbox`.
    pub smtp_url: Option<String>,
    /// The sender, e.g. `Tickets <tickets@example.com>`.
    pub from: String,
    pub outbox: PathBuf,
    pub sender: SenderConfig,
}

/// Where the ticket-signing key comes from.
#[derive(Clone)]
pub enum TicketKeys {
    /// A key ring file, created with a fresh key on first start.
    File(PathBuf),
    /// One key given by configuration (its 32-byte seed).
    Seed(String),
}

impl TicketKeys {
    /// `TICKETING_TICKET_SIGNING_KEY` when set (the secret is never
    /// logged), else `file`, else `<data_dir>/ticket-keys.json`.
    pub fn configured(data_dir: &std::path::Path, file: Option<&std::path::Path>) -> Self {
        match std::env::var("TICKETING_TICKET_SIGNING_KEY") {
            Ok(seed) if !seed.is_empty() => TicketKeys::Seed(seed),
            _ => TicketKeys::File(
                file.map_or_else(|| data_dir.join("ticket-keys.json"), PathBuf::from),
            ),
        }
    }

    /// Refuses a malformed configured seed, as [`TicketKeys::load`] would,
    /// without touching the disk (a key ring file is read, or made, at
    /// start).
    pub fn check(&self) -> anyhow::Result<()> {
        if let TicketKeys::Seed(seed) = self {
            KeyRing::from_seed(seed)?;
        }
        Ok(())
    }

    /// Where the key comes from, never the key.
    pub fn describe(&self) -> String {
        match self {
            TicketKeys::File(path) => path.display().to_string(),
            TicketKeys::Seed(_) => "TICKETING_TICKET_SIGNING_KEY".to_owned(),
        }
    }

    pub fn load(&self) -> anyhow::Result<KeyRing> {
        Ok(match self {
            TicketKeys::File(path) => KeyRing::load_or_create(path)?,
            TicketKeys::Seed(seed) => KeyRing::from_seed(seed)?,
        })
    }
}

/// Customers as identity knows them.
#[derive(Clone)]
pub struct CustomerDirectory(pub Identity);

impl CustomerDirectory {
    async fn user(&self, customer: &UserRef) -> Result<Option<ticketing_identity::User>, String> {
        let Ok(id) = UserId::parse(customer.as_str()) else {
            return Ok(None);
        };
        self.0.user(&id).await.map_err(|e| e.to_string())
    }
}

impl Holders for CustomerDirectory {
    async fn holder_name(&self, customer: &UserRef) -> Result<Option<String>, String> {
        Ok(self
            .user(customer)
            .await?
            .map(|user| user.display_name.as_str().to_owned()))
    }
}

impl Recipients for CustomerDirectory {
    async fn recipient(&self, customer: &UserRef) -> Result<Option<Recipient>, String> {
        Ok(self.user(customer).await?.map(|user| Recipient {
            address: user.email.as_str().to_owned(),
            name: user.display_name.as_str().to_owned(),
        }))
    }
}

/// Runs `handler` fed by Kafka when this process runs its role alone and
/// brokers are configured, else in process from the feed.
async fn consume<H: Handler>(
    tasks: &mut JoinSet<()>,
    store: &Store,
    settings: &Settings,
    stopped: &watch::Receiver<bool>,
    handler: H,
) -> anyhow::Result<()> {
    match (&settings.kafka, settings.role) {
        (Some(cluster), Role::Fulfillment | Role::Notifier) => {
            let mut config = KafkaConsumerConfig::new(cluster.clone());
            config.group_prefix = format!("{}ticketing-", cluster.topic_prefix);
            let consumer = KafkaConsumer::new(&config, handler).await?;
            tasks.spawn(consumer.run(stopped.clone()));
        }
        _ => {
            let checkpoint = Deliver::<H>::checkpoint(handler.name());
            // Large batches: a worker takes one topic in twenty events of
            // the feed, and each batch costs a checkpoint round.
            let relay = Relay::new(store.clone(), Deliver::new(handler, stopped.clone()))
                .with_checkpoint(checkpoint)
                .with_batch_size(WORKER_BATCH);
            tasks.spawn(relay.run(stopped.clone()));
        }
    }
    Ok(())
}

/// The ticket worker; publishes the ring's verifying keys first, so every
/// gateway can check the tickets it signs.
pub async fn spawn_fulfillment(
    tasks: &mut JoinSet<()>,
    store: &Store,
    settings: &Settings,
    stopped: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let ring = settings.ticket_keys.load()?;
    publish_keys(store.read_pool(), store.backend(), &ring).await?;
    tracing::info!(kid = ring.active_kid(), "signing tickets");
    let directory = CustomerDirectory(identity(
        store,
        settings.jwt_secret.clone(),
        settings.token_ttl,
    )?);
    let worker = Fulfillment::new(engine(store, settings), RingSigner::new(ring), directory);
    consume(tasks, store, settings, stopped, worker).await
}

/// The mail worker: the `ticket-issued` intake and the sender.
pub async fn spawn_notifier(
    tasks: &mut JoinSet<()>,
    store: &Store,
    settings: &Settings,
    stopped: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mail = &settings.mail;
    let deliveries = Deliveries::new(store.read_pool().clone(), store.backend());
    let directory = CustomerDirectory(identity(
        store,
        settings.jwt_secret.clone(),
        settings.token_ttl,
    )?);
    let composer = TicketMail::new(directory);
    let start = |mailer| {
        let sender = Sender::new(deliveries.clone(), mailer, composer, mail.sender.clone());
        let wake = sender.wake_handle();
        tasks.spawn(sender.run(stopped.clone()));
        wake
    };
    let wake = match &mail.smtp_url {
        Some(url) => {
            let mailer =
                SmtpMailer::from_url_with_timeout(url, &mail.from, mail.sender.send_timeout)?;
            tracing::info!(smtp = %mailer, "mailing tickets by SMTP");
            start(Mail::Smtp(mailer))
        }
        None => {
            let mailer = OutboxMailer::new(&mail.outbox, &mail.from)?;
            tracing::info!(outbox = %mail.outbox.display(), "writing ticket emails to the outbox");
            start(Mail::Outbox(mailer))
        }
    };
    consume(
        tasks,
        store,
        settings,
        stopped,
        Notifier::new(deliveries, wake),
    )
    .await
}

/// The configured mailer, either adapter.
enum Mail {
    Smtp(SmtpMailer),
    Outbox(OutboxMailer),
}

impl Mailer for Mail {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        match self {
            Mail::Smtp(mailer) => mailer.send(mail).await,
            Mail::Outbox(mailer) => mailer.send(mail).await,
        }
    }
}
