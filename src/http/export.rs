//! `GET /api/workspace/export`: the whole workspace as a `.tar.gz` download (owner only); see
//! `service::export`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::Auth;
use crate::error::Result;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export))
}

/// Download the workspace: cases, messages, notes, timelines, customers, teammates and channels
/// (no secrets) as NDJSON files, and every attachment, in one `.tar.gz` (docs/export.md).
#[utoipa::path(get, path = "/api/workspace/export", tag = "workspace",
    responses((status = 200, description = "the archive, streamed", content_type = "application/gzip"), (status = 401), (status = 403)))]
async fn export(State(state): State<AppState>, auth: Auth) -> Result<Response> {
    let export = crate::service::export::export(&state, &auth.teammate).await?;
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{}\"", export.filename))
            .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/gzip"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        Body::from_stream(export.body),
    )
        .into_response())
}
