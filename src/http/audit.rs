//! `GET /api/audit`: the workspace's audit log, for owners and admins.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiQuery, Auth};
use crate::domain::ids::TeammateId;
use crate::error::Result;
use crate::service::audit;
use crate::store::AuditEntry;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// `next_cursor` of the previous page: entries older than it.
    pub before: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Only what this teammate did.
    pub actor: Option<TeammateId>,
    /// Only this action (`sign_in.failed`, `teammate.updated`, …).
    pub action: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only entries before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The audit log: admin actions and sign-ins (success and failure), newest first, with cursor
/// paging and filters. Owners and admins only.
#[utoipa::path(get, path = "/api/audit", tag = "workspace", params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 401), (status = 403, description = "not an owner or admin"), (status = 422, description = "a bad filter or cursor")))]
async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditPage>> {
    let filter = audit::Filter {
        before: params.before,
        limit: params.limit,
        actor: params.actor,
        action: params.action,
        since: params.since,
        until: params.until,
    };
    let (entries, next_cursor) = audit::page(&state, &auth.teammate, filter).await?;
    Ok(Json(AuditPage {
        entries,
        next_cursor,
    }))
}
