//! Twilio's webhooks for an `sms_twilio` channel: a text from a customer, and the delivery
//! status of a reply. Both are verified (`X-Twilio-Signature` over the public URL and the form)
//! before anything in them is read: a request that fails changes nothing.

use std::time::Duration;

use crate::attachments::StoredFile;

use crate::domain::ids::{ChannelId, WorkspaceId};
use crate::error::{Error, Result};
use crate::events::DeliveryState;
use crate::service::channels::{inbound_url, sms_twilio::e164};
use crate::state::AppState;
use crate::store::{Channel, ChannelKind, EmailMeta, Inbound, InboundOutcome, StoreError};

/// The channel named in the URL, if the request is signed with its auth token.
async fn verified(
    state: &AppState,
    channel_id: ChannelId,
    url: &str,
    signature: Option<&str>,
    params: &[(String, String)],
) -> Result<(WorkspaceId, Channel)> {
    let (workspace_id, channel) = match state.store.channel_by_id(channel_id).await {
        Ok(found) if found.1.kind == ChannelKind::SmsTwilio => found,
        Ok(_) | Err(StoreError::NotFound) => return Err(Error::NotFound),
        Err(e) => return Err(e.into()),
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
    channel_id: ChannelId,
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
    let (files, notes) = fetch_media(state, &channel, params, sid, media).await;
    let mut body = match (text.is_empty(), media) {
        (false, _) => text.to_string(),
        (true, 0) => "(empty text)".to_string(),
        (true, n) => format!("({n} media file(s))"),
    };
    for note in notes {
        body.push('\n');
        body.push_str(&note);
    }
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
        // Media travel as the message's files, the way an email's attachments do; an SMS has
        // no Message-ID or thread, so nothing else of it applies.
        mail: (!files.is_empty()).then(|| {
            Box::new(EmailMeta {
                attachments: files,
                ..EmailMeta::default()
            })
        }),
    };
    super::inbound::file(state, workspace_id, message).await
}

/// How long one medium may take to arrive: Twilio waits 15 s for the webhook's answer, and a
/// text carries at most 10 media, fetched together.
const MEDIA_TIMEOUT: Duration = Duration::from_secs(8);

/// Fetches a text's media (`MediaUrlN`, typed `MediaContentTypeN`) with the channel's
/// credentials, at most `attachments::MAX_FILE` bytes each, and stores them. A medium that is
/// refused, too large or fails is left out and said so in a note: it never fails the text.
async fn fetch_media(
    state: &AppState,
    channel: &Channel,
    params: &[(String, String)],
    message_sid: &str,
    count: usize,
) -> (Vec<StoredFile>, Vec<String>) {
    let count = count.min(crate::attachments::MAX_PER_MESSAGE);
    if count == 0 {
        return (Vec::new(), Vec::new());
    }
    let loopback = state.on_loopback();
    let client = match reqwest::Client::builder()
        .timeout(MEDIA_TIMEOUT)
        .dns_resolver(std::sync::Arc::new(crate::signing::GuardedResolver {
            server_on_loopback: loopback,
        }))
        // Twilio answers a media URL with a redirect to its storage: each hop must pass the
        // same URL policy as the first (reqwest drops the credentials when the host changes).
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if crate::signing::check_url(attempt.url().as_str(), loopback).is_err() {
                attempt.error("a redirect to a refused URL")
            } else {
                attempt.follow()
            }
        }))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %e, "no HTTP client for MMS media");
            return (
                Vec::new(),
                vec![format!("({count} media file(s) could not be fetched)")],
            );
        }
    };
    let sid = channel.settings["account_sid"].as_str().unwrap_or_default();
    let token = channel.settings["auth_token"].as_str().unwrap_or_default();
    let fetches = (0..count).map(|i| {
        let url = param(params, &format!("MediaUrl{i}"))
            .unwrap_or("")
            .to_string();
        let declared = param(params, &format!("MediaContentType{i}"))
            .unwrap_or("")
            .to_string();
        let client = client.clone();
        async move {
            let fetched = fetch_one(&client, &url, sid, token, loopback).await;
            (i, url, declared, fetched)
        }
    });
    let mut files = Vec::new();
    let mut notes = Vec::new();
    for (i, url, declared, fetched) in futures_util::future::join_all(fetches).await {
        let kind = if declared.is_empty() {
            "file".to_string()
        } else {
            crate::attachments::clean_content_type(&declared)
        };
        let bytes = match fetched {
            Ok(bytes) => bytes,
            Err(why) => {
                tracing::warn!(medium = i, %why, "an MMS medium was not kept");
                notes.push(format!("(media file {} ({kind}) not kept: {why})", i + 1));
                continue;
            }
        };
        let name = media_filename(&url, message_sid, i, &declared);
        match crate::attachments::store(&state.config.data_dir, &name, &declared, &bytes).await {
            Ok(file) => files.push(file),
            Err(e) => {
                tracing::warn!(medium = i, error = %e, "an MMS medium could not be stored");
                notes.push(format!(
                    "(media file {} ({kind}) not kept: not stored)",
                    i + 1
                ));
            }
        }
    }
    (files, notes)
}

/// One medium's bytes, or why not (a short reason for the message's note).
async fn fetch_one(
    client: &reqwest::Client,
    url: &str,
    account_sid: &str,
    auth_token: &str,
    loopback: bool,
) -> std::result::Result<Vec<u8>, &'static str> {
    let url = crate::signing::check_url(url, loopback).map_err(|_| "its URL is refused")?;
    let max = crate::attachments::MAX_FILE;
    let mut response = client
        .get(url)
        .basic_auth(account_sid, Some(auth_token))
        .send()
        .await
        .map_err(|_| "it could not be fetched")?;
    if !response.status().is_success() {
        return Err("it could not be fetched");
    }
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err("larger than 20 MiB");
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| "it could not be fetched")?
    {
        if bytes.len() + chunk.len() > max {
            return Err("larger than 20 MiB");
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A name for a medium, which Twilio does not give: its media SID (the URL's last segment),
/// else the message's, with the extension of its type.
fn media_filename(url: &str, message_sid: &str, index: usize, content_type: &str) -> String {
    let last = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .filter(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| format!("{message_sid}-{}", index + 1));
    let essence = crate::attachments::clean_content_type(content_type);
    let ext = match essence.as_str() {
        "image/jpeg" => "jpg",
        "text/plain" => "txt",
        "text/vcard" | "text/x-vcard" => "vcf",
        "application/octet-stream" => "",
        other => other.rsplit('/').next().unwrap_or(""),
    };
    let ext: String = ext
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    if ext.is_empty() {
        last
    } else {
        format!("{last}.{ext}")
    }
}

/// Twilio's `MessageStatus` for one of our replies moves its delivery state forward.
pub async fn status(
    state: &AppState,
    channel_id: ChannelId,
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
    let error = (delivery == DeliveryState::Failed).then(|| match param(params, "ErrorCode") {
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
pub fn delivery_state(twilio: &str) -> Option<DeliveryState> {
    match twilio {
        "sent" => Some(DeliveryState::Sent),
        "delivered" | "read" => Some(DeliveryState::Delivered),
        "undelivered" | "failed" => Some(DeliveryState::Failed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::media_filename;

    #[test]
    fn media_are_named_by_their_sid_and_type() {
        let url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME42";
        assert_eq!(media_filename(url, "MM1", 0, "image/jpeg"), "ME42.jpg");
        assert_eq!(media_filename(url, "MM1", 0, "image/png"), "ME42.png");
        assert_eq!(media_filename(url, "MM1", 0, "text/vcard"), "ME42.vcf");
        assert_eq!(media_filename(url, "MM1", 0, "nonsense"), "ME42");
        assert_eq!(
            media_filename("https://x/a b", "MM1", 1, "text/plain"),
            "MM1-2.txt"
        );
    }
}
