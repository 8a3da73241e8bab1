//! Sign-up, sign-in, sign-out, `GET /api/me`, personal API tokens, invite acceptance.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{ApiJson, Auth, PathId, SESSION_COOKIE};
use crate::domain::Role;
use crate::error::Result;
use crate::service::accounts;
use crate::store::{NotificationPrefs, SessionInfo, Teammate, Workspace};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login, logout))
        .routes(routes!(me))
        .routes(routes!(create_token))
        .routes(routes!(sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(invite))
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
    /// The two-factor code (or a recovery code), when the first answer was `totp_required`.
    pub totp: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// Required, except in a workspace that signs in through its identity provider only,
    /// where it must be left out.
    pub password: Option<String>,
}

/// An invitation as its link shows it, before it is accepted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InviteBody {
    pub workspace_name: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    /// The workspace signs in through its identity provider only: accepting takes no password,
    /// and signing in goes through the provider.
    pub sso_only: bool,
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
    /// Whether signing in asks this teammate for a two-factor code.
    pub totp: bool,
    /// The workspace requires two-factor sign-in and this teammate has not turned it on: until
    /// they do, this session may only enrol (`POST /api/me/totp`, then `…/confirm`).
    pub totp_enrolment_required: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenBody {
    pub token: String,
    /// Its id in `GET /api/me/sessions`.
    pub id: Uuid,
}

/// Workspaces are shown with their ingest token to admins only.
pub fn workspace_for(teammate: &Teammate, mut workspace: Workspace) -> Workspace {
    if !teammate.role.can_admin() {
        workspace.ingest_token = None;
    }
    workspace
}

pub(super) async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    jar: CookieJar,
    teammate: Teammate,
    workspace: Workspace,
) -> Result<(CookieJar, Json<SessionBody>)> {
    let (token, _) = accounts::start_session(state, &teammate).await?;
    let cookie = Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies(headers))
        .path("/")
        .max_age(time::Duration::days(accounts::SESSION_DAYS));
    let workspace = workspace_for(&teammate, workspace);
    Ok((
        jar.add(cookie),
        Json(SessionBody {
            teammate,
            workspace,
        }),
    ))
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
    let (workspace, owner) = accounts::sign_up(
        &state,
        &body.workspace_name,
        &body.name,
        &body.email,
        body.password,
    )
    .await?;
    start_session(&state, &headers, jar, owner, workspace).await
}

/// Sign in with email and password. Rate-limited per client address and per account.
#[utoipa::path(post, path = "/api/session", tag = "auth", security(()), request_body = LoginBody,
    responses((status = 200, body = SessionBody), (status = 401, description = "wrong email, password or two-factor code; code `totp_required` when the password was right and a code is needed"), (status = 429, description = "too many attempts")))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<impl IntoResponse> {
    let client = super::extract::client_ip(peer.ip(), &headers, &state.config.trusted_proxies);
    let (workspace, teammate) = accounts::sign_in(
        &state,
        client,
        &body.email,
        body.password,
        body.totp.as_deref(),
    )
    .await?;
    start_session(&state, &headers, jar, teammate, workspace).await
}

/// Sign out: the session ends here and its sockets close on every instance.
#[utoipa::path(delete, path = "/api/session", tag = "auth", responses((status = 204), (status = 401)))]
async fn logout(
    State(state): State<AppState>,
    auth: Auth,
    jar: CookieJar,
) -> Result<impl IntoResponse> {
    accounts::sign_out(&state, &auth.teammate, &auth.token_hash).await?;
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
    let totp = crate::service::totp::required(&state, &auth.teammate).await?;
    Ok(Json(MeBody {
        workspace: workspace_for(&auth.teammate, workspace),
        teammate: auth.teammate,
        notifications,
        totp,
        totp_enrolment_required: auth.totp_pending,
    }))
}

/// A personal API token (`Authorization: Bearer …`) for scripts and load tests. Shown once.
#[utoipa::path(post, path = "/api/tokens", tag = "auth", responses((status = 201, body = TokenBody), (status = 401)))]
async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<(StatusCode, Json<TokenBody>)> {
    let (token, id) = accounts::create_api_token(&state, &auth.teammate).await?;
    Ok((StatusCode::CREATED, Json(TokenBody { token, id })))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionsBody {
    /// Browser sessions and personal API tokens, most recently used first.
    pub sessions: Vec<SessionInfo>,
}

/// The caller's own browser sessions and API tokens: when each was created and last used, from
/// which address and browser. `current` marks the one this request used.
#[utoipa::path(get, path = "/api/me/sessions", tag = "auth", responses((status = 200, body = SessionsBody), (status = 401)))]
async fn sessions(State(state): State<AppState>, auth: Auth) -> Result<Json<SessionsBody>> {
    let sessions = accounts::sessions(&state, &auth.teammate, auth.session_id).await?;
    Ok(Json(SessionsBody { sessions }))
}

/// Revoke one of the caller's sessions or API tokens: it stops working at once and its sockets
/// close on every instance.
#[utoipa::path(delete, path = "/api/me/sessions/{id}", tag = "auth",
    params(("id" = Uuid, Path, description = "a session's or token's id from `GET /api/me/sessions`")),
    responses((status = 204), (status = 401), (status = 404, description = "not a session of the caller")))]
async fn revoke_session(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<StatusCode> {
    accounts::revoke(&state, &auth.teammate, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An invitation, as the page its link opens shows it: for whom, into which workspace, and
/// whether accepting it takes a password.
#[utoipa::path(get, path = "/api/invites/{token}", tag = "team", security(()),
    params(("token" = String, Path, description = "the token from the invite link")),
    responses((status = 200, body = InviteBody), (status = 404, description = "unknown, used or expired invite")))]
async fn invite(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Result<Json<InviteBody>> {
    let (invite, sso_only) = accounts::pending_invite(&state, &token).await?;
    Ok(Json(InviteBody {
        workspace_name: invite.workspace_name,
        email: invite.email,
        name: invite.name,
        role: invite.role,
        expires_at: invite.expires_at,
        sso_only,
    }))
}

/// Accept an invitation: choose a password (none where the workspace signs in through its
/// provider only), join the workspace, get signed in.
#[utoipa::path(post, path = "/api/invites/{token}/accept", tag = "team", security(()), request_body = AcceptBody,
    params(("token" = String, Path, description = "the token from the invite link")),
    responses((status = 200, body = SessionBody), (status = 404, description = "unknown, used or expired invite"), (status = 409, description = "email already in use"),
        (status = 422, description = "field `password`: missing, too weak, or given where the workspace signs in through its provider only")))]
async fn accept_invite(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(body): ApiJson<AcceptBody>,
) -> Result<impl IntoResponse> {
    let (workspace, teammate) = accounts::accept_invite(&state, &token, body.password).await?;
    start_session(&state, &headers, jar, teammate, workspace).await
}
