//! The ticket-signing keys and the delivery log through the CLI, around a
//! real `ticketing serve`: the QR codes of the emailed PDF verify with the
//! PEM that `keys export-public` prints, and no payload with a byte changed
//! does; after `keys rotate` and a restart, new tickets carry the new kid,
//! both keys are exported and the first tickets still verify; the key file
//! stays owner-only; `notifications list` shows the email sent; bad input
//! fails in one line. On SQLite and Postgres.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use ticketing_fulfillment::testing::page_qr_payloads;
use ticketing_fulfillment::{verify_claim, Verifier};
use ticketing_tests::{database_url, Backend};

// Shared with other tests; not every helper is used here.
#[allow(dead_code)]
mod support;
use support::journey::{email_pdf, kid_of, wait_for_emails, Customer};
use support::processes::cli;
use support::{start, Server};

/// One key as `keys export-public` prints it.
#[derive(Debug)]
struct Exported {
    kid: String,
    status: String,
    pem: String,
}

fn succeeded(what: &str, output: &Output) -> String {
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8 output")
}

/// Parses `# kid=… status=… published=…` lines, each followed by its PEM.
fn parse_keys(text: &str) -> Vec<Exported> {
    let mut keys: Vec<Exported> = Vec::new();
    for line in text.lines() {
        if let Some(header) = line.strip_prefix("# ") {
            let field = |name: &str| {
                header
                    .split(' ')
                    .find_map(|f| f.strip_prefix(name))
                    .unwrap_or_else(|| panic!("no {name} in {line:?}"))
                    .to_owned()
            };
            keys.push(Exported {
                kid: field("kid="),
                status: field("status="),
                pem: String::new(),
            });
        } else {
            let key = keys.last_mut().expect("a PEM after its header");
            key.pem.push_str(line);
            key.pem.push('\n');
        }
    }
    keys
}

fn export_public(url: &str, dir: &Path) -> Vec<Exported> {
    parse_keys(&succeeded(
        "keys export-public",
        &cli(url, dir, &["keys", "export-public"]),
    ))
}

/// A verifier of exactly the exported PEM documents; each header's kid
/// names its key.
fn verifier(keys: &[Exported]) -> Verifier {
    let verifier = Verifier::from_pem(keys.iter().map(|k| k.pem.as_str())).expect("PEM keys");
    for key in keys {
        assert!(verifier.knows(&key.kid), "{key:?} is the key it names");
    }
    verifier
}

fn key_file_mode(dir: &Path) -> u32 {
    let metadata = std::fs::metadata(dir.join("ticket-keys.json")).expect("the key file");
    metadata.permissions().mode() & 0o777
}

/// Every payload verifies; with a byte flipped in any one of its fields
/// (format, ticket, show, seat, issue time, kid, signature) it does not.
fn assert_verify(verifier: &Verifier, payloads: &[String]) {
    for payload in payloads {
        verify_claim(verifier, payload).expect("the payload verifies");
        let mut start = 0;
        for field in payload.split('.') {
            let at = start + field.len() / 2;
            start += field.len() + 1;
            let mut bytes = payload.clone().into_bytes();
            bytes[at] ^= 0x01;
            let flipped = String::from_utf8(bytes).expect("still ASCII");
            assert!(
                verify_claim(verifier, &flipped).is_err(),
                "byte {at} flipped in {payload:?} still verifies"
            );
        }
    }
}

/// Buys `labels` for `customer`, waits for its email among `emails` in the
/// outbox, and returns the QR payloads scanned from the PDF, checked to be
/// the tickets' own.
async fn buy_and_scan(
    server: &Server,
    dir: &Path,
    show_id: &str,
    customer: &Customer,
    labels: &[&str],
    emails: usize,
) -> (String, Vec<String>) {
    let order = server.buy(&customer.token, show_id, labels).await;
    let tickets = server
        .wait_for_tickets(&customer.token, &order.order_id, labels.len())
        .await;
    let mut issued: Vec<String> = tickets.into_iter().map(|t| t.qr_payload).collect();
    let mine: Vec<Vec<u8>> = wait_for_emails(&dir.join("outbox"), emails)
        .await
        .iter()
        .map(|eml| email_pdf(eml))
        .filter(|(to, _)| *to == customer.email)
        .map(|(_, pdf)| pdf)
        .collect();
    assert_eq!(mine.len(), 1, "one email to the buyer");
    let mut scanned = page_qr_payloads(&mine[0]);
    scanned.sort();
    issued.sort();
    assert_eq!(scanned, issued, "a page per ticket, its QR its payload");
    (order.order_id, scanned)
}

/// Polls `notifications list` until the order's delivery reads `sent`;
/// panics after 30 s. Returns the row's columns.
async fn wait_until_sent(url: &str, dir: &Path, order_id: &str) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listed = succeeded(
            "notifications list",
            &cli(url, dir, &["notifications", "list"]),
        );
        let rows: Vec<Vec<String>> = listed
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .filter(|row: &Vec<String>| row.first().map(String::as_str) == Some(order_id))
            .collect();
        assert!(rows.len() <= 1, "one delivery per order: {listed}");
        if let Some(row) = rows.first().filter(|row| row[1] == "sent") {
            return row.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery of {order_id} never sent: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fails with exit status non-zero, nothing on stdout, and one error line
/// on stderr that contains `reason`.
fn assert_refused(url: &str, dir: &Path, args: &[&str], reason: &str) {
    let output = cli(url, dir, args);
    assert!(!output.status.success(), "{args:?} should fail");
    assert!(output.stdout.is_empty(), "{args:?} printed to stdout");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
    assert!(errors[0].contains(reason), "{args:?}: {stderr}");
}

async fn keys_verify_tickets_across_a_rotation(backend: Backend) {
    let url = database_url(backend).await;
    let data = tempfile::tempdir().expect("data dir");
    let dir = data.path();
    let server = start(&url, dir, "30m").await;
    assert_eq!(key_file_mode(dir), 0o600, "the key file is owner-only");
    let show_id = server.published_show(&url, dir, 4).await;
    let first = server.customer_named("Ann Example").await;
    let (order_id, before) = buy_and_scan(&server, dir, &show_id, &first, &["A-1", "A-2"], 1).await;

    let keys = export_public(&url, dir);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0].status, "active");
    let old_kid = keys[0].kid.clone();
    assert!(before.iter().all(|p| kid_of(p) == old_kid));
    assert_verify(&verifier(&keys), &before);

    let row = wait_until_sent(&url, dir, &order_id).await;
    assert_eq!(row[2], "2/2", "both tickets in the delivery: {row:?}");

    let rotated = cli(&url, dir, &["keys", "rotate"]);
    let printed = parse_keys(&succeeded("keys rotate", &rotated));
    let active: Vec<&Exported> = printed.iter().filter(|k| k.status == "active").collect();
    assert_eq!(active.len(), 1, "one active key: {printed:?}");
    let new_kid = active[0].kid.clone();
    assert_ne!(new_kid, old_kid, "a fresh key");
    assert!(String::from_utf8_lossy(&rotated.stderr).contains(&new_kid));
    assert_eq!(key_file_mode(dir), 0o600, "still owner-only after rotating");
    server.kill();

    let server = start(&url, dir, "30m").await;
    let second = server.customer_named("Bob Example").await;
    let (_, after) = buy_and_scan(&server, dir, &show_id, &second, &["A-3", "A-4"], 2).await;
    assert!(
        after.iter().all(|p| kid_of(p) == new_kid),
        "new tickets are signed with the new key: {after:?}"
    );
    let keys = export_public(&url, dir);
    let statuses: Vec<(&str, &str)> = keys
        .iter()
        .map(|k| (k.kid.as_str(), k.status.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [(old_kid.as_str(), "previous"), (new_kid.as_str(), "active")],
        "both keys, the active one last"
    );
    let both = verifier(&keys);
    assert_verify(&both, &before);
    assert_verify(&both, &after);
    assert_eq!(key_file_mode(dir), 0o600);

    assert_refused(
        &url,
        dir,
        &["notifications", "list", "--status", "bogus"],
        "bogus",
    );
    assert_refused(&url, dir, &["notifications", "retry"], "--all");
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keys_verify_tickets_across_a_rotation() {
    keys_verify_tickets_across_a_rotation(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keys_verify_tickets_across_a_rotation() {
    keys_verify_tickets_across_a_rotation(Backend::Postgres).await;
}
