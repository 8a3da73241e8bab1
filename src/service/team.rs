//! The team: roles and away, removals, invitations.

use uuid::Uuid;

use super::allow;
use crate::credentials::{hash_token, new_token};
use crate::domain::{input, Role};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{Departure, NewInvite, Teammate};

/// How long an invite link works.
const INVITE_DAYS: i64 = 7;

/// The active teammate `id` of the actor's workspace; anyone else is a 404 for every role, so a
/// role is refused only on teammates it can see.
async fn active_teammate(state: &AppState, actor: &Teammate, id: Uuid) -> Result<Teammate> {
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
    id: Uuid,
    role: Option<Role>,
    away: Option<bool>,
) -> Result<Teammate> {
    let target = active_teammate(state, actor, id).await?;
    if away.is_some() && id != actor.id {
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
    let committed = state
        .store
        .update_teammate(actor.workspace_id, id, actor.id, role, away)
        .await?;
    Ok(state.published(committed).await)
}

/// Removes a teammate and, in the same transaction, moves their open cases to `reassign_to`
/// (or back to the pool); answers how many moved.
pub async fn remove(
    state: &AppState,
    actor: &Teammate,
    id: Uuid,
    reassign_to: Option<Uuid>,
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
    Ok(state.published(committed).await)
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
    Ok(token)
}
