//! HTTP: one module per feature, each with its `router()`, merged here with the middleware that
//! every route shares (request ids, tracing, CSRF origin check, security headers, body limit).

pub mod assignment;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod cases;
pub mod channels;
pub mod customers;
pub mod export;
pub mod extract;
pub mod health;
pub mod inbound;
pub mod mail;
pub mod notifications;
pub mod openapi;
pub mod push;
pub mod refused_body;
pub mod reports;
pub mod saved_replies;
pub mod sso;
pub mod tags;
pub mod team;
pub mod totp;
pub mod twilio;
pub mod web;
pub mod webhooks;
pub mod workspace;
pub mod ws;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::error::Error;
use crate::AppState;

/// Request bodies above this are refused with 413 (messages are text; attachments are not here).
pub const BODY_LIMIT: usize = 256 * 1024;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The API routes with their OpenAPI description, before state and middleware.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(auth::router())
        .merge(audit::router())
        .merge(totp::router())
        .merge(sso::router())
        .merge(workspace::router())
        .merge(team::router())
        .merge(cases::router())
        .merge(assignment::router())
        .merge(saved_replies::router())
        .merge(tags::router())
        .merge(inbound::router())
        .merge(mail::router())
        .merge(attachments::router())
        .merge(channels::router())
        .merge(customers::router())
        .merge(export::router())
        .merge(reports::router())
        .merge(webhooks::router())
        .merge(notifications::router())
        .merge(push::router())
        .merge(health::router())
}

pub fn router(state: AppState) -> Router {
    let (api, mut spec) = api().split_for_parts();
    openapi::describe_errors(&mut spec);
    let spec = std::sync::Arc::new(spec);
    api.merge(openapi::router(spec))
        .merge(ws::router())
        .merge(push::pages())
        .merge(twilio::router())
        .merge(web::router())
        .route_layer(middleware::from_fn_with_state(state.metrics.clone(), crate::metrics::track_http))
        .layer(middleware::from_fn_with_state(state.clone(), refuse_foreign_origin))
        .layer(middleware::from_fn_with_state(state.clone(), note_client))
        .layer(middleware::from_fn(json_body_errors))
        .layer(middleware::from_fn(refused_body::drain_refused_body))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(web::CSP)))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .with_state(state)
}

/// CSRF: a state-changing request that a browser sends from another site carries that site's
/// `Origin`; refuse it before any handler runs. Requests without `Origin` (API clients, curl)
/// pass, unless the browser says the request is cross-site. The ingest webhook and the unsubscribe
/// link are exempt: each is authenticated by its own token, never by a cookie.
async fn refuse_foreign_origin(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // The ingest webhook and the unsubscribe link carry their own token and no cookie.
    if safe
        || matches!(
            req.uri().path(),
            "/api/inbound" | "/api/inbound/email" | "/unsubscribe"
        )
    {
        return next.run(req).await;
    }
    let headers = req.headers();
    let allowed = match headers.get(header::ORIGIN) {
        Some(origin) => origin
            .to_str()
            .is_ok_and(|o| state.origin_allowed(o, headers)),
        None => headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|site| site != "cross-site"),
    };
    if allowed {
        next.run(req).await
    } else {
        tracing::warn!(path = %req.uri().path(), "refused a cross-site request");
        Error::Forbidden("cross-site request refused").into_response()
    }
}

/// The longest `User-Agent` kept for the sessions list and the audit log.
const USER_AGENT_MAX: usize = 256;

/// Makes where the request comes from (address and browser) known to the use cases that record
/// it: sessions and the audit log (`service::audit::client`).
async fn note_client(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| extract::client_ip(info.0.ip(), headers, &state.config.trusted_proxies));
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(USER_AGENT_MAX).collect());
    let client = crate::store::ClientInfo {
        ip: ip.map(|ip| ip.to_string()),
        user_agent,
    };
    crate::service::audit::with_client(client, next.run(req)).await
}

/// axum answers a few body problems itself in plain text (too large, not JSON); give them the
/// API's JSON error shape.
async fn json_body_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/plain"));
    if !plain {
        return response;
    }
    match response.status().as_u16() {
        413 => Error::TooLarge.into_response(),
        405 => (response.status(), axum::Json(serde_json::json!({ "error": { "code": "method_not_allowed", "message": "method not allowed" } }))).into_response(),
        _ => response,
    }
}
