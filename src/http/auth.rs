//! Sign-up, sign-in, sign-out, `GET /api/me`, personal API tokens, invite acceptance.

use std::net::SocketAddr;
use std::sync::LazyLock;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{hash_token, new_token, ApiJson, Auth, SESSION_COOKIE};
use crate::bus::BusMessage;
use crate::domain::input;
use crate::error::{Error, Result};
use crate::store::{NotificationPrefs, Teammate, TokenKind, Workspace};
use crate::AppState;

const SESSION_DAYS: i64 = 30;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login, logout))
        .routes(routes!(me))
        .routes(routes!(create_token))
        .routes(routes!(accept_invite))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    pub workspace_name: String,
    pub name: String,
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    pub password: String,
}

/// Signup, login and invite acceptance answer this and set the session cookie.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionBody {
    pub teammate: Teammate,
    pub workspace: Workspace,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeBody {
    pub teammate: Teammate,
    pub workspace: Workspace,
    pub notifications: NotificationPrefs,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenBody {
    pub token: String,
}

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(anyhow::anyhow!("hashing failed: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Hashing is deliberately slow (tens of milliseconds): keep it off the async workers.
async fn hash_password_blocking(password: String) -> Result<String> {
    password_work(move || hash_password(&password)).await?
}

/// Runs password hashing on a blocking thread, at most one per core at a time. Each Argon2 hash
/// takes 19 MiB; unbounded, a burst of sign-ins or invite acceptances ran hundreds at once,
/// each on its own thread and malloc arena, and left the server a gigabyte bigger for good.
/// Waiting for a turn costs a burst some latency instead.
async fn password_work<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    static TURNS: LazyLock<Semaphore> = LazyLock::new(|| {
        Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    let _turn = TURNS
        .acquire()
        .await
        .expect("the semaphore is never closed");
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(e.into()))
}

/// Workspaces are shown with their ingest token to admins only.
pub fn workspace_for(teammate: &Teammate, mut workspace: Workspace) -> Workspace {
    if !teammate.role.can_admin() {
        workspace.ingest_token = None;
    }
    workspace
}

async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    jar: CookieJar,
    teammate: Teammate,
    workspace: Workspace,
) -> Result<(CookieJar, Json<SessionBody>)> {
    let token = new_token("");
    let expires = chrono::Utc::now() + chrono::Duration::days(SESSION_DAYS);
    state
        .store
        .create_token(
            teammate.id,
            &hash_token(&token),
            TokenKind::Session,
            Some(expires),
        )
        .await?;
    let cookie = Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies(headers))
        .path("/")
        .max_age(time_days(SESSION_DAYS));
    let workspace = workspace_for(&teammate, workspace);
    Ok((
        jar.add(cookie),
        Json(SessionBody {
            teammate,
            workspace,
        }),
    ))
}

fn time_days(days: i64) -> time::Duration {
    time::Duration::days(days)
}

/// Create a workspace and its owner, and sign the owner in.
#[utoipa::path(post, path = "/api/signup", tag = "auth", security(()), request_body = SignupBody,
    responses((status = 200, body = SessionBody), (status = 409, description = "email already in use"), (status = 422, description = "invalid field")))]
async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(body): ApiJson<SignupBody>,
) -> Result<impl IntoResponse> {
    let workspace_name = input::name("workspace_name", &body.workspace_name)?;
    let name = input::name("name", &body.name)?;
    let email = input::email("email", &body.email)?;
    let password = input::password("password", &body.password)?;
    let hash = hash_password_blocking(password).await?;
    let committed = state
        .store
        .create_workspace(&workspace_name, &name, &email, &hash, &new_token("bti_"))
        .await?;
    let (workspace, owner) = committed.value;
    state.publish(committed.events).await;
    tracing::info!(workspace = %workspace.id, "workspace created");
    start_session(&state, &headers, jar, owner, workspace).await
}

/// Sign in with email and password. Rate-limited per client address and per account.
#[utoipa::path(post, path = "/api/session", tag = "auth", security(()), request_body = LoginBody,
    responses((status = 200, body = SessionBody), (status = 401, description = "wrong email or password"), (status = 429, description = "too many attempts")))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<impl IntoResponse> {
    let client = super::extract::client_ip(peer.ip(), &headers, &state.config.trusted_proxies);
    state
        .login_by_address
        .hit(&client.to_string())
        .map_err(|secs| Error::RateLimited {
            retry_after_secs: secs,
        })?;
    let email = input::email("email", &body.email)?;
    let account_key = format!("account:{email}");
    state
        .login_by_account
        .hit(&account_key)
        .map_err(|secs| Error::RateLimited {
            retry_after_secs: secs,
        })?;
    let credentials = state.store.credentials(&email).await?;
    let password = body.password;
    let verified = match credentials {
        Some(c) => {
            let hash = c.password_hash.clone();
            let ok = password_work(move || verify_password(&password, &hash)).await?;
            ok.then_some(c.teammate)
        }
        None => {
            // Same work for unknown accounts, so timing does not reveal who has one.
            let _ = hash_password_blocking(password).await;
            None
        }
    };
    let Some(teammate) = verified else {
        tracing::info!("failed sign-in");
        return Err(Error::Unauthorized);
    };
    state.login_by_account.reset(&account_key);
    let workspace = state.store.workspace(teammate.workspace_id).await?;
    start_session(&state, &headers, jar, teammate, workspace).await
}

/// Sign out: the session ends here and its sockets close on every instance.
#[utoipa::path(delete, path = "/api/session", tag = "auth", responses((status = 204), (status = 401)))]
async fn logout(
    State(state): State<AppState>,
    auth: Auth,
    jar: CookieJar,
) -> Result<impl IntoResponse> {
    state.store.delete_token(&auth.token_hash).await?;
    let _ = state
        .broker
        .publish(BusMessage::Disconnect {
            workspace_id: auth.teammate.workspace_id,
            teammate_id: auth.teammate.id,
        })
        .await;
    Ok((
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        StatusCode::NO_CONTENT,
    ))
}

/// The signed-in teammate, their workspace and notification preferences.
#[utoipa::path(get, path = "/api/me", tag = "auth", responses((status = 200, body = MeBody), (status = 401)))]
async fn me(State(state): State<AppState>, auth: Auth) -> Result<Json<MeBody>> {
    let workspace = state.store.workspace(auth.teammate.workspace_id).await?;
    let notifications = state.store.prefs(auth.teammate.id).await?;
    Ok(Json(MeBody {
        workspace: workspace_for(&auth.teammate, workspace),
        teammate: auth.teammate,
        notifications,
    }))
}

/// A personal API token (`Authorization: Bearer …`) for scripts and load tests. Shown once.
#[utoipa::path(post, path = "/api/tokens", tag = "auth", responses((status = 201, body = TokenBody), (status = 401)))]
async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<(StatusCode, Json<TokenBody>)> {
    let token = new_token("btk_");
    state
        .store
        .create_token(auth.teammate.id, &hash_token(&token), TokenKind::Api, None)
        .await?;
    Ok((StatusCode::CREATED, Json(TokenBody { token })))
}

/// Accept an invitation: choose a password, join the workspace, get signed in.
#[utoipa::path(post, path = "/api/invites/{token}/accept", tag = "team", security(()), request_body = AcceptBody,
    params(("token" = String, Path, description = "the token from the invite link")),
    responses((status = 200, body = SessionBody), (status = 404, description = "unknown, used or expired invite"), (status = 409, description = "email already in use")))]
async fn accept_invite(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(body): ApiJson<AcceptBody>,
) -> Result<impl IntoResponse> {
    let password = input::password("password", &body.password)?;
    let hash = hash_password_blocking(password).await?;
    let committed = state
        .store
        .accept_invite(&hash_token(&token), &hash)
        .await?;
    let (workspace, teammate) = committed.value;
    state.publish(committed.events).await;
    start_session(&state, &headers, jar, teammate, workspace).await
}
