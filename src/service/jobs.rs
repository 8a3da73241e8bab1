//! The job worker: every instance runs one, for notifications (Web Push, email) and replies. It claims due jobs with a lease
//! (`FOR UPDATE SKIP LOCKED` on Postgres), re-checks that each is still wanted, sends it, and
//! records the outcome. A crash mid-send leaves the job leased; after the lease it runs again.

use std::time::Duration;

use chrono::Utc;
use web_push::Urgency;

use crate::domain::Status;
use crate::notify::{email, webpush};
use crate::store::{Job, JobChannel, JobOutcome, JobReason, StoreError};
use crate::AppState;

pub const EVERY: Duration = Duration::from_millis(500);
const LEASE: Duration = Duration::from_secs(60);
const BATCH: i64 = 32;
/// Attempts before a job is given up (with its last error recorded).
pub const MAX_ATTEMPTS: i64 = 8;

/// One pass: claim what is due and run it. Returns how many jobs ran.
pub async fn tick(state: &AppState) -> usize {
    let jobs = match state.store.claim_jobs(Utc::now(), BATCH, LEASE).await {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::warn!(error = %e, "claiming notification jobs failed");
            return 0;
        }
    };
    let n = jobs.len();
    futures_util::future::join_all(jobs.into_iter().map(|job| async move {
        if job.channel.is_reply() {
            crate::service::replies::run(state, job).await
        } else {
            run(state, job).await
        }
    }))
    .await;
    n
}

async fn run(state: &AppState, job: Job) {
    let outcome = match decide(state, &job).await {
        Ok(outcome) => outcome,
        Err(e) => retry(state, &job, None, format!("{e}"), MAX_ATTEMPTS),
    };
    let channel = job.channel.as_str();
    state.metrics.notification_job(channel, outcome.label());
    match &outcome {
        JobOutcome::Failed(why) => {
            tracing::warn!(job = %job.id, channel, why, "notification given up")
        }
        JobOutcome::Retry { error, .. } => {
            tracing::info!(job = %job.id, channel, error, attempt = job.attempts, "notification will be retried")
        }
        _ => {}
    }
    record(state, &job, &outcome).await;
}

/// Records a job's outcome. While the database is unreachable the outcome is held and retried
/// until shortly before the lease runs out: a job that was sent must not be sent again by the
/// next instance to claim it, just because the database was down for a while.
async fn record(state: &AppState, job: &Job, outcome: &JobOutcome) {
    record_with(job, || state.store.finish_job(job.id, outcome)).await;
}

/// Runs `write` (which records a job's outcome) until it succeeds, retrying while the database
/// is unreachable, until shortly before the job's lease runs out.
pub async fn record_with<T, F, Fut>(job: &Job, write: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let give_up = tokio::time::Instant::now() + LEASE - Duration::from_secs(5);
    let mut wait = Duration::from_millis(200);
    loop {
        match write().await {
            Ok(value) => return Some(value),
            Err(StoreError::Unavailable) if tokio::time::Instant::now() + wait < give_up => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(3));
            }
            Err(e) => {
                tracing::warn!(error = %e, job = %job.id, "recording a job's outcome failed; the lease will bring it back");
                return None;
            }
        }
    }
}

/// Exponential backoff (twice `retry_base`, then 4×, 8×, … capped at 10 min), or later if the
/// service asked; given up after `max_attempts`.
pub fn retry(
    state: &AppState,
    job: &Job,
    retry_after: Option<Duration>,
    error: String,
    max_attempts: i64,
) -> JobOutcome {
    if job.attempts >= max_attempts {
        return JobOutcome::Failed(format!("gave up after {} attempts: {error}", job.attempts));
    }
    let factor = 1u32 << job.attempts.clamp(1, 20) as u32;
    let backoff = state
        .config
        .retry_base
        .saturating_mul(factor)
        .min(Duration::from_secs(600));
    let wait = retry_after.map_or(backoff, |ra| ra.max(backoff).min(Duration::from_secs(3600)));
    JobOutcome::Retry {
        at: Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
        error,
    }
}

async fn decide(state: &AppState, job: &Job) -> anyhow::Result<JobOutcome> {
    let ctx = match state.store.job_context(job).await {
        Ok(ctx) => ctx,
        Err(StoreError::NotFound) => return Ok(JobOutcome::Cancelled("teammate not found".into())),
        Err(e) => return Err(e.into()),
    };
    let me = job.teammate_id;
    if !ctx.teammate.active {
        return Ok(JobOutcome::Cancelled("teammate removed".into()));
    }
    // The pings rules, as of now: a reassign since the job was queued cancels it.
    let still_pinged = match job.reason {
        JobReason::Inbound | JobReason::FollowUp | JobReason::SnoozeEnded => {
            ctx.case_assignee == Some(me) || (ctx.case_assignee.is_none() && ctx.prefs.unassigned)
        }
        JobReason::Assigned => ctx.case_assignee == Some(me),
        JobReason::Mention | JobReason::Bulk | JobReason::Reply => true,
    };
    if !still_pinged {
        return Ok(JobOutcome::Cancelled(
            "no longer this teammate's case".into(),
        ));
    }
    if state
        .hub
        .presence
        .online_anywhere(job.workspace_id, me)
        .await
    {
        return Ok(JobOutcome::Skipped(
            "online: the live inbox shows it".into(),
        ));
    }
    let notifier = &state.notifier;
    match job.channel {
        JobChannel::Push => {
            if !ctx.prefs.web_push {
                return Ok(JobOutcome::Skipped("web push turned off".into()));
            }
            let Some(sub) = (match job.subscription_id {
                Some(id) => state.store.push_subscription(id).await?,
                None => None,
            }) else {
                return Ok(JobOutcome::Cancelled("subscription removed".into()));
            };
            let mut body = job.payload.to_string();
            if body.len() > webpush::MAX_PAYLOAD {
                let mut p = job.payload.clone();
                p["preview"] = serde_json::Value::String(String::new());
                p["body"] = serde_json::Value::String(
                    p["customer"].as_str().unwrap_or("New message").to_string(),
                );
                body = p.to_string();
            }
            let urgency = if job.reason == JobReason::Inbound {
                Urgency::High
            } else {
                Urgency::Normal
            };
            Ok(
                match webpush::send(
                    &notifier.http,
                    &notifier.vapid,
                    &sub,
                    body.as_bytes(),
                    urgency,
                )
                .await
                {
                    Ok(webpush::PushResult::Delivered) => JobOutcome::Sent,
                    Ok(webpush::PushResult::Gone) => {
                        state.store.delete_push_subscription(sub.id).await?;
                        JobOutcome::Failed("subscription gone (404/410): deleted".into())
                    }
                    Ok(webpush::PushResult::Retry {
                        retry_after,
                        status,
                    }) => retry(
                        state,
                        job,
                        retry_after,
                        format!("push service answered {status}"),
                        MAX_ATTEMPTS,
                    ),
                    Ok(webpush::PushResult::Rejected(why)) => JobOutcome::Failed(why),
                    Err(e) => retry(state, job, None, format!("push failed: {e}"), MAX_ATTEMPTS),
                },
            )
        }
        JobChannel::Email => {
            if !ctx.prefs.email {
                return Ok(JobOutcome::Skipped("email turned off".into()));
            }
            if job.reason == JobReason::Inbound && !ctx.case_unread {
                return Ok(JobOutcome::Skipped("read in time".into()));
            }
            if job.reason == JobReason::FollowUp && ctx.case_status != Some(Status::FollowUpDue) {
                return Ok(JobOutcome::Skipped("follow-up already handled".into()));
            }
            let p = &job.payload;
            let number = p["number"].as_str().unwrap_or("");
            let customer = p["customer"].as_str().unwrap_or("A customer");
            let (subject, lead) = match job.reason {
                JobReason::FollowUp => (
                    format!("[{number}] Follow-up due: {customer}"),
                    format!("The follow-up on {number} with {customer} is due."),
                ),
                JobReason::SnoozeEnded => (
                    format!("[{number}] Back from snooze: {customer}"),
                    format!(
                        "{number} with {customer} was snoozed until now: it is back in your inbox."
                    ),
                ),
                // Only customer messages, due follow-ups and snoozes running out send email.
                JobReason::Inbound
                | JobReason::Assigned
                | JobReason::Mention
                | JobReason::Bulk
                | JobReason::Reply => (
                    format!("[{number}] New message from {customer}"),
                    format!("{customer} wrote on {number}, and it is still unread."),
                ),
            };
            let mail = email::Mail {
                to_name: &ctx.teammate.name,
                to_email: &ctx.teammate.email,
                from: &state.config.email_from,
                subject,
                lead,
                preview: p["preview"].as_str().unwrap_or(""),
                link: format!("{}{}", notifier.origin, p["url"].as_str().unwrap_or("/")),
                unsubscribe: notifier.unsubscribe_url(me),
            };
            let message = email::build(&mail)?;
            Ok(match notifier.mailer.send(message).await {
                Ok(()) => JobOutcome::Sent,
                Err(e) => retry(state, job, None, format!("email failed: {e}"), MAX_ATTEMPTS),
            })
        }
        // `tick` sends these to `replies::run`.
        JobChannel::EmailReply | JobChannel::SmsReply | JobChannel::ApiReply => Ok(
            JobOutcome::Failed(format!("{} is not a notification", job.channel.as_str())),
        ),
    }
}
