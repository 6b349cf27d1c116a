//! One purchase against two deployments of the engine — `--role all` in
//! one process, and every role a process of its own with the workers fed
//! by Kafka — and the outcome both must give.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ticketing_event_store::{FeedPosition, Store};
use ticketing_fulfillment::testing::page_qr_payloads;
use ticketing_fulfillment::{published_keys, verify_claim, Verifier};
use ticketing_proto::v1::fulfillment_service_client::FulfillmentServiceClient;
use ticketing_proto::v1::{CheckInRequest, CheckInResult};
use ticketing_tests::{authed, database_url, emails_in, Backend};

use super::checkpoint;
use super::support::journey::{email_pdf, wait_for_emails};
use super::support::processes::{cli, launch_role, Process};
use super::support::{start_serving, Server};
use ticketing_bus::testing::{free_port, kafka_brokers, OwnBroker};

/// An engine deployment under test: its gateway, where its mail goes, its
/// processes (killed on drop, also when the test panics) and data dirs.
struct Deployment {
    gateway: Server,
    outbox: PathBuf,
    _processes: Vec<Process>,
    dirs: Vec<tempfile::TempDir>,
}

/// `--role all` in one process, the workers reading the log in process.
async fn role_all(url: &str) -> Deployment {
    let dir = tempfile::tempdir().expect("data dir");
    Deployment {
        gateway: start_serving(url, dir.path(), &[], &[]).await,
        outbox: dir.path().join("outbox"),
        _processes: Vec::new(),
        dirs: vec![dir],
    }
}

/// Every role its own process, started at once as an orchestrator would
/// (after `ticketing migrate`), the workers in a Kafka consumer group each,
/// on topics of this run's own at `brokers` (a single broker: one replica),
/// with `options` (more Kafka flags). Data dirs: 0 projector, expirer and
/// relay; 1 fulfillment (the key file); 2 notifier (the outbox); 3 gateway.
async fn kafka_roles(url: &str, brokers: &str, options: &[&str]) -> Deployment {
    let prefix = format!("t{}.", ulid::Ulid::new().to_string().to_lowercase());
    let mut kafka = vec![
        "--kafka-brokers",
        brokers,
        "--kafka-topic-prefix",
        &prefix,
        "--kafka-replication-factor",
        "1",
        "--kafka-partitions",
        "2",
    ];
    kafka.extend_from_slice(options);
    let dirs: Vec<_> = (0..4)
        .map(|_| tempfile::tempdir().expect("data dir"))
        .collect();
    let dir = |i: usize| dirs[i].path();
    // Roles refuse an unmigrated Postgres schema: migrate first, as
    // compose's `migrate` service does.
    let migrated = cli(url, dir(0), &["migrate"]);
    assert!(migrated.status.success(), "{migrated:?}");
    let mut processes = vec![
        launch_role(url, dir(0), "projector", &[]),
        launch_role(url, dir(0), "expirer", &[]),
        launch_role(url, dir(0), "relay", &kafka),
        launch_role(url, dir(1), "fulfillment", &kafka),
        launch_role(url, dir(2), "notifier", &kafka),
    ];
    let gateway = start_serving(url, dir(3), &["--role", "gateway"], &[]).await;
    for process in &mut processes {
        process.until_up().await;
    }
    // Each role's readiness says what it runs: the projector its lag, the
    // relay its backlog, the expirer only that it reaches the store.
    let ready = |i: usize| processes[i].readyz();
    assert!(ready(0).starts_with("HTTP/1.1 200"), "{}", ready(0));
    assert!(ready(0).contains("seat_map is "), "{}", ready(0));
    assert!(ready(1).ends_with(" ready"), "{}", ready(1));
    assert!(ready(2).contains("relay is "), "{}", ready(2));
    Deployment {
        gateway,
        outbox: dir(2).join("outbox"),
        _processes: processes,
        dirs,
    }
}

/// Three buyers pay for 1, 2 and 3 seats: each order gets a ticket per
/// seat whose payload verifies with the published keys and is admitted at
/// the door once, and its buyer one email whose PDF carries those tickets.
async fn purchase_gives_tickets_and_emails(url: &str, deployment: &Deployment) {
    let server = &deployment.gateway;
    let scratch = tempfile::tempdir().expect("dir");
    let (show_id, organizer) = server.published_show_by(url, scratch.path(), 6).await;
    let orders: [&[&str]; 3] = [&["A-1"], &["A-2", "A-3"], &["A-4", "A-5", "A-6"]];
    let mut bought = Vec::new();
    for (i, labels) in orders.into_iter().enumerate() {
        let name = format!("Buyer {i}");
        let customer = server.customer_named(&name).await;
        let order = server.buy(&customer.token, &show_id, labels).await;
        bought.push((name, customer, order.order_id, labels));
    }
    let store = Store::connect(url).await.expect("store");
    let mut door = FulfillmentServiceClient::new(server.channel.clone());
    let mut issued = BTreeMap::new();
    for (name, customer, order_id, labels) in &bought {
        let tickets = server
            .wait_for_tickets(&customer.token, order_id, labels.len())
            .await;
        let mut seats: Vec<&str> = tickets.iter().map(|t| t.seat_label.as_str()).collect();
        seats.sort();
        assert_eq!(seats, *labels, "a ticket per seat");
        let keys = published_keys(store.read_pool(), store.backend())
            .await
            .expect("keys");
        let verifier =
            Verifier::from_raw(keys.into_iter().map(|k| (k.kid, k.raw))).expect("verifier");
        for ticket in &tickets {
            let claim = verify_claim(&verifier, &ticket.qr_payload).expect("it verifies");
            assert_eq!(claim.ticket_id().as_str(), ticket.ticket_id);
            assert_eq!(claim.show_id().as_str(), show_id);
            assert_eq!(claim.seat_label().as_str(), ticket.seat_label);
            assert_eq!(ticket.holder_name, *name);
            let scan = CheckInRequest {
                qr_payload: ticket.qr_payload.clone(),
                show_id: show_id.clone(),
            };
            let result = door
                .check_in(authed(&organizer, scan))
                .await
                .expect("check in")
                .into_inner()
                .result;
            assert_eq!(result, CheckInResult::Admitted as i32, "{ticket:?}");
        }
        let mut payloads: Vec<String> = tickets.into_iter().map(|t| t.qr_payload).collect();
        payloads.sort();
        issued.insert(customer.email.clone(), payloads);
    }
    let again = CheckInRequest {
        qr_payload: issued.values().next().expect("tickets")[0].clone(),
        show_id: show_id.clone(),
    };
    let result = door.check_in(authed(&organizer, again)).await;
    let result = result.expect("check in").into_inner().result;
    assert_eq!(result, CheckInResult::AlreadyUsed as i32, "admitted once");

    let mut mailed = BTreeMap::new();
    for eml in wait_for_emails(&deployment.outbox, bought.len()).await {
        let (to, pdf) = email_pdf(&eml);
        let mut scanned = page_qr_payloads(&pdf);
        scanned.sort();
        assert!(mailed.insert(to, scanned).is_none(), "one email per buyer");
    }
    assert_eq!(mailed, issued, "each buyer is mailed the order's tickets");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        emails_in(&deployment.outbox).len(),
        bought.len(),
        "no more mail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_all_in_one_process() {
    let url = database_url(Backend::Postgres).await;
    let deployment = role_all(&url).await;
    purchase_gives_tickets_and_emails(&url, &deployment).await;
    let store = Store::connect(&url).await.expect("store");
    for worker in ["worker:fulfillment", "worker:notifier"] {
        assert!(
            checkpoint(&store, worker).await > FeedPosition::START,
            "{worker} read the log"
        );
    }
}

/// The workers never read the log: their feed checkpoints did not move.
async fn assert_fed_by_kafka(url: &str) {
    let store = Store::connect(url).await.expect("store");
    for worker in ["worker:fulfillment", "worker:notifier"] {
        assert_eq!(
            checkpoint(&store, worker).await,
            FeedPosition::START,
            "{worker} was fed by Kafka, not the log"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_roles_as_separate_processes() {
    let url = database_url(Backend::Postgres).await;
    let deployment = kafka_roles(&url, &kafka_brokers(), &[]).await;
    purchase_gives_tickets_and_emails(&url, &deployment).await;
    assert_fed_by_kafka(&url).await;
    for i in [0, 2, 3] {
        let keys = deployment.dirs[i].path().join("ticket-keys.json");
        assert!(!keys.exists(), "only the fulfillment role holds the key");
    }
}

/// The same roles against a broker that requires SASL: the relay publishes
/// and the fulfillment and notifier processes consume with SASL/PLAIN
/// credentials passed through `--kafka-option`. (The test broker checks
/// that PLAIN credentials are given, not what they are; SCRAM and TLS are
/// checked only as client configuration, in relay/tests/security.rs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_roles_over_sasl_plain() {
    let url = database_url(Backend::Postgres).await;
    let port = free_port();
    let broker = OwnBroker::start(port, port, true);
    let brokers = broker.brokers();
    let sasl = [
        "--kafka-option",
        "security.protocol=SASL_PLAINTEXT;sasl.mechanism=PLAIN",
        "--kafka-option",
        "sasl.username=ticketing",
        "--kafka-option",
        "sasl.password=relay-secret",
    ];
    let deployment = kafka_roles(&url, &brokers, &sasl).await;
    purchase_gives_tickets_and_emails(&url, &deployment).await;
    assert_fed_by_kafka(&url).await;
}
