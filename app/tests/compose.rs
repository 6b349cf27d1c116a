//! docker-compose.yml is a stack that starts with no editing (Docker itself
//! does not run here, so this is what can be proven without it):
//!
//! * every service that runs the engine's image passes the real binary's
//!   `--check-config` with its own command and environment, the secrets
//!   taken from .env.example as `cp .env.example .env` would;
//! * every role of `ticketing serve --role` has its service;
//! * every `${VAR}` of the file is set by .env.example;
//! * each long-running engine service's healthcheck probes the admin port
//!   its own settings bind, and every `service_healthy` dependency has a
//!   healthcheck to wait for;
//! * `--check-config` refuses what a start refuses (a missing or short JWT
//!   secret, no payment provider on Postgres, a relay without Kafka, a bad
//!   signing key, SMTP URL, Redis URL or librdkafka option, a database URL
//!   of another kind), and connects to nothing: the compose hosts do not resolve here,
//!   and in embedded mode it leaves no data dir or secret behind.

#[path = "compose/stack.rs"]
mod stack;

use stack::{engine_services, env_example, interpolate, Compose, Service};
use std::process::{Command, Output};

/// Runs `ticketing <args> --check-config` with exactly `env`, in an empty
/// directory.
fn check(args: &[String], env: &[(String, String)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    Command::new(env!("CARGO_BIN_EXE_ticketing"))
        .args(args)
        .arg("--check-config")
        .env_clear()
        .envs(env.iter().cloned())
        .current_dir(dir.path())
        .output()
        .expect("run ticketing")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The service's check, after `change` edits its environment and
/// arguments; asserts it fails and returns its stderr.
fn refused(
    service: &Service,
    change: impl FnOnce(&mut Vec<(String, String)>, &mut Vec<String>),
) -> String {
    let mut env = service.environment.clone();
    let mut args = service.args.clone();
    change(&mut env, &mut args);
    let output = check(&args, &env);
    assert!(
        !output.status.success(),
        "{}: accepted {args:?} with {env:?}",
        service.name
    );
    text(&output.stderr)
}

#[test]
fn every_engine_service_passes_its_own_check() {
    let compose = Compose::load();
    let services = engine_services(&compose);
    assert!(services.len() >= 7, "engine services: {services:?}");
    for service in &services {
        let output = check(&service.args, &service.environment);
        let stdout = text(&output.stdout);
        assert!(
            output.status.success(),
            "{}: {:?} failed: {}",
            service.name,
            service.args,
            text(&output.stderr)
        );
        assert_eq!(stdout.lines().count(), 1, "{}: {stdout}", service.name);
        assert!(
            stdout.starts_with("config ok: "),
            "{}: {stdout}",
            service.name
        );
        if let Some(role) = service.role() {
            assert!(
                stdout.contains(&format!("--role {role} on postgres://")),
                "{stdout}"
            );
        }
        for (name, secret) in env_example() {
            assert!(
                !stdout.contains(&secret),
                "{}: {name} printed: {stdout}",
                service.name
            );
        }
    }
}

#[test]
fn every_role_has_a_service_and_migrate_runs_once_before_them() {
    // clap lists a flag's values when it refuses one.
    let refusal = Command::new(env!("CARGO_BIN_EXE_ticketing"))
        .args(["serve", "--role", "?"])
        .output()
        .expect("serve --role ?");
    let refusal = text(&refusal.stderr);
    let roles: Vec<&str> = refusal
        .split("[possible values: ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("no role list in: {refusal}"))
        .split(", ")
        .filter(|role| *role != "all")
        .collect();
    assert!(roles.contains(&"notifier"), "{roles:?}");
    let services = engine_services(&Compose::load());
    for role in roles {
        assert!(
            services.iter().any(|s| s.role() == Some(role)),
            "no service runs --role {role}"
        );
    }
    let migrate = services
        .iter()
        .find(|s| s.args.first().map(String::as_str) == Some("migrate"))
        .expect("a migrate service");
    for service in services.iter().filter(|s| s.role().is_some()) {
        assert_eq!(
            service.depends_on.get("migrate").map(String::as_str),
            Some("service_completed_successfully"),
            "{} must wait for the schema",
            service.name
        );
    }
    assert_eq!(
        migrate.restart.as_deref(),
        Some("no"),
        "migrate is one-shot"
    );
}

#[test]
fn the_example_env_sets_every_variable_the_file_uses() {
    let vars = env_example();
    for needed in ["TICKETING_JWT_SECRET", "POSTGRES_PASSWORD"] {
        assert!(vars.contains_key(needed), ".env.example lacks {needed}");
    }
    assert!(vars["TICKETING_JWT_SECRET"].len() >= 32);
    let raw = stack::read("docker-compose.yml");
    if let Err(error) = interpolate(&raw, &vars) {
        panic!("docker-compose.yml with .env.example: {error}");
    }
}

#[test]
fn healthchecks_probe_each_services_own_admin_port() {
    let compose = Compose::load();
    for service in engine_services(&compose) {
        let probe = compose.healthcheck(&service.name);
        if service.role().is_none() {
            assert_eq!(
                probe, None,
                "{}: a one-shot has no healthcheck",
                service.name
            );
            continue;
        }
        let admin = service
            .setting("--admin-addr", "TICKETING_ADMIN_ADDR")
            .unwrap_or_else(|| panic!("{}: no admin address", service.name));
        let port = admin.strip_prefix("0.0.0.0:").unwrap_or_else(|| {
            panic!(
                "{}: admin {admin} unreachable from the network",
                service.name
            )
        });
        let url = format!("http://127.0.0.1:{port}/readyz");
        assert_eq!(
            probe,
            Some(vec!["CMD".into(), "ticketing".into(), "probe".into(), url]),
            "{}",
            service.name
        );
    }
    for (name, dependency) in compose.healthy_dependencies() {
        assert!(
            compose.healthcheck(&dependency).is_some(),
            "{name} waits for {dependency} to be healthy, which has no healthcheck"
        );
    }
}

#[test]
fn check_config_refuses_what_a_start_refuses() {
    let services = engine_services(&Compose::load());
    let service = |name: &str| {
        services
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} service"))
    };
    let without = |key: &'static str| {
        move |env: &mut Vec<(String, String)>, _: &mut Vec<String>| env.retain(|(k, _)| k != key)
    };
    let with = |key: &'static str, value: &'static str| {
        move |env: &mut Vec<(String, String)>, _: &mut Vec<String>| {
            env.retain(|(k, _)| k != key);
            env.push((key.into(), value.into()));
        }
    };
    let gateway = service("gateway");
    let cases: Vec<(String, &str)> = vec![
        (
            refused(gateway, without("TICKETING_JWT_SECRET")),
            "needs TICKETING_JWT_SECRET",
        ),
        (
            refused(gateway, with("TICKETING_JWT_SECRET", "short")),
            "at least 32 bytes",
        ),
        (
            refused(gateway, with("TICKETING_REDIS_URL", "nonsense")),
            "--redis-url",
        ),
        (
            refused(gateway, without("TICKETING_PAYMENT_PROVIDER")),
            "explicit --payment-provider",
        ),
        (
            refused(gateway, with("TICKETING_DATABASE_URL", "mysql://db/x")),
            "must start with postgres://",
        ),
        (
            refused(service("relay"), without("TICKETING_KAFKA_BROKERS")),
            "needs --kafka-brokers",
        ),
        (
            refused(service("relay"), |_, args| {
                args.extend(["--kafka-option".into(), "no.such.setting=1".into()])
            }),
            "no.such.setting",
        ),
        (
            refused(
                service("fulfillment"),
                with("TICKETING_TICKET_SIGNING_KEY", "not-a-seed"),
            ),
            "seed",
        ),
        (
            refused(service("notifier"), with("TICKETING_SMTP_URL", "nonsense")),
            "SMTP URL",
        ),
        (
            refused(
                service("notifier"),
                with("TICKETING_MAIL_FROM", "not an address"),
            ),
            "sender address",
        ),
        (
            refused(
                service("migrate"),
                with("TICKETING_DATABASE_URL", "mysql://db/x"),
            ),
            "must start with postgres://",
        ),
    ];
    for (stderr, reason) in cases {
        assert!(
            stderr.to_lowercase().contains(&reason.to_lowercase()),
            "expected {reason:?} in: {stderr}"
        );
    }
}

#[test]
fn check_config_writes_nothing_in_embedded_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_ticketing"))
        .args(["serve", "--check-config"])
        .env_clear()
        .current_dir(dir.path())
        .output()
        .expect("run ticketing");
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        stdout.starts_with("config ok: serve --role all on sqlite://./data/"),
        "{stdout}"
    );
    assert!(stdout.contains("JWT secret ./data/jwt-secret"), "{stdout}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the check wrote {left:?}");
}

#[test]
fn kafka_topics_fit_the_brokers_and_gateways_share_the_seat_locks() {
    let compose = Compose::load();
    let brokers = compose.services_of_image("apache/kafka").len();
    assert!(brokers >= 1, "a Kafka broker");
    let redis = compose.services_of_image("redis:");
    for service in engine_services(&compose) {
        if service
            .setting("--kafka-brokers", "TICKETING_KAFKA_BROKERS")
            .is_some()
        {
            let replication = service
                .setting(
                    "--kafka-replication-factor",
                    "TICKETING_KAFKA_REPLICATION_FACTOR",
                )
                .map_or(ticketing_bus::DEFAULT_REPLICATION as usize, |r| {
                    r.parse().expect("a number")
                });
            assert!(
                replication <= brokers,
                "{}: topics of {replication} replicas on {brokers} broker(s) cannot be created",
                service.name
            );
        }
        if service.role() == Some("gateway") {
            let url = service
                .setting("--redis-url", "TICKETING_REDIS_URL")
                .unwrap_or_else(|| panic!("{}: gateways share seat locks", service.name));
            let host = url
                .trim_start_matches("redis://")
                .split([':', '/'])
                .next()
                .unwrap_or_default()
                .to_owned();
            assert!(redis.contains(&host), "{url}: no Redis service {host}");
            assert_eq!(
                service.depends_on.get(&host).map(String::as_str),
                Some("service_healthy"),
                "{} waits for Redis",
                service.name
            );
        }
    }
}
