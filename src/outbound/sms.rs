//! Replies by SMS through Twilio's Messages API: `POST {api_base_url}/2010-04-01/Accounts/
//! {AccountSid}/Messages.json`, form-encoded, basic auth with the account SID and auth token.
//! 429 and 5xx are retried; any other 4xx is final, with Twilio's error code and message
//! shown on the reply. The status callback URL makes Twilio report `delivered` / `failed`.

use super::DeliveryError;
use crate::store::ChannelReply;

/// What Twilio answered to an accepted message.
pub struct Accepted {
    /// Twilio's MessageSid: status callbacks name the reply by it.
    pub sid: String,
}

pub async fn deliver(
    http: &reqwest::Client,
    reply: &ChannelReply,
    status_callback: &str,
) -> Result<Accepted, DeliveryError> {
    let s = &reply.channel_settings;
    let field = |key: &str| s[key].as_str().unwrap_or_default().to_string();
    let (sid, token, from) = (
        field("account_sid"),
        field("auth_token"),
        field("from_number"),
    );
    let base = s["api_base_url"]
        .as_str()
        .unwrap_or(crate::service::channels::sms_twilio::TWILIO_API)
        .trim_end_matches('/');
    let to = reply
        .customer_phone
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| DeliveryError::permanent("the customer has no phone number"))?;
    let url = format!("{base}/2010-04-01/Accounts/{sid}/Messages.json");
    let answer = http
        .post(&url)
        .basic_auth(&sid, Some(&token))
        .form(&[
            ("To", to),
            ("From", from.as_str()),
            ("Body", reply.body.as_str()),
            ("StatusCallback", status_callback),
        ])
        .send()
        .await
        .map_err(|e| DeliveryError::temporary(format!("Twilio could not be reached: {e}")))?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    if status.is_success() {
        return match body["sid"].as_str() {
            Some(sid) if !sid.is_empty() => Ok(Accepted {
                sid: sid.to_string(),
            }),
            _ => Err(DeliveryError::permanent(
                "Twilio accepted the message without a sid",
            )),
        };
    }
    let reason = match (body["code"].as_i64(), body["message"].as_str()) {
        (Some(code), Some(message)) => format!("Twilio error {code}: {message}"),
        (None, Some(message)) => format!("Twilio: {message}"),
        _ => format!("Twilio answered {status}"),
    };
    if status.as_u16() == 429 || status.is_server_error() {
        Err(DeliveryError::temporary(reason))
    } else {
        Err(DeliveryError::permanent(reason))
    }
}
