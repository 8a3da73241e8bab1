//! The team: search (the assign dropdown), invites, role and away changes, removal.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiJson, ApiQuery, Auth, PathId};
use crate::domain::ids::TeammateId;
use crate::domain::Role;
use crate::error::Result;
use crate::service::team;
use crate::store::{RoutingPatch, Teammate, Which};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teammates))
        .routes(routes!(update_teammate, remove_teammate))
        .routes(routes!(invite))
        .routes(routes!(presence))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TeammateQuery {
    /// Matches name or email.
    pub q: Option<String>,
    /// Only teammates who can be assigned cases (not viewers).
    pub assignable: Option<bool>,
    /// Also teammates who were removed (`active: false`), to name them on old cases and
    /// timelines. Ignored with `assignable`.
    pub removed: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TeammateList {
    pub teammates: Vec<Teammate>,
    /// Open cases per teammate holding any, to show against `max_open`.
    #[serde(default)]
    pub open_cases: std::collections::HashMap<TeammateId, i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeammatePatch {
    pub role: Option<Role>,
    /// Away teammates are skipped by round-robin.
    pub away: Option<bool>,
    /// Most open cases auto-assignment gives this teammate (admin+); `null`: the workspace's
    /// `capacity`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub max_open: Option<Option<i64>>,
    /// Away from this moment (RFC 3339), by itself; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub away_from: Option<Option<DateTime<Utc>>>,
    /// Back at this moment, by itself; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub away_until: Option<Option<DateTime<Utc>>>,
}

/// A field that is present (even as `null`) is `Some`; an absent one stays `None` by `default`.
fn present<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveBody {
    /// Who takes the departing teammate's open cases; `null` returns them to the pool.
    pub reassign_to: Option<TeammateId>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RemovedBody {
    /// How many open cases were moved.
    pub moved: usize,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    pub email: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InviteCreated {
    pub token: String,
    /// The link to send to the invitee.
    pub url: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PresenceList {
    pub online: Vec<crate::realtime::presence::TeammatePresence>,
}

/// Teammates of the caller's workspace, by name.
#[utoipa::path(get, path = "/api/teammates", tag = "team", params(TeammateQuery), responses((status = 200, body = TeammateList), (status = 401)))]
async fn list_teammates(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<TeammateQuery>,
) -> Result<Json<TeammateList>> {
    let which = match (query.assignable, query.removed) {
        (Some(true), _) => Which::Assignable,
        (_, Some(true)) => Which::EverMember,
        _ => Which::Active,
    };
    let teammates = state
        .store
        .teammates(auth.teammate.workspace_id, query.q.as_deref(), which)
        .await?;
    let open_cases = state.store.open_cases(auth.teammate.workspace_id).await?;
    Ok(Json(TeammateList {
        teammates,
        open_cases,
    }))
}

/// Change a teammate's role (admin+) or away flag (admin+, or the teammate themselves).
#[utoipa::path(patch, path = "/api/teammates/{id}", tag = "team", request_body = TeammatePatch, params(("id" = Uuid, Path)),
    responses((status = 200, body = Teammate), (status = 403), (status = 404), (status = 422)))]
async fn update_teammate(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<TeammateId>,
    ApiJson(body): ApiJson<TeammatePatch>,
) -> Result<Json<Teammate>> {
    let routing = RoutingPatch {
        away_from: body.away_from,
        away_until: body.away_until,
        max_open: body.max_open,
    };
    let teammate = team::update(&state, &auth.teammate, id, body.role, body.away, routing).await?;
    Ok(Json(teammate))
}

/// Remove a teammate, deciding in the same step who takes their open cases.
#[utoipa::path(delete, path = "/api/teammates/{id}", tag = "team", request_body = RemoveBody, params(("id" = Uuid, Path)),
    responses((status = 200, body = RemovedBody), (status = 403), (status = 404), (status = 422)))]
async fn remove_teammate(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<TeammateId>,
    ApiJson(body): ApiJson<RemoveBody>,
) -> Result<Json<RemovedBody>> {
    let moved = team::remove(&state, &auth.teammate, id, body.reassign_to).await?;
    Ok(Json(RemovedBody { moved }))
}

/// Invite someone by email with a role (admin+). Answers the invite link; it works for 7 days.
#[utoipa::path(post, path = "/api/invites", tag = "team", request_body = InviteBody,
    responses((status = 201, body = InviteCreated), (status = 403), (status = 409, description = "already a teammate"), (status = 422)))]
async fn invite(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<InviteBody>,
) -> Result<(StatusCode, Json<InviteCreated>)> {
    let token = team::invite(&state, &auth.teammate, &body.email, &body.name, body.role).await?;
    let url = format!("{}/invite/{token}", state.origin);
    Ok((StatusCode::CREATED, Json(InviteCreated { token, url })))
}

/// Who is online now, on any instance, and what they are viewing or typing on.
#[utoipa::path(get, path = "/api/presence", tag = "team", responses((status = 200, body = PresenceList), (status = 401)))]
async fn presence(State(state): State<AppState>, auth: Auth) -> Result<Json<PresenceList>> {
    Ok(Json(PresenceList {
        online: state.hub.presence.list(auth.teammate.workspace_id).await,
    }))
}
