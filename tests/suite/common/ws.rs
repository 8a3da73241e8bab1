//! A WebSocket client that speaks the protocol as a browser tab does.

use std::time::Duration;

use serde_json::Value;

/// A WebSocket client as a browser tab or the load generator would hold one.
pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ws {
    /// Connects with a bearer token; `since` resumes atomically at the handshake.
    pub async fn connect(base: &str, token: &str, since: Option<i64>) -> Result<Ws, u16> {
        let mut url = format!("{}/ws?token={token}", base.replace("http://", "ws://"));
        if let Some(s) = since {
            url.push_str(&format!("&since={s}"));
        }
        Self::connect_request(url.as_str(), &[]).await
    }

    pub async fn connect_request(url: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request().unwrap();
        for (k, v) in headers {
            request.headers_mut().insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(Ws { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    /// The next JSON frame, or None after `wait` (or when the socket closed).
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            match tokio::time::timeout(wait, self.stream.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Some(serde_json::from_str(t.as_str()).expect("server frames are JSON"))
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                    return None
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Waits for the close frame and returns its code.
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }

    /// The next frame of `kind` (`event`s are matched on their `event.kind`), skipping others.
    pub async fn expect(&mut self, kind: &str, wait: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self
                .next(left)
                .await
                .unwrap_or_else(|| panic!("no {kind} frame within {wait:?}"));
            let matches = frame["type"] == kind
                || (frame["type"] == "event" && frame["event"]["kind"] == kind);
            if matches {
                return frame;
            }
        }
    }

    /// All event frames until `wait` passes with nothing new, and at most for four times `wait`
    /// (a socket that never falls quiet, presence frames say, must not hold a test forever).
    pub async fn drain_events(&mut self, wait: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + wait * 4;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(frame) = self.next(wait.min(left)).await else {
                break;
            };
            if frame["type"] == "event" {
                out.push(frame);
            }
        }
        out
    }

    pub async fn send(&mut self, v: Value) {
        use futures_util::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::Text(
                v.to_string().into(),
            ))
            .await
            .unwrap();
    }
}
