//! `GET /ws`: the WebSocket handshake. Origin and credentials are checked before the upgrade
//! (403 and 401), so no cross-site page can open a socket with a teammate's cookie.
//!
//! The upgrade itself (RFC 6455 §4.2.2) is answered here, not by axum's `WebSocketUpgrade`: the
//! connection needs the upgraded stream itself, to write frames encoded once for every socket
//! (`realtime::wire`), which axum's `WebSocket` cannot do.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

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
    let (on_upgrade, accept) = upgrade(&mut parts)?;
    let hub = state.hub.clone();
    let session = Session {
        workspace_id: auth.teammate.workspace_id,
        teammate_id: auth.teammate.id,
        session_id: auth.session_id,
        since,
        instance: state.instance.clone(),
        expires_at: auth.expires_at,
    };
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!(error = %e, "the WebSocket upgrade did not complete");
                return;
            }
        };
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config()))
                .await;
        let (workspace_id, teammate_id) = (session.workspace_id, session.teammate_id);
        tokio::spawn(async move {
            if let Err(e) =
                crate::service::routing::came_online(&state, workspace_id, teammate_id).await
            {
                tracing::warn!(error = %e, "marking a teammate online failed");
            }
        });
        connection::run(socket, hub, session).await
    });
    let response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, HeaderValue::from_static("upgrade"))
        .header(header::UPGRADE, HeaderValue::from_static("websocket"))
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .expect("a valid 101 response");
    Ok(response)
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// Checks the client's half of the opening handshake; answers with the connection's upgrade
/// and the `Sec-WebSocket-Accept` value.
fn upgrade(parts: &mut Parts) -> Result<(OnUpgrade, String), Error> {
    let headers = &parts.headers;
    if !header_has_token(headers, header::CONNECTION, "upgrade") {
        return Err(Error::BadRequest(
            "Connection header did not include 'upgrade'".into(),
        ));
    }
    if !header_is(headers, header::UPGRADE, "websocket") {
        return Err(Error::BadRequest(
            "`Upgrade` header did not include 'websocket'".into(),
        ));
    }
    if !header_is(headers, header::SEC_WEBSOCKET_VERSION, "13") {
        return Err(Error::BadRequest(
            "`Sec-WebSocket-Version` header did not include '13'".into(),
        ));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| Error::BadRequest("`Sec-WebSocket-Key` header missing".into()))?;
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = parts
        .extensions
        .remove::<OnUpgrade>()
        .ok_or_else(|| Error::BadRequest("WebSocket request couldn't be upgraded".into()))?;
    Ok((on_upgrade, accept))
}

fn header_is(headers: &HeaderMap, name: header::HeaderName, value: &str) -> bool {
    headers
        .get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

/// A comma-separated header (`Connection: keep-alive, Upgrade`) lists `token`.
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    /// A browser's opening handshake, as RFC 6455 §1.3 shows it.
    fn handshake() -> axum::http::request::Builder {
        Request::get("/ws")
            .header(header::CONNECTION, "keep-alive, Upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
    }

    fn parts(builder: axum::http::request::Builder) -> Parts {
        let mut req = builder.body(()).expect("a request");
        let on_upgrade = hyper::upgrade::on(&mut req);
        let (mut parts, ()) = req.into_parts();
        parts.extensions.insert(on_upgrade);
        parts
    }

    #[test]
    fn a_browsers_handshake_gets_the_rfcs_accept_value() {
        let (_, accept) = upgrade(&mut parts(handshake())).expect("accepted");
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn a_handshake_missing_a_part_is_refused_naming_it() {
        let without = |name: header::HeaderName| {
            let mut builder = handshake();
            builder.headers_mut().expect("headers").remove(&name);
            match upgrade(&mut parts(builder)) {
                Err(Error::BadRequest(message)) => message,
                other => panic!("not refused: {:?}", other.map(|(_, accept)| accept)),
            }
        };
        assert!(without(header::CONNECTION).contains("upgrade"));
        assert!(without(header::UPGRADE).contains("websocket"));
        assert!(without(header::SEC_WEBSOCKET_VERSION).contains("13"));
        assert!(without(header::SEC_WEBSOCKET_KEY).contains("Sec-WebSocket-Key"));
        let not_upgradable = handshake().body(()).expect("a request");
        let (mut parts, ()) = not_upgradable.into_parts();
        assert!(matches!(upgrade(&mut parts), Err(Error::BadRequest(_))));
    }
}
