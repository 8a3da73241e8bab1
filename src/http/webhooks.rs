//! Outgoing webhooks (DESIGN.md §7): endpoints, their delivery log and "send again".

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiJson, Auth, PathId};
use crate::domain::ids::WebhookId;
use crate::error::Result;
use crate::service::webhooks::{self, NewWebhookBody};
use crate::store::{Webhook, WebhookDelivery};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(resend_delivery))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreated {
    pub webhook: Webhook,
    /// `whsec_…` (Standard Webhooks), shown this once.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<Webhook>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<WebhookDelivery>,
}

/// The workspace's webhook endpoints (admin and owner).
#[utoipa::path(get, path = "/api/webhooks", tag = "webhooks", responses((status = 200, body = WebhookList), (status = 401), (status = 403)))]
async fn list_webhooks(State(state): State<AppState>, auth: Auth) -> Result<Json<WebhookList>> {
    let webhooks = webhooks::list(&state, &auth.teammate).await?;
    Ok(Json(WebhookList { webhooks }))
}

/// Subscribe a URL to event kinds (admin and owner); the secret is in this answer only.
#[utoipa::path(post, path = "/api/webhooks", tag = "webhooks", request_body = NewWebhookBody,
    responses((status = 201, body = WebhookCreated), (status = 403), (status = 422)))]
async fn create_webhook(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<NewWebhookBody>,
) -> Result<(StatusCode, Json<WebhookCreated>)> {
    let (webhook, secret) = webhooks::create(&state, &auth.teammate, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookCreated { webhook, secret }),
    ))
}

/// Remove an endpoint and its delivery log (admin and owner).
#[utoipa::path(delete, path = "/api/webhooks/{id}", tag = "webhooks", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
async fn delete_webhook(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<WebhookId>,
) -> Result<StatusCode> {
    webhooks::delete(&state, &auth.teammate, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's newest deliveries: state, attempts, last answer, response time.
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = DeliveryList), (status = 403), (status = 404)))]
async fn list_deliveries(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<WebhookId>,
) -> Result<Json<DeliveryList>> {
    let deliveries = webhooks::deliveries(&state, &auth.teammate, id).await?;
    Ok(Json(DeliveryList { deliveries }))
}

/// Send a delivered event again (same `webhook-id`); switches a disabled endpoint back on.
#[utoipa::path(post, path = "/api/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    params(("id" = uuid::Uuid, Path), ("delivery_id" = uuid::Uuid, Path)),
    responses((status = 200, body = WebhookDelivery), (status = 403), (status = 404), (status = 422)))]
async fn resend_delivery(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<Json<WebhookDelivery>> {
    // Ids that cannot be ids name nothing: a JSON 404, like every other path.
    let (Ok(id), Ok(delivery_id)) = (id.parse::<WebhookId>(), delivery_id.parse::<uuid::Uuid>())
    else {
        return Err(crate::error::Error::NotFound);
    };
    Ok(Json(
        webhooks::resend(&state, &auth.teammate, id, delivery_id).await?,
    ))
}
