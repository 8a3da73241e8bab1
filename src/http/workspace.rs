//! Workspace settings: name, case prefix, reopen window, category keywords, ingest token.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::workspace_for;
use super::extract::{ApiJson, Auth};
use crate::error::Result;
use crate::service::workspace::{self, WorkspaceChanges};
use crate::store::Workspace;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_workspace, patch_workspace))
        .routes(routes!(rotate_ingest_token))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IngestTokenBody {
    pub ingest_token: String,
}

/// The caller's workspace (admins also see its ingest token).
#[utoipa::path(get, path = "/api/workspace", tag = "workspace", responses((status = 200, body = Workspace), (status = 401)))]
async fn get_workspace(State(state): State<AppState>, auth: Auth) -> Result<Json<Workspace>> {
    let workspace = state.store.workspace(auth.teammate.workspace_id).await?;
    Ok(Json(workspace_for(&auth.teammate, workspace)))
}

/// Change settings (admin and owner).
#[utoipa::path(patch, path = "/api/workspace", tag = "workspace", request_body = WorkspaceChanges,
    responses((status = 200, body = Workspace), (status = 403), (status = 422, description = "invalid field")))]
async fn patch_workspace(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<WorkspaceChanges>,
) -> Result<Json<Workspace>> {
    let workspace = workspace::update(&state, &auth.teammate, body).await?;
    Ok(Json(workspace_for(&auth.teammate, workspace)))
}

/// Replace the ingest token (the old one stops working at once). Admin and owner.
#[utoipa::path(post, path = "/api/workspace/ingest-token", tag = "workspace", responses((status = 200, body = IngestTokenBody), (status = 403)))]
async fn rotate_ingest_token(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<IngestTokenBody>> {
    let ingest_token = workspace::rotate_ingest_token(&state, &auth.teammate).await?;
    Ok(Json(IngestTokenBody { ingest_token }))
}
