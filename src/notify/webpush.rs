//! Web Push: messages encrypted with aes128gcm (RFC 8291) and signed with VAPID (RFC 8292) by
//! the `web-push` crate, sent with our shared HTTP client.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use web_push::{
    ContentEncoding, PartialVapidSignatureBuilder, SubscriptionInfo, Urgency,
    VapidSignatureBuilder, WebPushMessageBuilder,
};

use crate::config::Config;
use crate::store::{PushSubscription, Store};

/// Push services keep an undelivered message this long.
const TTL_SECS: u32 = 24 * 3600;
/// RFC 8291 caps a push message at 4096 bytes; keep the plaintext well below.
pub const MAX_PAYLOAD: usize = 3000;

pub struct Vapid {
    builder: PartialVapidSignatureBuilder,
    /// The uncompressed P-256 public key, base64url: the browser's `applicationServerKey`.
    pub public_key: String,
    /// The `sub` claim: how a push service reaches the operator.
    pub contact: String,
}

impl Vapid {
    /// The configured key, or the one stored on first start (generated then).
    pub async fn load(
        config: &Config,
        store: &Arc<dyn Store>,
        origin: &str,
    ) -> anyhow::Result<Self> {
        let private = match &config.vapid_private_key {
            Some(k) => k.clone(),
            None => {
                store
                    .server_key("vapid_private_key", &generate_private_key())
                    .await?
            }
        };
        let builder = VapidSignatureBuilder::from_base64_no_sub(&private)
            .map_err(|e| anyhow::anyhow!("invalid VAPID private key: {e}"))?;
        let public_key =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(builder.get_public_key());
        let contact = config.vapid_contact.clone().unwrap_or_else(|| {
            if origin.starts_with("https://") {
                origin.to_string()
            } else {
                "mailto:admin@localhost".to_string()
            }
        });
        Ok(Vapid {
            builder,
            public_key,
            contact,
        })
    }
}

/// A raw P-256 private key (32 bytes, base64url), as VAPID keys are usually written.
fn generate_private_key() -> String {
    loop {
        let bytes: [u8; 32] = rand::random();
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        // Nearly every 32-byte string is a valid scalar; the rest are retried.
        if VapidSignatureBuilder::from_base64_no_sub(&encoded).is_ok() {
            return encoded;
        }
    }
}

pub enum PushResult {
    Delivered,
    /// 404 or 410: the subscription is gone for good.
    Gone,
    /// 429 or 5xx: try again, not before `retry_after` if the service said so.
    Retry {
        retry_after: Option<Duration>,
        status: u16,
    },
    Rejected(String),
}

pub async fn send(
    http: &reqwest::Client,
    vapid: &Vapid,
    sub: &PushSubscription,
    payload: &[u8],
    urgency: Urgency,
) -> anyhow::Result<PushResult> {
    let info = SubscriptionInfo::new(sub.endpoint.clone(), sub.p256dh.clone(), sub.auth.clone());
    let mut signer = vapid.builder.clone().add_sub_info(&info);
    signer.add_claim("sub", vapid.contact.as_str());
    // RFC 8292 §2: `aud` is the origin of the push resource, port included. The crate's
    // default leaves a non-default port out, which a push service on one would refuse.
    let audience = url::Url::parse(&sub.endpoint)?
        .origin()
        .ascii_serialization();
    signer.add_claim("aud", audience);
    let signature = signer.build()?;
    let mut message = WebPushMessageBuilder::new(&info);
    message.set_payload(ContentEncoding::Aes128Gcm, payload);
    message.set_ttl(TTL_SECS);
    message.set_urgency(urgency);
    message.set_vapid_signature(signature);
    let message = message.build()?;

    let mut request = http
        .post(sub.endpoint.as_str())
        .header("TTL", message.ttl.to_string());
    if let Some(u) = message.urgency {
        request = request.header("Urgency", u.to_string());
    }
    if let Some(p) = message.payload {
        request = request
            .header("Content-Encoding", p.content_encoding.to_str())
            .header("Content-Type", "application/octet-stream");
        for (k, v) in p.crypto_headers {
            request = request.header(k, v);
        }
        request = request.body(p.content);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok(match status {
        200..=299 => PushResult::Delivered,
        404 | 410 => PushResult::Gone,
        429 | 500..=599 => {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            PushResult::Retry {
                retry_after,
                status,
            }
        }
        other => PushResult::Rejected(format!("push service answered {other}")),
    })
}
