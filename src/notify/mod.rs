//! The offline fallback (DESIGN.md §2 "Fallback order"): Web Push at once, email after the
//! teammate's delay if the case is still unread, both from durable jobs in the database.

pub mod email;
pub(crate) mod plan;
pub mod webpush;

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Config;
use crate::domain::ids::TeammateId;
use crate::store::Store;

/// What the worker needs to send: the VAPID key, the mailer, the signing secret for
/// unsubscribe links, and one HTTP client (one connection pool) for every push service.
pub struct Notifier {
    pub vapid: webpush::Vapid,
    pub mailer: email::Mailer,
    pub http: reqwest::Client,
    unsubscribe_secret: Vec<u8>,
    pub origin: String,
}

impl Notifier {
    pub async fn new(
        config: &Config,
        store: &Arc<dyn Store>,
        origin: &str,
    ) -> anyhow::Result<Arc<Self>> {
        let vapid = webpush::Vapid::load(config, store, origin).await?;
        let mailer = email::Mailer::new(config, origin)?;
        let secret = store
            .server_key("unsubscribe_secret", &crate::credentials::new_token(""))
            .await?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .connect_timeout(std::time::Duration::from_secs(5))
            .pool_max_idle_per_host(16)
            .build()?;
        Ok(Arc::new(Notifier {
            vapid,
            mailer,
            http,
            unsubscribe_secret: secret.into_bytes(),
            origin: origin.to_string(),
        }))
    }

    fn mac(&self, teammate: TeammateId) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.unsubscribe_secret)
            .expect("HMAC takes any key length");
        mac.update(b"unsubscribe-email:");
        mac.update(teammate.as_uuid().as_bytes());
        mac
    }

    /// A token that turns email off for one teammate without a login (RFC 8058 one-click).
    pub fn unsubscribe_token(&self, teammate: TeammateId) -> String {
        use base64::Engine;
        let tag = self.mac(teammate).finalize().into_bytes();
        format!(
            "{}.{}",
            teammate.as_uuid().simple(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
        )
    }

    pub fn verify_unsubscribe(&self, token: &str) -> Option<TeammateId> {
        use base64::Engine;
        let (id, tag) = token.split_once('.')?;
        let teammate: TeammateId = id.parse().ok()?;
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(tag)
            .ok()?;
        self.mac(teammate).verify_slice(&tag).ok()?;
        Some(teammate)
    }

    pub fn unsubscribe_url(&self, teammate: TeammateId) -> String {
        format!(
            "{}/unsubscribe?t={}",
            self.origin,
            self.unsubscribe_token(teammate)
        )
    }
}
