//! Channels: where customer messages come from and replies go out. Each kind checks its own
//! settings in its own module (`email`); what they have in common (the secrets never shown
//! again, the admin-only writes) is here.

mod email;

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

/// A channel's settings as checked by its kind: what is stored, where it receives, and the
/// secret to show once (only in the answer that created it).
pub struct Checked {
    /// Normalised settings, secrets included (they never leave the server: see [`public`]).
    pub settings: serde_json::Value,
    /// The lower-cased address customer messages to this channel arrive at, if it has one.
    pub address: Option<String>,
    /// A secret generated for the channel, shown once.
    pub secret: Option<String>,
}

/// Checks `settings` for a channel of `kind`. `current` is what is stored when a channel is
/// being changed, so a kind can keep a secret the admin did not send again.
fn check(
    kind: &str,
    settings: &serde_json::Value,
    current: Option<&serde_json::Value>,
) -> Result<Checked> {
    let obj = settings
        .as_object()
        .ok_or_else(|| Error::invalid("settings", "must be an object"))?;
    match kind {
        "email" => email::check(obj, current),
        "sms_twilio" | "api" => Err(Error::invalid(
            "kind",
            "only email channels are supported so far",
        )),
        _ => Err(Error::invalid("kind", "must be email, sms_twilio or api")),
    }
}

/// The settings' paths that hold secrets, per kind: stored, never shown again.
fn secret_paths(kind: &str) -> &'static [&'static [&'static str]] {
    match kind {
        "email" => email::SECRETS,
        _ => &[],
    }
}

/// A channel as teammates may see it: every secret removed from its settings.
pub fn public(mut channel: Channel) -> Channel {
    for path in secret_paths(&channel.kind) {
        remove_path(&mut channel.settings, path);
    }
    channel
}

fn remove_path(value: &mut serde_json::Value, path: &[&str]) {
    match path {
        [] => {}
        [last] => {
            if let Some(obj) = value.as_object_mut() {
                obj.remove(*last);
            }
        }
        [first, rest @ ..] => {
            if let Some(inner) = value.get_mut(*first) {
                remove_path(inner, rest);
            }
        }
    }
}

/// Rejects any key of `obj` outside `known`, naming it under `prefix` (`settings`, `settings.imap`).
pub(crate) fn only_known(
    prefix: &str,
    obj: &serde_json::Map<String, serde_json::Value>,
    known: &[&str],
) -> Result<()> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(Error::invalid(
            format!("{prefix}.{unknown}"),
            "unknown field",
        )),
        None => Ok(()),
    }
}

/// The workspace's channels, secrets removed.
pub async fn list(state: &AppState, actor: &Teammate) -> Result<Vec<Channel>> {
    let channels = state.store.channels(actor.workspace_id).await?;
    Ok(channels.into_iter().map(public).collect())
}

/// A created channel, with its generated secret when its kind has one (shown this once).
pub struct Created {
    pub channel: Channel,
    pub secret: Option<String>,
}

const ADMINS_ONLY: &str = "only admins manage channels";

pub async fn create(state: &AppState, actor: &Teammate, body: NewChannelBody) -> Result<Created> {
    allow(actor, actor.role.can_admin(), ADMINS_ONLY)?;
    let kind = body.kind.trim().to_ascii_lowercase();
    let checked = check(&kind, &body.settings, None)?;
    let write = ChannelWrite {
        id: None,
        kind,
        name: input::name("name", &body.name)?,
        settings: checked.settings,
        address: checked.address,
    };
    let committed = state
        .store
        .save_channel(actor.workspace_id, actor.id, write)
        .await?;
    Ok(Created {
        channel: public(state.published(committed).await),
        secret: checked.secret,
    })
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
    let checked = check(
        &current.kind,
        body.settings.as_ref().unwrap_or(&current.settings),
        Some(&current.settings),
    )?;
    let write = ChannelWrite {
        id: Some(id),
        kind: current.kind,
        name: match body.name {
            Some(name) => input::name("name", &name)?,
            None => current.name,
        },
        settings: checked.settings,
        address: checked.address,
    };
    let committed = state.store.save_channel(ws, actor.id, write).await?;
    Ok(public(state.published(committed).await))
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
