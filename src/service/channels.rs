//! Channels: where customer messages come from and replies go out. An `email` channel is the
//! workspace's sending identity (`from_name`, `from_address`); mail to its address feeds the
//! workspace.

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::allow;
use crate::domain::input;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{Channel, ChannelWrite, Teammate};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannelBody {
    /// `email` (SMS and API channels are not built yet).
    pub kind: String,
    pub name: String,
    /// For `email`: `{from_name, from_address}`.
    pub settings: serde_json::Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatchBody {
    pub name: Option<String>,
    /// Replaces the settings whole.
    pub settings: Option<serde_json::Value>,
}

/// Checks a channel's settings; answers them normalised, with the address mail arrives at.
fn check(kind: &str, settings: &serde_json::Value) -> Result<(serde_json::Value, Option<String>)> {
    match kind {
        "email" => {
            let obj = settings
                .as_object()
                .ok_or_else(|| Error::invalid("settings", "must be an object"))?;
            if obj.contains_key("imap") {
                return Err(Error::invalid(
                    "settings.imap",
                    "reading mailboxes over IMAP is not supported yet",
                ));
            }
            if let Some(unknown) = obj
                .keys()
                .find(|k| !matches!(k.as_str(), "from_name" | "from_address"))
            {
                return Err(Error::invalid(
                    format!("settings.{unknown}"),
                    "unknown field",
                ));
            }
            let name = input::name(
                "settings.from_name",
                obj.get("from_name").and_then(|v| v.as_str()).unwrap_or(""),
            )?;
            let address = input::email(
                "settings.from_address",
                obj.get("from_address")
                    .and_then(|v| v.as_str())
                    .unwrap_or(""),
            )?;
            Ok((
                serde_json::json!({ "from_name": name, "from_address": address }),
                Some(address),
            ))
        }
        "sms_twilio" | "api" => Err(Error::invalid(
            "kind",
            "only email channels are supported so far",
        )),
        _ => Err(Error::invalid("kind", "must be email, sms_twilio or api")),
    }
}

const ADMINS_ONLY: &str = "only admins manage channels";

pub async fn create(state: &AppState, actor: &Teammate, body: NewChannelBody) -> Result<Channel> {
    allow(actor, actor.role.can_admin(), ADMINS_ONLY)?;
    let kind = body.kind.trim().to_ascii_lowercase();
    let (settings, address) = check(&kind, &body.settings)?;
    let write = ChannelWrite {
        id: None,
        kind,
        name: input::name("name", &body.name)?,
        settings,
        address,
    };
    let committed = state
        .store
        .save_channel(actor.workspace_id, actor.id, write)
        .await?;
    Ok(state.published(committed).await)
}

/// Renames a channel or replaces its settings.
pub async fn update(
    state: &AppState,
    actor: &Teammate,
    id: Uuid,
    body: ChannelPatchBody,
) -> Result<Channel> {
    allow(actor, actor.role.can_admin(), ADMINS_ONLY)?;
    let ws = actor.workspace_id;
    let current = state
        .store
        .channels(ws)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(Error::NotFound)?;
    let (settings, address) = check(
        &current.kind,
        body.settings.as_ref().unwrap_or(&current.settings),
    )?;
    let write = ChannelWrite {
        id: Some(id),
        kind: current.kind,
        name: match body.name {
            Some(name) => input::name("name", &name)?,
            None => current.name,
        },
        settings,
        address,
    };
    let committed = state.store.save_channel(ws, actor.id, write).await?;
    Ok(state.published(committed).await)
}

pub async fn delete(state: &AppState, actor: &Teammate, id: Uuid) -> Result<()> {
    allow(actor, actor.role.can_admin(), ADMINS_ONLY)?;
    let committed = state
        .store
        .delete_channel(actor.workspace_id, actor.id, id)
        .await?;
    state.published(committed).await;
    Ok(())
}
