//! Assign, reassign, unassign; move a whole queue.

use super::{allow, allow_on_case};
use crate::domain::ids::{CaseId, TeammateId};
use crate::error::Result;
use crate::state::AppState;
use crate::store::{AssignRequest, Case, Teammate};

/// Assign, reassign (no need to unassign first) or unassign (`None`). Viewers may not.
pub async fn assign(
    state: &AppState,
    actor: &Teammate,
    case_id: CaseId,
    assignee_id: Option<TeammateId>,
    if_version: Option<i64>,
) -> Result<Case> {
    let what = "viewers cannot assign cases";
    allow_on_case(state, actor, case_id, actor.role.can_assign(), what).await?;
    let request = AssignRequest {
        case_id,
        assignee_id,
        if_version,
        actor_id: actor.id,
    };
    let committed = state.store.assign(actor.workspace_id, request).await?;
    // The events go out before the answer is read: a failing read must not keep them back.
    state.publish(committed.events).await;
    Ok(state
        .store
        .case(actor.workspace_id, actor.id, case_id)
        .await?)
}

/// Moves all open cases of `from` to `to` (or back to the pool); answers how many moved.
pub async fn bulk_reassign(
    state: &AppState,
    actor: &Teammate,
    from: TeammateId,
    to: Option<TeammateId>,
) -> Result<usize> {
    let what = "only managers and up move a whole queue";
    allow(actor, actor.role.can_bulk_reassign(), what)?;
    let committed = state
        .store
        .bulk_reassign(actor.workspace_id, actor.id, from, to)
        .await?;
    Ok(state.published(committed).await)
}
