//! Accounts: new workspaces, sign-in, sessions and API tokens, invite acceptance, sign-out.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Action};
use crate::bus::BusMessage;
use crate::credentials::{
    hash_password_blocking, hash_token, new_token, password_work, verify_password,
};
use crate::domain::input;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{PendingInvite, SessionInfo, Teammate, TokenKind, TokenOwner, Workspace};

/// How long a browser session lasts.
pub const SESSION_DAYS: i64 = 30;

/// A new workspace and its owner.
pub async fn sign_up(
    state: &AppState,
    workspace_name: &str,
    name: &str,
    email: &str,
    password: String,
) -> Result<(Workspace, Teammate)> {
    let workspace_name = input::name("workspace_name", workspace_name)?;
    let name = input::name("name", name)?;
    let email = input::email("email", email)?;
    let password = input::password("password", &password)?;
    let hash = hash_password_blocking(password).await?;
    let committed = state
        .store
        .create_workspace(&workspace_name, &name, &email, &hash, &new_token("bti_"))
        .await?;
    let (workspace, owner) = state.published(committed).await;
    tracing::info!(workspace = %workspace.id, "workspace created");
    Ok((workspace, owner))
}

/// Checks an email and password, and the two-factor code when the account has it on;
/// rate-limited per client address and per account (a wrong code counts like a wrong password).
pub async fn sign_in(
    state: &AppState,
    client: IpAddr,
    email: &str,
    password: String,
    totp: Option<&str>,
) -> Result<(Workspace, Teammate)> {
    let limited = |retry_after_secs| Error::RateLimited { retry_after_secs };
    state
        .login_by_address
        .hit(&client.to_string())
        .map_err(limited)?;
    let email = input::email("email", email)?;
    let account_key = format!("account:{email}");
    state.login_by_account.hit(&account_key).map_err(limited)?;
    // The teammate, or on a wrong password the account the email names (if any).
    let verified = match state.store.credentials(&email).await? {
        Some(c) => {
            let hash = c.password_hash.clone();
            let ok = password_work(move || verify_password(&password, &hash)).await?;
            if ok {
                Ok(c.teammate)
            } else {
                Err(Some(c.teammate))
            }
        }
        None => {
            // Same work for unknown accounts, so timing does not reveal who has one.
            let _ = hash_password_blocking(password).await;
            Err(None)
        }
    };
    let teammate = match verified {
        Ok(teammate) => teammate,
        Err(known) => {
            tracing::info!("failed sign-in");
            audit::record_sign_in(state, known.as_ref(), &email, false, Some("wrong password"))
                .await;
            return Err(Error::Unauthorized);
        }
    };
    // Checked once the password is right, so the answer tells nothing to who does not know it.
    if super::sso::password_refused(state, &teammate).await? {
        let reason = Some("password refused: the workspace signs in with single sign-on");
        audit::record_sign_in(state, Some(&teammate), &email, false, reason).await;
        return Err(Error::SsoRequired);
    }
    if super::totp::required(state, &teammate).await? {
        match totp {
            None => return Err(Error::TotpRequired),
            Some(code) if !super::totp::accepts(state, &teammate, code).await? => {
                tracing::info!(teammate = %teammate.id, "failed sign-in: wrong two-factor code");
                let reason = Some("wrong two-factor code");
                audit::record_sign_in(state, Some(&teammate), &email, false, reason).await;
                return Err(Error::Unauthorized);
            }
            Some(_) => {}
        }
    }
    state.login_by_account.reset(&account_key);
    audit::record_sign_in(state, Some(&teammate), &email, true, None).await;
    let workspace = state.store.workspace(teammate.workspace_id).await?;
    Ok((workspace, teammate))
}

/// The invitation a link names, and whether accepting it takes a password (not in a workspace
/// that signs in through its provider only).
pub async fn pending_invite(state: &AppState, token: &str) -> Result<(PendingInvite, bool)> {
    let invite = state
        .store
        .pending_invite(&hash_token(token))
        .await?
        .ok_or(Error::NotFound)?;
    let sso_only = super::sso::passwords_off(state, invite.workspace_id, invite.role).await?;
    Ok((invite, sso_only))
}

/// Accepts an invitation: the invitee joins the workspace, with a new password, or without one
/// where the workspace signs in through its provider only (a password there is refused: it
/// could never be used).
pub async fn accept_invite(
    state: &AppState,
    token: &str,
    password: Option<String>,
) -> Result<(Workspace, Teammate)> {
    let (_, sso_only) = pending_invite(state, token).await?;
    let hash = match (sso_only, password) {
        (true, None) => None,
        (true, Some(_)) => {
            let why = "this workspace signs in through its identity provider: leave it out";
            return Err(Error::invalid("password", why));
        }
        (false, None) => return Err(Error::invalid("password", "choose a password")),
        (false, Some(password)) => {
            let password = input::password("password", &password)?;
            Some(hash_password_blocking(password).await?)
        }
    };
    let committed = state
        .store
        .accept_invite(&hash_token(token), hash.as_deref())
        .await?;
    Ok(state.published(committed).await)
}

/// A new session for a browser; answers its secret and when it ends.
pub async fn start_session(
    state: &AppState,
    teammate: &Teammate,
) -> Result<(String, DateTime<Utc>)> {
    let token = new_token("");
    let expires = Utc::now() + chrono::Duration::days(SESSION_DAYS);
    state
        .store
        .create_token(
            teammate.id,
            &hash_token(&token),
            TokenKind::Session,
            Some(expires),
            &audit::client(),
        )
        .await?;
    Ok((token, expires))
}

/// A personal API token for scripts; answers it (it is shown once) and its id.
pub async fn create_api_token(state: &AppState, actor: &Teammate) -> Result<(String, Uuid)> {
    let token = new_token("btk_");
    let id = state
        .store
        .create_token(
            actor.id,
            &hash_token(&token),
            TokenKind::Api,
            None,
            &audit::client(),
        )
        .await?;
    let changes = json!({ "kind": TokenKind::Api.as_str() });
    audit::record(state, actor, Action::TokenCreated, Some(id), changes).await;
    Ok((token, id))
}

/// How stale a token's "last used" may get before a request renews it: one write a minute at
/// most per session, not one per request.
const LAST_USED_EVERY: chrono::Duration = chrono::Duration::minutes(1);

/// The teammate a presented token belongs to; notes its use (when, from where, which browser)
/// when the last note is older than a minute.
pub async fn authenticate(state: &AppState, token_hash: &str) -> Result<Option<TokenOwner>> {
    let Some(owner) = state.store.token_teammate(token_hash).await? else {
        return Ok(None);
    };
    let stale_before = Utc::now() - LAST_USED_EVERY;
    if owner.last_used_at.is_none_or(|at| at < stale_before) {
        let client = audit::client();
        if let Err(e) = state
            .store
            .touch_token(token_hash, &client, stale_before)
            .await
        {
            tracing::warn!(error = %e, "noting a session's use failed");
        }
    }
    Ok(Some(owner))
}

/// The actor's live sessions and API tokens, `current` marking the one in use.
pub async fn sessions(
    state: &AppState,
    actor: &Teammate,
    current: Uuid,
) -> Result<Vec<SessionInfo>> {
    let mut sessions = state.store.sessions(actor.id).await?;
    for s in &mut sessions {
        s.current = s.id == current;
    }
    Ok(sessions)
}

/// Ends one of the actor's sessions or API tokens: it stops working at once and its sockets
/// close on every instance. Another teammate's is a 404.
pub async fn revoke(state: &AppState, actor: &Teammate, id: Uuid) -> Result<()> {
    if !state.store.delete_session(actor.id, id).await? {
        return Err(Error::NotFound);
    }
    close_sockets(state, actor, Some(id)).await;
    audit::record(state, actor, Action::SessionRevoked, Some(id), json!({})).await;
    Ok(())
}

/// Ends a session. As before sessions could be revoked one by one, every socket of the
/// teammate closes on every instance (the others reconnect with their own credentials).
pub async fn sign_out(state: &AppState, actor: &Teammate, token_hash: &str) -> Result<()> {
    state.store.delete_token(token_hash).await?;
    close_sockets(state, actor, None).await;
    Ok(())
}

/// Closes the actor's sockets opened with `session_id` (all of them with `None`), everywhere.
async fn close_sockets(state: &AppState, actor: &Teammate, session_id: Option<Uuid>) {
    let _ = state
        .broker
        .publish(BusMessage::Disconnect {
            workspace_id: actor.workspace_id,
            teammate_id: actor.id,
            session_id,
        })
        .await;
}
