//! `ticketing users add|list|disable|enable|set-role|reset-password` on an
//! embedded database: what each prints, and what it does to logins (a
//! disabled account cannot log in; a reset password replaces the old one).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ticketing_event_store::Store;
use ticketing_identity::{Identity, IdentityError, TokenConfig};

fn ticketing(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticketing"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("TICKETING_LOG", "warn")
        .env_remove("TICKETING_DATABASE_URL")
        .env_remove("TICKETING_USER_PASSWORD")
        .output()
        .expect("run ticketing")
}

/// Runs `users …`, asserts success, returns stdout.
fn users(dir: &Path, args: &[&str]) -> String {
    let output = ticketing(dir, &[&["users"], args].concat());
    assert!(
        output.status.success(),
        "users {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// Logs in through an [`Identity`] on the same database.
async fn login(dir: &Path, email: &str, password: &str) -> Result<(), IdentityError> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("ticketing.db").display());
    let store = Store::connect(&url).await.expect("store");
    let config = TokenConfig {
        secret: TokenConfig::generate_secret(),
        ttl: chrono::Duration::minutes(5),
        issuer: "ticketing".into(),
    };
    let identity = Identity::new(store.read_pool().clone(), store.backend(), config);
    identity.login(email, password).await.map(|_| ())
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ticketing-users-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_manage_accounts_from_the_command_line() {
    let dir = temp_dir();
    let add = |email: &str, role: &str| {
        users(
            &dir,
            &[
                "add",
                "--email",
                email,
                "--password",
                "correct horse",
                "--role",
                role,
            ],
        )
    };
    let ann = add("ann@example.com", "organizer");
    let ann_id = ann.split_whitespace().next().expect("id").to_owned();
    add("bob@example.com", "customer");

    let list = users(&dir, &["list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(lines[0].starts_with("user"));
    assert!(lines[1].starts_with(&ann_id) && lines[1].contains(" organizer "));
    assert!(lines[1].contains(" active ") && lines[1].ends_with("ann@example.com"));
    assert!(lines[2].ends_with("bob@example.com"));
    let customers = users(&dir, &["list", "--role", "customer"]);
    assert_eq!(customers.lines().count(), 2, "{customers}");
    let after = users(&dir, &["list", "--after", &ann_id]);
    assert_eq!(after.lines().count(), 2, "{after}");

    let disabled = users(&dir, &["disable", "ann@example.com"]);
    assert_eq!(
        disabled.trim(),
        format!("{ann_id} ann@example.com organizer disabled")
    );
    assert!(users(&dir, &["list"]).contains(" disabled "));
    assert!(matches!(
        login(&dir, "ann@example.com", "correct horse").await,
        Err(IdentityError::AccountDisabled)
    ));
    let enabled = users(&dir, &["enable", &ann_id]);
    assert!(enabled.trim().ends_with("organizer active"), "{enabled}");
    login(&dir, "ann@example.com", "correct horse")
        .await
        .expect("enabled again");

    let promoted = users(&dir, &["set-role", "bob@example.com", "--role", "analyst"]);
    assert!(promoted.contains(" analyst active"), "{promoted}");

    let reset = users(&dir, &["reset-password", "bob@example.com"]);
    let password = reset
        .lines()
        .find_map(|line| line.strip_prefix("new password: "))
        .expect("the made-up password is printed")
        .to_owned();
    assert_eq!(password.len(), 20);
    assert!(login(&dir, "bob@example.com", "correct horse")
        .await
        .is_err());
    login(&dir, "bob@example.com", &password)
        .await
        .expect("the new password");

    let unknown = ticketing(&dir, &["users", "disable", "nobody@example.com"]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("no such account"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
