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
    // The assignment and its events run as a task of their own: assignments are committed in
    // groups by a task that finishes whether or not this caller waits (a client that hung up),
    // so the events must go out the same way.
    let write = tokio::spawn({
        let (state, workspace_id) = (state.clone(), actor.workspace_id);
        async move {
            let committed = state.store.assign(workspace_id, request).await?;
            Ok::<_, crate::error::Error>(state.published(committed).await)
        }
    });
    write
        .await
        .map_err(|e| anyhow::anyhow!("the assignment's task failed: {e}"))?
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
