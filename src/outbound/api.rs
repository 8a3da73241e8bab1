//! Replies on an `api` channel: POSTed as JSON to the channel's `webhook_url`, signed per
//! Standard Webhooks with the channel's secret; the message id is the `webhook-id`, so a
//! receiver that gets a retry can tell it has seen it. Any 2xx is delivered; everything
//! else is retried with backoff until the job gives up.

use super::DeliveryError;
use crate::store::ChannelReply;

pub async fn deliver(http: &reqwest::Client, reply: &ChannelReply) -> Result<(), DeliveryError> {
    let s = &reply.channel_settings;
    let url = s["webhook_url"].as_str().unwrap_or_default();
    let secret = s["secret"].as_str().unwrap_or_default();
    let body = serde_json::to_vec(&serde_json::json!({
        "type": "message.reply",
        "at": reply.created_at,
        "data": {
            "case_id": reply.case_id,
            "number": reply.number,
            "message_id": reply.message_id,
            "channel_id": reply.channel_id,
            "to": {
                "name": reply.customer_name,
                "email": reply.customer_email,
                "phone": reply.customer_phone,
            },
            "author_name": reply.author_name,
            "body": reply.body,
        }
    }))
    .map_err(|e| DeliveryError::permanent(e.to_string()))?;
    let id = format!("msg_{}", reply.message_id.as_uuid().simple());
    let headers =
        crate::signing::standard_headers(secret, &id, chrono::Utc::now().timestamp(), &body)
            .map_err(DeliveryError::permanent)?;
    let mut request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let answer =
        request.body(body).send().await.map_err(|e| {
            DeliveryError::temporary(format!("the webhook could not be reached: {e}"))
        })?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(DeliveryError::temporary(format!(
            "the webhook answered {}",
            answer.status()
        )))
    }
}
