//! Twilio's webhooks for an `sms_twilio` channel: a text from a customer, and the delivery
//! status of a reply. Both are verified (`X-Twilio-Signature` over the public URL and the form)
//! before anything in them is read: a request that fails changes nothing.

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::service::channels::{inbound_url, sms_twilio::e164};
use crate::state::AppState;
use crate::store::{Channel, Inbound, InboundOutcome};

/// The channel named in the URL, if the request is signed with its auth token.
async fn verified(
    state: &AppState,
    channel_id: Uuid,
    url: &str,
    signature: Option<&str>,
    params: &[(String, String)],
) -> Result<(Uuid, Channel)> {
    let (workspace_id, channel) = match state.store.channel_by_id(channel_id).await {
        Ok(found) if found.1.kind == "sms_twilio" => found,
        Ok(_) | Err(Error::NotFound) => return Err(Error::NotFound),
        Err(e) => return Err(e),
    };
    let token = channel.settings["auth_token"].as_str().unwrap_or_default();
    match signature {
        Some(sig)
            if !token.is_empty() && crate::signing::twilio_verify(token, url, params, sig) =>
        {
            Ok((workspace_id, channel))
        }
        _ => Err(Error::Forbidden("the Twilio signature does not match")),
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A text to the channel's number: a message on the customer's case (found by their number in
/// E.164, however it is stored), a new case, or a reopened one. The same `MessageSid` twice is
/// one message.
pub async fn receive_text(
    state: &AppState,
    channel_id: Uuid,
    signature: Option<&str>,
    params: &[(String, String)],
) -> Result<InboundOutcome> {
    let url = inbound_url(state, channel_id);
    let (workspace_id, channel) = verified(state, channel_id, &url, signature, params).await?;
    let sid = param(params, "MessageSid")
        .or_else(|| param(params, "SmsSid"))
        .filter(|s| !s.is_empty() && s.len() <= 64)
        .ok_or_else(|| Error::invalid("MessageSid", "is required"))?;
    let from = e164("From", param(params, "From").unwrap_or(""))?;
    let media: usize = param(params, "NumMedia")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let text = param(params, "Body").unwrap_or("").trim();
    let body = match (text.is_empty(), media) {
        (false, _) => text.to_string(),
        (true, 0) => "(empty text)".to_string(),
        (true, n) => format!("({n} media file(s), not kept)"),
    };
    let message = Inbound {
        channel: "sms".into(),
        from_name: from.clone(),
        email: None,
        phone: Some(from),
        subject: None,
        body: crate::domain::input::body("Body", &body, super::messages::MAX_BODY)?,
        category: None,
        external_id: Some(format!("twilio:{sid}")),
        channel_id: Some(channel.id),
        mail: None,
    };
    super::inbound::file(state, workspace_id, message).await
}

/// Twilio's `MessageStatus` for one of our replies moves its delivery state forward.
pub async fn status(
    state: &AppState,
    channel_id: Uuid,
    signature: Option<&str>,
    params: &[(String, String)],
) -> Result<()> {
    let url = format!("{}/status", inbound_url(state, channel_id));
    let (workspace_id, _) = verified(state, channel_id, &url, signature, params).await?;
    let Some(sid) = param(params, "MessageSid").or_else(|| param(params, "SmsSid")) else {
        return Err(Error::invalid("MessageSid", "is required"));
    };
    let raw = param(params, "MessageStatus")
        .or_else(|| param(params, "SmsStatus"))
        .unwrap_or("");
    let Some(delivery) = delivery_state(raw) else {
        return Ok(());
    };
    let error = (delivery == "failed").then(|| match param(params, "ErrorCode") {
        Some(code) if !code.is_empty() => format!("Twilio: {raw} (error {code})"),
        _ => format!("Twilio: {raw}"),
    });
    let committed = state
        .store
        .provider_status(workspace_id, sid, delivery, error.as_deref())
        .await?;
    state.published(committed).await;
    Ok(())
}

/// Twilio's message states as Baton's delivery states; the in-between ones change nothing.
pub fn delivery_state(twilio: &str) -> Option<&'static str> {
    match twilio {
        "sent" => Some("sent"),
        "delivered" | "read" => Some("delivered"),
        "undelivered" | "failed" => Some("failed"),
        _ => None,
    }
}
