//! Single sign-on (DESIGN.md §18): the workspace's identity provider for owners and admins, and
//! the sign-in that goes to the provider and comes back to `/sso/callback`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiJson, Auth};
use crate::error::{Error, Result};
use crate::service::sso::{self, SsoSettings, SsoUpdate};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, put_settings, delete_settings))
        .routes(routes!(start))
        .routes(routes!(callback))
}

/// The workspace's identity provider; `null` when it has none. The client secret is never
/// shown (`client_secret_set` says whether one is stored).
#[utoipa::path(get, path = "/api/workspace/sso", tag = "workspace",
    responses((status = 200, body = Option<SsoSettings>), (status = 401), (status = 403, description = "owners and admins only")))]
async fn get_settings(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Option<SsoSettings>>> {
    Ok(Json(sso::get(&state, &auth.teammate).await?))
}

/// Set the workspace's identity provider: issuer, client id and secret (left out: the stored one
/// stays), the email domains that sign in with it, whether new teammates of those domains join
/// (`join_role`: `agent` or `null`), and `sso_only` (members may no longer sign in with a
/// password; the owner still can).
#[utoipa::path(put, path = "/api/workspace/sso", tag = "workspace", request_body = SsoUpdate,
    responses((status = 200, body = SsoSettings), (status = 401), (status = 403, description = "owners and admins only"),
        (status = 409, description = "a domain signs in to another workspace"), (status = 422, description = "invalid field")))]
async fn put_settings(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<SsoUpdate>,
) -> Result<Json<SsoSettings>> {
    Ok(Json(sso::put(&state, &auth.teammate, body).await?))
}

/// Remove the identity provider: everyone signs in with their password again.
#[utoipa::path(delete, path = "/api/workspace/sso", tag = "workspace",
    responses((status = 204), (status = 401), (status = 403, description = "owners and admins only"), (status = 404, description = "no provider set")))]
async fn delete_settings(State(state): State<AppState>, auth: Auth) -> Result<StatusCode> {
    sso::delete(&state, &auth.teammate).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    pub email: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StartAnswer {
    /// The identity provider's sign-in page: send the browser there.
    pub url: String,
}

/// Start a single sign-on: the email's domain finds the workspace and its provider. Answers
/// where to send the browser; the provider sends it back to `/sso/callback`.
#[utoipa::path(post, path = "/api/sso/start", tag = "auth", security(()), request_body = StartBody,
    responses((status = 200, body = StartAnswer), (status = 404, description = "code `sso_not_configured`: no workspace signs in with single sign-on for this email"),
        (status = 422, description = "not an email address"), (status = 429, description = "too many sign-in attempts from this address"), (status = 503, description = "the identity provider cannot be reached")))]
async fn start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<Json<StartAnswer>> {
    let client = super::extract::client_ip(peer.ip(), &headers, &state.config.trusted_proxies);
    let url = sso::start(&state, client, &body.email).await?;
    Ok(Json(StartAnswer { url }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The provider's authorization code.
    pub code: Option<String>,
    /// The `state` of the sign-in this answers; good once.
    pub state: Option<String>,
    /// The provider's error, when it refused.
    pub error: Option<String>,
}

/// Where the identity provider sends the browser back. On success a session starts (the same
/// cookie as a password sign-in) and the browser goes to `/`; otherwise to
/// `/login?sso_error=<code>`. Both outcomes are in the audit log.
#[utoipa::path(get, path = "/sso/callback", tag = "auth", security(()), params(CallbackQuery),
    responses((status = 303, description = "to `/` signed in, or to `/login?sso_error=…`")))]
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    query: std::result::Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return refused("invalid_request");
    };
    let finished = sso::finish(
        &state,
        query.code.as_deref(),
        query.state.as_deref(),
        query.error.as_deref(),
    )
    .await;
    let (workspace, teammate) = match finished {
        Ok(found) => found,
        Err(why) => return refused(why.code),
    };
    match super::auth::start_session(&state, &headers, jar, teammate, workspace).await {
        Ok((jar, _)) => (jar, Redirect::to("/")).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "single sign-on: starting the session failed");
            refused(match e {
                Error::Unavailable => "unavailable",
                _ => "internal",
            })
        }
    }
}

fn refused(code: &str) -> Response {
    Redirect::to(&format!("/login?sso_error={code}")).into_response()
}
