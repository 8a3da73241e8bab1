//! `GET /api/workspace/export`: the whole workspace as a `.tar.gz` download (owner only), and
//! `POST /api/customers/{id}/erase` (admins): see `service::export` and `service::customers`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{Auth, PathId};
use crate::error::Result;
use crate::store::Erasure;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export))
        .routes(routes!(erase))
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

/// Erase a customer: their name, addresses and phone, the text of every message and note on
/// their cases, their attachments, pending notifications and replies, and the event log's
/// copies. The cases stay, under "Erased customer", for statistics; the same address writing
/// again starts a new customer (admins and the owner).
#[utoipa::path(post, path = "/api/customers/{id}/erase", tag = "cases", params(("id" = Uuid, Path)),
    responses((status = 200, body = Erasure), (status = 401), (status = 403), (status = 404)))]
async fn erase(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Erasure>> {
    Ok(Json(
        crate::service::customers::erase(&state, &auth.teammate, id).await?,
    ))
}
