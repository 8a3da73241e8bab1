//! A teammate's own notification preferences.

use axum::extract::State;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiJson, Auth};
use crate::error::{Error, Result};
use crate::store::NotificationPrefs;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_prefs, put_prefs))
}

/// Web Push, email, chime, "unassigned inquiries" and the email delay.
#[utoipa::path(get, path = "/api/me/notifications", tag = "notifications", responses((status = 200, body = NotificationPrefs), (status = 401)))]
async fn get_prefs(State(state): State<AppState>, auth: Auth) -> Result<Json<NotificationPrefs>> {
    Ok(Json(state.store.prefs(auth.teammate.id).await?))
}

#[utoipa::path(put, path = "/api/me/notifications", tag = "notifications", request_body = NotificationPrefs,
    responses((status = 200, body = NotificationPrefs), (status = 401), (status = 422)))]
async fn put_prefs(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(prefs): ApiJson<NotificationPrefs>,
) -> Result<Json<NotificationPrefs>> {
    if !(0..=86_400).contains(&prefs.email_delay_secs) {
        return Err(Error::invalid("email_delay_secs", "must be 0 to 86400"));
    }
    state.store.set_prefs(auth.teammate.id, prefs).await?;
    // Watching unassigned cases changes what the badge counts.
    let _ = state
        .broker
        .publish(crate::bus::BusMessage::BadgeChanged {
            workspace_id: auth.teammate.workspace_id,
            teammate_id: auth.teammate.id,
        })
        .await;
    Ok(Json(prefs))
}
