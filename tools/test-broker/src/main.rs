//! A Kafka-protocol broker for the tests: tansu's broker on its in-memory
//! storage, listening where `--listener-url` says (default
//! `tcp://127.0.0.1:9092`). Its state lives only as long as the process, so
//! a restart is a broker that comes back empty.
//!
//! Flags: `--listener-url URL`, `--advertised-listener-url URL` (default:
//! the listener), `--storage-engine URL` (default `memory://tansu/`),
//! `--authentication` (clients must authenticate with SASL: PLAIN, whose
//! credentials tansu only checks to be present, or SCRAM).

use std::process::ExitCode;

use tansu_broker::{broker::Broker, coordinator::group::administrator::Controller, NODE_ID};
use tansu_storage::StorageContainer;
use tokio::time::Instant;
use url::Url;
use uuid::Uuid;

struct Args {
    listener: Url,
    advertised: Option<Url>,
    storage: Url,
    authentication: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        listener: Url::parse("tcp://127.0.0.1:9092").expect("a valid default"),
        advertised: None,
        storage: Url::parse("memory://tansu/").expect("a valid default"),
        authentication: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut url = |name: &str| -> Result<Url, String> {
            let value = it.next().ok_or_else(|| format!("{name} needs a value"))?;
            Url::parse(&value).map_err(|e| format!("{name} {value}: {e}"))
        };
        match flag.as_str() {
            "--listener-url" => args.listener = url("--listener-url")?,
            "--advertised-listener-url" => args.advertised = Some(url("--advertised-listener-url")?),
            "--storage-engine" => args.storage = url("--storage-engine")?,
            "--authentication" => args.authentication = true,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("ticketing-test-broker: {message}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let advertised = args.advertised.unwrap_or_else(|| args.listener.clone());
    let broker = Broker::<Controller<StorageContainer>, StorageContainer>::builder()
        .node_id(NODE_ID)
        .cluster_id("ticketing-test")
        .incarnation_id(Uuid::now_v7())
        .advertised_listener(advertised)
        .otlp_endpoint_url(None)
        .schema_registry(None)
        .storage(args.storage)
        .listener(args.listener.clone())
        .authentication(args.authentication)
        .tls_server_config(None)
        .silent(true)
        .build()
        .await;
    let broker = match broker {
        Ok(broker) => broker,
        Err(error) => {
            eprintln!("ticketing-test-broker: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("ticketing-test-broker: listening on {}", args.listener);
    match broker.main(started).await {
        Ok(code) if code == tansu_sans_io::ErrorCode::None => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("ticketing-test-broker: stopped with {code:?}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("ticketing-test-broker: {error}");
            ExitCode::FAILURE
        }
    }
}
