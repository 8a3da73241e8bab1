//! `GET /api/reports` and `GET /api/reports.csv`: how the team is doing, for managers and up
//! (see `service::reports`; the counting rules are in `docs/reports.md`).

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiQuery, Auth};
use crate::error::Result;
use crate::service::reports::{self, Ask, TeamReport};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report))
        .routes(routes!(report_csv))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// First day (`YYYY-MM-DD`, included); default: 27 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day (included); default: today in `tz`. At most 366 days after `from`.
    pub to: Option<NaiveDate>,
    /// IANA time zone of the days, weeks and hours (default `UTC`).
    pub tz: Option<String>,
}

impl From<ReportParams> for Ask {
    fn from(p: ReportParams) -> Ask {
        Ask {
            from: p.from,
            to: p.to,
            tz: p.tz,
        }
    }
}

/// The team's first-response and resolution times (median, 90th percentile), replies and cases
/// handled, by teammate and by week; the busiest hours; each teammate's open cases now.
#[utoipa::path(get, path = "/api/reports", tag = "reports", params(ReportParams),
    responses((status = 200, body = TeamReport), (status = 401), (status = 403, description = "not a manager or above"), (status = 422, description = "a bad date range or time zone")))]
async fn report(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Json<TeamReport>> {
    Ok(Json(
        reports::team_report(&state, &auth.teammate, &params.into()).await?,
    ))
}

/// The same figures as CSV (RFC 4180): the team, then each teammate, week by week.
#[utoipa::path(get, path = "/api/reports.csv", tag = "reports", params(ReportParams),
    responses((status = 200, description = "the CSV file", content_type = "text/csv"), (status = 401), (status = 403), (status = 422)))]
async fn report_csv(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Response> {
    let (window, csv) = reports::team_report_csv(&state, &auth.teammate, &params.into()).await?;
    let disposition = format!(
        "attachment; filename=\"baton-report-{}-{}.csv\"",
        window.from, window.to
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        csv,
    )
        .into_response())
}
