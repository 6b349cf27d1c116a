//! Signed QR payloads: they round-trip, any change to them is refused, only
//! known keys are trusted (across rotations), garbage never panics, and the
//! longest payload still makes a small QR code.

mod support;

use chrono::{DateTime, TimeZone, Utc};
use qrcode::types::{EcLevel, Version};
use rand::{Rng, SeedableRng};
use support::{claim, ring};
use ticketing_fulfillment::{qr_code, sign_claim, verify_claim, KeyRing, QrError, MAX_PAYLOAD_LEN};

fn issued() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap()
}

#[test]
fn a_signed_claim_verifies_back_to_itself() {
    let ring = ring(1);
    let claim = claim("ORC-A.12", Utc::now());
    let payload = sign_claim(&ring, &claim);

    assert!(payload.starts_with(&format!(
        "T1.{}.{}.ORC-A.12.",
        claim.ticket_id(),
        claim.show_id()
    )));
    assert!(payload.contains(&format!(".{}.", ring.active_kid())));
    let verified = verify_claim(&ring.verifier(), &payload).unwrap();
    assert_eq!(verified, claim);
    assert_eq!(verified.issued_at().timestamp_subsec_nanos(), 0);
}

#[test]
fn seat_labels_made_of_dots_read_back_unchanged() {
    let ring = ring(1);
    for label in [".", "..", "A.", ".A", "1.2.3", "A-1_b.c"] {
        let claim = claim(label, issued());
        let payload = sign_claim(&ring, &claim);
        assert_eq!(
            verify_claim(&ring.verifier(), &payload).unwrap(),
            claim,
            "{label}"
        );
    }
}

#[test]
fn any_changed_byte_is_refused() {
    let ring = ring(1);
    let verifier = ring.verifier();
    let payload = sign_claim(&ring, &claim("ORC-A.12", issued()));
    for position in 0..payload.len() {
        for flip in [0x01u8, 0x20] {
            let mut bytes = payload.clone().into_bytes();
            bytes[position] ^= flip;
            let changed = String::from_utf8(bytes).unwrap();
            assert!(
                verify_claim(&verifier, &changed).is_err(),
                "byte {position} ^ {flip:#04x} was accepted: {changed}"
            );
        }
    }
}

#[test]
fn only_keys_the_verifier_knows_are_trusted() {
    let ours = ring(1);
    let theirs = ring(2);
    let claim = claim("A-1", issued());
    let forged = sign_claim(&theirs, &claim);

    assert_eq!(
        verify_claim(&ours.verifier(), &forged),
        Err(QrError::UnknownKid {
            kid: theirs.active_kid().to_owned()
        })
    );
    // Their signature under our kid: the kid is known, the signature is not its.
    let relabelled = forged.replace(theirs.active_kid(), ours.active_kid());
    assert_eq!(
        verify_claim(&ours.verifier(), &relabelled),
        Err(QrError::BadSignature)
    );
}

#[test]
fn claims_signed_before_a_rotation_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let before = KeyRing::load_or_create(&path).unwrap();
    let old_claim = claim("A-1", issued());
    let old_payload = sign_claim(&before, &old_claim);

    let after = KeyRing::rotate(&path).unwrap();
    assert_eq!(
        verify_claim(&after.verifier(), &old_payload).unwrap(),
        old_claim
    );

    let new_payload = sign_claim(&after, &claim("A-2", issued()));
    assert_ne!(after.active_kid(), before.active_kid());
    assert!(new_payload.contains(&format!(".{}.", after.active_kid())));
    assert!(verify_claim(&after.verifier(), &new_payload).is_ok());
    assert!(matches!(
        verify_claim(&before.verifier(), &new_payload),
        Err(QrError::UnknownKid { .. })
    ));
}

#[test]
fn garbage_is_refused_without_panicking() {
    let ring = ring(1);
    let verifier = ring.verifier();
    let valid = sign_claim(&ring, &claim("A-1", issued()));

    let mut garbage = vec![
        String::new(),
        ".".into(),
        "T1".into(),
        "T1.......".into(),
        "T1.é.ü.ß.1.2.3".into(),
        "\0".repeat(40),
        format!("{valid} "),
        format!(" {valid}"),
        format!("{valid}.extra"),
        valid.replacen("T1.", "T2.", 1),
        valid.replacen("A-1", &"A".repeat(33), 1),
        valid.replacen("A-1", "A 1", 1),
        ".".repeat(MAX_PAYLOAD_LEN),
    ];
    garbage.extend((0..valid.len()).map(|end| valid[..end].to_owned()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let alphabet = b"T1.t_s0123456789ABCDEFGHJKMNPQRSTVWXYZabcdef-_+/=";
    garbage.extend((0..5_000).map(|_| {
        let len = rng.gen_range(0..300);
        (0..len)
            .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
            .collect::<String>()
    }));
    for text in &garbage {
        assert!(verify_claim(&verifier, text).is_err(), "accepted {text:?}");
    }

    let oversized = format!("{valid}{}", "A".repeat(MAX_PAYLOAD_LEN));
    assert_eq!(
        verify_claim(&verifier, &oversized),
        Err(QrError::TooLong {
            len: oversized.len()
        })
    );
}

#[test]
fn the_longest_payload_fits_a_version_10_code_at_level_m() {
    let ring = ring(1);
    let far_future = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap();
    let payload = sign_claim(&ring, &claim(&"W".repeat(32), far_future));

    let code = qr_code(&payload).unwrap();
    assert_eq!(code.ec_level, EcLevel::M);
    assert_eq!(code.colors.len(), code.width * code.width);
    match code.version {
        Version::Normal(version) => assert!(version <= 10, "version {version} for {payload}"),
        other => panic!("unexpected {other:?}"),
    }
}
