//! Outgoing webhooks: admins subscribe URLs to kinds of events; `webhook_delivery` delivers
//! them. The URL obeys the same policy as channels' (`signing::check_url`).

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::allow;
use super::audit::{self, Action};
use crate::domain::ids::WebhookId;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{Teammate, Webhook, WebhookDelivery};

/// The event kinds an endpoint may follow.
pub const KINDS: &[&str] = &[
    "case.created",
    "case.assigned",
    "case.status_changed",
    "message.created",
    "note.created",
    "teammate.changed",
    "message.delivery",
    "customer.erased",
    "customer.merged",
    "case.tagged",
    "case.untagged",
    "case.snoozed",
    "case.woke",
];

const ADMINS_ONLY: &str = "only admins manage webhooks";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookBody {
    /// `https`, or loopback when the server itself runs on loopback.
    pub url: String,
    /// Event kinds: `case.created`, `case.assigned`, `case.status_changed`, `message.created`,
    /// `note.created`, `teammate.changed`, `message.delivery`, `customer.erased`, `customer.merged`, `case.tagged`,
    /// `case.untagged`, `case.snoozed`, `case.woke`.
    pub events: Vec<String>,
}

pub async fn create(
    state: &AppState,
    actor: &Teammate,
    body: NewWebhookBody,
) -> Result<(Webhook, String)> {
    allow(actor, actor.role.can_admin(), ADMINS_ONLY)?;
    let url = crate::signing::check_url(&body.url, state.on_loopback())
        .map_err(|why| Error::invalid("url", why))?;
    let mut events: Vec<String> = Vec::new();
    for kind in &body.events {
        let kind = kind.trim();
        if !KINDS.contains(&kind) {
            return Err(Error::invalid(
                "events",
                format!("unknown event kind {kind:?}"),
            ));
        }
        if !events.iter().any(|e| e == kind) {
            events.push(kind.to_string());
        }
    }
    if events.is_empty() {
        return Err(Error::invalid(
            "events",
            "must name at least one event kind",
        ));
    }
    let secret = crate::signing::new_secret();
    let webhook = state
        .store
        .create_webhook(actor.workspace_id, url.as_str(), &events, &secret)
        .await?;
    let changes = serde_json::json!({ "url": webhook.url, "events": webhook.events });
    audit::record(
        state,
        actor,
        Action::WebhookCreated,
        Some(webhook.id.into()),
        changes,
    )
    .await;
    Ok((webhook, secret))
}

pub async fn list(state: &AppState, actor: &Teammate) -> Result<Vec<Webhook>> {
    allow(actor, actor.role.can_admin(), ADMINS_ONLY)?;
    Ok(state.store.webhooks(actor.workspace_id).await?)
}

pub async fn delete(state: &AppState, actor: &Teammate, id: WebhookId) -> Result<()> {
    allow(actor, actor.role.can_admin(), ADMINS_ONLY)?;
    state.store.delete_webhook(actor.workspace_id, id).await?;
    let changes = serde_json::json!({});
    audit::record(
        state,
        actor,
        Action::WebhookDeleted,
        Some(id.into()),
        changes,
    )
    .await;
    Ok(())
}

pub async fn deliveries(
    state: &AppState,
    actor: &Teammate,
    id: WebhookId,
) -> Result<Vec<WebhookDelivery>> {
    allow(actor, actor.role.can_admin(), ADMINS_ONLY)?;
    Ok(state
        .store
        .webhook_deliveries(actor.workspace_id, id, 100)
        .await?)
}

pub async fn resend(
    state: &AppState,
    actor: &Teammate,
    id: WebhookId,
    delivery_id: Uuid,
) -> Result<WebhookDelivery> {
    allow(actor, actor.role.can_admin(), ADMINS_ONLY)?;
    let delivery = state
        .store
        .resend_webhook_delivery(actor.workspace_id, id, delivery_id)
        .await?;
    let changes = serde_json::json!({ "delivery_id": delivery_id });
    audit::record(
        state,
        actor,
        Action::WebhookResent,
        Some(id.into()),
        changes,
    )
    .await;
    Ok(delivery)
}
