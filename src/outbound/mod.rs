//! Messages that leave Baton for a customer. Each kind of channel implements [`Sender`]:
//! "deliver this, and if it failed, say whether trying again could help". Email is the first;
//! SMS and webhooks fit the same trait.
//!
//! The jobs are the job worker's (`service::jobs`): written in the reply's transaction, claimed
//! with a lease, retried with backoff; `service::replies` runs one and records the delivery
//! state the case page shows.

pub mod api;
pub mod email;
pub mod sms;

use std::sync::Arc;

use async_trait::async_trait;

use crate::store::OutboundReply;

/// Attempts before an outbound reply is given up (about an hour with the default backoff).
pub const MAX_ATTEMPTS: i64 = 14;

/// Why a delivery did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// Trying again cannot help (a 5xx SMTP answer, an address that cannot exist).
    pub permanent: bool,
    pub reason: String,
}

impl DeliveryError {
    pub fn permanent(reason: impl Into<String>) -> Self {
        DeliveryError {
            permanent: true,
            reason: reason.into(),
        }
    }

    pub fn temporary(reason: impl Into<String>) -> Self {
        DeliveryError {
            permanent: false,
            reason: reason.into(),
        }
    }
}

/// One kind of outbound channel.
#[async_trait]
pub trait Sender: Send + Sync + 'static {
    async fn deliver(&self, reply: &OutboundReply) -> Result<(), DeliveryError>;
}

/// The senders of this instance, one per channel kind.
pub struct Outbound {
    pub email: Arc<email::EmailSender>,
    /// For Twilio and webhooks. Its timeout stays well under the job lease (60 s).
    pub http: reqwest::Client,
}

/// The client SMS and webhook deliveries use: no redirects (a webhook must not bounce us
/// elsewhere), names resolved under the URL policy (`signing::GuardedResolver`), a timeout well
/// inside the job lease.
pub fn http_client(server_on_loopback: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(std::sync::Arc::new(crate::signing::GuardedResolver {
            server_on_loopback,
        }))
        .timeout(std::time::Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client with rustls and no custom certificates builds")
}
