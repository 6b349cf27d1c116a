//! The admin RPCs of `IdentityService` (ListUsers, DisableUser, EnableUser,
//! SetUserRole, ResetPassword) over [`Identity`]'s account management:
//! the caller must be an admin, and may not disable or demote themselves.

use ticketing_identity::{Account, Identity, Password, Role, UserId, MAX_PAGE};
use ticketing_proto::v1 as pb;
use tonic::Request;

use crate::auth::{caller, Caller};
use crate::error::AppError;
use crate::paging::page;

/// Accounts a ListUsers page holds when the request does not say.
const DEFAULT_PAGE: usize = 50;

/// The admin calling `request`.
pub async fn admin<T>(identity: &Identity, request: &Request<T>) -> Result<Caller, AppError> {
    let caller = caller(identity, request).await?;
    caller.require(&[Role::Admin])?;
    Ok(caller)
}

pub async fn list(
    identity: &Identity,
    request: pb::ListUsersRequest,
) -> Result<pb::ListUsersResponse, AppError> {
    let page = page(
        request.page_size,
        &request.page_token,
        DEFAULT_PAGE,
        MAX_PAGE as usize,
        |field, raw| {
            UserId::parse(raw)
                .map_err(|e| ticketing_aggregates::ValidationError::new(field, e.description))
        },
    )?;
    let role = match pb::Role::try_from(request.role) {
        Ok(pb::Role::Unspecified) => None,
        Ok(role) => Some(role_from_pb(role)?),
        Err(_) => return Err(AppError::invalid("role", "not a role")),
    };
    // One more than asked tells whether there is a next page.
    let size = page.size as u32;
    let mut accounts = identity
        .accounts(page.after.as_ref(), role, size + 1)
        .await?;
    let more = accounts.len() > page.size;
    accounts.truncate(page.size);
    let next_page_token = match accounts.last() {
        Some(last) if more => last.user.user_id.to_string(),
        _ => String::new(),
    };
    Ok(pb::ListUsersResponse {
        users: accounts.into_iter().map(account_to_pb).collect(),
        next_page_token,
    })
}

/// The account `raw` names, as a validated id.
pub fn user_id(raw: &str) -> Result<UserId, AppError> {
    UserId::parse(raw).map_err(|e| AppError::invalid("user_id", e.description))
}

/// Refuses a change of the caller's own account that could lock them out.
pub fn not_own(caller: &Caller, target: &UserId) -> Result<(), AppError> {
    if &caller.user_id == target {
        return Err(ticketing_identity::IdentityError::OwnAccount.into());
    }
    Ok(())
}

pub fn role(raw: i32) -> Result<Role, AppError> {
    match pb::Role::try_from(raw) {
        Ok(pb::Role::Unspecified) | Err(_) => Err(AppError::invalid(
            "role",
            "must be one of ROLE_CUSTOMER, ROLE_ORGANIZER, ROLE_ADMIN, ROLE_ANALYST",
        )),
        Ok(role) => role_from_pb(role),
    }
}

pub fn password(raw: &str) -> Result<Password, AppError> {
    Password::parse(raw).map_err(|e| AppError::invalid("new_password", e.description))
}

fn role_from_pb(role: pb::Role) -> Result<Role, AppError> {
    Ok(match role {
        pb::Role::Customer => Role::Customer,
        pb::Role::Organizer => Role::Organizer,
        pb::Role::Admin => Role::Admin,
        pb::Role::Analyst => Role::Analyst,
        pb::Role::Unspecified => return Err(AppError::invalid("role", "must be set")),
    })
}

pub fn account_to_pb(account: Account) -> pb::User {
    let mut user = crate::identity_service::user_to_pb(account.user);
    user.disabled = account.disabled;
    user
}
