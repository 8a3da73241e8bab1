//! One outbound reply job (email, SMS or an API channel): read the reply, send it through the
//! channel's `outbound::Sender`, and record the delivery state the case page shows. The job
//! worker (`jobs.rs`) claims the jobs and hands the reply jobs here.

use crate::events::DeliveryState;
use crate::outbound::{api, sms, DeliveryError, Sender, MAX_ATTEMPTS};
use crate::service::jobs::{record_with, retry};
use crate::store::{ChannelKind, Job, JobChannel, JobOutcome, StoreError};
use crate::AppState;

/// Runs one claimed outbound job to its outcome and records it.
pub async fn run(state: &AppState, job: Job) {
    let result = match job.channel {
        JobChannel::SmsReply | JobChannel::ApiReply => attempt_channel(state, &job).await,
        JobChannel::EmailReply | JobChannel::Push | JobChannel::Email => attempt(state, &job).await,
    };
    let outcome = match result {
        Ok(()) => JobOutcome::Sent,
        Err(e) if e.permanent => JobOutcome::Failed(e.reason),
        Err(e) => retry(state, &job, None, e.reason, MAX_ATTEMPTS),
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
    let recorded = record_with(&job, || state.store.finish_outbound(&job, &outcome)).await;
    if let Some(committed) = recorded {
        state.publish(committed.events).await;
    }
}

async fn attempt(state: &AppState, job: &Job) -> Result<(), DeliveryError> {
    let sender = &state.outbound.email;
    let reply = state.store.outbound_reply(job, sender.domain()).await;
    let reply = readable(reply, "the reply no longer exists")?;
    still_queued(reply.delivery_state)?;
    sender.deliver(&reply).await
}

/// The reply a job sends, or why it cannot be sent: gone (`gone` says what), or not readable now.
fn readable<T>(read: Result<T, StoreError>, gone: &str) -> Result<T, DeliveryError> {
    match read {
        Ok(reply) => Ok(reply),
        Err(StoreError::NotFound) => Err(DeliveryError::permanent(gone)),
        Err(e) => Err(DeliveryError::temporary(format!(
            "reading the reply failed: {e}"
        ))),
    }
}

/// A reply is sent only while it is queued: a bounce or a second run may have settled it.
fn still_queued(delivery: Option<DeliveryState>) -> Result<(), DeliveryError> {
    match delivery {
        Some(DeliveryState::Queued) => Ok(()),
        settled => Err(DeliveryError::permanent(format!(
            "delivery already {}",
            settled.map_or("unknown", DeliveryState::as_str)
        ))),
    }
}

/// An SMS or API-channel reply: sent on the case's channel; Twilio's MessageSid is kept so
/// that its status callbacks find the reply.
async fn attempt_channel(state: &AppState, job: &Job) -> Result<(), DeliveryError> {
    let reply = state.store.channel_reply(job).await;
    let reply = readable(reply, "the reply or its channel no longer exists")?;
    still_queued(reply.delivery_state)?;
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
