//! Assignment: assign, reassign, unassign; bulk reassign; the auto-assign rules.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiJson, Auth, PathId};
use crate::domain::ids::{CaseId, TeammateId};
use crate::domain::routing::Rules;
use crate::error::Result;
use crate::service::{assignment, rules};
use crate::store::Case;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_assignee))
        .routes(routes!(bulk_reassign))
        .routes(routes!(get_rules, put_rules))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssigneeBody {
    /// The new assignee; `null` unassigns (back to the pool).
    pub assignee_id: Option<TeammateId>,
    /// The case `version` the caller saw; a stale one gets 409 and the current case.
    pub if_version: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    pub from: TeammateId,
    /// `null` returns the cases to the pool.
    pub to: Option<TeammateId>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkResult {
    pub moved: usize,
}

/// Assign, reassign (no need to unassign first) or unassign (`null`). Owner, admin, manager and
/// agent may; viewers may not, and cannot be assigned.
#[utoipa::path(put, path = "/api/cases/{id}/assignee", tag = "assignment", params(("id" = Uuid, Path)), request_body = AssigneeBody,
    responses((status = 200, body = Case), (status = 403), (status = 404), (status = 409, description = "stale if_version; `error.current` is the case now"), (status = 422)))]
async fn set_assignee(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<CaseId>,
    ApiJson(body): ApiJson<AssigneeBody>,
) -> Result<Json<Case>> {
    let case = assignment::assign(
        &state,
        &auth.teammate,
        id,
        body.assignee_id,
        body.if_version,
    )
    .await?;
    Ok(Json(case))
}

/// Move all open cases of one teammate to another, or back to the pool (manager and up).
#[utoipa::path(post, path = "/api/cases/bulk-reassign", tag = "assignment", request_body = BulkBody,
    responses((status = 200, body = BulkResult), (status = 403), (status = 422)))]
async fn bulk_reassign(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<BulkBody>,
) -> Result<Json<BulkResult>> {
    let moved = assignment::bulk_reassign(&state, &auth.teammate, body.from, body.to).await?;
    Ok(Json(BulkResult { moved }))
}

/// The auto-assign rules (admin and owner).
#[utoipa::path(get, path = "/api/assign-rules", tag = "assignment", responses((status = 200, body = Rules), (status = 403)))]
async fn get_rules(State(state): State<AppState>, auth: Auth) -> Result<Json<Rules>> {
    Ok(Json(rules::get(&state, &auth.teammate).await?))
}

/// Replace the auto-assign rules (admin and owner). Every teammate named must be assignable.
#[utoipa::path(put, path = "/api/assign-rules", tag = "assignment", request_body = Rules,
    responses((status = 200, body = Rules), (status = 403), (status = 422)))]
async fn put_rules(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<Rules>,
) -> Result<Json<Rules>> {
    Ok(Json(rules::put(&state, &auth.teammate, body).await?))
}
