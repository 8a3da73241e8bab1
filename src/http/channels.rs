//! Channels (DESIGN.md §7): where customer messages come from and replies go out. An `email`
//! channel is the workspace's sending identity (`from_name`, `from_address`); mail to its
//! address feeds the workspace.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiJson, Auth, PathId};
use crate::domain::input;
use crate::error::{Error, Result};
use crate::store::{Channel, ChannelWrite};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_channels, create_channel))
        .routes(routes!(patch_channel, delete_channel))
}

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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelBody {
    pub channel: Channel,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelList {
    pub channels: Vec<Channel>,
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

/// The workspace's channels.
#[utoipa::path(get, path = "/api/channels", tag = "channels", responses((status = 200, body = ChannelList), (status = 401)))]
async fn list_channels(State(state): State<AppState>, auth: Auth) -> Result<Json<ChannelList>> {
    let channels = state.store.channels(auth.teammate.workspace_id).await?;
    Ok(Json(ChannelList { channels }))
}

/// Add a channel (admin and owner). An address already used by a channel is a 409.
#[utoipa::path(post, path = "/api/channels", tag = "channels", request_body = NewChannelBody,
    responses((status = 201, body = ChannelBody), (status = 403), (status = 409), (status = 422)))]
async fn create_channel(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<NewChannelBody>,
) -> Result<(StatusCode, Json<ChannelBody>)> {
    auth.require(auth.role().can_admin(), "only admins manage channels")?;
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
        .save_channel(auth.teammate.workspace_id, auth.teammate.id, write)
        .await?;
    state.publish(committed.events).await;
    Ok((
        StatusCode::CREATED,
        Json(ChannelBody {
            channel: committed.value,
        }),
    ))
}

/// Rename a channel or replace its settings (admin and owner).
#[utoipa::path(patch, path = "/api/channels/{id}", tag = "channels", params(("id" = uuid::Uuid, Path)), request_body = ChannelPatchBody,
    responses((status = 200, body = ChannelBody), (status = 403), (status = 404), (status = 409), (status = 422)))]
async fn patch_channel(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    ApiJson(body): ApiJson<ChannelPatchBody>,
) -> Result<Json<ChannelBody>> {
    auth.require(auth.role().can_admin(), "only admins manage channels")?;
    let ws = auth.teammate.workspace_id;
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
    let committed = state
        .store
        .save_channel(ws, auth.teammate.id, write)
        .await?;
    state.publish(committed.events).await;
    Ok(Json(ChannelBody {
        channel: committed.value,
    }))
}

/// Remove a channel (admin and owner). Replies then come from the server's default address.
#[utoipa::path(delete, path = "/api/channels/{id}", tag = "channels", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
async fn delete_channel(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<StatusCode> {
    auth.require(auth.role().can_admin(), "only admins manage channels")?;
    let committed = state
        .store
        .delete_channel(auth.teammate.workspace_id, auth.teammate.id, id)
        .await?;
    state.publish(committed.events).await;
    Ok(StatusCode::NO_CONTENT)
}
