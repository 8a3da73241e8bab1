//! Workspace settings: name, case prefix, reopen window, category keywords, ingest token.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::workspace_for;
use super::extract::{new_token, ApiJson, Auth};
use crate::domain::{input, numbers};
use crate::error::{Error, Result};
use crate::store::{Workspace, WorkspacePatch};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_workspace, patch_workspace))
        .routes(routes!(rotate_ingest_token))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceBody {
    pub name: Option<String>,
    /// 1 to 8 letters or digits; shown upper-case in case numbers (`BT-000123`).
    pub case_prefix: Option<String>,
    /// Days after closing during which a customer's new message reopens the case (0 to 3650).
    pub reopen_days: Option<i64>,
    /// Category → keywords that detect it in an inbound message.
    pub category_keywords: Option<BTreeMap<String, Vec<String>>>,
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
#[utoipa::path(patch, path = "/api/workspace", tag = "workspace", request_body = WorkspaceBody,
    responses((status = 200, body = Workspace), (status = 403), (status = 422, description = "invalid field")))]
async fn patch_workspace(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<WorkspaceBody>,
) -> Result<Json<Workspace>> {
    auth.require(
        auth.role().can_admin(),
        "only admins change workspace settings",
    )?;
    let patch = WorkspacePatch {
        name: body
            .name
            .as_deref()
            .map(|n| input::name("name", n))
            .transpose()?,
        case_prefix: body
            .case_prefix
            .as_deref()
            .map(|p| {
                numbers::parse_prefix(p).ok_or_else(|| {
                    Error::invalid("case_prefix", "must be 1 to 8 letters or digits")
                })
            })
            .transpose()?,
        reopen_days: body
            .reopen_days
            .map(|d| {
                if (0..=3650).contains(&d) {
                    Ok(d)
                } else {
                    Err(Error::invalid("reopen_days", "must be 0 to 3650"))
                }
            })
            .transpose()?,
        category_keywords: body.category_keywords.map(check_keywords).transpose()?,
    };
    let committed = state
        .store
        .update_workspace(auth.teammate.workspace_id, auth.teammate.id, patch)
        .await?;
    state.publish(committed.events).await;
    Ok(Json(workspace_for(&auth.teammate, committed.value)))
}

fn check_keywords(
    keywords: BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, Vec<String>>> {
    if keywords.len() > 50 {
        return Err(Error::invalid("category_keywords", "at most 50 categories"));
    }
    let mut out = BTreeMap::new();
    for (category, words) in keywords {
        let category = input::name("category_keywords", &category)?.to_lowercase();
        if words.len() > 100 || words.iter().any(|w| w.trim().is_empty() || w.len() > 50) {
            return Err(Error::invalid(
                "category_keywords",
                "each category takes up to 100 keywords of 1 to 50 characters",
            ));
        }
        out.insert(
            category,
            words.into_iter().map(|w| w.trim().to_lowercase()).collect(),
        );
    }
    Ok(out)
}

/// Replace the ingest token (the old one stops working at once). Admin and owner.
#[utoipa::path(post, path = "/api/workspace/ingest-token", tag = "workspace", responses((status = 200, body = IngestTokenBody), (status = 403)))]
async fn rotate_ingest_token(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<IngestTokenBody>> {
    auth.require(
        auth.role().can_admin(),
        "only admins rotate the ingest token",
    )?;
    let token = new_token("bti_");
    state
        .store
        .set_ingest_token(auth.teammate.workspace_id, &token)
        .await?;
    Ok(Json(IngestTokenBody {
        ingest_token: token,
    }))
}
