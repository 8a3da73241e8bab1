//! Customers' rights over their data: erasure (DESIGN.md §7, Trust).
//!
//! An erasure removes what identifies the customer and what was said on their cases, and keeps
//! the cases' shape (status, owner, times, who replied when) so that statistics still count
//! them. See docs/design.md, "Export, erasure, backup", for what is erased and why.

use uuid::Uuid;

use super::allow;
use crate::error::Result;
use crate::state::AppState;
use crate::store::{Erasure, Teammate};

/// Erases a customer of the actor's workspace (admins and the owner).
pub async fn erase(state: &AppState, actor: &Teammate, customer_id: Uuid) -> Result<Erasure> {
    if !actor.role.can_admin() {
        // A customer of another workspace is a 404 for every role, like one that does not exist.
        state
            .store
            .customer(actor.workspace_id, customer_id)
            .await?;
    }
    allow(actor, actor.role.can_admin(), "only admins erase customers")?;
    let erasure = state
        .published(
            state
                .store
                .erase_customer(actor.workspace_id, actor.id, customer_id)
                .await?,
        )
        .await;
    for sha256 in &erasure.unreferenced_files {
        // Bytes another message took up since the commit stay.
        if !state.store.attachment_bytes_in_use(sha256).await? {
            crate::attachments::remove(&state.config.data_dir, sha256).await?;
        }
    }
    record_erasure(state, actor, &erasure).await;
    Ok(erasure)
}

/// The one place an erasure is recorded: who erased which customer, how much, when; in the log
/// and in the audit trail (counts only: the erased text goes nowhere).
async fn record_erasure(state: &AppState, actor: &Teammate, erasure: &Erasure) {
    tracing::info!(
        workspace = %actor.workspace_id,
        actor = %actor.id,
        customer = %erasure.customer_id,
        cases = erasure.case_ids.len(),
        messages = erasure.messages,
        attachments = erasure.attachments,
        jobs_cancelled = erasure.jobs_cancelled,
        "customer erased"
    );
    let changes = serde_json::json!({
        "cases": erasure.case_ids.len(),
        "messages": erasure.messages,
        "attachments": erasure.attachments,
        "jobs_cancelled": erasure.jobs_cancelled,
    });
    super::audit::record(
        state,
        actor,
        super::audit::Action::CustomerErased,
        Some(erasure.customer_id),
        changes,
    )
    .await;
}
