//! Workspace settings and the ingest token.

use std::collections::BTreeMap;

use serde::Deserialize;
use utoipa::ToSchema;

use super::allow;
use super::audit::{self, Action};
use crate::credentials::new_token;
use crate::domain::{input, numbers};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{Teammate, Workspace, WorkspacePatch};

/// The settings a `PATCH /api/workspace` changes; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceChanges {
    pub name: Option<String>,
    /// 1 to 8 letters or digits; shown upper-case in case numbers (`BT-000123`).
    pub case_prefix: Option<String>,
    /// Days after closing during which a customer's new message reopens the case (0 to 3650).
    pub reopen_days: Option<i64>,
    /// Category → keywords that detect it in an inbound message.
    pub category_keywords: Option<BTreeMap<String, Vec<String>>>,
    /// When true, only admins add tags; agents use the ones on the list.
    pub tags_locked: Option<bool>,
    /// When true, every member signs in with a second factor; those without one are walked
    /// through enrolment at their next request. The owner alone changes it, and only with
    /// two-factor on for themselves.
    pub require_totp: Option<bool>,
}

/// Changes the settings (admin and owner), each field checked.
pub async fn update(
    state: &AppState,
    actor: &Teammate,
    body: WorkspaceChanges,
) -> Result<Workspace> {
    let what = "only admins change workspace settings";
    allow(actor, actor.role.can_admin(), what)?;
    let patch = WorkspacePatch {
        name: body
            .name
            .as_deref()
            .map(|n| input::name("name", n))
            .transpose()?,
        case_prefix: body
            .case_prefix
            .as_deref()
            .map(|p| {
                numbers::parse_prefix(p).ok_or_else(|| {
                    Error::invalid("case_prefix", "must be 1 to 8 letters or digits")
                })
            })
            .transpose()?,
        reopen_days: body
            .reopen_days
            .map(|d| {
                if (0..=3650).contains(&d) {
                    Ok(d)
                } else {
                    Err(Error::invalid("reopen_days", "must be 0 to 3650"))
                }
            })
            .transpose()?,
        category_keywords: body.category_keywords.map(check_keywords).transpose()?,
        tags_locked: body.tags_locked,
        require_totp: body.require_totp,
    };
    if let Some(require) = body.require_totp {
        let what = "only the owner requires two-factor sign-in";
        allow(actor, actor.role == crate::domain::Role::Owner, what)?;
        if require && !super::totp::required(state, actor).await? {
            let why = "turn on two-factor sign-in for yourself first";
            return Err(Error::invalid("require_totp", why));
        }
    }
    let before = state.store.workspace(actor.workspace_id).await?;
    let committed = state
        .store
        .update_workspace(actor.workspace_id, actor.id, patch)
        .await?;
    let after = state.published(committed).await;
    // The ingest token is a secret: it is never written to the log.
    let without_secret = |w: &Workspace| Workspace {
        ingest_token: None,
        ..w.clone()
    };
    let changes = audit::diff(&without_secret(&before), &without_secret(&after));
    audit::record(state, actor, Action::WorkspaceUpdated, None, changes).await;
    Ok(after)
}

fn check_keywords(
    keywords: BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, Vec<String>>> {
    if keywords.len() > 50 {
        return Err(Error::invalid("category_keywords", "at most 50 categories"));
    }
    let mut out = BTreeMap::new();
    for (category, words) in keywords {
        let category = input::name("category_keywords", &category)?.to_lowercase();
        if words.len() > 100 || words.iter().any(|w| w.trim().is_empty() || w.len() > 50) {
            return Err(Error::invalid(
                "category_keywords",
                "each category takes up to 100 keywords of 1 to 50 characters",
            ));
        }
        out.insert(
            category,
            words.into_iter().map(|w| w.trim().to_lowercase()).collect(),
        );
    }
    Ok(out)
}

/// Replaces the ingest token; the old one stops working at once. Answers the new one.
pub async fn rotate_ingest_token(state: &AppState, actor: &Teammate) -> Result<String> {
    let what = "only admins rotate the ingest token";
    allow(actor, actor.role.can_admin(), what)?;
    let token = new_token("bti_");
    state
        .store
        .set_ingest_token(actor.workspace_id, &token)
        .await?;
    let changes = serde_json::json!({});
    audit::record(state, actor, Action::IngestTokenRotated, None, changes).await;
    Ok(token)
}
