//! The browser inbox: `web/` embedded into the binary at compile time. Any other GET that is
//! not an API path gets `index.html`, so deep links like `/cases/{id}` load the app.

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rust_embed::RustEmbed;

use crate::AppState;

/// No inline script anywhere; sockets to this origin only.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                       worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

pub fn router() -> Router<AppState> {
    Router::new().fallback(serve)
}

async fn serve(method: axum::http::Method, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if method != axum::http::Method::GET && method != axum::http::Method::HEAD {
        return crate::error::Error::NotFound.into_response();
    }
    if path.starts_with("api/") {
        return crate::error::Error::NotFound.into_response();
    }
    let (name, file) = match Assets::get(path).filter(|_| !path.is_empty()) {
        Some(file) => (path, file),
        None if path.contains('.') => return crate::error::Error::NotFound.into_response(),
        None => match Assets::get("index.html") {
            Some(file) => ("index.html", file),
            None => {
                return (
                    StatusCode::NOT_FOUND,
                    "the web app is not built into this binary",
                )
                    .into_response()
            }
        },
    };
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let cache = if name == "index.html" || name == "sw.js" {
        "no-cache"
    } else {
        "public, max-age=300"
    };
    (
        [
            (header::CONTENT_TYPE, mime.as_ref().to_string()),
            (header::CACHE_CONTROL, cache.to_string()),
        ],
        file.data.into_owned(),
    )
        .into_response()
}
