//! Email in and out over HTTP: `POST /api/inbound/email` takes one raw message (the ingest
//! token authenticates it, like `POST /api/inbound`), and a reply whose delivery failed can be
//! sent again.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::Auth;
use super::inbound::IngestWorkspace;
use crate::domain::ids::{CaseId, MessageId};
use crate::error::{Error, Result};
use crate::store::{InboundOutcome, Message};
use crate::AppState;

/// The largest raw message accepted (attachments included), as most mail servers allow.
pub const MAX_MESSAGE: usize = 25 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(inbound_email))
        .layer(DefaultBodyLimit::max(MAX_MESSAGE))
        .merge(OpenApiRouter::new().routes(routes!(retry_delivery)))
}

/// One raw email (`Content-Type: message/rfc822`, as a mail server or a provider's raw
/// forward hands it over). Threads by reply address, then by In-Reply-To/References, then like
/// `POST /api/inbound`; the same Message-ID twice is one message. A bounce of one of our
/// replies marks that reply failed.
#[utoipa::path(post, path = "/api/inbound/email", tag = "inbound",
    request_body(content = String, content_type = "message/rfc822"),
    security(("ingest_token" = [])),
    responses((status = 201, body = InboundOutcome, description = "a new case"), (status = 200, body = InboundOutcome, description = "added to an existing case"),
        (status = 400, description = "not a raw message"), (status = 401, description = "missing or unknown ingest token"), (status = 413), (status = 422)))]
async fn inbound_email(
    State(state): State<AppState>,
    IngestWorkspace(workspace): IngestWorkspace,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<InboundOutcome>)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json")
        || content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.starts_with("multipart/form-data")
    {
        return Err(Error::BadRequest(
            "send the raw message as the body, with Content-Type: message/rfc822".into(),
        ));
    }
    let outcome = crate::service::inbound::receive_email(&state, workspace.id, &body).await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(outcome)))
}

/// Send a reply whose delivery failed again (owner, admin, manager, agent).
#[utoipa::path(post, path = "/api/cases/{case_id}/messages/{message_id}/retry", tag = "cases",
    params(("case_id" = Uuid, Path), ("message_id" = Uuid, Path)),
    responses((status = 200, body = Message, description = "queued again"), (status = 403), (status = 404), (status = 422, description = "its delivery has not failed")))]
async fn retry_delivery(
    State(state): State<AppState>,
    auth: Auth,
    Path((case_id, message_id)): Path<(String, String)>,
) -> Result<Json<Message>> {
    let (Ok(case_id), Ok(message_id)) =
        (case_id.parse::<CaseId>(), message_id.parse::<MessageId>())
    else {
        return Err(Error::NotFound);
    };
    let message =
        crate::service::messages::retry_delivery(&state, &auth.teammate, case_id, message_id)
            .await?;
    Ok(Json(message))
}
