//! The team: roles and away, removals, invitations.

use serde_json::json;

use super::allow;
use super::audit::{self, Action};
use crate::credentials::{hash_token, new_token};
use crate::domain::ids::TeammateId;
use crate::domain::{input, Role};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{Departure, NewInvite, RoutingPatch, Teammate};

/// How long an invite link works.
const INVITE_DAYS: i64 = 7;

/// The active teammate `id` of the actor's workspace; anyone else is a 404 for every role, so a
/// role is refused only on teammates it can see.
async fn active_teammate(state: &AppState, actor: &Teammate, id: TeammateId) -> Result<Teammate> {
    let target = state.store.teammate(actor.workspace_id, id).await?;
    if !target.active {
        return Err(Error::NotFound);
    }
    Ok(target)
}

/// Changes a teammate's role (admin and up) or away flag (admin and up, or themselves).
pub async fn update(
    state: &AppState,
    actor: &Teammate,
    id: TeammateId,
    role: Option<Role>,
    away: Option<bool>,
    routing: RoutingPatch,
) -> Result<Teammate> {
    let target = active_teammate(state, actor, id).await?;
    let away_dates = routing.away_from.is_some() || routing.away_until.is_some();
    if routing.max_open.is_some() {
        allow(
            actor,
            actor.role.can_admin(),
            "only admins set a teammate's limit",
        )?;
    }
    if (away.is_some() || away_dates) && id != actor.id {
        allow(
            actor,
            actor.role.can_admin(),
            "only admins mark others away",
        )?;
    }
    if let Some(role) = role {
        allow(
            actor,
            actor.role.can_grant(role),
            "not allowed to grant this role",
        )?;
        allow(
            actor,
            target.role != Role::Owner || actor.role == Role::Owner,
            "only an owner changes an owner",
        )?;
    }
    let limit_changed = routing.max_open.is_some();
    let mut routing = routing;
    // Away or back by hand replaces a range that has started or ended (a planned one stays).
    let now = chrono::Utc::now();
    if away.is_some()
        && !away_dates
        && (target.away_from.is_some_and(|f| f <= now)
            || target.away_until.is_some_and(|u| u <= now))
    {
        routing.away_from = Some(None);
        routing.away_until = Some(None);
    }
    let committed = state
        .store
        .update_teammate(actor.workspace_id, id, actor.id, role, away)
        .await?;
    let mut updated = state.published(committed).await;
    if !routing.is_empty() {
        let committed = state
            .store
            .update_teammate_routing(actor.workspace_id, id, actor.id, routing)
            .await?;
        updated = state.published(committed).await;
    }
    // Marking oneself away or back is everyday work, not administration.
    if id != actor.id || role.is_some() || limit_changed {
        let changes = audit::diff(&target, &updated);
        if changes.as_object().is_some_and(|c| !c.is_empty()) {
            audit::record(
                state,
                actor,
                Action::TeammateUpdated,
                Some(id.into()),
                changes,
            )
            .await;
        }
    }
    Ok(updated)
}

/// Removes a teammate and, in the same transaction, moves their open cases to `reassign_to`
/// (or back to the pool); answers how many moved.
pub async fn remove(
    state: &AppState,
    actor: &Teammate,
    id: TeammateId,
    reassign_to: Option<TeammateId>,
) -> Result<usize> {
    let target = active_teammate(state, actor, id).await?;
    allow(
        actor,
        actor.role.can_admin(),
        "only admins remove teammates",
    )?;
    allow(
        actor,
        target.role != Role::Owner || actor.role == Role::Owner,
        "only an owner removes an owner",
    )?;
    let departure = Departure {
        teammate_id: id,
        reassign_to,
    };
    let committed = state
        .store
        .remove_teammate(actor.workspace_id, actor.id, departure)
        .await?;
    let moved = state.published(committed).await;
    let changes = json!({
        "name": target.name, "email": target.email, "role": target.role,
        "reassign_to": reassign_to, "cases_moved": moved,
    });
    audit::record(
        state,
        actor,
        Action::TeammateRemoved,
        Some(id.into()),
        changes,
    )
    .await;
    Ok(moved)
}

/// An invitation to join with `role`; answers the secret token of the invite link.
pub async fn invite(
    state: &AppState,
    actor: &Teammate,
    email: &str,
    name: &str,
    role: Role,
) -> Result<String> {
    allow(actor, actor.role.can_admin(), "only admins invite")?;
    allow(
        actor,
        actor.role.can_grant(role),
        "not allowed to grant this role",
    )?;
    let email = input::email("email", email)?;
    let name = input::name("name", name)?;
    if state.store.credentials(&email).await?.is_some() {
        return Err(Error::Duplicate("email"));
    }
    let token = new_token("");
    let changes = json!({ "email": email, "name": name, "role": role });
    state
        .store
        .create_invite(NewInvite {
            workspace_id: actor.workspace_id,
            email,
            name,
            role,
            invited_by: actor.id,
            token_hash: hash_token(&token),
            expires_at: chrono::Utc::now() + chrono::Duration::days(INVITE_DAYS),
        })
        .await?;
    audit::record(state, actor, Action::TeammateInvited, None, changes).await;
    Ok(token)
}
