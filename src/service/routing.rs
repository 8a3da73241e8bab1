//! Routing that runs by itself: waiting cases handed out when away ends by its date, and
//! cases past their first-response target flagged (and taken back if the rules say so).

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
