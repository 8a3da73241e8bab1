//! Delivering outgoing webhooks. Each endpoint follows the workspace's event log from its own
//! cursor (stored), so deliveries go out in `seq` order, survive restarts and are never lost
//! while the log keeps them; an endpoint is leased to one instance at a time. A failure stops
//! the endpoint where it is and retries the same event with exponential backoff (its
//! `webhook-id` stays the same, for receivers to dedupe); after a day of failures the endpoint
//! is switched off and the workspace's owners and admins are emailed.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::events::Event;
use crate::notify::email;
use crate::store::{Attempt, WebhookTarget, Which};
use crate::AppState;

/// How often due endpoints are looked for.
pub const EVERY: Duration = Duration::from_millis(250);
/// An endpoint's lease; one run stops well before it ends.
const LEASE: Duration = Duration::from_secs(60);
const RUN_BUDGET: Duration = Duration::from_secs(30);
/// Failing this long switches an endpoint off.
pub const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::days(1);
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// One pass over the due endpoints.
pub async fn tick(state: &AppState) {
    let targets = match state.store.claim_webhooks(Utc::now(), LEASE).await {
        Ok(targets) => targets,
        Err(e) => {
            tracing::warn!(error = %e, "claiming webhook endpoints failed");
            return;
        }
    };
    futures_util::future::join_all(targets.into_iter().map(|t| run(state, t))).await;
}

/// The id a receiver dedupes on: one event, one id, on every attempt.
pub fn message_id(event: &Event) -> String {
    format!(
        "evt_{}_{}",
        event.workspace_id.as_uuid().simple(),
        event.seq
    )
}

/// The body of a delivery: `{type, seq, at, data}`.
pub fn body(event: &Event) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": event.event.name(),
        "seq": event.seq,
        "at": event.at,
        "data": event.event,
    }))
    .unwrap_or_default()
}

async fn run(state: &AppState, target: WebhookTarget) {
    let mut cursor = target.cursor;
    let failed = deliver_due(state, &target, &mut cursor).await;
    let now = Utc::now();
    let (next_at, failing_since, active) = match failed {
        false => (now, None, true),
        true => {
            let (next_at, active) =
                after_failure(target.failing_since, now, state.config.retry_base);
            (next_at, Some(target.failing_since.unwrap_or(now)), active)
        }
    };
    if let (false, Some(since)) = (active, failing_since) {
        return switch_off(state, &target, cursor, since).await;
    }
    if let Err(e) = state
        .store
        .release_webhook(target.id, cursor, next_at, failing_since, active)
        .await
    {
        tracing::warn!(error = %e, "releasing a webhook endpoint failed");
    }
}

/// A day of failures: the endpoint goes off (an event every open page sees) and the
/// workspace's owners and admins are emailed, once: only the lease holder that switched it off
/// sends.
async fn switch_off(state: &AppState, target: &WebhookTarget, cursor: i64, since: DateTime<Utc>) {
    tracing::warn!(webhook = %target.id, url = %target.url, "webhook endpoint switched off after a day of failures");
    let committed = match state
        .store
        .switch_off_webhook(target.workspace_id, target.id, cursor, since)
        .await
    {
        Ok(committed) => committed,
        Err(e) => {
            tracing::warn!(error = %e, "switching off a webhook endpoint failed");
            return;
        }
    };
    let switched = !committed.events.is_empty();
    state.published(committed).await;
    if switched {
        tell_admins(state, target, since).await;
    }
}

async fn tell_admins(state: &AppState, target: &WebhookTarget, since: DateTime<Utc>) {
    let team = match state
        .store
        .teammates(target.workspace_id, None, Which::Active)
        .await
    {
        Ok(team) => team,
        Err(e) => {
            tracing::warn!(error = %e, "no admins to tell of a switched-off webhook");
            return;
        }
    };
    let lead = format!(
        "Baton could not deliver events to the webhook endpoint {} since {} (UTC) and has switched it off. \
         Events are kept: fix the endpoint, then press \"Send again\" on a delivery in Settings to switch it back on.",
        target.url,
        since.format("%Y-%m-%d %H:%M"),
    );
    for admin in team.iter().filter(|t| t.role.can_admin()) {
        let alert = email::Alert {
            to_name: &admin.name,
            to_email: &admin.email,
            from: &state.config.email_from,
            subject: "A webhook endpoint was switched off".to_string(),
            lead: lead.clone(),
            link: format!("{}/settings", state.notifier.origin),
        };
        let sent = match email::build_alert(&alert) {
            Ok(message) => state.notifier.mailer.send(message).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, to = %admin.email, "telling an admin of a switched-off webhook failed");
        }
    }
}

/// After a failed attempt: when to try again (each wait as long as the endpoint has been
/// failing, so waits double, from `base` up to 10 minutes) and whether it stays on (not after a
/// day of failures).
pub fn after_failure(
    failing_since: Option<chrono::DateTime<Utc>>,
    now: chrono::DateTime<Utc>,
    base: Duration,
) -> (chrono::DateTime<Utc>, bool) {
    let since = failing_since.unwrap_or(now);
    let failing_for = (now - since).to_std().unwrap_or_default();
    let wait = failing_for.clamp(base, MAX_BACKOFF);
    (
        now + chrono::Duration::from_std(wait).unwrap_or_default(),
        now - since < GIVE_UP_AFTER,
    )
}

/// Sends what is due; true when an attempt failed (the endpoint waits before the next).
async fn deliver_due(state: &AppState, t: &WebhookTarget, cursor: &mut i64) -> bool {
    let started = Instant::now();
    // Events an admin asked to send again first.
    if let Ok(resends) = state.store.webhook_resends(t.id).await {
        for (seq, _) in resends {
            let Ok(events) = state.store.events_since(t.workspace_id, seq - 1, 1).await else {
                return true;
            };
            match events.into_iter().next().filter(|e| e.seq == seq) {
                Some(event) => {
                    if !attempt(state, t, &event, false).await {
                        return true;
                    }
                }
                None => {
                    let gone = Attempt {
                        seq,
                        kind: String::new(),
                        ok: false,
                        status_code: None,
                        response_ms: 0,
                        error: Some("the event is no longer in the log".into()),
                    };
                    let _ = state.store.record_webhook_attempt(t.id, &gone, false).await;
                }
            }
        }
    }
    loop {
        if started.elapsed() > RUN_BUDGET {
            return false;
        }
        let events = match state.store.events_since(t.workspace_id, *cursor, 100).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "reading events for a webhook failed");
                return true;
            }
        };
        if events.is_empty() {
            return false;
        }
        for event in events {
            if t.events.iter().any(|k| k == event.event.name())
                && !attempt(state, t, &event, true).await
            {
                return true;
            }
            *cursor = event.seq;
        }
    }
}

/// One signed POST of one event, logged; true when the endpoint took it (2xx).
async fn attempt(state: &AppState, t: &WebhookTarget, event: &Event, advance: bool) -> bool {
    let payload = body(event);
    let id = message_id(event);
    let started = Instant::now();
    let result =
        match crate::signing::standard_headers(&t.secret, &id, Utc::now().timestamp(), &payload) {
            Ok(headers) => {
                let mut request = state
                    .outbound
                    .http
                    .post(&t.url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json");
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                request
                    .body(payload)
                    .send()
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e),
        };
    let response_ms = started.elapsed().as_millis() as i64;
    let (ok, status_code, error) = match result {
        Ok(answer) if answer.status().is_success() => {
            (true, Some(answer.status().as_u16() as i64), None)
        }
        Ok(answer) => (
            false,
            Some(answer.status().as_u16() as i64),
            Some(format!("answered {}", answer.status())),
        ),
        Err(e) => (false, None, Some(format!("not reached: {e}"))),
    };
    let logged = Attempt {
        seq: event.seq,
        kind: event.event.name().to_string(),
        ok,
        status_code,
        response_ms,
        error,
    };
    if let Err(e) = state
        .store
        .record_webhook_attempt(t.id, &logged, advance && ok)
        .await
    {
        tracing::warn!(error = %e, "logging a webhook delivery failed");
    }
    state
        .metrics
        .outbound_job("webhook", if ok { "sent" } else { "retry" });
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_and_a_day_of_failures_switches_off() {
        let now = Utc::now();
        let base = Duration::from_secs(2);
        let (next, on) = after_failure(None, now, base);
        assert_eq!((next - now).num_seconds(), 2);
        assert!(on);
        let (next, on) = after_failure(Some(now - chrono::Duration::seconds(8)), now, base);
        assert_eq!((next - now).num_seconds(), 8);
        assert!(on);
        let (next, on) = after_failure(Some(now - chrono::Duration::hours(5)), now, base);
        assert_eq!((next - now).num_seconds(), 600, "capped at 10 minutes");
        assert!(on);
        let (_, on) = after_failure(Some(now - chrono::Duration::hours(24)), now, base);
        assert!(!on, "switched off after a day");
    }
}
