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
use crate::domain::ids::ChannelId;
use crate::error::Result;
use crate::service::channels::{self, ChannelPatchBody, NewChannelBody};
use crate::store::Channel;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_channels, create_channel))
        .routes(routes!(patch_channel, delete_channel))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelBody {
    pub channel: Channel,
    /// Only in the answer that created the channel, for kinds that have one (`api`: `whsec_…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelList {
    pub channels: Vec<Channel>,
}

/// The workspace's channels.
#[utoipa::path(get, path = "/api/channels", tag = "channels", responses((status = 200, body = ChannelList), (status = 401)))]
async fn list_channels(State(state): State<AppState>, auth: Auth) -> Result<Json<ChannelList>> {
    let channels = channels::list(&state, &auth.teammate).await?;
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
    let created = channels::create(&state, &auth.teammate, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(ChannelBody {
            channel: created.channel,
            secret: created.secret,
        }),
    ))
}

/// Rename a channel or replace its settings (admin and owner).
#[utoipa::path(patch, path = "/api/channels/{id}", tag = "channels", params(("id" = uuid::Uuid, Path)), request_body = ChannelPatchBody,
    responses((status = 200, body = ChannelBody), (status = 403), (status = 404), (status = 409), (status = 422)))]
async fn patch_channel(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<ChannelId>,
    ApiJson(body): ApiJson<ChannelPatchBody>,
) -> Result<Json<ChannelBody>> {
    let channel = channels::update(&state, &auth.teammate, id, body).await?;
    Ok(Json(ChannelBody {
        channel,
        secret: None,
    }))
}

/// Remove a channel (admin and owner). Replies then come from the server's default address.
#[utoipa::path(delete, path = "/api/channels/{id}", tag = "channels", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
async fn delete_channel(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<ChannelId>,
) -> Result<StatusCode> {
    channels::delete(&state, &auth.teammate, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
