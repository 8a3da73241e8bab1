//! Snooze: a case leaves the lists until a time, and comes back by itself then, or earlier
//! when its customer writes (`store::inbound`) or a teammate wakes it.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::allow_on_case;
use crate::domain::ids::CaseId;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{Case, Teammate};

const WHAT: &str = "viewers cannot snooze cases";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeBody {
    /// RFC 3339; in the future, at most a year ahead.
    pub until: DateTime<Utc>,
}

pub async fn snooze(
    state: &AppState,
    actor: &Teammate,
    case_id: CaseId,
    until: DateTime<Utc>,
) -> Result<Case> {
    allow_on_case(state, actor, case_id, actor.role.can_work_cases(), WHAT).await?;
    let now = Utc::now();
    if until <= now {
        return Err(Error::invalid("until", "must be in the future"));
    }
    if until > now + chrono::Duration::days(366) {
        return Err(Error::invalid("until", "must be at most a year ahead"));
    }
    let committed = state
        .store
        .snooze(actor.workspace_id, case_id, actor.id, until)
        .await?;
    Ok(state.published(committed).await)
}

pub async fn wake(state: &AppState, actor: &Teammate, case_id: CaseId) -> Result<Case> {
    allow_on_case(state, actor, case_id, actor.role.can_work_cases(), WHAT).await?;
    let committed = state
        .store
        .wake(actor.workspace_id, case_id, actor.id)
        .await?;
    Ok(state.published(committed).await)
}

/// The clock: every snooze that ended by `now` wakes its case, once, on any instance.
pub async fn wake_due(state: &AppState, now: DateTime<Utc>) -> Result<usize> {
    let events = state.store.wake_due(now).await?;
    let woke = events.len();
    state.publish(events).await;
    Ok(woke)
}
