//! The key ring: its key file (created owner-only, refused when loose,
//! rotated without losing old keys), seeds from configuration, public keys
//! and verifiers, and that no secret shows up in Debug or errors.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use ticketing_fulfillment::{KeyError, KeyRing, Verifier};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn seeds_in(path: &Path) -> Vec<String> {
    let file: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    file["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["seed"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_new_key_file_is_owner_only_and_loads_back_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets/fulfillment/keys.json");

    let created = KeyRing::load_or_create(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let loaded = KeyRing::load_or_create(&path).unwrap();
    assert_eq!(loaded.active_kid(), created.active_kid());

    let (kid, signature) = created.sign(b"message");
    assert!(loaded.verifier().verify(kid, b"message", &signature));
    assert!(!loaded.verifier().verify(kid, b"massage", &signature));

    let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "only the key file, no temporary files");
}

#[test]
fn kid_is_the_sha256_prefix_of_the_public_key() {
    let ring = KeyRing::from_seed(&STANDARD.encode([1u8; 32])).unwrap();
    let public = &ring.public_keys()[0];
    let digest = Sha256::digest(public.raw());
    let expected: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(public.kid, expected);
    assert_eq!(ring.active_kid(), expected);
}

#[test]
fn a_key_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    KeyRing::load_or_create(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();

    let err = KeyRing::load_or_create(&path).unwrap_err();
    assert!(
        matches!(err, KeyError::LoosePermissions { mode: 0o644, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"), "{err}");
    let err = KeyRing::rotate(&path).unwrap_err();
    assert!(matches!(err, KeyError::LoosePermissions { .. }), "{err}");
}

#[test]
fn rotation_adds_an_active_key_and_keeps_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let first = KeyRing::load_or_create(&path).unwrap();
    let (old_kid, old_signature) = first.sign(b"ticket");

    KeyRing::rotate(&path).unwrap();
    let rotated = KeyRing::rotate(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(seeds_in(&path).len(), 3);

    let public = rotated.public_keys();
    assert_eq!(public.len(), 3);
    assert_eq!(public[0].kid, old_kid);
    assert_eq!(
        public
            .iter()
            .filter(|key| key.active)
            .map(|key| key.kid.as_str())
            .collect::<Vec<_>>(),
        [rotated.active_kid()]
    );
    assert_eq!(public[2].kid, rotated.active_kid());
    assert!(public.iter().all(|key| key.created_at.is_some()));

    let reloaded = KeyRing::load_or_create(&path).unwrap();
    assert_eq!(reloaded.active_kid(), rotated.active_kid());
    assert!(reloaded
        .verifier()
        .verify(old_kid, b"ticket", &old_signature));
    let (new_kid, _) = reloaded.sign(b"ticket");
    assert_ne!(new_kid, old_kid);
}

#[test]
fn rotating_without_a_key_file_creates_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let ring = KeyRing::rotate(&path).unwrap();
    assert_eq!(ring.public_keys().len(), 1);
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn workers_starting_together_agree_on_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let kids: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    KeyRing::load_or_create(&path)
                        .unwrap()
                        .active_kid()
                        .to_owned()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap())
            .collect()
    });
    let on_disk = KeyRing::load_or_create(&path).unwrap();
    assert!(
        kids.iter().all(|kid| kid == on_disk.active_kid()),
        "{kids:?}"
    );
}

#[test]
fn a_configured_seed_is_the_same_key_as_in_the_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let from_file = KeyRing::load_or_create(&path).unwrap();
    let seed = &seeds_in(&path)[0];

    let configured = KeyRing::from_seed(&format!("{seed}\n")).unwrap();
    assert_eq!(configured.active_kid(), from_file.active_kid());
    assert_eq!(configured.public_keys()[0].created_at, None);

    let hex_seed = "07".repeat(32);
    for bad in [
        "",
        "not base64!",
        &STANDARD.encode([7u8; 31]),
        &STANDARD.encode([7u8; 33]),
        &hex_seed,
    ] {
        assert!(
            matches!(KeyRing::from_seed(bad), Err(KeyError::InvalidSeed)),
            "{bad:?}"
        );
    }
}

#[test]
fn secrets_stay_out_of_debug_output_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let ring = KeyRing::load_or_create(&path).unwrap();
    let seed = seeds_in(&path).remove(0);

    let debug = format!("{ring:?}");
    assert!(debug.contains(ring.active_kid()), "{debug}");
    assert!(!debug.contains(&seed), "{debug}");

    // Files a careless hand might write: the seed in the kid field, or in a
    // field whose type is wrong, where serde would quote it.
    let kid = ring.active_kid();
    let broken = [
        format!(r#"{{"keys":[{{"kid":"{seed}","seed":"{seed}"}}]}}"#),
        format!(r#"{{"keys":[{{"kid":"{kid}","seed":"{seed}","created_at":"{seed}"}}]}}"#),
        format!(r#"{{"keys":[{{"kid":"{kid}","seed":["{seed}"]}}]}}"#),
        format!(r#"{{"keys":[{{"kid":"{kid}","seed":"{seed}x"}}]}}"#),
        r#"{"keys":[]}"#.to_owned(),
        "{".to_owned(),
    ];
    for text in broken {
        fs::write(&path, &text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = KeyRing::load_or_create(&path).unwrap_err();
        assert!(matches!(err, KeyError::Malformed { .. }), "{err}");
        let message = err.to_string();
        assert!(!message.contains(&seed[..20]), "{message}");
    }
}

#[test]
fn public_keys_travel_as_pem_or_raw_bytes() {
    let ring = KeyRing::from_seed(&STANDARD.encode([3u8; 32])).unwrap();
    let (kid, signature) = ring.sign(b"ticket");
    let public = ring.public_keys().remove(0);

    let pem = public.to_pem();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    let from_pem = Verifier::from_pem([pem.as_str()]).unwrap();
    assert!(from_pem.verify(kid, b"ticket", &signature));

    let from_raw = Verifier::from_raw([(public.kid.clone(), public.raw())]).unwrap();
    assert!(from_raw.verify(kid, b"ticket", &signature));
    assert!(!from_raw.verify("00000000", b"ticket", &signature));
    assert!(!from_raw.verify(kid, b"ticket", &signature[..63]));

    let swapped = Verifier::from_raw([("00000000".to_owned(), public.raw())]);
    assert!(matches!(swapped, Err(KeyError::KidMismatch { .. })));
    assert!(matches!(
        Verifier::from_pem(["not a pem"]),
        Err(KeyError::Pem)
    ));
}
