//! Tags: the workspace's list (anyone who works cases adds to it, unless admins locked it) and
//! the tags on each case. Every change is a timeline entry and an event.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{allow, allow_on_case};
use crate::domain::ids::{CaseId, TagId};
use crate::domain::tags;
use crate::error::Result;
use crate::state::AppState;
use crate::store::{Case, ListedTag, Tag, Teammate};

const WORKERS_ONLY: &str = "viewers cannot tag cases";
const ADMINS_ONLY: &str = "only admins change or delete tags";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTag {
    /// 1 to 40 characters; unique in the workspace regardless of case.
    pub name: String,
    /// `#rrggbb`; one from a fixed palette when absent.
    pub color: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagChanges {
    pub name: Option<String>,
    pub color: Option<String>,
}

fn parse_new(new: &NewTag) -> Result<(String, Option<String>)> {
    let name = tags::name("name", &new.name)?;
    let color = new
        .color
        .as_deref()
        .map(|c| tags::color("color", c))
        .transpose()?;
    Ok((name, color))
}

pub async fn list(state: &AppState, actor: &Teammate) -> Result<Vec<ListedTag>> {
    Ok(state.store.tags(actor.workspace_id, actor.id).await?)
}

pub async fn create(state: &AppState, actor: &Teammate, new: NewTag) -> Result<Tag> {
    allow(actor, actor.role.can_work_cases(), WORKERS_ONLY)?;
    let (name, color) = parse_new(&new)?;
    let committed = state
        .store
        .create_tag(
            actor.workspace_id,
            actor.id,
            actor.role.can_admin(),
            &name,
            color.as_deref(),
        )
        .await?;
    Ok(state.published(committed).await)
}

pub async fn update(
    state: &AppState,
    actor: &Teammate,
    id: TagId,
    changes: TagChanges,
) -> Result<Tag> {
    allow(actor, actor.role.can_admin(), ADMINS_ONLY)?;
    let name = changes
        .name
        .as_deref()
        .map(|n| tags::name("name", n))
        .transpose()?;
    let color = changes
        .color
        .as_deref()
        .map(|c| tags::color("color", c))
        .transpose()?;
    let committed = state
        .store
        .update_tag(
            actor.workspace_id,
            actor.id,
            id,
            name.as_deref(),
            color.as_deref(),
        )
        .await?;
    Ok(state.published(committed).await)
}

pub async fn delete(state: &AppState, actor: &Teammate, id: TagId) -> Result<()> {
    allow(actor, actor.role.can_admin(), ADMINS_ONLY)?;
    let committed = state
        .store
        .delete_tag(actor.workspace_id, actor.id, id)
        .await?;
    state.published(committed).await;
    Ok(())
}

/// Puts a tag on a case by name, creating it when the list allows.
pub async fn tag_case(
    state: &AppState,
    actor: &Teammate,
    case_id: CaseId,
    new: NewTag,
) -> Result<Case> {
    allow_on_case(
        state,
        actor,
        case_id,
        actor.role.can_work_cases(),
        WORKERS_ONLY,
    )
    .await?;
    let (name, color) = parse_new(&new)?;
    let committed = state
        .store
        .tag_case(
            actor.workspace_id,
            case_id,
            actor.id,
            actor.role.can_admin(),
            &name,
            color.as_deref(),
        )
        .await?;
    Ok(state.published(committed).await)
}

pub async fn untag_case(
    state: &AppState,
    actor: &Teammate,
    case_id: CaseId,
    tag_id: TagId,
) -> Result<Case> {
    allow_on_case(
        state,
        actor,
        case_id,
        actor.role.can_work_cases(),
        WORKERS_ONLY,
    )
    .await?;
    let committed = state
        .store
        .untag_case(actor.workspace_id, case_id, actor.id, tag_id)
        .await?;
    Ok(state.published(committed).await)
}
