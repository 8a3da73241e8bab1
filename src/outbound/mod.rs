//! Messages that leave Baton for a customer. Each kind of channel implements [`Sender`]:
//! "deliver this, and if it failed, say whether trying again could help". Email is the first;
//! SMS and webhooks fit the same trait.
//!
//! The jobs are the notification worker's (`notify::worker`): written in the reply's
//! transaction, claimed with a lease, retried with backoff. This module decides what one
//! outbound job does and records the delivery state the case page shows.

pub mod api;
pub mod email;
pub mod sms;
pub mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;

use crate::events::DeliveryState;
use crate::store::{ChannelKind, Job, JobChannel, JobOutcome, OutboundReply, StoreError};
use crate::AppState;

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

/// Runs one claimed outbound job to its outcome and records it.
pub async fn run(state: &AppState, job: Job) {
    let result = match job.channel {
        JobChannel::SmsReply | JobChannel::ApiReply => attempt_channel(state, &job).await,
        JobChannel::EmailReply | JobChannel::Push | JobChannel::Email => attempt(state, &job).await,
    };
    let outcome = match result {
        Ok(()) => JobOutcome::Sent,
        Err(e) if e.permanent => JobOutcome::Failed(e.reason),
        Err(e) => crate::notify::worker::retry(state, &job, None, e.reason, MAX_ATTEMPTS),
    };
    let kind = match job.channel {
        JobChannel::SmsReply => "sms",
        JobChannel::ApiReply => "api",
        JobChannel::EmailReply | JobChannel::Push | JobChannel::Email => "email",
    };
    state.metrics.outbound_job(kind, outcome.label());
    match &outcome {
        JobOutcome::Failed(why) => tracing::warn!(job = %job.id, why, "reply given up"),
        JobOutcome::Retry { error, .. } => {
            tracing::info!(job = %job.id, error, attempt = job.attempts, "reply will be retried")
        }
        _ => {}
    }
    let recorded =
        crate::notify::worker::record_with(&job, || state.store.finish_outbound(&job, &outcome))
            .await;
    if let Some(committed) = recorded {
        state.publish(committed.events).await;
    }
}

async fn attempt(state: &AppState, job: &Job) -> Result<(), DeliveryError> {
    let sender = &state.outbound.email;
    let reply = match state.store.outbound_reply(job, sender.domain()).await {
        Ok(reply) => reply,
        Err(StoreError::NotFound) => {
            return Err(DeliveryError::permanent("the reply no longer exists"))
        }
        Err(e) => {
            return Err(DeliveryError::temporary(format!(
                "reading the reply failed: {e}"
            )))
        }
    };
    if reply.delivery_state != Some(DeliveryState::Queued) {
        // A bounce or a second run already settled it.
        let settled = reply
            .delivery_state
            .map_or("unknown", DeliveryState::as_str);
        return Err(DeliveryError::permanent(format!(
            "delivery already {settled}"
        )));
    }
    sender.deliver(&reply).await
}

/// An SMS or API-channel reply: sent on the case's channel; Twilio's MessageSid is kept so
/// that its status callbacks find the reply.
async fn attempt_channel(state: &AppState, job: &Job) -> Result<(), DeliveryError> {
    let reply = match state.store.channel_reply(job).await {
        Ok(reply) => reply,
        Err(StoreError::NotFound) => {
            return Err(DeliveryError::permanent(
                "the reply or its channel no longer exists",
            ))
        }
        Err(e) => {
            return Err(DeliveryError::temporary(format!(
                "reading the reply failed: {e}"
            )))
        }
    };
    if reply.delivery_state != Some(DeliveryState::Queued) {
        let settled = reply
            .delivery_state
            .map_or("unknown", DeliveryState::as_str);
        return Err(DeliveryError::permanent(format!(
            "delivery already {settled}"
        )));
    }
    let http = &state.outbound.http;
    match reply.channel_kind {
        ChannelKind::SmsTwilio => {
            let callback = format!(
                "{}/status",
                crate::service::channels::inbound_url(state, reply.channel_id)
            );
            let accepted = sms::deliver(http, &reply, &callback).await?;
            if let Err(e) = state
                .store
                .set_provider_id(reply.message_id, &accepted.sid)
                .await
            {
                // Sent already: trying again would text the customer twice.
                tracing::warn!(error = %e, "keeping the MessageSid of a sent text failed");
            }
            Ok(())
        }
        ChannelKind::Api => api::deliver(http, &reply).await,
        ChannelKind::Email => Err(DeliveryError::permanent(
            "a reply cannot leave by a email channel",
        )),
    }
}
