//! A teammate's own notification preferences.

use axum::extract::State;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiJson, Auth};
use crate::error::{Error, Result};
use crate::service::notifications;
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
    let prefs = notifications::set_prefs(&state, &auth.teammate, prefs).await?;
    Ok(Json(prefs))
}
