//! Two-factor sign-in for the signed-in teammate (DESIGN.md §7, Trust): enrol, confirm, turn off.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiJson, Auth};
use crate::error::Result;
use crate::service::totp::{self, Enrolment};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(begin, disable))
        .routes(routes!(confirm))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// Six digits from the authenticator app (or, to turn it off, a recovery code).
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten one-time codes for when the phone is lost. Shown once.
    pub recovery_codes: Vec<String>,
}

/// Start enrolment: a new secret as text, `otpauth://` URL and QR code. Signing in does not ask
/// for codes until a first one confirms it.
#[utoipa::path(post, path = "/api/me/totp", tag = "auth",
    responses((status = 200, body = Enrolment), (status = 401), (status = 409, description = "already on")))]
async fn begin(State(state): State<AppState>, auth: Auth) -> Result<Json<Enrolment>> {
    Ok(Json(totp::begin(&state, &auth.teammate).await?))
}

/// Confirm enrolment with a first code; answers the recovery codes.
#[utoipa::path(post, path = "/api/me/totp/confirm", tag = "auth", request_body = CodeBody,
    responses((status = 200, body = RecoveryCodes), (status = 401), (status = 409, description = "already on"), (status = 422, description = "wrong code, or no enrolment started")))]
async fn confirm(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Json<RecoveryCodes>> {
    let recovery_codes = totp::confirm(&state, &auth.teammate, &body.code).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// Turn two-factor sign-in off, with a current code or a recovery code.
#[utoipa::path(delete, path = "/api/me/totp", tag = "auth", request_body = CodeBody,
    responses((status = 204), (status = 401), (status = 422, description = "wrong code, or not on")))]
async fn disable(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<StatusCode> {
    totp::disable(&state, &auth.teammate, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}
