//! Who is calling: reads the `authorization: Bearer <jwt>` metadata entry,
//! verifies it with [`Identity`], and checks roles. Anonymous RPCs simply
//! do not call [`caller`].

use ticketing_identity::{Identity, Role, UserId};

use crate::error::AppError;

/// The authenticated principal of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub role: Role,
}

impl Caller {
    /// PERMISSION_DENIED unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), AppError> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        let allowed = roles
            .iter()
            .map(|role| role.as_str())
            .collect::<Vec<_>>()
            .join(" or ");
        Err(AppError::PermissionDenied(format!(
            "this call requires role {allowed}; caller has role {}",
            self.role
        )))
    }
}

/// The verified caller of `req`; UNAUTHENTICATED when the bearer token is
/// missing, malformed, forged, expired, or revoked (its account disabled or
/// changed since it was issued).
pub async fn caller<T>(identity: &Identity, req: &tonic::Request<T>) -> Result<Caller, AppError> {
    let unauthenticated = |why: &str| AppError::Unauthenticated(why.to_owned());
    let header = req
        .metadata()
        .get("authorization")
        .ok_or_else(|| unauthenticated("missing `authorization: Bearer <token>` metadata"))?
        .to_str()
        .map_err(|_| unauthenticated("authorization metadata is not ASCII"))?;
    // The auth scheme is case-insensitive (RFC 9110 §11.1).
    let token = header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| unauthenticated("authorization metadata must be `Bearer <token>`"))?;
    let claims = identity.authorize(token).await?;
    Ok(Caller {
        user_id: claims.user_id,
        role: claims.role,
    })
}
