//! Routing that runs by itself: waiting cases handed out when away ends by its date, and
//! cases past their first-response target flagged (and taken back if the rules say so).

use crate::domain::ids::{TeammateId, WorkspaceId};
use crate::error::Result;
use crate::state::AppState;

/// Workspaces looked at per tick.
const WORKSPACES_PER_TICK: i64 = 100;

/// Hands out waiting cases wherever someone has room now; answers how many events it published.
pub async fn drain_waiting(state: &AppState) -> Result<usize> {
    let events = state.store.drain_waiting(WORKSPACES_PER_TICK).await?;
    let n = events.len();
    state.publish(events).await;
    Ok(n)
}

/// Fires the response targets that are due; answers how many events it published.
pub async fn fire_breaches(state: &AppState, now: chrono::DateTime<chrono::Utc>) -> Result<usize> {
    let events = state.store.fire_breaches(now).await?;
    let n = events.len();
    state.publish(events).await;
    Ok(n)
}

/// How long a heartbeat keeps a teammate online: three beats, so one missed beat is no gap.
pub fn online_for() -> chrono::Duration {
    chrono::Duration::from_std(crate::realtime::presence::HEARTBEAT_EVERY * 3)
        .unwrap_or(chrono::Duration::seconds(30))
}

/// A teammate opened a socket: online now, and the waiting queue goes out if the rules assign
/// only to connected teammates.
pub async fn came_online(
    state: &AppState,
    workspace_id: WorkspaceId,
    teammate_id: TeammateId,
) -> Result<()> {
    let until = chrono::Utc::now() + online_for();
    let committed = state
        .store
        .came_online(workspace_id, teammate_id, until)
        .await?;
    state.published(committed).await;
    Ok(())
}

/// The presence heartbeat's half: everyone with a socket here stays online a while longer.
pub async fn still_online(state: &AppState) -> Result<()> {
    let present = state.hub.presence.local_teammates();
    if present.is_empty() {
        return Ok(());
    }
    Ok(state
        .store
        .mark_online(&present, chrono::Utc::now() + online_for())
        .await?)
}
