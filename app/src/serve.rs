//! `ticketing serve`: the flags and environment made into [`Settings`],
//! every rule a start enforces checked before anything is connected
//! ([`validate`]), then the engine run until a shutdown signal.
//!
//! `serve --check-config` stops after the checks: it prints a one-line
//! summary and exits 0, or exits non-zero with the reason, having opened no
//! connection, port or file. A deployment runs it before a rollout, and
//! `app/tests/compose.rs` runs it for every service of docker-compose.yml.

use std::sync::Arc;

use ticketing_commands::EngineConfig;
use ticketing_notification::{OutboxMailer, SenderConfig, SmtpMailer};

use crate::application::Role;
use crate::cli::ServeArgs;
use crate::config::{redact_url, JwtSecret};
use crate::workers::{MailSettings, TicketKeys};
use crate::{shutdown_signal, Application, Settings};

/// Runs `serve`, or only checks it (`--check-config`).
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let secret = args.db.serving_jwt_secret_source()?;
    if args.check_config {
        let url = args.db.checked_url()?;
        // A made-up secret is only read (or made) at a real start; its
        // bytes play no part in the checks.
        let jwt_secret = match &secret {
            JwtSecret::Configured(bytes) => bytes.clone(),
            JwtSecret::File(_) => Vec::new(),
        };
        let settings = settings(args, url, jwt_secret)?;
        validate(&settings)?;
        println!("{}", summary(&settings, &secret));
        return Ok(());
    }
    let url = args.db.url()?;
    let settings = settings(args, url, secret.load()?)?;
    // Validates first, as above.
    let app = Application::build(settings).await?;
    app.run_until_stopped(shutdown_signal()).await
}

/// The settings the flags describe, on `database_url`, signing tokens with
/// `jwt_secret`.
fn settings(
    args: ServeArgs,
    database_url: String,
    jwt_secret: Vec<u8>,
) -> anyhow::Result<Settings> {
    let payment_provider = args.payment_provider()?;
    let limits = args.limits();
    Ok(Settings {
        database_url,
        db_max_connections: args.db_max_connections,
        grpc_addr: args.grpc_addr,
        role: args.role,
        jwt_secret,
        token_ttl: args.token_ttl,
        engine: EngineConfig {
            hold_ttl: args.hold_ttl,
            max_seats_per_reservation: usize::from(args.max_seats),
            max_held_seats: args.max_held_seats,
            ..EngineConfig::default()
        },
        clock: Arc::new(ticketing_aggregates::SystemClock),
        expirer_interval: args.expirer_interval,
        resume_checkouts_after: args.resume_checkouts_after,
        admin_addr: Some(args.admin_addr),
        http_addr: args.http_addr.0,
        cors_origins: ticketing_http::Origins::parse(&args.cors_origin)
            .map_err(anyhow::Error::msg)?,
        kafka: args.kafka(),
        seat_locks: args.seat_locks(),
        ticket_keys: TicketKeys::configured(&args.db.data_dir, args.ticket_key_file.as_deref()),
        mail: MailSettings {
            smtp_url: args.smtp_url,
            from: args.mail_from,
            outbox: args.db.data_dir.join("outbox"),
            sender: SenderConfig::default(),
        },
        payment_provider,
        limits,
        read_your_writes_wait: args.read_your_writes_wait,
        projection_delay: std::time::Duration::ZERO,
        projector_shard: args.shard,
    })
}

/// What a start refuses before it connects to anything: a relay without
/// Kafka, librdkafka options it does not know, a Redis URL that does not
/// parse, a malformed ticket-signing seed, an SMTP URL or sender it cannot
/// use. Each part is checked only where the role uses it, as the start
/// would.
pub fn validate(settings: &Settings) -> anyhow::Result<()> {
    let role = settings.role;
    if role == Role::Relay && settings.kafka.is_none() {
        anyhow::bail!("--role relay needs --kafka-brokers (or TICKETING_KAFKA_BROKERS)");
    }
    if let Some(cluster) = &settings.kafka {
        cluster
            .client("ticketing-check")
            .create_native_config()
            .map_err(|e| anyhow::anyhow!("--kafka-option: {e}"))?;
    }
    if let (Some(locks), Role::All | Role::Gateway) = (&settings.seat_locks, role) {
        // Connects lazily: this only parses the URL.
        ticketing_locks::RedisSeatLocks::new(locks.clone())
            .map_err(|e| anyhow::anyhow!("--redis-url: {e}"))?;
    }
    if matches!(role, Role::All | Role::Fulfillment) {
        settings.ticket_keys.check()?;
    }
    if matches!(role, Role::All | Role::Notifier) {
        let mail = &settings.mail;
        match &mail.smtp_url {
            Some(url) => {
                SmtpMailer::from_url_with_timeout(url, &mail.from, mail.sender.send_timeout)?;
            }
            None => {
                OutboxMailer::new(&mail.outbox, &mail.from)?;
            }
        }
    }
    Ok(())
}

/// One line: what this process would run, where, with what; no secret.
fn summary(settings: &Settings, secret: &JwtSecret) -> String {
    let role = settings.role;
    let mut parts = vec![format!(
        "config ok: serve --role {} on {}",
        value_name(role),
        redact_url(&settings.database_url)
    )];
    if matches!(role, Role::All | Role::Gateway) {
        let http = settings
            .http_addr
            .map_or("none".to_owned(), |addr| addr.to_string());
        parts.push(format!("gRPC {}, HTTP {http}", settings.grpc_addr));
        parts.push(match &settings.seat_locks {
            Some(locks) => format!("seat locks {}", redact_url(&locks.url)),
            None => "seat locks in process only".to_owned(),
        });
    }
    if let Some(admin) = settings.admin_addr {
        parts.push(format!("admin {admin}"));
    }
    parts.push(format!("pool {}", settings.db_max_connections));
    parts.push(format!(
        "payments {}",
        value_name(settings.payment_provider)
    ));
    parts.push(format!(
        "kafka {}",
        settings
            .kafka
            .as_ref()
            .map_or("none (workers read the log in process)", |k| &k.brokers)
    ));
    if matches!(role, Role::All | Role::Fulfillment) {
        parts.push(format!("ticket keys {}", settings.ticket_keys.describe()));
    }
    if matches!(role, Role::All | Role::Notifier) {
        parts.push(match &settings.mail.smtp_url {
            Some(url) => format!("mail {}", redact_url(url)),
            None => format!("mail to {}", settings.mail.outbox.display()),
        });
    }
    parts.push(format!("JWT secret {secret:?}"));
    parts.join("; ")
}

/// A role's or provider's name as the command line spells it.
fn value_name(value: impl clap::ValueEnum) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |value| value.get_name().to_owned())
}
