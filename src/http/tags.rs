//! Tags: the workspace's list with counts per view, and the tags on a case.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiJson, Auth, PathId, PathIds};
use crate::domain::ids::{CaseId, TagId};
use crate::error::Result;
use crate::service::tags::{self, NewTag, TagChanges};
use crate::store::{Case, ListedTag, Tag};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tags, create_tag))
        .routes(routes!(update_tag, delete_tag))
        .routes(routes!(tag_case))
        .routes(routes!(untag_case))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TagList {
    /// By name, each with its open cases per view (`mine` is the caller's).
    pub tags: Vec<ListedTag>,
    /// Only admins add tags (the workspace's `tags_locked`).
    pub locked: bool,
}

/// The workspace's tags, with how many open cases carry each in every view.
#[utoipa::path(get, path = "/api/tags", tag = "tags", responses((status = 200, body = TagList), (status = 401)))]
async fn list_tags(State(state): State<AppState>, auth: Auth) -> Result<Json<TagList>> {
    let tags = tags::list(&state, &auth.teammate).await?;
    let locked = state
        .store
        .workspace(auth.teammate.workspace_id)
        .await?
        .tags_locked;
    Ok(Json(TagList { tags, locked }))
}

/// Add a tag to the list (agents too, unless admins locked the list: then 403).
#[utoipa::path(post, path = "/api/tags", tag = "tags", request_body = NewTag,
    responses((status = 201, body = Tag), (status = 403), (status = 409), (status = 422)))]
async fn create_tag(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<NewTag>,
) -> Result<(StatusCode, Json<Tag>)> {
    let tag = tags::create(&state, &auth.teammate, body).await?;
    Ok((StatusCode::CREATED, Json(tag)))
}

/// Rename or recolour a tag (admins and owners).
#[utoipa::path(patch, path = "/api/tags/{id}", tag = "tags", params(("id" = uuid::Uuid, Path)), request_body = TagChanges,
    responses((status = 200, body = Tag), (status = 403), (status = 404), (status = 409), (status = 422)))]
async fn update_tag(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<TagId>,
    ApiJson(body): ApiJson<TagChanges>,
) -> Result<Json<Tag>> {
    Ok(Json(tags::update(&state, &auth.teammate, id, body).await?))
}

/// Delete a tag; it comes off every case (admins and owners).
#[utoipa::path(delete, path = "/api/tags/{id}", tag = "tags", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
async fn delete_tag(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<TagId>,
) -> Result<StatusCode> {
    tags::delete(&state, &auth.teammate, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Put a tag on the case by name; a name not on the list adds it (403 for agents when the list
/// is locked).
#[utoipa::path(post, path = "/api/cases/{id}/tags", tag = "tags", params(("id" = uuid::Uuid, Path)), request_body = NewTag,
    responses((status = 200, body = Case), (status = 403), (status = 404), (status = 422)))]
async fn tag_case(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<CaseId>,
    ApiJson(body): ApiJson<NewTag>,
) -> Result<Json<Case>> {
    Ok(Json(
        tags::tag_case(&state, &auth.teammate, id, body).await?,
    ))
}

/// Take a tag off the case.
#[utoipa::path(delete, path = "/api/cases/{id}/tags/{tag_id}", tag = "tags",
    params(("id" = uuid::Uuid, Path), ("tag_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Case), (status = 403), (status = 404)))]
async fn untag_case(
    State(state): State<AppState>,
    auth: Auth,
    PathIds(case_id, tag_id): PathIds<CaseId, TagId>,
) -> Result<Json<Case>> {
    Ok(Json(
        tags::untag_case(&state, &auth.teammate, case_id, tag_id).await?,
    ))
}
