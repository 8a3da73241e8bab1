//! Accounts: new workspaces, sign-in, sessions and API tokens, invite acceptance, sign-out.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::bus::BusMessage;
use crate::credentials::{
    hash_password_blocking, hash_token, new_token, password_work, verify_password,
};
use crate::domain::input;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{Teammate, TokenKind, Workspace};

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
    let verified = match state.store.credentials(&email).await? {
        Some(c) => {
            let hash = c.password_hash.clone();
            let ok = password_work(move || verify_password(&password, &hash)).await?;
            ok.then_some(c.teammate)
        }
        None => {
            // Same work for unknown accounts, so timing does not reveal who has one.
            let _ = hash_password_blocking(password).await;
            None
        }
    };
    let Some(teammate) = verified else {
        tracing::info!("failed sign-in");
        return Err(Error::Unauthorized);
    };
    if super::totp::required(state, &teammate).await? {
        match totp {
            None => return Err(Error::TotpRequired),
            Some(code) if !super::totp::accepts(state, &teammate, code).await? => {
                tracing::info!(teammate = %teammate.id, "failed sign-in: wrong two-factor code");
                return Err(Error::Unauthorized);
            }
            Some(_) => {}
        }
    }
    state.login_by_account.reset(&account_key);
    let workspace = state.store.workspace(teammate.workspace_id).await?;
    Ok((workspace, teammate))
}

/// Accepts an invitation with a new password: the invitee joins the workspace.
pub async fn accept_invite(
    state: &AppState,
    token: &str,
    password: String,
) -> Result<(Workspace, Teammate)> {
    let password = input::password("password", &password)?;
    let hash = hash_password_blocking(password).await?;
    let committed = state.store.accept_invite(&hash_token(token), &hash).await?;
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
        )
        .await?;
    Ok((token, expires))
}

/// A personal API token for scripts; answers it (it is shown once).
pub async fn create_api_token(state: &AppState, actor: &Teammate) -> Result<String> {
    let token = new_token("btk_");
    state
        .store
        .create_token(actor.id, &hash_token(&token), TokenKind::Api, None)
        .await?;
    Ok(token)
}

/// Ends a session; the teammate's sockets close on every instance.
pub async fn sign_out(state: &AppState, actor: &Teammate, token_hash: &str) -> Result<()> {
    state.store.delete_token(token_hash).await?;
    let _ = state
        .broker
        .publish(BusMessage::Disconnect {
            workspace_id: actor.workspace_id,
            teammate_id: actor.id,
        })
        .await;
    Ok(())
}
