//! `GET /api/attachments/{id}`: a file on a message, for the teammates of its workspace only.
//! Always a download (`Content-Disposition: attachment`, `nosniff`, a sandboxing CSP): a
//! customer's HTML or SVG is never rendered as a page of Baton's origin.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiQuery, Auth, PathId};
use crate::domain::ids::AttachmentId;
use crate::error::Result;
use crate::store::Attachment;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(DefaultBodyLimit::max(crate::attachments::MAX_FILE + 1))
        .merge(OpenApiRouter::new().routes(routes!(download)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name as the customer will see it.
    pub filename: String,
}

/// Upload a file for your next reply or note: the body is the file, `Content-Type` its type.
/// Answers its id for `attachment_ids` of `POST /api/cases/{id}/messages`.
#[utoipa::path(post, path = "/api/attachments", tag = "cases", params(UploadQuery),
    request_body(content = String, content_type = "application/octet-stream"),
    responses((status = 201, body = Attachment), (status = 401), (status = 403), (status = 413), (status = 422)))]
async fn upload(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Attachment>)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    let attachment = crate::service::messages::upload_attachment(
        &state,
        &auth.teammate,
        &query.filename,
        content_type,
        &body,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(attachment)))
}

/// The bytes of one attachment, as a download.
#[utoipa::path(get, path = "/api/attachments/{id}", tag = "cases", params(("id" = Uuid, Path)),
    responses((status = 200, description = "the file, with its type, as an attachment"), (status = 401), (status = 404)))]
async fn download(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<AttachmentId>,
) -> Result<Response> {
    let file = state
        .store
        .attachment(auth.teammate.workspace_id, id)
        .await?;
    let bytes = crate::attachments::read(&state.config.data_dir, &file.sha256).await?;
    let content_type = HeaderValue::from_str(&file.attachment.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let disposition = HeaderValue::from_str(&disposition(&file.attachment.filename))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox; default-src 'none'"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266).
fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_name_is_quoted_and_encoded() {
        assert_eq!(
            super::disposition("Rechnung März.pdf"),
            "attachment; filename=\"Rechnung M_rz.pdf\"; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf"
        );
    }
}
