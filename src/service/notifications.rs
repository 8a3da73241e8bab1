//! A teammate's own notification preferences.

use super::badge_changed;
use crate::error::Result;
use crate::state::AppState;
use crate::store::{NotificationPrefs, Teammate};

pub async fn set_prefs(
    state: &AppState,
    actor: &Teammate,
    prefs: NotificationPrefs,
) -> Result<NotificationPrefs> {
    state.store.set_prefs(actor.id, prefs).await?;
    // Watching unassigned cases changes what the badge counts.
    badge_changed(state, actor).await;
    Ok(prefs)
}
