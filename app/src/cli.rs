//! The command line: `serve`, `migrate`, `users …`. Every command has
//! `--help`; bad flags exit non-zero with a one-line reason (clap).

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::time::Duration;

use crate::application::Role;
use crate::config::{parse_duration, DatabaseArgs};

#[derive(Debug, Parser)]
#[command(
    name = "ticketing",
    version,
    about = "Event-sourced ticketing engine: sells seated tickets, never a seat twice."
)]
pub struct Cli {
    /// Log format on stderr; default: text on a terminal, JSON otherwise
    /// (a file, a pipe, a container's log collector).
    #[arg(long, global = true, env = "TICKETING_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// OTLP/gRPC collector to export trace spans to, e.g. http://127.0.0.1:4317.
    #[arg(long, global = true, env = "TICKETING_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

impl LogFormat {
    /// The format asked for, else text for a person at a terminal and JSON
    /// for a machine.
    pub fn resolve(asked: Option<LogFormat>, stderr_is_terminal: bool) -> LogFormat {
        match (asked, stderr_is_terminal) {
            (Some(format), _) => format,
            (None, true) => LogFormat::Text,
            (None, false) => LogFormat::Json,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the engine (embedded SQLite by default; --database-url postgres://… for production).
    Serve(Box<ServeArgs>),
    /// Apply the pending schema migrations (or list them: --status), then exit.
    Migrate(crate::schema::MigrateArgs),
    /// Manage users.
    #[command(subcommand)]
    Users(crate::users::UsersCommand),
    /// Export, replay and count the event history (for analysts).
    #[command(subcommand)]
    Events(crate::analyst::EventsCommand),
    /// Inspect and rebuild read models.
    #[command(subcommand)]
    Projections(crate::ops::ProjectionsCommand),
    /// Load a sample venue, users and orders (credentials are printed).
    Demo(DatabaseArgs),
    /// A show's seat map now or as it was at an instant (--as-of), from the log.
    Seatmap(crate::seatmap::SeatMapArgs),
    /// Ticket-signing keys: export the public ones, rotate.
    #[command(subcommand)]
    Keys(crate::keys::KeysCommand),
    /// The delivery log of ticket emails: list, retry.
    #[command(subcommand)]
    Notifications(crate::notifications::NotificationsCommand),
    /// GET a local admin URL and exit 0 on a 2xx answer: a container
    /// healthcheck that needs no curl (e.g. http://127.0.0.1:9090/readyz).
    Probe(crate::probe::ProbeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Check the flags and environment as a start would, print a one-line
    /// summary and exit (0, or 1 with the reason), connecting to nothing.
    #[arg(long)]
    pub check_config: bool,
    /// Connections of each of this process's two Postgres pools (events,
    /// read models): a process opens at most twice this plus one. Size it
    /// per role against the server's max_connections (docs/operations.md).
    #[arg(long, env = "TICKETING_DB_MAX_CONNECTIONS", default_value_t = ticketing_event_store::postgres::DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
    /// Address the gRPC gateway listens on.
    #[arg(long, env = "TICKETING_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// How long a hold lasts before its seats are free again.
    #[arg(long, env = "TICKETING_HOLD_TTL", default_value = "30m", value_parser = parse_duration)]
    pub hold_ttl: Duration,
    /// Most seats in one reservation.
    #[arg(long, env = "TICKETING_MAX_SEATS", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub max_seats: u16,
    /// Most seats one customer may hold of a show at once, for shows whose
    /// organizer set no limit of their own (ScheduleShow's
    /// `max_held_seats_per_customer`); 0: no limit.
    #[arg(long, env = "TICKETING_MAX_HELD_SEATS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=i64::from(ticketing_aggregates::MAX_HELD_SEATS)))]
    pub max_held_seats: u32,
    /// How long an access token stays valid.
    #[arg(long, env = "TICKETING_TOKEN_TTL", default_value = "12h", value_parser = parse_duration)]
    pub token_ttl: Duration,
    /// How often the expirer looks for holds past their deadline.
    #[arg(long, env = "TICKETING_EXPIRER_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub expirer_interval: Duration,
    /// How old a checkout must be before the expirer resumes its payment
    /// (settles it from the provider's answer, or voids it); younger ones
    /// may still be finishing in the call that began them.
    #[arg(long, env = "TICKETING_RESUME_CHECKOUTS_AFTER", default_value = "1m", value_parser = parse_duration)]
    pub resume_checkouts_after: Duration,
    /// How long a query waits for the read model to reflect the caller's
    /// write (its consistency token) before answering UNAVAILABLE
    /// READ_MODEL_BEHIND.
    #[arg(long, env = "TICKETING_READ_YOUR_WRITES_WAIT", default_value = "2s", value_parser = parse_duration)]
    pub read_your_writes_wait: Duration,
    /// Which parts of the engine this process runs.
    #[arg(long, env = "TICKETING_ROLE", value_enum, default_value = "all")]
    pub role: Role,
    /// The projector shard this process is, K/N (roles `projector` and
    /// `all`; others ignore it): it keeps the seat maps of the shows whose
    /// hash mod N is K, and shard 0 also the models kept whole (catalog,
    /// reservations, orders). Changing N: docs/operations.md.
    #[arg(
        long,
        env = "TICKETING_PROJECTOR_SHARD",
        default_value = "0/1",
        value_name = "K/N"
    )]
    pub shard: ticketing_projections::Shard,
    /// Address of the HTTP/JSON API (/api/v1) and the web page (/); `none`
    /// serves neither.
    #[arg(long, env = "TICKETING_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: OptionalAddr,
    /// A browser origin allowed to call the HTTP API and grpc-web
    /// (e.g. `https://shop.example.com`; `*` for any); repeat or separate with
    /// commas. Default: none (CORS off).
    #[arg(long, env = "TICKETING_CORS_ORIGIN", value_delimiter = ',')]
    pub cors_origin: Vec<String>,
    /// Longest a gRPC call may take to answer (a stream: to open) before
    /// DEADLINE_EXCEEDED.
    #[arg(long, env = "TICKETING_GRPC_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub grpc_request_timeout: Duration,
    /// gRPC calls in flight in this process; more are refused at once with
    /// RESOURCE_EXHAUSTED and a retry hint.
    #[arg(long, env = "TICKETING_MAX_IN_FLIGHT", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,
    /// Concurrent HTTP/2 streams one gRPC connection may open.
    #[arg(long, env = "TICKETING_GRPC_STREAMS_PER_CONNECTION", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub grpc_streams_per_connection: u32,
    /// How often an idle gRPC connection is pinged; an unanswered ping
    /// closes it after as long again.
    #[arg(long, env = "TICKETING_GRPC_KEEPALIVE", default_value = "20s", value_parser = parse_duration)]
    pub grpc_keepalive: Duration,
    /// gRPC connections are closed gracefully after this long.
    #[arg(long, env = "TICKETING_GRPC_MAX_CONNECTION_AGE", default_value = "30m", value_parser = parse_duration)]
    pub grpc_max_connection_age: Duration,
    /// Largest gRPC request message decoded, in bytes.
    #[arg(long, env = "TICKETING_GRPC_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u32).range(1024..))]
    pub grpc_max_message_bytes: u32,
    /// Seat-map watches (gRPC streams and SSE) open in this process, and
    /// from one peer address; more are refused with RESOURCE_EXHAUSTED.
    #[arg(long, env = "TICKETING_MAX_WATCHES", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_watches: u32,
    #[arg(long, env = "TICKETING_MAX_WATCHES_PER_PEER", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_watches_per_peer: u32,
    /// Who charges customers at checkout. Required on Postgres; embedded
    /// mode defaults to `simulated` (test cards, no money moves) and says so.
    #[arg(long, env = "TICKETING_PAYMENT_PROVIDER", value_enum)]
    pub payment_provider: Option<crate::application::PaymentProvider>,
    /// Address of the admin HTTP port: /metrics, /healthz, /readyz.
    #[arg(long, env = "TICKETING_ADMIN_ADDR", default_value = "127.0.0.1:9090")]
    pub admin_addr: SocketAddr,
    /// Kafka bootstrap brokers (host:port,…): the relay publishes
    /// integration events there, and `--role fulfillment|notifier` consume
    /// them there. Without them (and always in `--role all`) the workers
    /// read the log in process.
    #[arg(long, env = "TICKETING_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// Put before every Kafka topic and consumer group name (e.g. `staging.`),
    /// so several deployments can share one cluster.
    #[arg(long, env = "TICKETING_KAFKA_TOPIC_PREFIX", default_value = "")]
    pub kafka_topic_prefix: String,
    /// Redis for advisory seat locks shared by gateways, e.g.
    /// redis://redis:6379/0: a seat another gateway is deciding on is
    /// refused without a read. Advisory only (the event store decides);
    /// without it each gateway coordinates only its own requests.
    #[arg(long, env = "TICKETING_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// The longest a seat-lock call to Redis may take; past it, the command
    /// goes on without locks.
    #[arg(long, env = "TICKETING_REDIS_TIMEOUT", default_value = "20ms", value_parser = parse_duration)]
    pub redis_timeout: Duration,
    /// A librdkafka setting passed to every Kafka client, `key=value`
    /// (repeatable; `;` also separates several), e.g.
    /// `security.protocol=SASL_SSL`, `sasl.mechanism=SCRAM-SHA-512`,
    /// `sasl.username=…`, `sasl.password=…`, `ssl.ca.location=…`. The
    /// settings of the delivery guarantee (acks, idempotence, offsets,
    /// group) are the engine's and are refused.
    #[arg(long = "kafka-option", env = "TICKETING_KAFKA_OPTIONS", value_delimiter = ';', value_parser = ticketing_bus::parse_kafka_option, hide_env_values = true)]
    pub kafka_options: Vec<(String, String)>,
    /// Partitions of each topic the engine creates (the relay and the
    /// workers create missing topics).
    #[arg(long, env = "TICKETING_KAFKA_PARTITIONS", default_value_t = ticketing_bus::DEFAULT_PARTITIONS, value_parser = clap::value_parser!(i32).range(1..))]
    pub kafka_partitions: i32,
    /// Replication factor of each topic the engine creates; its
    /// `min.insync.replicas` is one less (at most 2). The default fits a
    /// 3-broker cluster; a single broker needs 1.
    #[arg(long, env = "TICKETING_KAFKA_REPLICATION_FACTOR", default_value_t = ticketing_bus::DEFAULT_REPLICATION, value_parser = clap::value_parser!(i32).range(1..))]
    pub kafka_replication_factor: i32,
    /// The ticket-signing key ring file; default `<data-dir>/ticket-keys.json`.
    /// TICKETING_TICKET_SIGNING_KEY (a 32-byte seed) overrides it.
    #[arg(long, env = "TICKETING_TICKET_KEY_FILE")]
    pub ticket_key_file: Option<std::path::PathBuf>,
    /// SMTP server for ticket emails, e.g. smtp://user:pass@mail:587?tls=required;
    /// default: .eml files in `<data-dir>/outbox`.
    #[arg(long, env = "TICKETING_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of ticket emails.
    #[arg(
        long,
        env = "TICKETING_MAIL_FROM",
        default_value = "Tickets <tickets@localhost>"
    )]
    pub mail_from: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum UserRole {
    Customer,
    Organizer,
    Admin,
    /// Reads history (seat maps as they were), changes nothing.
    Analyst,
}

impl From<UserRole> for ticketing_identity::Role {
    fn from(role: UserRole) -> Self {
        match role {
            UserRole::Customer => Self::Customer,
            UserRole::Organizer => Self::Organizer,
            UserRole::Admin => Self::Admin,
            UserRole::Analyst => Self::Analyst,
        }
    }
}

/// A listen address, or `none` for no listener.
#[derive(Debug, Clone, Copy)]
pub struct OptionalAddr(pub Option<SocketAddr>);

impl std::str::FromStr for OptionalAddr {
    type Err = std::net::AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("none") {
            Ok(Self(None))
        } else {
            s.parse().map(|addr| Self(Some(addr)))
        }
    }
}

impl ServeArgs {
    /// The seat locks from the flags, if Redis is given.
    pub fn seat_locks(&self) -> Option<ticketing_locks::SeatLockConfig> {
        let mut config = ticketing_locks::SeatLockConfig::new(self.redis_url.clone()?);
        config.timeout = self.redis_timeout;
        Some(config)
    }

    /// The Kafka cluster from the flags, if brokers are given.
    pub fn kafka(&self) -> Option<ticketing_bus::KafkaCluster> {
        let brokers = self.kafka_brokers.clone()?;
        Some(ticketing_bus::KafkaCluster {
            brokers,
            topic_prefix: self.kafka_topic_prefix.clone(),
            options: self.kafka_options.clone(),
            partitions: self.kafka_partitions,
            replication: self.kafka_replication_factor,
        })
    }

    /// The gRPC server's limits from the flags.
    pub fn limits(&self) -> ticketing_gateway::ServerLimits {
        ticketing_gateway::ServerLimits {
            request_timeout: self.grpc_request_timeout,
            max_in_flight: self.max_in_flight as usize,
            streams_per_connection: self.grpc_streams_per_connection,
            keepalive_interval: self.grpc_keepalive,
            keepalive_timeout: self.grpc_keepalive,
            max_connection_age: self.grpc_max_connection_age,
            max_message_bytes: self.grpc_max_message_bytes as usize,
            max_watches: self.max_watches as usize,
            watches_per_peer: self.max_watches_per_peer as usize,
        }
    }

    /// The payment provider: as chosen, else `simulated` in embedded mode
    /// (said at start), else a start-up error: on Postgres, test cards must
    /// never pay by default.
    pub fn payment_provider(&self) -> anyhow::Result<crate::application::PaymentProvider> {
        use crate::application::PaymentProvider;
        if let Some(provider) = self.payment_provider {
            return Ok(provider);
        }
        let postgres = self
            .db
            .database_url
            .as_deref()
            .is_some_and(|url| url.starts_with("postgres"));
        anyhow::ensure!(
            !postgres,
            "serving on Postgres needs an explicit --payment-provider (or \
             TICKETING_PAYMENT_PROVIDER); `simulated` takes test cards and moves no money"
        );
        tracing::warn!(
            "payments: simulated provider (test cards such as tok_visa pay; no money moves); \
             choose one with --payment-provider"
        );
        Ok(PaymentProvider::Simulated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::PaymentProvider;

    #[test]
    fn logs_are_text_on_a_terminal_and_json_elsewhere_unless_asked() {
        assert_eq!(LogFormat::resolve(None, true), LogFormat::Text);
        assert_eq!(LogFormat::resolve(None, false), LogFormat::Json);
        assert_eq!(
            LogFormat::resolve(Some(LogFormat::Json), true),
            LogFormat::Json
        );
        assert_eq!(
            LogFormat::resolve(Some(LogFormat::Text), false),
            LogFormat::Text
        );
        std::env::remove_var("TICKETING_LOG_FORMAT");
        let parsed = Cli::try_parse_from(["ticketing", "migrate"]).expect("parses");
        assert_eq!(parsed.log_format, None, "no default: decided at start");
    }

    fn serve(args: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from([&["ticketing", "serve"], args].concat()).expect("parses");
        match cli.command {
            Command::Serve(args) => *args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn kafka_flags_make_the_cluster_and_refuse_engine_owned_settings() {
        assert_eq!(serve(&[]).kafka(), None, "no brokers, no Kafka");
        let cluster = serve(&[
            "--kafka-brokers",
            "k1:9092,k2:9092",
            "--kafka-option",
            "security.protocol=SASL_SSL",
            "--kafka-option",
            "sasl.mechanism=SCRAM-SHA-512;sasl.username=relay",
        ])
        .kafka()
        .expect("a cluster");
        assert_eq!(cluster.brokers, "k1:9092,k2:9092");
        let keys: Vec<&str> = cluster.options.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["security.protocol", "sasl.mechanism", "sasl.username"]
        );
        assert_eq!((cluster.partitions, cluster.replication), (6, 3));
        let single = serve(&[
            "--kafka-brokers",
            "k:9092",
            "--kafka-partitions",
            "2",
            "--kafka-replication-factor",
            "1",
        ])
        .kafka()
        .unwrap();
        assert_eq!((single.partitions, single.replication), (2, 1));
        for refused in [
            &["--kafka-option", "acks=1"][..],
            &["--kafka-option", "no-equals-sign"],
            &["--kafka-replication-factor", "0"],
        ] {
            let args = [&["ticketing", "serve"], refused].concat();
            assert!(Cli::try_parse_from(args).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn the_server_limits_default_to_the_documented_values() {
        assert_eq!(
            serve(&[]).limits(),
            ticketing_gateway::ServerLimits::default()
        );
        let limits = serve(&["--max-in-flight", "7", "--grpc-request-timeout", "2s"]).limits();
        assert_eq!(
            (limits.max_in_flight, limits.request_timeout.as_secs()),
            (7, 2)
        );
    }

    #[test]
    fn the_payment_provider_is_explicit_on_postgres() {
        let embedded = serve(&[]);
        assert_eq!(
            embedded.payment_provider().unwrap(),
            PaymentProvider::Simulated
        );
        let postgres = serve(&["--database-url", "postgres://db/ticketing"]);
        let error = postgres.payment_provider().unwrap_err().to_string();
        assert!(error.contains("explicit --payment-provider"), "{error}");
        let chosen = serve(&[
            "--database-url",
            "postgres://db/ticketing",
            "--payment-provider",
            "simulated",
        ]);
        assert_eq!(
            chosen.payment_provider().unwrap(),
            PaymentProvider::Simulated
        );
    }
}
