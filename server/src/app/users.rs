//! Users, sign-in and sessions, in GitLab Rails' role.
//!
//! - Users and their project memberships live in the app's database
//!   ([`super::db`]).
//! - Passwords are argon2 hashes. `POST /users/sign_in` (form fields
//!   `username`, `password`, as GitLab's form has them) starts a session:
//!   tower-sessions, stored in the same database, cookie `_porthole_session`
//!   (HttpOnly, SameSite=Lax, Secure when configured). Failed sign-ins are
//!   limited per account and, more loosely, per client address
//!   ([`super::sign_in_limit`]).
//! - `POST /users/sign_out` ends it; `GET /api/v4/user` says who is signed in.
//! - Roles are GitLab's access levels ([`Role`]); `App::check_access`
//!   checks them.

use axum::Json;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use tower_sessions::Session;

/// The session key holding the signed-in username.
const SESSION_USER: &str = "user";
/// The session key holding [`credential_stamp`] of the user at sign-in.
const SESSION_STAMP: &str = "stamp";

/// What ties a login session to the credentials it was opened with: the
/// tail of the password hash (salted, so a re-created user or a new
/// password has another). A session whose stamp no longer matches is
/// signed out.
fn credential_stamp(user: &User) -> String {
    let hash = &user.password_hash;
    hash[hash.len().saturating_sub(16)..].to_string()
}

pub use shared::api::Role;
pub use super::db::{Database, User};

pub use super::passwords::{hash_password, verify_password};
use super::sign_in_limit::SignInLimiter;
use crate::proxy::TrustedProxies;

/// What the sign-in handlers share.
pub struct Accounts {
    /// The database.
    pub db: Database,
    /// Failed sign-ins.
    pub limiter: SignInLimiter,
    /// Whose `X-Forwarded-For` names the client (`--trusted-proxies`).
    pub proxies: TrustedProxies,
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
}

fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location.to_string())]).into_response()
}

/// `POST /users/sign_in`: 303 to `/` when the password is right (a new
/// session id), 303 back to `/users/sign_in?failed=1` when not, 429 with
/// `Retry-After` while the account is locked or the client address limited
/// ([`super::sign_in_limit`]).
pub async fn sign_in(
    State(accounts): State<Arc<Accounts>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: Session,
    Form(form): Form<SignInForm>,
) -> Response {
    let client = accounts.proxies.client_ip(peer.ip(), &headers);
    // No user has a longer name: not worth a hash, a log line or a map key.
    if form.username.len() > MAX_USERNAME {
        return see_other("/users/sign_in?failed=1");
    }
    if let Some(secs) = accounts.limiter.retry_after(&form.username, client) {
        tracing::warn!(user = form.username, %client, "sign-in rate-limited");
        metrics::counter!(crate::prometheus::SIGN_IN_RATE_LIMITED).increment(1);
        return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, secs.to_string())], "Too many failed sign-in attempts; try again later.\n")
            .into_response();
    }
    let user = match accounts.db.user(&form.username).await {
        Ok(user) => user,
        Err(e) => {
            tracing::error!(error = %e, "user lookup failed");
            metrics::counter!(crate::prometheus::DATABASE_ERRORS).increment(1);
            return (StatusCode::SERVICE_UNAVAILABLE, "the user database is unavailable\n").into_response();
        }
    };
    let stamp = user.as_ref().map(credential_stamp);
    let ok = match user {
        Some(user) => verify_password(form.password, user.password_hash).await,
        // As long as a wrong password takes: the answer's time does not tell
        // which usernames exist.
        None => {
            let _ = verify_password(form.password, dummy_hash().await).await;
            false
        }
    };
    if !ok {
        accounts.limiter.failed(&form.username, client);
        tracing::info!(user = form.username, %client, "sign-in failed");
        metrics::counter!(crate::prometheus::SIGN_IN_FAILURES).increment(1);
        return see_other("/users/sign_in?failed=1");
    }
    accounts.limiter.succeeded(&form.username);
    // A new id at every sign-in: no session fixation.
    if let Err(e) = async {
        session.cycle_id().await?;
        session.insert(SESSION_USER, &form.username).await?;
        session.insert(SESSION_STAMP, &stamp).await
    }
    .await
    {
        tracing::error!(error = %e, "session store failed");
        return (StatusCode::SERVICE_UNAVAILABLE, "the session store is unavailable\n").into_response();
    }
    tracing::info!(user = form.username, "signed in");
    see_other("/")
}

/// The longest username the sign-in form takes (bytes).
const MAX_USERNAME: usize = 255;

/// A hash of nothing anyone types, to spend a password check's time on an
/// unknown username.
async fn dummy_hash() -> String {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY.get_or_init(|| async { hash_password(crate::secrets::random_id(24)).await.unwrap_or_default() }).await.clone()
}

/// `POST /users/sign_out`.
pub async fn sign_out(session: Session) -> Response {
    let _ = session.flush().await;
    see_other("/")
}

/// The signed-in user, if any: the session's user, still existing, with
/// the credentials the session was opened with (deleting a user or setting
/// their password signs their sessions out).
pub async fn signed_in_user(db: &Database, session: &Session) -> sqlx::Result<Option<User>> {
    let Some(name) = session.get::<String>(SESSION_USER).await.ok().flatten() else { return Ok(None) };
    let stamp = session.get::<String>(SESSION_STAMP).await.ok().flatten();
    let user = db.user(&name).await?;
    Ok(user.filter(|user| stamp.as_deref() == Some(credential_stamp(user).as_str())))
}

/// `GET /api/v4/user`: `{"username": "…", "is_admin": false}` or 401.
pub async fn current_user(State(accounts): State<Arc<Accounts>>, session: Session) -> Response {
    let user = signed_in_user(&accounts.db, &session).await.ok().flatten();
    match user {
        Some(user) => Json(serde_json::json!({"username": user.username, "is_admin": user.admin})).into_response(),
        None => super::error::refusal(StatusCode::UNAUTHORIZED, "401 Unauthorized"),
    }
}

/// Creates the demo users `root` (admin), `maintainer` (Maintainer of
/// `demo/shop`) and `developer` (Developer of `demo/shop`). With `password`
/// they get it (every start); without, new users get a random one, which is
/// returned so it can be printed once.
pub async fn create_demo_users(db: &Database, password: Option<&str>) -> anyhow::Result<Option<String>> {
    let generated = password.is_none().then(|| crate::secrets::random_id(16));
    let pw = password.or(generated.as_deref()).unwrap_or_default();
    let mut created = false;
    for (name, admin) in [("root", true), ("maintainer", false), ("developer", false)] {
        // A new hash would sign everybody out at every start: keep one that
        // already matches.
        if let Some(user) = db.user(name).await? {
            if password.is_none() || verify_password(pw.to_string(), user.password_hash).await {
                continue;
            }
        }
        created |= db.put_user(name, pw, admin, true).await?;
    }
    db.set_membership("maintainer", "demo/shop", Role::Maintainer).await?;
    db.set_membership("developer", "demo/shop", Role::Developer).await?;
    Ok(generated.filter(|_| created))
}

/// Creates the admin `root` with `password` unless a user `root` exists
/// (GitLab's first start with `GITLAB_ROOT_PASSWORD`).
pub async fn create_initial_root(db: &Database, password: &str) -> anyhow::Result<()> {
    anyhow::ensure!(password.chars().count() >= 8, "the initial root password must have at least 8 characters");
    if db.put_user("root", password, true, false).await? {
        println!("created the admin user root");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn users_memberships_and_passwords_in_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        assert_eq!(create_demo_users(&db, Some("pw")).await.unwrap(), None);
        let root = db.user("root").await.unwrap().unwrap();
        assert!(root.admin && root.password_hash.starts_with("$argon2id$"));
        assert!(verify_password("pw".into(), root.password_hash.clone()).await);
        assert!(!verify_password("nope".into(), root.password_hash).await);
        assert_eq!(db.membership("maintainer", "demo/shop").await.unwrap(), Some(Role::Maintainer));
        assert_eq!(db.membership("developer", "demo/shop").await.unwrap(), Some(Role::Developer));
        assert_eq!(db.membership("root", "demo/shop").await.unwrap(), None);
        assert!(Role::Maintainer > Role::Developer && Role::Owner > Role::Maintainer);
    }
}
