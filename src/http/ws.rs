//! `GET /ws`: the WebSocket handshake. Origin and credentials are checked before the upgrade
//! (403 and 401), so no cross-site page can open a socket with a teammate's cookie.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::extract::{authenticate, check_enrolment, presented_token};
use crate::error::Error;
use crate::realtime::connection::{self, Session};
use crate::AppState;

/// 64 KiB: the largest client frame. Bigger closes the socket with 1009.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Small buffers: at tens of thousands of sockets, the 128 KiB defaults would cost gigabytes.
/// The read buffer is held for the socket's whole life, and clients send short frames (`ping`,
/// `viewing`, `typing`: well under 200 bytes), so it is small; a longer frame (up to
/// `MAX_MESSAGE`) makes it grow.
const READ_BUFFER: usize = 512;
const WRITE_BUFFER: usize = 4 * 1024;
const MAX_WRITE_BUFFER: usize = 256 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(handshake))
}

async fn handshake(State(state): State<AppState>, req: Request) -> Response {
    match accept(state, req).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn accept(state: AppState, req: Request) -> Result<Response, Error> {
    let (mut parts, _body) = req.into_parts();
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or(""));
    if let Some(origin) = origin {
        if !state.origin_allowed(origin, &parts.headers) {
            tracing::warn!(origin, "refused a WebSocket from a foreign origin");
            return Err(Error::Forbidden("origin not allowed"));
        }
    }
    let (token, by_cookie) = presented_token(&parts, true).ok_or(Error::Unauthorized)?;
    if by_cookie && origin.is_none() {
        return Err(Error::Forbidden(
            "a cookie-authenticated socket needs an Origin",
        ));
    }
    let auth = authenticate(&state, &token, by_cookie).await?;
    check_enrolment(&auth, "GET", "/ws")?;
    if state.hub.is_shutting_down() {
        return Err(Error::Unavailable);
    }
    let since = parts
        .uri
        .query()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "since")
                .map(|(_, v)| v.into_owned())
        })
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| Error::invalid("since", "must be an integer"))
        })
        .transpose()?;
    let upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection> =
        WebSocketUpgrade::from_request_parts(&mut parts, &state).await;
    let upgrade = upgrade.map_err(|e| Error::BadRequest(e.body_text()))?;
    let hub = state.hub.clone();
    let session = Session {
        workspace_id: auth.teammate.workspace_id,
        teammate_id: auth.teammate.id,
        session_id: auth.session_id,
        since,
        instance: state.instance.clone(),
        expires_at: auth.expires_at,
    };
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| {
            let (workspace_id, teammate_id) = (session.workspace_id, session.teammate_id);
            tokio::spawn(async move {
                if let Err(e) =
                    crate::service::routing::came_online(&state, workspace_id, teammate_id).await
                {
                    tracing::warn!(error = %e, "marking a teammate online failed");
                }
            });
            connection::run(socket, hub, session)
        }))
}
