//! Account management, for operators (`ticketing users …`) and admins (the
//! admin RPCs): list accounts, disable and enable them, change a role,
//! reset a password. Every change but enabling ends the account's sessions:
//! it moves the account's generation on, so tokens issued before stop
//! working ([`Identity::authorize`]).

use crate::domain::{Email, Password, Role, User, UserId};
use crate::error::IdentityError;
use crate::password;
use crate::service::Identity;
use crate::users::{Change, StoredUser};

/// Most accounts one page lists.
pub const MAX_PAGE: u32 = 500;

/// A user account as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user: User,
    pub disabled: bool,
}

impl From<StoredUser> for Account {
    fn from(stored: StoredUser) -> Self {
        Account {
            user: stored.user,
            disabled: stored.standing.disabled,
        }
    }
}

impl Identity {
    /// Accounts in creation order after `after`, of `role` if given; at
    /// most `limit` (capped at [`MAX_PAGE`]).
    pub async fn accounts(
        &self,
        after: Option<&UserId>,
        role: Option<Role>,
        limit: u32,
    ) -> Result<Vec<Account>, IdentityError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let stored = self.users.list(after, role, limit).await?;
        Ok(stored.into_iter().map(Account::from).collect())
    }

    pub async fn account(&self, user_id: &UserId) -> Result<Account, IdentityError> {
        let stored = self.users.find_by_id(user_id).await?;
        stored
            .map(Account::from)
            .ok_or(IdentityError::UnknownAccount)
    }

    pub async fn account_by_email(&self, email: &Email) -> Result<Account, IdentityError> {
        let stored = self.users.find_by_email(email).await?;
        stored
            .map(Account::from)
            .ok_or(IdentityError::UnknownAccount)
    }

    /// Disables the account: its tokens stop working and it cannot log in.
    pub async fn disable(&self, user_id: &UserId) -> Result<Account, IdentityError> {
        self.change(user_id, Change::Disable, "account disabled")
            .await
    }

    /// Lets a disabled account log in again (its old tokens stay revoked).
    pub async fn enable(&self, user_id: &UserId) -> Result<Account, IdentityError> {
        self.change(user_id, Change::Enable, "account enabled")
            .await
    }

    /// Gives the account `role`; its tokens, which name the old role, stop
    /// working.
    pub async fn set_role(&self, user_id: &UserId, role: Role) -> Result<Account, IdentityError> {
        self.change(user_id, Change::SetRole(role), "role changed")
            .await
    }

    /// Sets a new password; the account's sessions end.
    pub async fn reset_password(
        &self,
        user_id: &UserId,
        password: Password,
    ) -> Result<Account, IdentityError> {
        let hash = password::hash(password).await?;
        self.change(user_id, Change::SetPasswordHash(hash), "password reset")
            .await
    }

    async fn change(
        &self,
        user_id: &UserId,
        change: Change,
        what: &'static str,
    ) -> Result<Account, IdentityError> {
        let stored = self.users.change(user_id, &change).await?;
        // This process answers from the account's new standing at once.
        self.standings.forget(user_id);
        self.known_users.forget(user_id);
        let account = stored
            .map(Account::from)
            .ok_or(IdentityError::UnknownAccount)?;
        tracing::info!(user_id = %user_id, role = %account.user.role, disabled = account.disabled, "{what}");
        Ok(account)
    }
}
