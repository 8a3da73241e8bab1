//! A case's status, read markers and follow-ups.

use chrono::{DateTime, Utc};

use super::{allow_on_case, badge_changed};
use crate::domain::ids::CaseId;
use crate::domain::Status;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{Case, Teammate};

pub async fn set_status(
    state: &AppState,
    actor: &Teammate,
    case_id: CaseId,
    status: Status,
) -> Result<Case> {
    let what = "viewers cannot change cases";
    allow_on_case(state, actor, case_id, actor.role.can_work_cases(), what).await?;
    let committed = state
        .store
        .set_status(actor.workspace_id, case_id, actor.id, status)
        .await?;
    Ok(state.published(committed).await)
}

/// Marks the case read for the actor: their badge and unread counts drop.
pub async fn mark_read(state: &AppState, actor: &Teammate, case_id: CaseId) -> Result<()> {
    state
        .store
        .mark_read(actor.workspace_id, case_id, actor.id)
        .await?;
    badge_changed(state, actor).await;
    Ok(())
}

/// Schedules (or cancels, with `None`) a follow-up.
pub async fn set_follow_up(
    state: &AppState,
    actor: &Teammate,
    case_id: CaseId,
    due_at: Option<DateTime<Utc>>,
) -> Result<Case> {
    let what = "viewers cannot schedule follow-ups";
    allow_on_case(state, actor, case_id, actor.role.can_work_cases(), what).await?;
    if due_at.is_some_and(|d| d.timestamp() > 32_503_680_000 || d.timestamp() < 0) {
        return Err(Error::invalid(
            "due_at",
            "must be a date between 1970 and 3000",
        ));
    }
    let committed = state
        .store
        .set_follow_up(actor.workspace_id, case_id, actor.id, due_at)
        .await?;
    Ok(state.published(committed).await)
}

/// The clock: every follow-up due by `now` turns its case `follow_up_due`, on any instance.
pub async fn fire_due_follow_ups(state: &AppState, now: DateTime<Utc>) -> Result<usize> {
    let events = state.store.fire_due_follow_ups(now).await?;
    let fired = events.len();
    state.publish(events).await;
    Ok(fired)
}
