//! Customers: their page (addresses, notes, cases), finding one, merging two, and their rights
//! over their data: erasure (DESIGN.md §7, Trust).
//!
//! An erasure removes what identifies the customer and what was said on their cases, and keeps
//! the cases' shape (status, owner, times, who replied when) so that statistics still count
//! them. See docs/design.md, "Export, erasure, backup", for what is erased and why.

use super::allow;
use crate::domain::ids::CustomerId;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{Customer, CustomerProfile, Erasure, Merge, Teammate};

/// The longest notes kept about one customer, in characters.
pub const NOTES_MAX: usize = 10_000;
/// The longest text a customer search takes, in characters.
const QUERY_MAX: usize = 200;
/// Customers a search returns at most.
const FOUND_MAX: i64 = 20;

/// A customer's page, for everyone on the team; an id merged away answers the customer it was
/// merged into.
pub async fn profile(
    state: &AppState,
    actor: &Teammate,
    id: CustomerId,
) -> Result<CustomerProfile> {
    Ok(state.store.customer_profile(actor.workspace_id, id).await?)
}

/// Customers whose name, email address or phone number holds `q` (case-insensitive), by name.
pub async fn find(state: &AppState, actor: &Teammate, q: &str) -> Result<Vec<Customer>> {
    let q = q.trim();
    if q.chars().count() > QUERY_MAX {
        return Err(Error::invalid("q", "at most 200 characters"));
    }
    Ok(state
        .store
        .find_customers(actor.workspace_id, q, FOUND_MAX)
        .await?)
}

/// Replaces what the team notes about a customer (agents and up); returns the page.
pub async fn set_notes(
    state: &AppState,
    actor: &Teammate,
    id: CustomerId,
    notes: &str,
) -> Result<CustomerProfile> {
    let profile = state.store.customer_profile(actor.workspace_id, id).await?;
    allow(
        actor,
        actor.role.can_work_cases(),
        "viewers cannot edit customers",
    )?;
    if profile.erased {
        return Err(Error::invalid("notes", "this customer was erased"));
    }
    if notes.chars().count() > NOTES_MAX {
        return Err(Error::invalid("notes", "at most 10000 characters"));
    }
    state
        .store
        .set_customer_notes(actor.workspace_id, profile.customer.id, notes.trim_end())
        .await?;
    Ok(state.store.customer_profile(actor.workspace_id, id).await?)
}

/// Merges customer `id` into `into_id` (agents and up): the same person wrote from two
/// addresses. Their cases move, their notes join, and mail or texts from either address find
/// the one customer from now on. Returns the page of the customer they became.
pub async fn merge(
    state: &AppState,
    actor: &Teammate,
    id: CustomerId,
    into_id: CustomerId,
) -> Result<CustomerProfile> {
    state.store.customer(actor.workspace_id, id).await?;
    allow(
        actor,
        actor.role.can_work_cases(),
        "viewers cannot merge customers",
    )?;
    let merge: Merge = state
        .published(
            state
                .store
                .merge_customers(actor.workspace_id, actor.id, id, into_id)
                .await?,
        )
        .await;
    tracing::info!(
        workspace = %actor.workspace_id,
        actor = %actor.id,
        customer = %merge.customer_id,
        into = %merge.into_id,
        cases = merge.case_ids.len(),
        "customers merged"
    );
    super::audit::record(
        state,
        actor,
        super::audit::Action::CustomerMerged,
        Some(merge.customer_id.into()),
        serde_json::json!({ "into_id": merge.into_id, "cases": merge.case_ids.len() }),
    )
    .await;
    Ok(state
        .store
        .customer_profile(actor.workspace_id, merge.into_id)
        .await?)
}

/// Erases a customer of the actor's workspace (admins and the owner).
/// An id merged away erases the customer it was merged into, with every address.
pub async fn erase(state: &AppState, actor: &Teammate, customer_id: CustomerId) -> Result<Erasure> {
    // A customer of another workspace is a 404 for every role, like one that does not exist.
    let customer_id = state
        .store
        .customer(actor.workspace_id, customer_id)
        .await?
        .id;
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
        Some(erasure.customer_id.into()),
        changes,
    )
    .await;
}
