//! The auto-assign rules.

use super::allow;
use super::audit::{self, Action};
use crate::domain::routing::Rules;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::Teammate;

pub async fn get(state: &AppState, actor: &Teammate) -> Result<Rules> {
    let what = "only admins see the auto-assign rules";
    allow(actor, actor.role.can_admin(), what)?;
    Ok(state.store.rules(actor.workspace_id).await?)
}

/// Replaces the rules; every teammate they name must be assignable (the store checks).
pub async fn put(state: &AppState, actor: &Teammate, rules: Rules) -> Result<Rules> {
    let what = "only admins change the auto-assign rules";
    allow(actor, actor.role.can_admin(), what)?;
    if rules.pool.len() > 500 || rules.categories.len() > 100 {
        return Err(Error::invalid("pool", "too many entries"));
    }
    if rules.capacity.is_some_and(|c| c > 100_000) {
        return Err(Error::invalid("capacity", "must be at most 100000"));
    }
    if rules
        .response_target_minutes
        .is_some_and(|m| !(1..=60 * 24 * 365).contains(&m))
    {
        return Err(Error::invalid(
            "response_target_minutes",
            "must be 1 minute to a year",
        ));
    }
    if let Some(hours) = &rules.business_hours {
        crate::domain::hours::Hours::parse(hours)
            .map_err(|why| Error::invalid("business_hours", why))?;
    }
    let mut seen = std::collections::HashSet::new();
    if !rules.pool.iter().all(|id| seen.insert(*id)) {
        return Err(Error::invalid("pool", "a teammate appears twice"));
    }
    let before = state.store.rules(actor.workspace_id).await?;
    let committed = state
        .store
        .set_rules(actor.workspace_id, actor.id, rules)
        .await?;
    let after = state.published(committed).await;
    let changes = audit::diff(&before, &after);
    audit::record(state, actor, Action::RulesChanged, None, changes).await;
    Ok(after)
}
