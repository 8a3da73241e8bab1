//! A customer writes: a new case, a message on their open case, or a reopened one; by the
//! ingest webhook's JSON or as one raw email (`POST /api/inbound/email`, the SMTP listener).

use crate::domain::ids::{ChannelId, WorkspaceId};
use crate::error::Result;
use crate::state::AppState;
use crate::store::{ChannelKind, EmailMeta, Inbound, InboundOutcome};

/// Files one checked customer message in its workspace (idempotent on `external_id`).
pub async fn receive(
    state: &AppState,
    workspace_id: WorkspaceId,
    message: Inbound,
) -> Result<InboundOutcome> {
    if let Some(id) = message.channel_id {
        let known = state.store.channels(workspace_id).await?;
        if !known
            .iter()
            .any(|c| c.id == id && c.kind == ChannelKind::Api)
        {
            return Err(crate::error::Error::invalid(
                "channel_id",
                "must be an api channel of this workspace",
            ));
        }
    }
    file(state, workspace_id, message).await
}

/// Files a message whose channel is already known to be the workspace's.
pub(crate) async fn file(
    state: &AppState,
    workspace_id: WorkspaceId,
    message: Inbound,
) -> Result<InboundOutcome> {
    let committed = state.store.inbound(workspace_id, message).await?;
    Ok(state.published(committed).await)
}

/// One raw email: a bounce of one of our replies marks that reply failed; anything else becomes
/// a customer message, threaded by reply token, then by In-Reply-To/References, then by the
/// customer rules of `receive`.
pub async fn receive_email(
    state: &AppState,
    workspace_id: WorkspaceId,
    raw: &[u8],
) -> Result<InboundOutcome> {
    receive_email_from(state, workspace_id, raw, None).await
}

/// The email channel a message was sent to (its address among the recipients, `Delivered-To`
/// first): the case remembers it, and replies leave from that address.
async fn addressed_channel(
    state: &AppState,
    workspace_id: WorkspaceId,
    recipients: &[String],
) -> Result<Option<ChannelId>> {
    let channels = state.store.channels(workspace_id).await?;
    Ok(recipients.iter().find_map(|to| {
        channels.iter().find_map(|c| {
            let address = c.settings["from_address"].as_str()?;
            (c.kind == ChannelKind::Email && address.eq_ignore_ascii_case(to)).then_some(c.id)
        })
    }))
}

/// The email channel whose IMAP mailbox a message was read from.
pub struct FromMailbox {
    pub channel_id: ChannelId,
    /// The message's place in the mailbox (`{channel}:{uidvalidity}:{uid}`): what makes a
    /// message without a Message-ID one message however often it is read.
    pub uid_key: String,
}

/// `receive_email`, for a message read from an email channel's mailbox: its case remembers
/// the channel.
pub async fn receive_email_from(
    state: &AppState,
    workspace_id: WorkspaceId,
    raw: &[u8],
    mailbox: Option<&FromMailbox>,
) -> Result<InboundOutcome> {
    let parsed = crate::mail::parse::parse(raw, super::messages::MAX_BODY)?;
    if let Some(original) = parsed
        .bounce
        .as_ref()
        .and_then(|b| b.original_message_id.as_deref())
    {
        let reason = parsed
            .bounce
            .as_ref()
            .map(|b| b.reason.as_str())
            .unwrap_or_default();
        let committed = state.store.bounce(workspace_id, original, reason).await?;
        if let Some(outcome) = committed.value {
            state.metrics.email_bounces.increment(1);
            state.publish(committed.events).await;
            return Ok(outcome);
        }
    }
    let mut attachments = Vec::with_capacity(parsed.attachments.len());
    for file in &parsed.attachments {
        attachments.push(
            crate::attachments::store(
                &state.config.data_dir,
                &file.filename,
                &file.content_type,
                &file.bytes,
            )
            .await?,
        );
    }
    let sender = &state.outbound.email;
    let token_case = sender
        .tokens()
        .find(workspace_id, &parsed.recipients, sender.domain());
    let message = Inbound {
        channel: "email".into(),
        from_name: parsed.from_name,
        email: Some(parsed.from_address),
        phone: None,
        subject: parsed.subject,
        body: parsed.body,
        category: None,
        // The same Message-ID delivered twice (a forwarding rule that retries) is one message.
        external_id: match (&parsed.message_id, mailbox) {
            (Some(id), _) => Some(format!("mail:{id}")),
            (None, Some(m)) => Some(format!("imap:{}", m.uid_key)),
            (None, None) => None,
        },
        channel_id: match mailbox {
            Some(m) => Some(m.channel_id),
            None => addressed_channel(state, workspace_id, &parsed.recipients).await?,
        },
        mail: Some(Box::new(EmailMeta {
            mail_id: parsed.message_id,
            token_case,
            thread_ids: parsed.thread_ids,
            quoted: parsed.quoted,
            automated: parsed.automated.is_some(),
            attachments,
        })),
    };
    // No `channel_id` but a mailbox's, which its poller took from this workspace's channels.
    file(state, workspace_id, message).await
}
