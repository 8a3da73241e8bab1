//! `POST /api/inbound`: the webhook that channels (email, SMS, web forms) call with each
//! customer message. Authenticated by the workspace's ingest token alone.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{parse_json, JsonBytes};
use crate::domain::input;
use crate::error::{Error, Result};
use crate::store::{Inbound, InboundOutcome, Workspace};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(inbound))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct From {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct InboundBody {
    /// `email`, `sms`, `web`, `chat`, … (letters, digits, `_` and `-`).
    pub channel: String,
    pub from: From,
    pub subject: Option<String>,
    pub body: String,
    /// Overrides keyword detection.
    pub category: Option<String>,
    /// The channel's own message id: delivering the same one twice makes one message.
    pub external_id: Option<String>,
    /// An `api` channel of the workspace: the case's replies are POSTed to its webhook.
    pub channel_id: Option<crate::domain::ids::ChannelId>,
}

/// Decodes and checks one webhook body: exactly what `POST /api/inbound` does with the bytes it
/// was sent, after the ingest token. Public so that the fuzz target (`fuzz/`) drives the same
/// path as the server, without a request or a store. Every refusal is a 400 (not JSON, not an
/// object) or a 422 naming the field.
pub fn parse_payload(bytes: &[u8]) -> Result<Inbound> {
    parse(parse_json::<InboundBody>(bytes)?)
}

fn parse(body: InboundBody) -> Result<Inbound> {
    let channel = body.channel.trim().to_lowercase();
    if channel.is_empty()
        || channel.len() > 32
        || !channel
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::invalid(
            "channel",
            "must be 1 to 32 letters, digits, '_' or '-'",
        ));
    }
    let email = body
        .from
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(|e| input::email("from.email", e))
        .transpose()?;
    let phone = body
        .from
        .phone
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .map(|p| input::phone("from.phone", p))
        .transpose()?;
    if email.is_none() && phone.is_none() {
        return Err(Error::invalid("from", "needs an email or a phone number"));
    }
    let subject = match body.subject.as_deref() {
        Some(raw) => input::subject("subject", raw)?,
        None => None,
    };
    let category = body
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| input::name("category", c).map(|c| c.to_lowercase()))
        .transpose()?;
    let external_id = body.external_id.filter(|e| !e.is_empty());
    if external_id.as_ref().is_some_and(|e| e.len() > 200) {
        return Err(Error::invalid("external_id", "must be at most 200 bytes"));
    }
    Ok(Inbound {
        channel,
        from_name: input::name("from.name", &body.from.name)?,
        email,
        phone,
        subject,
        body: input::body("body", &body.body, crate::service::messages::MAX_BODY)?,
        category,
        external_id,
        channel_id: body.channel_id,
        mail: None,
    })
}

/// A customer message: creates a case, appends to the customer's open case, or reopens a
/// recently closed one (keeping its assignee). Idempotent on `external_id`.
#[utoipa::path(post, path = "/api/inbound", tag = "inbound", request_body = InboundBody,
    security(("ingest_token" = [])),
    responses((status = 201, body = InboundOutcome, description = "a new case"), (status = 200, body = InboundOutcome, description = "added to an existing case"),
        (status = 401, description = "missing or unknown ingest token"), (status = 422)))]
async fn inbound(
    State(state): State<AppState>,
    IngestWorkspace(workspace): IngestWorkspace,
    JsonBytes(body): JsonBytes,
) -> Result<(StatusCode, Json<InboundOutcome>)> {
    let message = parse_payload(&body)?;
    let outcome = crate::service::inbound::receive(&state, workspace.id, message).await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(outcome)))
}

/// The workspace whose ingest token the request carries (`Authorization: Bearer …`). It is an
/// extractor so that it runs before the body is read: without the token, the answer is 401
/// whatever the body says.
pub(super) struct IngestWorkspace(pub Workspace);

impl FromRequestParts<AppState> for IngestWorkspace {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(Error::Unauthorized)?;
        state
            .store
            .workspace_by_ingest_token(token.trim())
            .await?
            .map(IngestWorkspace)
            .ok_or(Error::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(bytes: &[u8]) -> u16 {
        parse_payload(bytes).unwrap_err().status().as_u16()
    }

    #[test]
    fn a_webhook_body_becomes_a_checked_message() {
        let message = parse_payload(
            r#"{"channel":" SMS ","from":{"name":" Zoë Ñúñez ","phone":"+1 (555) 010-0000"},
                "subject":"  Where is my order?  ","body":"Hi!\nIt is late.","external_id":"m-1"}"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(message.channel, "sms");
        assert_eq!(message.from_name, "Zoë Ñúñez");
        assert_eq!(message.email, None);
        assert_eq!(message.phone.as_deref(), Some("+15550100000"));
        assert_eq!(message.subject.as_deref(), Some("Where is my order?"));
        assert_eq!(message.body, "Hi!\nIt is late.");
        assert_eq!(message.external_id.as_deref(), Some("m-1"));
    }

    #[test]
    fn a_long_subject_is_cut_not_refused() {
        let subject = format!("Re: Fwd: {}", "Ärger mit der Lieferung ".repeat(20));
        let body = serde_json::json!({ "channel": "email", "from": { "name": "Jo", "email": "jo@example.com" }, "subject": subject, "body": "hi" });
        let message = parse_payload(body.to_string().as_bytes()).unwrap();
        let kept = message.subject.unwrap();
        assert_eq!(kept.chars().count(), input::MAX_SUBJECT, "cut at the limit");
        assert!(subject.starts_with(&kept));
        let blank = serde_json::json!({ "channel": "email", "from": { "name": "Jo", "email": "jo@example.com" }, "subject": "   ", "body": "hi" });
        assert_eq!(
            parse_payload(blank.to_string().as_bytes()).unwrap().subject,
            None
        );
    }

    #[test]
    fn refusals_are_400_for_the_shape_and_422_for_a_field() {
        assert_eq!(status(b""), 400, "empty");
        assert_eq!(status(b"{\"channel\":"), 400, "truncated");
        assert_eq!(status(b"\xff\xfe"), 422, "not an object");
        assert_eq!(
            status(b"[\"web\", {\"name\": \"x\"}, null, \"hi\"]"),
            422,
            "array"
        );
        let no_contact = br#"{"channel":"web","from":{"name":"Dana"},"body":"hi"}"#;
        assert_eq!(status(no_contact), 422);
        let bad_channel =
            br#"{"channel":"e mail","from":{"name":"D","email":"d@x.io"},"body":"hi"}"#;
        assert_eq!(status(bad_channel), 422);
        let header_injection =
            br#"{"channel":"email","from":{"name":"D\r\nBcc: x@y.z","email":"d@x.io"},"body":"hi"}"#;
        assert_eq!(status(header_injection), 422);
    }
}
