//! The audit log: every admin action and every sign-in, with who, when, from where and what
//! changed. Use cases call [`record`] after their change commits; `GET /api/audit` reads it
//! back (owners and admins); a periodic task forgets entries past `--audit-retention-days`.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::allow;
use crate::domain::ids::{TeammateId, WorkspaceId};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{AuditEntry, AuditQuery, ClientInfo, NewAuditEntry, Teammate};

/// What an entry records. The names are part of the API (`?action=` and the entries' `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SignInSucceeded,
    SignInFailed,
    TeammateInvited,
    TeammateUpdated,
    TeammateRemoved,
    RulesChanged,
    ChannelCreated,
    ChannelUpdated,
    ChannelDeleted,
    TokenCreated,
    SessionRevoked,
    WorkspaceUpdated,
    IngestTokenRotated,
    WebhookCreated,
    WebhookDeleted,
    WebhookResent,
    TotpEnabled,
    TotpDisabled,
    WorkspaceExported,
    CustomerErased,
    CustomerMerged,
    SsoUpdated,
    SsoDeleted,
}

impl Action {
    pub const ALL: [Action; 23] = [
        Action::SignInSucceeded,
        Action::SignInFailed,
        Action::TeammateInvited,
        Action::TeammateUpdated,
        Action::TeammateRemoved,
        Action::RulesChanged,
        Action::ChannelCreated,
        Action::ChannelUpdated,
        Action::ChannelDeleted,
        Action::TokenCreated,
        Action::SessionRevoked,
        Action::WorkspaceUpdated,
        Action::IngestTokenRotated,
        Action::WebhookCreated,
        Action::WebhookDeleted,
        Action::WebhookResent,
        Action::TotpEnabled,
        Action::TotpDisabled,
        Action::WorkspaceExported,
        Action::CustomerErased,
        Action::CustomerMerged,
        Action::SsoUpdated,
        Action::SsoDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::SignInSucceeded => "sign_in.succeeded",
            Action::SignInFailed => "sign_in.failed",
            Action::TeammateInvited => "teammate.invited",
            Action::TeammateUpdated => "teammate.updated",
            Action::TeammateRemoved => "teammate.removed",
            Action::RulesChanged => "rules.changed",
            Action::ChannelCreated => "channel.created",
            Action::ChannelUpdated => "channel.updated",
            Action::ChannelDeleted => "channel.deleted",
            Action::TokenCreated => "token.created",
            Action::SessionRevoked => "session.revoked",
            Action::WorkspaceUpdated => "workspace.updated",
            Action::IngestTokenRotated => "workspace.ingest_token_rotated",
            Action::WebhookCreated => "webhook.created",
            Action::WebhookDeleted => "webhook.deleted",
            Action::WebhookResent => "webhook.resent",
            Action::TotpEnabled => "totp.enabled",
            Action::TotpDisabled => "totp.disabled",
            Action::WorkspaceExported => "workspace.exported",
            Action::CustomerErased => "customer.erased",
            Action::CustomerMerged => "customer.merged",
            Action::SsoUpdated => "sso.updated",
            Action::SsoDeleted => "sso.deleted",
        }
    }

    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

tokio::task_local! {
    static CLIENT: ClientInfo;
}

/// Runs a request's handler knowing where the request comes from (see [`client`]).
pub async fn with_client<F: Future>(client: ClientInfo, f: F) -> F::Output {
    CLIENT.scope(client, f).await
}

/// Where the request being handled comes from; empty outside a request (background tasks, the
/// demo). Kept beside the request rather than passed down, because only the audit log and the
/// sessions list need it and every use case would otherwise take it as an argument.
pub fn client() -> ClientInfo {
    CLIENT.try_with(Clone::clone).unwrap_or_default()
}

/// Records what `actor` did to `target`. Called by the use case once its change is committed;
/// a failure to record is logged, never undoes or fails the change the actor already made.
pub async fn record(
    state: &AppState,
    actor: &Teammate,
    action: Action,
    target: Option<Uuid>,
    changes: Value,
) {
    write(
        state,
        NewAuditEntry {
            workspace_id: Some(actor.workspace_id),
            actor_id: Some(actor.id),
            email: Some(actor.email.clone()),
            action: action.as_str(),
            target_id: target.map(|t| t.to_string()),
            client: client(),
            changes,
            at: Utc::now(),
        },
    )
    .await;
}

/// A sign-in attempt: `teammate` when the email names an account (whether or not the password
/// was right), with the email as typed.
pub async fn record_sign_in(
    state: &AppState,
    teammate: Option<&Teammate>,
    email: &str,
    succeeded: bool,
    reason: Option<&str>,
) {
    let action = if succeeded {
        Action::SignInSucceeded
    } else {
        Action::SignInFailed
    };
    let changes = match reason {
        Some(reason) => json!({ "reason": reason }),
        None => json!({}),
    };
    write(
        state,
        NewAuditEntry {
            workspace_id: teammate.map(|t| t.workspace_id),
            actor_id: teammate.filter(|_| succeeded).map(|t| t.id),
            email: Some(email.chars().take(320).collect()),
            action: action.as_str(),
            target_id: teammate.map(|t| t.id.to_string()),
            client: client(),
            changes,
            at: Utc::now(),
        },
    )
    .await;
}

/// A single sign-on refused after it came back to this workspace: the email the provider
/// vouched for, if it got that far.
pub async fn record_sign_in_refused(
    state: &AppState,
    workspace_id: WorkspaceId,
    email: &str,
    reason: &str,
) {
    write(
        state,
        NewAuditEntry {
            workspace_id: Some(workspace_id),
            actor_id: None,
            email: (!email.is_empty()).then(|| email.chars().take(320).collect()),
            action: Action::SignInFailed.as_str(),
            target_id: None,
            client: client(),
            changes: json!({ "reason": reason }),
            at: Utc::now(),
        },
    )
    .await;
}

async fn write(state: &AppState, entry: NewAuditEntry) {
    if let Err(e) = state.store.record_audit(&entry).await {
        tracing::error!(error = %e, action = entry.action, "writing an audit entry failed");
    }
}

/// `{field: {before, after}}` for each top-level field that differs between two values of the
/// same type (what an update changed).
pub fn diff(before: &impl Serialize, after: &impl Serialize) -> Value {
    let (before, after) = (object(before), object(after));
    let mut changed = Map::new();
    for (field, old) in &before {
        let new = after.get(field).unwrap_or(&Value::Null);
        if old != new {
            changed.insert(field.clone(), json!({ "before": old, "after": new }));
        }
    }
    for (field, new) in after.iter().filter(|(f, _)| !before.contains_key(*f)) {
        changed.insert(field.clone(), json!({ "before": null, "after": new }));
    }
    Value::Object(changed)
}

fn object(value: &impl Serialize) -> Map<String, Value> {
    match serde_json::to_value(value).unwrap_or(Value::Null) {
        Value::Object(map) => map,
        other => Map::from_iter([("value".to_string(), other)]),
    }
}

/// The most entries one page answers.
pub const MAX_PAGE: i64 = 200;

/// What `GET /api/audit` asks for, as given.
#[derive(Debug, Default)]
pub struct Filter {
    pub before: Option<String>,
    pub limit: Option<i64>,
    pub actor: Option<TeammateId>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// A page of the audit log, newest first, and the cursor of the next (older) page if any.
pub async fn page(
    state: &AppState,
    actor: &Teammate,
    filter: Filter,
) -> Result<(Vec<AuditEntry>, Option<String>)> {
    allow(
        actor,
        actor.role.can_admin(),
        "only owners and admins see the audit log",
    )?;
    let before = filter
        .before
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| Error::invalid("before", "not a cursor this API gave"))
        })
        .transpose()?;
    let limit = filter.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::invalid("limit", format!("must be 1 to {MAX_PAGE}")));
    }
    let action = filter
        .action
        .map(|a| {
            Action::parse(a.trim())
                .map(|a| a.as_str().to_string())
                .ok_or_else(|| Error::invalid("action", "unknown action"))
        })
        .transpose()?;
    if let (Some(since), Some(until)) = (filter.since, filter.until) {
        if since > until {
            return Err(Error::invalid("until", "must not be before since"));
        }
    }
    let query = AuditQuery {
        before,
        // One more than asked: whether it comes back says whether there is a next page.
        limit: limit + 1,
        actor_id: filter.actor,
        action,
        since: filter.since,
        until: filter.until,
    };
    let mut entries = state
        .store
        .audit_entries(actor.workspace_id, &query)
        .await?;
    let next = if entries.len() as i64 > limit {
        entries.truncate(limit as usize);
        entries.last().map(|e| e.id.to_string())
    } else {
        None
    };
    Ok((entries, next))
}

/// Forgets entries older than the configured retention; answers how many.
pub async fn prune(state: &AppState, now: DateTime<Utc>) -> Result<u64> {
    let retention = chrono::Duration::from_std(state.config.audit_retention)
        .map_err(|e| Error::Internal(e.into()))?;
    Ok(state.store.prune_audit(now - retention).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_names_only_what_changed() {
        let before = json!({ "role": "agent", "name": "Bea", "away": false });
        let after = json!({ "role": "manager", "name": "Bea", "away": false, "max_open": 3 });
        assert_eq!(
            diff(&before, &after),
            json!({
                "role": { "before": "agent", "after": "manager" },
                "max_open": { "before": null, "after": 3 },
            })
        );
        assert_eq!(diff(&before, &before), json!({}));
    }

    #[test]
    fn every_action_parses_back_from_its_name() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(action));
        }
        assert_eq!(Action::parse("sign_in"), None);
    }
}
