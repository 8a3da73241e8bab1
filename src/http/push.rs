//! Web Push subscriptions and the email unsubscribe link.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{ApiJson, Auth};
use crate::error::{Error, Result};
use crate::notify::email::escape_html;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(public_key))
        .routes(routes!(subscribe, unsubscribe_push))
}

/// `/unsubscribe`: a page (GET shows a button, POST acts) outside the JSON API.
pub fn pages() -> Router<AppState> {
    Router::new().route(
        "/unsubscribe",
        get(unsubscribe_page).post(unsubscribe_email),
    )
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicKey {
    /// The VAPID public key (uncompressed P-256, base64url): the `applicationServerKey`.
    pub public_key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Keys {
    pub p256dh: String,
    pub auth: String,
}

/// A browser's `PushSubscription.toJSON()`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SubscriptionBody {
    pub endpoint: String,
    pub keys: Keys,
    #[serde(rename = "expirationTime")]
    pub expiration_time: Option<f64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EndpointBody {
    pub endpoint: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Subscribed {
    pub id: Uuid,
}

/// The key browsers subscribe with.
#[utoipa::path(get, path = "/api/push/key", tag = "notifications", responses((status = 200, body = PublicKey), (status = 401)))]
async fn public_key(State(state): State<AppState>, _auth: Auth) -> Json<PublicKey> {
    Json(PublicKey {
        public_key: state.notifier.vapid.public_key.clone(),
    })
}

fn decode_key(field: &'static str, raw: &str, len: usize) -> Result<()> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .map_err(|_| Error::invalid(field, "must be base64url"))?;
    if bytes.len() != len || (len == 65 && bytes[0] != 4) {
        return Err(Error::invalid(field, format!("must be {len} bytes")));
    }
    Ok(())
}

/// Push endpoints are https; plain http is accepted for loopback only (local push services).
fn check_endpoint(raw: &str) -> Result<()> {
    let url = url::Url::parse(raw).map_err(|_| Error::invalid("endpoint", "must be a URL"))?;
    let loopback = matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost");
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(Error::invalid("endpoint", "must be an https URL")),
    }
}

/// Store this browser's subscription for the caller (a re-subscribe replaces it).
#[utoipa::path(post, path = "/api/push/subscriptions", tag = "notifications", request_body = SubscriptionBody,
    responses((status = 201, body = Subscribed), (status = 401), (status = 422)))]
async fn subscribe(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<SubscriptionBody>,
) -> Result<(StatusCode, Json<Subscribed>)> {
    if body.endpoint.len() > 2048 {
        return Err(Error::invalid("endpoint", "too long"));
    }
    check_endpoint(&body.endpoint)?;
    decode_key("keys.p256dh", &body.keys.p256dh, 65)?;
    decode_key("keys.auth", &body.keys.auth, 16)?;
    let sub = state
        .store
        .add_push_subscription(
            auth.teammate.id,
            &body.endpoint,
            &body.keys.p256dh,
            &body.keys.auth,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(Subscribed { id: sub.id })))
}

/// Forget this browser's subscription.
#[utoipa::path(delete, path = "/api/push/subscriptions", tag = "notifications", request_body = EndpointBody,
    responses((status = 204), (status = 401), (status = 404)))]
async fn unsubscribe_push(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<EndpointBody>,
) -> Result<StatusCode> {
    if state
        .store
        .remove_push_subscription(auth.teammate.id, &body.endpoint)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound)
    }
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    t: Option<String>,
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Baton</title><link rel=\"stylesheet\" href=\"/styles.css\"></head><body class=\"plain-page\"><main><h1>{t}</h1>{body}</main></body></html>",
        t = escape_html(title)
    ))
}

/// Shows a confirmation button: a GET never changes anything (link scanners follow links).
async fn unsubscribe_page(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> impl IntoResponse {
    let Some(token) =
        q.t.filter(|t| state.notifier.verify_unsubscribe(t).is_some())
    else {
        return (
            StatusCode::NOT_FOUND,
            page(
                "Link not valid",
                "<p>This unsubscribe link is not valid.</p>",
            ),
        );
    };
    let form = format!(
        "<p>Stop notification emails from Baton? You can turn them back on in your notification settings.</p>\
         <form method=\"post\" action=\"/unsubscribe?t={}\"><button type=\"submit\">Stop emails</button></form>",
        escape_html(&token)
    );
    (StatusCode::OK, page("Stop emails", &form))
}

/// RFC 8058 one-click (mail providers POST `List-Unsubscribe=One-Click`), or the page's button.
async fn unsubscribe_email(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Result<impl IntoResponse> {
    let teammate =
        q.t.as_deref()
            .and_then(|t| state.notifier.verify_unsubscribe(t))
            .ok_or(Error::NotFound)?;
    let prefs = state.store.prefs(teammate).await?;
    state
        .store
        .set_prefs(
            teammate,
            crate::store::NotificationPrefs {
                email: false,
                ..prefs
            },
        )
        .await?;
    tracing::info!(%teammate, "email notifications turned off by unsubscribe link");
    Ok(page(
        "Emails stopped",
        "<p>You will not get notification emails any more.</p>",
    ))
}
