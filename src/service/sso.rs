//! Single sign-on with OpenID Connect: each workspace names its identity provider (issuer,
//! client id and secret) and the email domains that sign in with it. A sign-in starts from an
//! email address (its domain finds the workspace), goes to the provider with the authorization
//! code flow and PKCE, and comes back to `/sso/callback`, where the code is exchanged and the ID
//! token checked (signature against the provider's published keys, issuer, audience, nonce,
//! expiry) before the teammate with that verified email gets a session.
//!
//! Every call to the provider goes through the instance's outbound client: names resolved under
//! the URL policy (`signing::GuardedResolver`), no redirects followed.

use std::net::IpAddr;

use chrono::Utc;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, LoginHint, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::allow;
use super::audit::{self, Action};
use crate::credentials::hash_token;
use crate::domain::ids::WorkspaceId;
use crate::domain::{input, Role};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{SsoConfig, SsoLogin, StoreError, Teammate, Workspace};

/// How long a sign-in may stay at the provider before its `state` is no longer accepted.
pub const LOGIN_MINUTES: i64 = 10;

/// The most email domains one workspace lists.
const MAX_DOMAINS: usize = 20;

/// A workspace's single sign-on settings as owners and admins see them: never the secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SsoSettings {
    /// The provider's issuer URL (its discovery document is `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    /// Whether a client secret is stored (it is write-only).
    pub client_secret_set: bool,
    /// Email domains that sign in to this workspace with its provider.
    pub domains: Vec<String>,
    /// `agent`: someone of an allowed domain without an account joins as an agent; `null`: only
    /// existing teammates sign in.
    pub join_role: Option<String>,
    /// Members must sign in with the provider; the owner keeps their password.
    pub sso_only: bool,
    pub enabled: bool,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
}

/// `PUT /api/workspace/sso`: the whole setting; `client_secret` may be left out to keep the
/// stored one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoUpdate {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub domains: Vec<String>,
    #[serde(default)]
    pub join_role: Option<String>,
    #[serde(default)]
    pub sso_only: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Where the provider sends the browser back to.
pub fn redirect_uri(state: &AppState) -> String {
    format!("{}/sso/callback", state.origin)
}

fn settings(state: &AppState, config: &SsoConfig) -> SsoSettings {
    SsoSettings {
        issuer: config.issuer.clone(),
        client_id: config.client_id.clone(),
        client_secret_set: !config.client_secret.is_empty(),
        domains: config.domains.clone(),
        join_role: config.join_role.map(|r| r.as_str().to_string()),
        sso_only: config.sso_only,
        enabled: config.enabled,
        redirect_uri: redirect_uri(state),
    }
}

fn allow_admin(actor: &Teammate) -> Result<()> {
    allow(
        actor,
        actor.role.can_admin(),
        "only owners and admins manage single sign-on",
    )
}

/// The workspace's settings, `None` when it has no provider.
pub async fn get(state: &AppState, actor: &Teammate) -> Result<Option<SsoSettings>> {
    allow_admin(actor)?;
    let config = state.store.sso_config(actor.workspace_id).await?;
    Ok(config.map(|c| settings(state, &c)))
}

fn domain(field: &'static str, raw: &str) -> Result<String> {
    let d = raw.trim().trim_start_matches('@').to_lowercase();
    input::email(field, &format!("x@{d}")).map_err(|_| Error::invalid(field, "not a domain"))?;
    Ok(d)
}

/// Creates or replaces the workspace's provider.
pub async fn put(state: &AppState, actor: &Teammate, update: SsoUpdate) -> Result<SsoSettings> {
    allow_admin(actor)?;
    let issuer = crate::signing::check_url(&update.issuer, state.on_loopback())
        .map_err(|why| Error::invalid("issuer", why))?;
    let issuer = issuer.as_str().trim_end_matches('/').to_string();
    let client_id = update.client_id.trim().to_string();
    if client_id.is_empty() || client_id.len() > 500 {
        return Err(Error::invalid("client_id", "must be 1 to 500 characters"));
    }
    let before = state.store.sso_config(actor.workspace_id).await?;
    let client_secret = match update.client_secret.map(|s| s.trim().to_string()) {
        Some(s) if s.len() > 1000 => {
            return Err(Error::invalid("client_secret", "at most 1000 characters"))
        }
        Some(s) if !s.is_empty() => s,
        _ => match &before {
            Some(b) if !b.client_secret.is_empty() => b.client_secret.clone(),
            _ => return Err(Error::invalid("client_secret", "required")),
        },
    };
    let mut domains = update
        .domains
        .iter()
        .map(|d| domain("domains", d))
        .collect::<Result<Vec<_>>>()?;
    domains.sort();
    domains.dedup();
    if domains.is_empty() || domains.len() > MAX_DOMAINS {
        return Err(Error::invalid(
            "domains",
            format!("list 1 to {MAX_DOMAINS} email domains"),
        ));
    }
    let join_role = match update.join_role.as_deref() {
        None | Some("") => None,
        Some("agent") => Some(Role::Agent),
        Some(_) => {
            return Err(Error::invalid(
                "join_role",
                "new teammates join as agent, or not at all (null)",
            ))
        }
    };
    let config = SsoConfig {
        workspace_id: actor.workspace_id,
        issuer,
        client_id,
        client_secret,
        domains,
        join_role,
        sso_only: update.sso_only && update.enabled,
        enabled: update.enabled,
        updated_at: Utc::now(),
    };
    state.store.put_sso_config(&config).await?;
    let after = settings(state, &config);
    let mut changes = match &before {
        Some(b) => audit::diff(&settings(state, b), &after),
        None => audit::diff(&json!({}), &after),
    };
    if before
        .as_ref()
        .is_none_or(|b| b.client_secret != config.client_secret)
    {
        changes["client_secret"] = json!("changed");
    }
    audit::record(state, actor, Action::SsoUpdated, None, changes).await;
    Ok(after)
}

/// Removes the workspace's provider: everyone signs in with a password again.
pub async fn delete(state: &AppState, actor: &Teammate) -> Result<()> {
    allow_admin(actor)?;
    if !state.store.delete_sso_config(actor.workspace_id).await? {
        return Err(Error::NotFound);
    }
    audit::record(state, actor, Action::SsoDeleted, None, json!({})).await;
    Ok(())
}

/// Whether a password sign-in of `teammate` is refused because their workspace signs in with
/// its provider only. The owner is never refused: a provider that is down or misconfigured
/// must not lock the workspace out of its own settings.
pub async fn password_refused(state: &AppState, teammate: &Teammate) -> Result<bool> {
    passwords_off(state, teammate.workspace_id, teammate.role).await
}

/// Whether someone of `role` in the workspace signs in through its provider only, without a
/// password (never the owner).
pub async fn passwords_off(
    state: &AppState,
    workspace_id: WorkspaceId,
    role: Role,
) -> Result<bool> {
    if role == Role::Owner {
        return Ok(false);
    }
    let config = state.store.sso_config(workspace_id).await?;
    Ok(config.is_some_and(|c| c.enabled && c.sso_only))
}

type Http = reqwest::Client;

/// The provider's client for `config`, from its discovery document (and its keys).
async fn client(
    state: &AppState,
    http: &Http,
    config: &SsoConfig,
) -> std::result::Result<
    openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    String,
> {
    let issuer = IssuerUrl::new(config.issuer.clone()).map_err(|e| format!("issuer: {e}"))?;
    let metadata = CoreProviderMetadata::discover_async(issuer, http)
        .await
        .map_err(|e| format!("discovery: {}", error_chain(&e)))?;
    let redirect = RedirectUrl::new(redirect_uri(state)).map_err(|e| format!("redirect: {e}"))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(config.client_id.clone()),
        Some(ClientSecret::new(config.client_secret.clone())),
    )
    .set_redirect_uri(redirect))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// Starts a sign-in for `email`: answers the provider's URL to send the browser to.
pub async fn start(state: &AppState, address: IpAddr, email: &str) -> Result<String> {
    // Each start stores a pending sign-in and may call the provider: limited per client
    // address, in a budget of its own (password attempts keep theirs).
    state
        .sso_start_by_address
        .hit(&address.to_string())
        .map_err(|retry_after_secs| Error::RateLimited { retry_after_secs })?;
    let email = input::email("email", email)?;
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let config = state
        .store
        .sso_config_for_domain(domain)
        .await?
        .filter(|c| c.enabled)
        .ok_or(Error::SsoNotConfigured)?;
    let http = state.outbound.http.clone();
    let client = client(state, &http, &config).await.map_err(|why| {
        tracing::warn!(workspace = %config.workspace_id, why, "single sign-on: provider unreachable");
        Error::Unavailable
    })?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .set_login_hint(LoginHint::new(email))
        .url();
    let login = SsoLogin {
        workspace_id: config.workspace_id,
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
    };
    let expires = Utc::now() + chrono::Duration::minutes(LOGIN_MINUTES);
    state
        .store
        .create_sso_login(&hash_token(csrf.secret()), &login, expires)
        .await?;
    Ok(url.to_string())
}

/// Why a sign-in coming back from the provider was refused: `code` goes to the sign-in page
/// (`/login?sso_error=…`), `reason` to the audit log and the server log.
#[derive(Debug)]
pub struct Refused {
    pub code: &'static str,
    pub reason: String,
}

fn refused(code: &'static str, reason: impl Into<String>) -> Refused {
    Refused {
        code,
        reason: reason.into(),
    }
}

/// Finishes a sign-in: the provider's `code` for the sign-in `state` names. Answers the
/// teammate to start a session for. Every outcome past a known `state` is in the workspace's
/// audit log (a callback with an unknown `state` names no workspace: it is only logged).
pub async fn finish(
    state: &AppState,
    code: Option<&str>,
    state_param: Option<&str>,
    provider_error: Option<&str>,
) -> std::result::Result<(Workspace, Teammate), Refused> {
    let Some(state_param) = state_param.filter(|s| !s.is_empty() && s.len() <= 200) else {
        tracing::info!("single sign-on refused: no state");
        return Err(refused("invalid_state", "no state"));
    };
    // The state is spent whatever happens next: a second callback with it is refused.
    let login = match state.store.take_sso_login(&hash_token(state_param)).await {
        Ok(Some(login)) => login,
        Ok(None) => {
            tracing::info!("single sign-on refused: unknown, used or expired state");
            return Err(refused("invalid_state", "unknown, used or expired state"));
        }
        Err(e) => {
            tracing::warn!(error = %e, "single sign-on: taking the state failed");
            return Err(refused("unavailable", "store"));
        }
    };
    match verify(state, &login, code, provider_error).await {
        Ok((workspace, teammate)) => {
            audit::record_sign_in(state, Some(&teammate), &teammate.email, true, None).await;
            tracing::info!(teammate = %teammate.id, "single sign-on");
            Ok((workspace, teammate))
        }
        Err((email, why)) => {
            tracing::info!(code = why.code, reason = %why.reason, "single sign-on refused");
            let reason = format!("single sign-on: {}", why.reason);
            let email = email.as_deref().unwrap_or("");
            audit::record_sign_in_refused(state, login.workspace_id, email, &reason).await;
            Err(why)
        }
    }
}

type Failure = (Option<String>, Refused);

async fn verify(
    state: &AppState,
    login: &SsoLogin,
    code: Option<&str>,
    provider_error: Option<&str>,
) -> std::result::Result<(Workspace, Teammate), Failure> {
    let fail = |code, reason: String| (None, refused(code, reason));
    if let Some(err) = provider_error {
        let err: String = err.chars().take(100).collect();
        return Err(fail(
            "provider_error",
            format!("the provider answered {err}"),
        ));
    }
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        return Err(fail("invalid_request", "no code".into()));
    };
    let config = state
        .store
        .sso_config(login.workspace_id)
        .await
        .map_err(|e| fail("unavailable", format!("store: {e}")))?
        .filter(|c| c.enabled)
        .ok_or_else(|| fail("not_configured", "single sign-on is off".into()))?;
    let http = state.outbound.http.clone();
    let client = client(state, &http, &config)
        .await
        .map_err(|why| fail("provider_unreachable", why))?;
    let exchange = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| fail("provider_error", format!("token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()));
    let tokens = exchange.request_async(&http).await.map_err(|e| {
        fail(
            "code_rejected",
            format!("code exchange: {}", error_chain(&e)),
        )
    })?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| fail("invalid_token", "no ID token".into()))?;
    let claims = id_token
        .claims(
            &client.id_token_verifier(),
            &Nonce::new(login.nonce.clone()),
        )
        .map_err(|e| fail("invalid_token", format!("ID token: {}", error_chain(&e))))?;
    let email = claims
        .email()
        .map(|e| e.as_str().trim().to_lowercase())
        .ok_or_else(|| fail("no_email", "the ID token names no email".into()))?;
    if claims.email_verified() != Some(true) {
        return Err((
            Some(email),
            refused("email_unverified", "the email is not verified"),
        ));
    }
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_string());
    // The provider speaks for the workspace's own domains only: an admin's provider cannot
    // sign anyone in as a teammate of another domain (the owner, say).
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    if !config.domains.iter().any(|d| d == domain) {
        let reason = "the email's domain is not one of the workspace's";
        return Err((Some(email), refused("not_allowed", reason)));
    }
    let store_fail = |e: StoreError| fail("unavailable", format!("store: {}", Error::from(e)));
    let existing = state
        .store
        .teammate_by_email(&email)
        .await
        .map_err(store_fail)?;
    let teammate = match existing {
        Some(t) if t.workspace_id == config.workspace_id => t,
        Some(_) => {
            let reason = "the account belongs to another workspace";
            return Err((Some(email), refused("not_allowed", reason)));
        }
        None => {
            // Someone removed from the workspace comes back only when invited again: the
            // provider still knowing them does not undo the removal.
            let removed = state
                .store
                .was_removed(config.workspace_id, &email)
                .await
                .map_err(store_fail)?;
            if removed {
                let reason = "removed from the workspace";
                return Err((Some(email), refused("removed", reason)));
            }
            let Some(role) = config.join_role else {
                let reason = "no account, and new teammates do not join by single sign-on";
                return Err((Some(email), refused("not_allowed", reason)));
            };
            let name = name
                .as_deref()
                .and_then(|n| input::name("name", n).ok())
                .unwrap_or_else(|| email.split('@').next().unwrap_or("").to_string());
            let committed = state
                .store
                .join_by_sso(config.workspace_id, &name, &email, role)
                .await
                .map_err(store_fail)?;
            state.published(committed).await
        }
    };
    let workspace = state
        .store
        .workspace(teammate.workspace_id)
        .await
        .map_err(store_fail)?;
    Ok((workspace, teammate))
}
