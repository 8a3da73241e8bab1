//! A body refused as too large is read to its end (up to a bound) before the 413 leaves.
//!
//! The body limit stops reading at the limit. Were the connection closed with the rest of the
//! body unread, the kernel would answer the client's next bytes with a reset, and a client or a
//! proxy that is still sending can see that reset before it reads the 413: nginx then answers
//! 502 instead of Baton's own error. Reading the rest and dropping it lets the answer arrive,
//! and the connection stays open for the next request, as nginx's own "lingering close" does.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::{Stream, StreamExt};

use super::BODY_LIMIT;

/// At most this much of a refused body is read and dropped; a larger one is cut off as before.
const DRAIN_MOST: usize = 4 * 1024 * 1024;
/// A client that sends the rest slower than this is cut off.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

/// Middleware: a request that may carry more than the smallest body limit reads through a
/// shared handle, so that what the handler left unread can be read here once it answered 413.
/// Smaller bodies pass untouched.
pub async fn drain_refused_body(req: Request, next: Next) -> Response {
    if !may_exceed_limit(&req) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let shared = Shared(Arc::new(Mutex::new(body.into_data_stream())));
    let req = Request::from_parts(parts, Body::from_stream(shared.clone()));
    let response = next.run(req).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let _ = tokio::time::timeout(DRAIN_WAIT, drain(shared)).await;
    }
    response
}

/// A body over the limit says so in `Content-Length`, or comes chunked with no length at all.
fn may_exceed_limit(req: &Request) -> bool {
    let headers = req.headers();
    match headers.get(header::CONTENT_LENGTH) {
        Some(length) => length
            .to_str()
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
            .is_none_or(|l| l > BODY_LIMIT),
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

async fn drain(mut rest: Shared) {
    let mut read = 0;
    while let Some(Ok(chunk)) = rest.next().await {
        read += chunk.len();
        if read > DRAIN_MOST {
            break;
        }
    }
}

/// The request body, readable by the handler and, after it, by `drain_refused_body`.
#[derive(Clone)]
struct Shared(Arc<Mutex<BodyDataStream>>);

impl Stream for Shared {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut body = self.0.lock().unwrap_or_else(|e| e.into_inner());
        body.poll_next_unpin(cx)
    }
}
