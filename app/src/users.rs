//! `ticketing users add|list|disable|enable|set-role|reset-password`:
//! accounts for operators, on the database directly (the same changes are
//! admin RPCs of `IdentityService`). Disabling, a role change and a
//! password reset end the account's sessions: its tokens stop working
//! within a few seconds on every gateway (`STANDING_TTL`).

use clap::Subcommand;
use rand::distributions::{Alphanumeric, DistString};
use ticketing_identity::{Account, DisplayName, Email, Identity, Password, UserId};

use crate::application;
use crate::cli::UserRole;
use crate::config::DatabaseArgs;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user with any role (organizers and admins are made this way).
    Add(UsersAddArgs),
    /// Accounts in creation order.
    List {
        /// Only accounts of this role.
        #[arg(long, value_enum)]
        role: Option<UserRole>,
        /// At most this many (1-500).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
        /// Start after this user id (the last one a previous page printed).
        #[arg(long)]
        after: Option<String>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// The account can no longer log in, and its tokens stop working.
    Disable(UserArg),
    /// A disabled account may log in again (its old tokens stay revoked).
    Enable(UserArg),
    /// Give the account another role; it logs in again to use it.
    SetRole {
        #[command(flatten)]
        user: UserArg,
        #[arg(long, value_enum)]
        role: UserRole,
    },
    /// Set a new password (from TICKETING_USER_PASSWORD, or a random one
    /// that is printed); the account's sessions end.
    ResetPassword {
        #[command(flatten)]
        user: UserArg,
        /// The new password (8-128 characters); printed when made up.
        #[arg(long, env = "TICKETING_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct UsersAddArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[arg(long)]
    pub email: String,
    /// The password (8-128 characters); or set TICKETING_USER_PASSWORD.
    #[arg(long, env = "TICKETING_USER_PASSWORD", hide_env_values = true)]
    pub password: String,
    #[arg(long, value_enum)]
    pub role: UserRole,
    /// Name shown to others; defaults to the part of the email before '@'.
    #[arg(long)]
    pub display_name: Option<String>,
}

/// The account a command acts on.
#[derive(Debug, clap::Args)]
pub struct UserArg {
    /// An email address or a user id (`u_…`).
    pub user: String,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

pub async fn run(command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Add(args) => add(args).await,
        UsersCommand::List {
            role,
            limit,
            after,
            db,
        } => {
            let identity = identity(&db).await?;
            let after = after.as_deref().map(UserId::parse).transpose()?;
            let accounts = identity
                .accounts(after.as_ref(), role.map(Into::into), limit)
                .await?;
            println!(
                "{:<28} {:<10} {:<8} {:<20} email",
                "user", "role", "status", "created"
            );
            for account in accounts {
                println!(
                    "{:<28} {:<10} {:<8} {:<20} {}",
                    account.user.user_id.as_str(),
                    account.user.role.as_str(),
                    status(&account),
                    account.user.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    account.user.email.as_str()
                );
            }
            Ok(())
        }
        UsersCommand::Disable(user) => {
            let (identity, user_id) = target(&user).await?;
            print(&identity.disable(&user_id).await?);
            Ok(())
        }
        UsersCommand::Enable(user) => {
            let (identity, user_id) = target(&user).await?;
            print(&identity.enable(&user_id).await?);
            Ok(())
        }
        UsersCommand::SetRole { user, role } => {
            let (identity, user_id) = target(&user).await?;
            print(&identity.set_role(&user_id, role.into()).await?);
            Ok(())
        }
        UsersCommand::ResetPassword { user, password } => {
            let (identity, user_id) = target(&user).await?;
            let made_up = password.is_none();
            let password =
                password.unwrap_or_else(|| Alphanumeric.sample_string(&mut rand::thread_rng(), 20));
            let account = identity
                .reset_password(&user_id, Password::parse(&password)?)
                .await?;
            print(&account);
            if made_up {
                println!("new password: {password}");
            }
            Ok(())
        }
    }
}

async fn add(args: UsersAddArgs) -> anyhow::Result<()> {
    let identity = identity(&args.db).await?;
    let display_name = args
        .display_name
        .unwrap_or_else(|| args.email.split('@').next().unwrap_or_default().to_owned());
    let user = identity
        .add_user(
            Email::parse(&args.email)?,
            Password::parse(&args.password)?,
            DisplayName::parse(&display_name)?,
            args.role.into(),
        )
        .await?;
    println!(
        "{} {} {}",
        user.user_id.as_str(),
        user.email.as_str(),
        user.role.as_str()
    );
    Ok(())
}

/// Identity on the database; it issues no tokens here, so the secret only
/// keys fingerprints.
async fn identity(db: &DatabaseArgs) -> anyhow::Result<Identity> {
    let store = crate::schema::open_store(&db.url()?).await?;
    application::identity(&store, db.jwt_secret()?, std::time::Duration::from_secs(60))
}

/// Identity and the id of the account `user` names (an email or an id).
async fn target(user: &UserArg) -> anyhow::Result<(Identity, UserId)> {
    let identity = identity(&user.db).await?;
    let user_id = if user.user.contains('@') {
        let email = Email::parse(&user.user)?;
        identity.account_by_email(&email).await?.user.user_id
    } else {
        let user_id = UserId::parse(&user.user)?;
        identity.account(&user_id).await?.user.user_id
    };
    Ok((identity, user_id))
}

fn status(account: &Account) -> &'static str {
    if account.disabled {
        "disabled"
    } else {
        "active"
    }
}

fn print(account: &Account) {
    println!(
        "{} {} {} {}",
        account.user.user_id.as_str(),
        account.user.email.as_str(),
        account.user.role.as_str(),
        status(account)
    );
}
