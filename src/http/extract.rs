//! Extractors: who is calling (`Auth`), and request bodies and queries that fail with a 400/422
//! naming the field instead of axum's plain-text rejections.

use std::str::FromStr;

use crate::credentials::hash_token;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;

use crate::domain::Role;
use crate::error::Error;
use crate::store::{Teammate, TokenKind};
use crate::AppState;

pub const SESSION_COOKIE: &str = "baton_session";

/// The signed-in teammate, from the session cookie or an `Authorization: Bearer` token.
#[derive(Debug, Clone)]
pub struct Auth {
    pub teammate: Teammate,
    /// The session's or API token's id (`GET /api/me/sessions`).
    pub session_id: uuid::Uuid,
    pub token_hash: String,
    pub kind: TokenKind,
    /// When the credentials stop being valid (sessions), if ever (API tokens).
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Authenticated by cookie (a browser), as opposed to a bearer token.
    pub by_cookie: bool,
    /// A browser session of a teammate who must enrol in two-factor sign-in before anything
    /// else (the workspace requires it). API tokens are never held back.
    pub totp_pending: bool,
}

impl Auth {
    pub fn role(&self) -> Role {
        self.teammate.role
    }
}

/// The credential a request carries: bearer header, `?token=` (WebSocket clients that cannot
/// set headers), or the session cookie.
pub fn presented_token(parts: &Parts, allow_query: bool) -> Option<(String, bool)> {
    if let Some(value) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return value
            .strip_prefix("Bearer ")
            .map(|t| (t.trim().to_string(), false));
    }
    if allow_query {
        if let Some(token) = parts.uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
        }) {
            return Some((token, false));
        }
    }
    let jar = CookieJar::from_headers(&parts.headers);
    jar.get(SESSION_COOKIE)
        .map(|c| (c.value().to_string(), true))
}

pub async fn authenticate(state: &AppState, token: &str, by_cookie: bool) -> Result<Auth, Error> {
    if token.is_empty() || token.len() > 200 {
        return Err(Error::Unauthorized);
    }
    let token_hash = hash_token(token);
    let owner = crate::service::accounts::authenticate(state, &token_hash)
        .await?
        .ok_or(Error::Unauthorized)?;
    Ok(Auth {
        teammate: owner.teammate,
        session_id: owner.id,
        token_hash,
        kind: owner.kind,
        totp_pending: owner.totp_pending && owner.kind == TokenKind::Session,
        expires_at: owner.expires_at,
        by_cookie,
    })
}

/// What a session held back by `totp_pending` may still do: see who it is, enrol, sign out.
const ENROLMENT_ROUTES: [(&str, &str); 4] = [
    ("GET", "/api/me"),
    ("POST", "/api/me/totp"),
    ("POST", "/api/me/totp/confirm"),
    ("DELETE", "/api/session"),
];

/// Refuses a held-back session anything but enrolment.
pub fn check_enrolment(auth: &Auth, method: &str, path: &str) -> Result<(), Error> {
    if auth.totp_pending && !ENROLMENT_ROUTES.contains(&(method, path)) {
        return Err(Error::TotpEnrolmentRequired);
    }
    Ok(())
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (token, by_cookie) = presented_token(parts, false).ok_or(Error::Unauthorized)?;
        let auth = authenticate(state, &token, by_cookie).await?;
        check_enrolment(&auth, parts.method.as_str(), parts.uri.path())?;
        Ok(auth)
    }
}

/// A JSON body; malformed or mistyped input is a 400/422 that names the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The raw bytes of a request that says it carries JSON, not yet decoded: for a handler whose
/// body goes through a parser of its own that is also called without a request (the inbound
/// webhook's `parse_payload`, which the fuzz targets drive). A body that is not labelled JSON is
/// a 400, one over the limit a 413.
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let mime = ct.split(';').next().unwrap_or("").trim();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !json {
            return Err(Error::BadRequest(
                "expected a JSON body (Content-Type: application/json)".into(),
            ));
        }
        Bytes::from_request(req, state)
            .await
            .map(JsonBytes)
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Error::TooLarge
                } else {
                    Error::BadRequest("could not read the request body".into())
                }
            })
    }
}

/// Every request body of the API is a JSON object. serde would also fill a struct from an array
/// (`[null, null]`), which no client means: refuse that here, once.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(Error::invalid("body", "must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Error::BadRequest(format!("malformed JSON: {inner}"))
        } else {
            Error::invalid(field_of(&path, &inner.to_string()), inner.to_string())
        }
    })
}

/// serde names a missing field in its message, not in the path: `from` + "missing field `name`"
/// is `from.name`.
fn field_of(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(field)) => field.to_string(),
        (".", None) => "body".to_string(),
        (path, Some(field)) => format!("{path}.{field}"),
        (path, None) => path.to_string(),
    }
}

/// Query string parameters; a bad one is a 422 naming it.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let msg = e.into_inner().to_string();
                let field = if path == "." {
                    msg.split('`').nth(1).unwrap_or("query").to_string()
                } else {
                    path
                };
                Error::invalid(field, msg)
            })
    }
}

/// A path id that is not a UUID names nothing that exists: 404, like any unknown id. `T` says
/// what kind of id it is (`PathId<CaseId>`).
pub struct PathId<T = uuid::Uuid>(pub T);

impl<S: Send + Sync, T: FromStr> FromRequestParts<S> for PathId<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw): axum::extract::Path<String> =
            axum::extract::Path::from_request_parts(parts, state)
                .await
                .map_err(|_| Error::NotFound)?;
        raw.parse().map(PathId).map_err(|_| Error::NotFound)
    }
}

/// Two path ids (a case and something on it); either not a UUID is a 404, as for `PathId`.
pub struct PathIds<A, B>(pub A, pub B);

impl<S: Send + Sync, A: FromStr, B: FromStr> FromRequestParts<S> for PathIds<A, B> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path((a, b)): axum::extract::Path<(String, String)> =
            axum::extract::Path::from_request_parts(parts, state)
                .await
                .map_err(|_| Error::NotFound)?;
        match (a.parse(), b.parse()) {
            (Ok(a), Ok(b)) => Ok(PathIds(a, b)),
            _ => Err(Error::NotFound),
        }
    }
}

/// The client's address: the peer, or, when the peer is one of our own proxies, the rightmost
/// `X-Forwarded-For` entry that is not (entries further left can be forged by the client).
pub fn client_ip(
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    forwarded
        .iter()
        .rev()
        .filter_map(|s| s.parse::<std::net::IpAddr>().ok())
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ip_trusts_forwarded_for_only_from_our_proxies() {
        let proxy: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.9".parse().unwrap());
        assert_eq!(
            client_ip(proxy, &headers, &[proxy]).to_string(),
            "203.0.113.9",
            "rightmost untrusted entry"
        );
        assert_eq!(
            client_ip(proxy, &headers, &[]),
            proxy,
            "no trusted proxies: the peer"
        );
        let stranger: std::net::IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            client_ip(stranger, &headers, &[proxy]),
            stranger,
            "a stranger cannot claim an address"
        );
        assert_eq!(
            client_ip(proxy, &axum::http::HeaderMap::new(), &[proxy]),
            proxy
        );
    }
}
