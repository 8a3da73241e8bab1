//! Channels: where customer messages come from and replies go out. Each kind checks its own
//! settings in its own module (`email`); what they have in common (the secrets never shown
//! again, the admin-only writes) is here.

pub mod api;
mod email;
pub mod sms_twilio;

pub use email::ImapSettings;

use serde::Deserialize;
use utoipa::ToSchema;

use super::allow;
use super::audit::{self, Action};
use crate::domain::ids::ChannelId;
use crate::domain::input;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{Channel, ChannelKind, ChannelWrite, Teammate};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannelBody {
    /// `email`, `sms_twilio` or `api`.
    pub kind: String,
    pub name: String,
    /// `email`: `{from_name, from_address, imap?: {host, port, tls, username, password,
    /// folder}}`; `sms_twilio`: `{account_sid, auth_token,
    /// from_number, api_base_url?}`; `api`: `{webhook_url}`.
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

/// Checks `settings` for a channel of `kind` (`None`: a word that names no kind, refused after
/// the settings' shape). `current` is what is stored when a channel is being changed, so a kind
/// can keep a secret the admin did not send again.
fn check(
    kind: Option<ChannelKind>,
    settings: &serde_json::Value,
    current: Option<&serde_json::Value>,
    server_on_loopback: bool,
) -> Result<(ChannelKind, Checked)> {
    let obj = settings
        .as_object()
        .ok_or_else(|| Error::invalid("settings", "must be an object"))?;
    let kind = kind.ok_or_else(|| Error::invalid("kind", "must be email, sms_twilio or api"))?;
    let checked = match kind {
        ChannelKind::Email => email::check(obj, current),
        ChannelKind::SmsTwilio => sms_twilio::check(obj, current, server_on_loopback),
        ChannelKind::Api => api::check(obj, current, server_on_loopback),
    }?;
    Ok((kind, checked))
}

/// The settings' paths that hold secrets, per kind: stored, never shown again.
fn secret_paths(kind: ChannelKind) -> &'static [&'static [&'static str]] {
    match kind {
        ChannelKind::Email => email::SECRETS,
        ChannelKind::SmsTwilio => sms_twilio::SECRETS,
        ChannelKind::Api => api::SECRETS,
    }
}

/// A channel as teammates may see it: every secret removed from its settings, and where a
/// provider must send its webhooks.
pub fn public(state: &AppState, mut channel: Channel) -> Channel {
    for path in secret_paths(channel.kind) {
        remove_path(&mut channel.settings, path);
    }
    if channel.kind == ChannelKind::SmsTwilio {
        channel.inbound_url = Some(inbound_url(state, channel.id));
    }
    channel
}

/// Where Twilio posts the texts of an `sms_twilio` channel (and, under `/status`, the delivery
/// status of its replies): the URL its signatures are computed over.
pub fn inbound_url(state: &AppState, id: ChannelId) -> String {
    format!("{}/hooks/twilio/{id}", state.origin)
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
    Ok(channels.into_iter().map(|c| public(state, c)).collect())
}

/// A created channel, with its generated secret when its kind has one (shown this once).
pub struct Created {
    pub channel: Channel,
    pub secret: Option<String>,
}

const ADMINS_ONLY: &str = "only admins manage channels";

pub async fn create(state: &AppState, actor: &Teammate, body: NewChannelBody) -> Result<Created> {
    allow(actor, actor.role.can_admin(), ADMINS_ONLY)?;
    let kind = ChannelKind::parse(&body.kind.trim().to_ascii_lowercase());
    let (kind, checked) = check(kind, &body.settings, None, state.on_loopback())?;
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
    let channel = public(state, state.published(committed).await);
    let changes = serde_json::json!({
        "kind": channel.kind, "name": channel.name, "settings": channel.settings,
    });
    audit::record(
        state,
        actor,
        Action::ChannelCreated,
        Some(channel.id.into()),
        changes,
    )
    .await;
    state.mailboxes_changed();
    Ok(Created {
        channel,
        secret: checked.secret,
    })
}

/// Renames a channel or replaces its settings.
pub async fn update(
    state: &AppState,
    actor: &Teammate,
    id: ChannelId,
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
    let (_, checked) = check(
        Some(current.kind),
        body.settings.as_ref().unwrap_or(&current.settings),
        Some(&current.settings),
        state.on_loopback(),
    )?;
    let before = public(state, current.clone());
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
    let after = public(state, state.published(committed).await);
    state.mailboxes_changed();
    let changes = audit::diff(&before, &after);
    audit::record(
        state,
        actor,
        Action::ChannelUpdated,
        Some(id.into()),
        changes,
    )
    .await;
    Ok(after)
}

pub async fn delete(state: &AppState, actor: &Teammate, id: ChannelId) -> Result<()> {
    allow(actor, actor.role.can_admin(), ADMINS_ONLY)?;
    let gone = state
        .store
        .channels(actor.workspace_id)
        .await?
        .into_iter()
        .find(|c| c.id == id);
    let committed = state
        .store
        .delete_channel(actor.workspace_id, actor.id, id)
        .await?;
    state.published(committed).await;
    let changes = match gone {
        Some(c) => serde_json::json!({ "kind": c.kind, "name": c.name }),
        None => serde_json::json!({}),
    };
    audit::record(
        state,
        actor,
        Action::ChannelDeleted,
        Some(id.into()),
        changes,
    )
    .await;
    state.mailboxes_changed();
    Ok(())
}
