//! Account management over gRPC (issue #10 point 13): only admins list and
//! change accounts; disabling, a role change and a password reset end the
//! account's sessions at once on the gateway that made the change; a
//! disabled account cannot log in; an admin cannot lock themselves out.

use ticketing_identity::Role as DomainRole;
use ticketing_tests::v1::*;
use ticketing_tests::*;
use tonic::Code;
use tonic_types::StatusExt;

/// Registers a customer through the API: (user id, token).
async fn customer(app: &TestApp, email: &str) -> (String, String) {
    let user = app
        .identity()
        .register(RegisterRequest {
            email: email.into(),
            password: "correct horse".into(),
            display_name: "Cleo".into(),
        })
        .await
        .expect("register")
        .into_inner();
    (user.user_id, app.login(email, "correct horse").await)
}

/// A call any logged-in user may make (ListShows checks a token it is
/// given), to tell a working token from a revoked one.
async fn token_status(app: &TestApp, token: &str) -> Code {
    match app
        .catalog()
        .list_shows(authed(token, ListShowsRequest::default()))
        .await
    {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

async fn login_code(app: &TestApp, email: &str, password: &str) -> Code {
    let login = LoginRequest {
        email: email.into(),
        password: password.into(),
    };
    match app.identity().login(login).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

async fn accounts_are_for_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.user_with_role(DomainRole::Admin).await;
    let organizer = app.user_with_role(DomainRole::Organizer).await;
    let (_, cleo) = customer(&app, "cleo@example.com").await;
    let mut identity = app.identity();

    let anonymous = identity
        .list_users(ListUsersRequest::default())
        .await
        .expect_err("anonymous");
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    for token in [&organizer, &cleo] {
        let denied = identity
            .list_users(authed(token, ListUsersRequest::default()))
            .await
            .expect_err("not an admin");
        assert_eq!(denied.code(), Code::PermissionDenied);
        let disable = DisableUserRequest {
            user_id: "u_01JZ0000000000000000000000".into(),
        };
        let denied = identity
            .disable_user(authed(token, disable))
            .await
            .expect_err("not an admin");
        assert_eq!(denied.code(), Code::PermissionDenied);
    }

    // Pages of two, in creation order, until the last.
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = identity
            .list_users(authed(
                &admin,
                ListUsersRequest {
                    page_size: 2,
                    page_token: page_token.clone(),
                    role: Role::Unspecified.into(),
                },
            ))
            .await
            .expect("list")
            .into_inner();
        assert!(page.users.len() <= 2);
        seen.extend(page.users);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let roles: Vec<Role> = seen.iter().map(|user| user.role()).collect();
    assert_eq!(roles, [Role::Admin, Role::Organizer, Role::Customer]);
    assert!(seen
        .iter()
        .all(|user| !user.disabled && user.created_at.is_some()));
    let organizers = identity
        .list_users(authed(
            &admin,
            ListUsersRequest {
                role: Role::Organizer.into(),
                ..ListUsersRequest::default()
            },
        ))
        .await
        .expect("list organizers")
        .into_inner();
    assert_eq!(organizers.users.len(), 1);
    assert_eq!(organizers.users[0].user_id, seen[1].user_id);

    let bad = identity
        .list_users(authed(
            &admin,
            ListUsersRequest {
                page_size: -1,
                page_token: "not-a-token".into(),
                role: 99,
            },
        ))
        .await
        .expect_err("bad page");
    assert_eq!(bad.code(), Code::InvalidArgument);

    // An admin cannot disable or demote themselves.
    let me = seen[0].user_id.clone();
    let own = identity
        .disable_user(authed(
            &admin,
            DisableUserRequest {
                user_id: me.clone(),
            },
        ))
        .await
        .expect_err("own account");
    assert_eq!(own.code(), Code::FailedPrecondition);
    assert_eq!(
        own.get_details_error_info().expect("reason").reason,
        "OWN_ACCOUNT"
    );
    let demote = SetUserRoleRequest {
        user_id: me,
        role: Role::Customer.into(),
    };
    let own = identity
        .set_user_role(authed(&admin, demote))
        .await
        .expect_err("own account");
    assert_eq!(own.code(), Code::FailedPrecondition);
    assert_eq!(token_status(&app, &admin).await, Code::Ok, "still an admin");
    app.stop().await;
}

async fn changes_end_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.user_with_role(DomainRole::Admin).await;
    let (cleo_id, cleo) = customer(&app, "cleo@example.com").await;
    let mut identity = app.identity();
    assert_eq!(token_status(&app, &cleo).await, Code::Ok);

    let disabled = identity
        .disable_user(authed(
            &admin,
            DisableUserRequest {
                user_id: cleo_id.clone(),
            },
        ))
        .await
        .expect("disable")
        .into_inner();
    assert!(disabled.disabled);
    assert_eq!(token_status(&app, &cleo).await, Code::Unauthenticated);
    assert_eq!(
        login_code(&app, "cleo@example.com", "correct horse").await,
        Code::PermissionDenied
    );
    assert_eq!(
        login_code(&app, "cleo@example.com", "wrong horse").await,
        Code::Unauthenticated,
        "a wrong password learns nothing of the account"
    );

    let enabled = identity
        .enable_user(authed(
            &admin,
            EnableUserRequest {
                user_id: cleo_id.clone(),
            },
        ))
        .await
        .expect("enable")
        .into_inner();
    assert!(!enabled.disabled);
    assert_eq!(
        token_status(&app, &cleo).await,
        Code::Unauthenticated,
        "old tokens stay revoked"
    );
    let cleo = app.login("cleo@example.com", "correct horse").await;
    assert_eq!(token_status(&app, &cleo).await, Code::Ok);

    let promote = SetUserRoleRequest {
        user_id: cleo_id.clone(),
        role: Role::Organizer.into(),
    };
    let organizer = identity
        .set_user_role(authed(&admin, promote))
        .await
        .expect("set role")
        .into_inner();
    assert_eq!(organizer.role(), Role::Organizer);
    assert_eq!(token_status(&app, &cleo).await, Code::Unauthenticated);
    let cleo = app.login("cleo@example.com", "correct horse").await;
    app.published_show(&cleo, 2).await;

    let short = ResetPasswordRequest {
        user_id: "nonsense".into(),
        new_password: "short".into(),
    };
    let bad = identity
        .reset_password(authed(&admin, short))
        .await
        .expect_err("bad request");
    assert_eq!(bad.code(), Code::InvalidArgument);
    let fields: Vec<String> = bad
        .get_details_bad_request()
        .expect("violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["user_id", "new_password"]);
    let unknown = ResetPasswordRequest {
        user_id: "u_01JZ0000000000000000000000".into(),
        new_password: "a fresh secret".into(),
    };
    let missing = identity
        .reset_password(authed(&admin, unknown))
        .await
        .expect_err("no such user");
    assert_eq!(missing.code(), Code::NotFound);

    let reset = ResetPasswordRequest {
        user_id: cleo_id,
        new_password: "a fresh secret".into(),
    };
    identity
        .reset_password(authed(&admin, reset))
        .await
        .expect("reset");
    assert_eq!(token_status(&app, &cleo).await, Code::Unauthenticated);
    assert_eq!(
        login_code(&app, "cleo@example.com", "correct horse").await,
        Code::Unauthenticated
    );
    assert_eq!(
        login_code(&app, "cleo@example.com", "a fresh secret").await,
        Code::Ok
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_accounts_are_for_admins() {
    accounts_are_for_admins(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_accounts_are_for_admins() {
    accounts_are_for_admins(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_changes_end_sessions() {
    changes_end_sessions(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_changes_end_sessions() {
    changes_end_sessions(Backend::Postgres).await;
}
