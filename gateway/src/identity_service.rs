//! `ticketing.v1.IdentityService` over [`Identity`]: Register and Login
//! here, the admin RPCs in `accounts.rs`. Converts protobuf messages to
//! validated domain values and back.

use prost::Message;
use ticketing_identity::{DisplayName, Email, Identity, Password, RegisterKey, Role, User};
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::identity_service_server::{IdentityService, IdentityServiceServer};
use tonic::{Request, Response, Status};

use crate::accounts;
use crate::error::{AppError, FieldViolation};

/// The gRPC face of [`Identity`].
#[derive(Debug, Clone)]
pub struct IdentityApi {
    identity: Identity,
}

impl IdentityApi {
    pub fn new(identity: Identity) -> Self {
        Self { identity }
    }

    /// Ready to add to [`crate::GatewayServices`].
    pub fn into_server(self) -> IdentityServiceServer<Self> {
        IdentityServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl IdentityService for IdentityApi {
    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::User>, Status> {
        // The request holds the password: its fingerprint is keyed with the
        // server's secret, so a stored record cannot confirm a guess.
        let key = crate::idempotency_key(&request)?.map(|key| RegisterKey {
            key,
            request_hash: self
                .identity
                .request_fingerprint("Register", &request.get_ref().encode_to_vec()),
        });
        let req = request.into_inner();
        // Validate every field before failing, so the client learns about
        // all its mistakes in one round trip.
        let email = Email::parse(&req.email);
        let password = Password::parse(&req.password);
        let display_name = DisplayName::parse(&req.display_name);
        let (email, password, display_name) = match (email, password, display_name) {
            (Ok(email), Ok(password), Ok(name)) => (email, password, name),
            (email, password, name) => {
                let violations = [email.err(), password.err(), name.err()]
                    .into_iter()
                    .flatten()
                    .map(|err| FieldViolation {
                        field: err.field.to_owned(),
                        description: err.description,
                    })
                    .collect();
                return Err(AppError::InvalidArgument(violations).into());
            }
        };
        let user = match key {
            Some(key) => {
                self.identity
                    .register_idempotent(email, password, display_name, key)
                    .await
            }
            None => self.identity.register(email, password, display_name).await,
        }
        .map_err(AppError::from)?;
        Ok(Response::new(user_to_pb(user)))
    }

    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let peer = request.remote_addr().map(|addr| addr.ip());
        let req = request.into_inner();
        let token = self
            .identity
            .login_from(&req.email, &req.password, peer)
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(pb::LoginResponse {
            access_token: token.token,
            expires_at: Some(prost_types::Timestamp {
                seconds: token.expires_at.timestamp(),
                // Always below 10^9, so it fits.
                nanos: token.expires_at.timestamp_subsec_nanos() as i32,
            }),
        }))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        accounts::admin(&self.identity, &request).await?;
        let page = accounts::list(&self.identity, request.into_inner()).await?;
        Ok(Response::new(page))
    }

    async fn disable_user(
        &self,
        request: Request<pb::DisableUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let admin = accounts::admin(&self.identity, &request).await?;
        let user_id = accounts::user_id(&request.get_ref().user_id)?;
        accounts::not_own(&admin, &user_id)?;
        let account = self
            .identity
            .disable(&user_id)
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(accounts::account_to_pb(account)))
    }

    async fn enable_user(
        &self,
        request: Request<pb::EnableUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        accounts::admin(&self.identity, &request).await?;
        let user_id = accounts::user_id(&request.get_ref().user_id)?;
        let account = self
            .identity
            .enable(&user_id)
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(accounts::account_to_pb(account)))
    }

    async fn set_user_role(
        &self,
        request: Request<pb::SetUserRoleRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let admin = accounts::admin(&self.identity, &request).await?;
        let req = request.into_inner();
        let (user_id, role) = match (accounts::user_id(&req.user_id), accounts::role(req.role)) {
            (Ok(user_id), Ok(role)) => (user_id, role),
            (user_id, role) => {
                return Err(AppError::merge([user_id.err(), role.err()]).into());
            }
        };
        if role != Role::Admin {
            accounts::not_own(&admin, &user_id)?;
        }
        let account = self
            .identity
            .set_role(&user_id, role)
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(accounts::account_to_pb(account)))
    }

    async fn reset_password(
        &self,
        request: Request<pb::ResetPasswordRequest>,
    ) -> Result<Response<pb::User>, Status> {
        accounts::admin(&self.identity, &request).await?;
        let req = request.into_inner();
        let checked = (
            accounts::user_id(&req.user_id),
            accounts::password(&req.new_password),
        );
        let (user_id, password) = match checked {
            (Ok(user_id), Ok(password)) => (user_id, password),
            (user_id, password) => {
                return Err(AppError::merge([user_id.err(), password.err()]).into());
            }
        };
        let account = self
            .identity
            .reset_password(&user_id, password)
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(accounts::account_to_pb(account)))
    }
}

pub(crate) fn user_to_pb(user: User) -> pb::User {
    pb::User {
        user_id: user.user_id.to_string(),
        email: user.email.to_string(),
        display_name: user.display_name.to_string(),
        role: role_to_pb(user.role).into(),
        disabled: false,
        created_at: Some(prost_types::Timestamp {
            seconds: user.created_at.timestamp(),
            // Always below 10^9, so it fits.
            nanos: user.created_at.timestamp_subsec_nanos() as i32,
        }),
    }
}

/// The contract's enum for a domain role.
pub fn role_to_pb(role: Role) -> pb::Role {
    match role {
        Role::Customer => pb::Role::Customer,
        Role::Organizer => pb::Role::Organizer,
        Role::Admin => pb::Role::Admin,
        Role::Analyst => pb::Role::Analyst,
    }
}
