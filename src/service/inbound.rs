//! A customer writes: a new case, a message on their open case, or a reopened one.

use uuid::Uuid;

use crate::error::Result;
use crate::state::AppState;
use crate::store::{Inbound, InboundOutcome};

/// Files one checked customer message in its workspace (idempotent on `external_id`).
pub async fn receive(
    state: &AppState,
    workspace_id: Uuid,
    message: Inbound,
) -> Result<InboundOutcome> {
    let committed = state.store.inbound(workspace_id, message).await?;
    Ok(state.published(committed).await)
}
