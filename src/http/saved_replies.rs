//! Saved replies: the workspace's and the caller's own; filled in for a case on demand.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiJson, Auth, PathId, PathIds};
use crate::domain::ids::{CaseId, SavedReplyId};
use crate::error::Result;
use crate::service::saved_replies::{self, NewSavedReply, Rendered, SavedReplyChanges};
use crate::store::SavedReply;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_saved_replies, create_saved_reply))
        .routes(routes!(update_saved_reply, delete_saved_reply))
        .routes(routes!(render_saved_reply))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SavedReplyList {
    pub saved_replies: Vec<SavedReply>,
}

/// The workspace's saved replies and the caller's own, by name.
#[utoipa::path(get, path = "/api/saved-replies", tag = "saved replies", responses((status = 200, body = SavedReplyList), (status = 401)))]
async fn list_saved_replies(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<SavedReplyList>> {
    let saved_replies = saved_replies::list(&state, &auth.teammate).await?;
    Ok(Json(SavedReplyList { saved_replies }))
}

/// Save a reply: `personal` (anyone who replies) or `workspace` (admins and owners). A variable
/// other than the four known ones is a 400 `unknown_variable` and nothing is saved.
#[utoipa::path(post, path = "/api/saved-replies", tag = "saved replies", request_body = NewSavedReply,
    responses((status = 201, body = SavedReply), (status = 400, description = "unknown variable"), (status = 403), (status = 422)))]
async fn create_saved_reply(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<NewSavedReply>,
) -> Result<(StatusCode, Json<SavedReply>)> {
    let reply = saved_replies::create(&state, &auth.teammate, body).await?;
    Ok((StatusCode::CREATED, Json(reply)))
}

/// Change a saved reply's name or text (its author; admins for the workspace's).
#[utoipa::path(patch, path = "/api/saved-replies/{id}", tag = "saved replies", params(("id" = uuid::Uuid, Path)), request_body = SavedReplyChanges,
    responses((status = 200, body = SavedReply), (status = 400, description = "unknown variable"), (status = 403), (status = 404), (status = 422)))]
async fn update_saved_reply(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<SavedReplyId>,
    ApiJson(body): ApiJson<SavedReplyChanges>,
) -> Result<Json<SavedReply>> {
    Ok(Json(
        saved_replies::update(&state, &auth.teammate, id, body).await?,
    ))
}

/// Delete a saved reply (its author; admins for the workspace's).
#[utoipa::path(delete, path = "/api/saved-replies/{id}", tag = "saved replies", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
async fn delete_saved_reply(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<SavedReplyId>,
) -> Result<StatusCode> {
    saved_replies::delete(&state, &auth.teammate, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A saved reply's text filled in for this case: the customer's names, the caller's name and
/// the case number. Nothing is sent.
#[utoipa::path(post, path = "/api/cases/{id}/saved-replies/{reply_id}/render", tag = "saved replies",
    params(("id" = uuid::Uuid, Path), ("reply_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Rendered), (status = 401), (status = 404)))]
async fn render_saved_reply(
    State(state): State<AppState>,
    auth: Auth,
    PathIds(case_id, reply_id): PathIds<CaseId, SavedReplyId>,
) -> Result<Json<Rendered>> {
    Ok(Json(
        saved_replies::render(&state, &auth.teammate, case_id, reply_id).await?,
    ))
}
