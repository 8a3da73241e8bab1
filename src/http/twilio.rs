//! Twilio's webhooks for an `sms_twilio` channel: `POST /hooks/twilio/{channel_id}` (a text)
//! and `POST /hooks/twilio/{channel_id}/status` (a reply's delivery status). Form-encoded and
//! signed; the answer is an empty TwiML `<Response/>`, so Twilio sends nothing back by itself.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;

use crate::error::Result;
use crate::AppState;

const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hooks/twilio/{channel_id}", post(text))
        .route("/hooks/twilio/{channel_id}/status", post(status))
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn signature(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
}

fn parse_id(raw: &str) -> Result<crate::domain::ids::ChannelId> {
    raw.parse().map_err(|_| crate::error::Error::NotFound)
}

fn twiml() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        EMPTY_TWIML,
    )
}

async fn text(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse> {
    let channel_id = parse_id(&channel_id)?;
    crate::service::sms::receive_text(&state, channel_id, signature(&headers), &form(&body))
        .await?;
    Ok(twiml())
}

async fn status(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse> {
    let channel_id = parse_id(&channel_id)?;
    crate::service::sms::status(&state, channel_id, signature(&headers), &form(&body)).await?;
    Ok(twiml())
}
