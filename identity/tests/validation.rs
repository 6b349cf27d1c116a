//! The validated newtypes accept what the contract allows and reject the
//! rest with the field name the gateway reports.

use ticketing_identity::{DisplayName, Email, Password, Role, UserId};

#[test]
fn emails_are_normalised() {
    let email = Email::parse("  Grace.Hopper@Navy.MIL ").expect("valid");
    assert_eq!(email.as_str(), "grace.hopper@navy.mil");
}

#[test]
fn malformed_emails_are_rejected_on_field_email() {
    let too_long = format!("{}@example.com", "a".repeat(250));
    for raw in [
        "",
        "   ",
        "plain",
        "@example.com",
        "a@",
        "a@b",
        "a@b@c.io",
        "a@.io",
        "a@b.",
        "a b@c.io",
        &too_long,
    ] {
        let err = Email::parse(raw).expect_err(raw);
        assert_eq!(err.field, "email", "{raw}");
        assert!(!err.description.is_empty());
    }
}

#[test]
fn password_length_is_bounded_in_characters() {
    assert!(Password::parse("12345678").is_ok());
    assert!(Password::parse(&"é".repeat(128)).is_ok());
    for raw in ["1234567".to_owned(), "x".repeat(129)] {
        assert_eq!(Password::parse(&raw).expect_err("bounds").field, "password");
    }
}

#[test]
fn password_debug_is_redacted() {
    let password = Password::parse("hunter2hunter2").expect("valid");
    assert!(!format!("{password:?}").contains("hunter2"));
}

#[test]
fn display_names_are_trimmed_and_checked() {
    assert_eq!(DisplayName::parse("  Ada ").expect("valid").as_str(), "Ada");
    assert!(DisplayName::parse(&"n".repeat(100)).is_ok());
    for raw in [
        "".to_owned(),
        "   ".to_owned(),
        "n".repeat(101),
        "bell\u{7}".to_owned(),
    ] {
        let err = DisplayName::parse(&raw).expect_err("invalid");
        assert_eq!(err.field, "display_name", "{raw:?}");
    }
}

#[test]
fn roles_round_trip_through_their_names() {
    for role in [Role::Customer, Role::Organizer, Role::Admin] {
        assert_eq!(role.as_str().parse::<Role>(), Ok(role));
    }
    assert_eq!("Admin".parse::<Role>().expect_err("case").field, "role");
}

#[test]
fn user_ids_are_prefixed_ulids() {
    let id = UserId::generate();
    assert_eq!(UserId::parse(id.as_str()), Ok(id.clone()));
    let lower = id.as_str().to_lowercase();
    assert_eq!(UserId::parse(&lower), Ok(id));
    for raw in [
        "",
        "u_",
        "01J0000000000000000000000",
        "u_not-a-ulid",
        "x_01J0000000000000000000000",
    ] {
        assert_eq!(UserId::parse(raw).expect_err(raw).field, "user_id");
    }
}
