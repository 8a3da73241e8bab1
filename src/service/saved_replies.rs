//! Saved replies: the workspace's (admins manage them) and each teammate's own, with variables
//! that the server fills in for one case (`domain::templates`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::allow;
use crate::domain::ids::{CaseId, SavedReplyId};
use crate::domain::{input, templates};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{SavedReply, Scope, Teammate};

/// The longest saved reply text, in characters.
pub const MAX_BODY: usize = 20_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSavedReply {
    /// 1 to 100 characters; what the composer's `/` menu matches.
    pub name: String,
    /// Up to 20,000 characters. Variables: `{{customer.first_name}}`, `{{customer.name}}`,
    /// `{{teammate.name}}`, `{{case.number}}`; any other is a 400 `unknown_variable`.
    pub body: String,
    /// `personal` unless given.
    pub scope: Option<Scope>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SavedReplyChanges {
    pub name: Option<String>,
    pub body: Option<String>,
}

/// A saved reply filled in for one case.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Rendered {
    pub body: String,
}

fn check_body(raw: &str) -> Result<String> {
    if raw.trim().is_empty() || raw.chars().count() > MAX_BODY {
        return Err(Error::invalid(
            "body",
            format!("must be 1 to {MAX_BODY} characters"),
        ));
    }
    templates::check(raw).map_err(|message| Error::Template {
        field: "body".into(),
        message,
    })?;
    Ok(raw.to_string())
}

/// Who may change a reply: its author for a personal one, admins for the workspace's.
fn allow_change(actor: &Teammate, reply: &SavedReply) -> Result<()> {
    match reply.owner_id {
        Some(owner) => allow(
            actor,
            owner == actor.id,
            "only its author changes a saved reply",
        ),
        None => allow(
            actor,
            actor.role.can_admin(),
            "only admins change the workspace's saved replies",
        ),
    }
}

pub async fn list(state: &AppState, actor: &Teammate) -> Result<Vec<SavedReply>> {
    Ok(state
        .store
        .saved_replies(actor.workspace_id, actor.id)
        .await?)
}

pub async fn create(state: &AppState, actor: &Teammate, new: NewSavedReply) -> Result<SavedReply> {
    let owner = match new.scope.unwrap_or(Scope::Personal) {
        Scope::Workspace => {
            let what = "only admins add the workspace's saved replies";
            allow(actor, actor.role.can_admin(), what)?;
            None
        }
        Scope::Personal => {
            let what = "viewers do not reply, so they keep no saved replies";
            allow(actor, actor.role.can_work_cases(), what)?;
            Some(actor.id)
        }
    };
    let name = input::name("name", &new.name)?;
    let body = check_body(&new.body)?;
    Ok(state
        .store
        .create_saved_reply(actor.workspace_id, owner, &name, &body)
        .await?)
}

pub async fn update(
    state: &AppState,
    actor: &Teammate,
    id: SavedReplyId,
    changes: SavedReplyChanges,
) -> Result<SavedReply> {
    let reply = state
        .store
        .saved_reply(actor.workspace_id, actor.id, id)
        .await?;
    allow_change(actor, &reply)?;
    let name = changes
        .name
        .as_deref()
        .map(|n| input::name("name", n))
        .transpose()?;
    let body = changes.body.as_deref().map(check_body).transpose()?;
    Ok(state
        .store
        .update_saved_reply(actor.workspace_id, id, name.as_deref(), body.as_deref())
        .await?)
}

pub async fn delete(state: &AppState, actor: &Teammate, id: SavedReplyId) -> Result<()> {
    let reply = state
        .store
        .saved_reply(actor.workspace_id, actor.id, id)
        .await?;
    allow_change(actor, &reply)?;
    Ok(state
        .store
        .delete_saved_reply(actor.workspace_id, id)
        .await?)
}

/// The reply's text with the case's customer, the caller's name and the case number filled in.
pub async fn render(
    state: &AppState,
    actor: &Teammate,
    case_id: CaseId,
    reply_id: SavedReplyId,
) -> Result<Rendered> {
    let case = state
        .store
        .case(actor.workspace_id, actor.id, case_id)
        .await?;
    let reply = state
        .store
        .saved_reply(actor.workspace_id, actor.id, reply_id)
        .await?;
    let values = templates::Values {
        customer_name: &case.customer.name,
        teammate_name: &actor.name,
        case_number: &case.number,
    };
    Ok(Rendered {
        body: templates::render(&reply.body, &values),
    })
}
