//! Assignment: assign, reassign, unassign; bulk reassign; the auto-assign rules.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{ApiJson, Auth, PathId};
use crate::domain::routing::Rules;
use crate::error::{Error, Result};
use crate::store::{AssignRequest, Case};
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
    pub assignee_id: Option<Uuid>,
    /// The case `version` the caller saw; a stale one gets 409 and the current case.
    pub if_version: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    pub from: Uuid,
    /// `null` returns the cases to the pool.
    pub to: Option<Uuid>,
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
    PathId(id): PathId,
    ApiJson(body): ApiJson<AssigneeBody>,
) -> Result<Json<Case>> {
    auth.require_on_case(
        &state,
        id,
        auth.role().can_assign(),
        "viewers cannot assign cases",
    )
    .await?;
    let request = AssignRequest {
        case_id: id,
        assignee_id: body.assignee_id,
        if_version: body.if_version,
        actor_id: auth.teammate.id,
    };
    let committed = state
        .store
        .assign(auth.teammate.workspace_id, request)
        .await?;
    state.publish(committed.events).await;
    Ok(Json(committed.value))
}

/// Move all open cases of one teammate to another, or back to the pool (manager and up).
#[utoipa::path(post, path = "/api/cases/bulk-reassign", tag = "assignment", request_body = BulkBody,
    responses((status = 200, body = BulkResult), (status = 403), (status = 422)))]
async fn bulk_reassign(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<BulkBody>,
) -> Result<Json<BulkResult>> {
    auth.require(
        auth.role().can_bulk_reassign(),
        "only managers and up move a whole queue",
    )?;
    let committed = state
        .store
        .bulk_reassign(
            auth.teammate.workspace_id,
            auth.teammate.id,
            body.from,
            body.to,
        )
        .await?;
    state.publish(committed.events).await;
    Ok(Json(BulkResult {
        moved: committed.value,
    }))
}

/// The auto-assign rules (admin and owner).
#[utoipa::path(get, path = "/api/assign-rules", tag = "assignment", responses((status = 200, body = Rules), (status = 403)))]
async fn get_rules(State(state): State<AppState>, auth: Auth) -> Result<Json<Rules>> {
    auth.require(
        auth.role().can_admin(),
        "only admins see the auto-assign rules",
    )?;
    Ok(Json(state.store.rules(auth.teammate.workspace_id).await?))
}

/// Replace the auto-assign rules (admin and owner). Every teammate named must be assignable.
#[utoipa::path(put, path = "/api/assign-rules", tag = "assignment", request_body = Rules,
    responses((status = 200, body = Rules), (status = 403), (status = 422)))]
async fn put_rules(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(rules): ApiJson<Rules>,
) -> Result<Json<Rules>> {
    auth.require(
        auth.role().can_admin(),
        "only admins change the auto-assign rules",
    )?;
    if rules.pool.len() > 500 || rules.categories.len() > 100 {
        return Err(Error::invalid("pool", "too many entries"));
    }
    let mut seen = std::collections::HashSet::new();
    if !rules.pool.iter().all(|id| seen.insert(*id)) {
        return Err(Error::invalid("pool", "a teammate appears twice"));
    }
    let committed = state
        .store
        .set_rules(auth.teammate.workspace_id, auth.teammate.id, rules)
        .await?;
    state.publish(committed.events).await;
    Ok(Json(committed.value))
}
