//! One raw email into a workspace: the use case behind `POST /api/inbound/email` (and the SMTP
//! listener). A bounce of one of our replies marks that reply failed; anything else becomes a
//! customer message, threaded by reply token, then by In-Reply-To/References, then by today's
//! customer rules.

use crate::error::Result;
use crate::store::{EmailMeta, Inbound, InboundOutcome};
use crate::AppState;

pub async fn receive(
    state: &AppState,
    workspace_id: uuid::Uuid,
    raw: &[u8],
) -> Result<InboundOutcome> {
    let parsed = super::parse::parse(raw, crate::http::cases::MAX_BODY)?;
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
            state.metrics.inc("baton_email_bounces_total");
            state.publish(committed.events).await;
            return Ok(outcome);
        }
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
        external_id: parsed.message_id.as_ref().map(|id| format!("mail:{id}")),
        mail: Some(Box::new(EmailMeta {
            mail_id: parsed.message_id,
            token_case,
            thread_ids: parsed.thread_ids,
            quoted: parsed.quoted,
            automated: parsed.automated.is_some(),
        })),
    };
    let committed = state.store.inbound(workspace_id, message).await?;
    state.publish(committed.events).await;
    Ok(committed.value)
}
