//! Use cases: one function for each thing a teammate, a customer or the clock does.
//!
//! Each one checks the role, runs one store transaction, publishes what it committed
//! (`AppState::published`) and returns the value. HTTP handlers parse, call one of these and
//! render; the demo and the background tasks call the same functions. `Committed` is
//! `#[must_use]`, so a write whose events are never published does not pass CI.

pub mod accounts;
pub mod assignment;
pub mod audit;
pub mod cases;
pub mod channels;
pub mod customers;
pub mod export;
pub mod inbound;
pub mod jobs;
pub mod messages;
pub mod notifications;
pub mod replies;
pub mod reports;
pub mod routing;
pub mod rules;
pub mod saved_replies;
pub mod sms;
pub mod snooze;
pub mod sso;
pub mod tags;
pub mod team;
pub mod totp;
pub mod webhook_delivery;
pub mod webhooks;
pub mod workspace;

use crate::domain::ids::CaseId;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::Teammate;

/// Refuses (403) what the actor's role may not do.
pub fn allow(actor: &Teammate, allowed: bool, what: &'static str) -> Result<()> {
    if allowed {
        return Ok(());
    }
    tracing::warn!(teammate = %actor.id, role = ?actor.role, what, "refused: role not allowed");
    Err(Error::Forbidden(what))
}

/// `allow` for a change to one case. A case of another workspace, like one that does not
/// exist, is a 404 for every role: a role is refused (403) only on what it can see.
pub async fn allow_on_case(
    state: &AppState,
    actor: &Teammate,
    case_id: CaseId,
    allowed: bool,
    what: &'static str,
) -> Result<()> {
    if !allowed {
        state
            .store
            .case(actor.workspace_id, actor.id, case_id)
            .await?;
    }
    allow(actor, allowed, what)
}

/// Tells every instance that this teammate's badge may have changed without a workspace event.
async fn badge_changed(state: &AppState, actor: &Teammate) {
    let _ = state
        .broker
        .publish(crate::bus::BusMessage::BadgeChanged {
            workspace_id: actor.workspace_id,
            teammate_id: actor.id,
        })
        .await;
}
