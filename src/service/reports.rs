//! Reports for managers and up: the team's figures for a date range (`domain::reports`), with
//! each teammate's name and current load.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;

use super::allow;
use crate::domain::ids::TeammateId;
use crate::domain::reports::{self, Report, Stats, WeekRow, Window};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{Teammate, Which};

/// What a report was asked for; every part optional.
#[derive(Debug, Default)]
pub struct Ask {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub tz: Option<String>,
}

/// Days a report covers when `from` is not given.
const DEFAULT_DAYS: i64 = 28;

#[derive(Debug, Serialize, ToSchema)]
pub struct TeammateFigures {
    pub teammate_id: TeammateId,
    pub name: String,
    /// False for a teammate removed since: their work still counts.
    pub active: bool,
    /// Open cases they own now.
    pub open_now: i64,
    /// Their limit of open cases (their own, else the workspace's capacity), if any.
    pub max_open: Option<i64>,
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub time_zone: String,
    pub team: Stats,
    /// Everyone who can own cases, and anyone else who replied or resolved in the range.
    pub teammates: Vec<TeammateFigures>,
    /// The team by week (Monday first), oldest first.
    pub weeks: Vec<WeekRow>,
    /// Customer messages by weekday (Monday first) and hour, in `time_zone`.
    pub busiest_hours: [[u32; 24]; 7],
}

/// The window asked for, checked: dates in order, at most a year, a known time zone.
fn window(ask: &Ask, now: DateTime<Utc>) -> Result<Window> {
    let tz: Tz = match ask.tz.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => chrono_tz::UTC,
        Some(name) => name
            .parse()
            .map_err(|_| Error::invalid("tz", format!("unknown time zone {name:?}")))?,
    };
    let to = ask
        .to
        .unwrap_or_else(|| now.with_timezone(&tz).date_naive());
    let from = ask.from.unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
    if from > to {
        return Err(Error::invalid("to", "must not be before from"));
    }
    if (to - from).num_days() >= Window::MAX_DAYS {
        return Err(Error::invalid(
            "from",
            format!("a report covers at most {} days", Window::MAX_DAYS),
        ));
    }
    Ok(Window { from, to, tz })
}

/// Counts the report and the data its figures need. Managers and up.
async fn count(
    state: &AppState,
    actor: &Teammate,
    ask: &Ask,
) -> Result<(Window, Report, Vec<Teammate>)> {
    allow(
        actor,
        actor.role.can_see_reports(),
        "only managers and up see reports",
    )?;
    let window = window(ask, Utc::now())?;
    let (start, end) = window.bounds();
    let histories = state
        .store
        .report_histories(actor.workspace_id, start, end)
        .await?;
    let report = reports::report(&histories, &window);
    let team = state
        .store
        .teammates(actor.workspace_id, None, Which::EverMember)
        .await?;
    Ok((window, report, team))
}

pub async fn team_report(state: &AppState, actor: &Teammate, ask: &Ask) -> Result<TeamReport> {
    let (window, report, team) = count(state, actor, ask).await?;
    let open = state.store.open_cases(actor.workspace_id).await?;
    let capacity = state
        .store
        .rules(actor.workspace_id)
        .await?
        .capacity
        .map(i64::from);
    let mut stats: HashMap<TeammateId, Stats> = report
        .teammates
        .into_iter()
        .map(|r| (r.teammate_id, r.stats))
        .collect();
    let teammates = team
        .into_iter()
        .filter(|t| (t.active && t.role.can_be_assigned()) || stats.contains_key(&t.id))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| TeammateFigures {
            open_now: open.get(&t.id).copied().unwrap_or(0),
            max_open: t.max_open.or(capacity),
            stats: stats.remove(&t.id).unwrap_or_default(),
            teammate_id: t.id,
            name: t.name,
            active: t.active,
        })
        .collect();
    Ok(TeamReport {
        from: window.from,
        to: window.to,
        time_zone: window.tz.name().to_owned(),
        team: report.team,
        teammates,
        weeks: report.weeks,
        busiest_hours: report.busiest_hours,
    })
}

/// The same figures as CSV: the team and each teammate, week by week.
pub async fn team_report_csv(
    state: &AppState,
    actor: &Teammate,
    ask: &Ask,
) -> Result<(Window, String)> {
    let (window, report, team) = count(state, actor, ask).await?;
    let names: HashMap<TeammateId, String> = team.into_iter().map(|t| (t.id, t.name)).collect();
    Ok((window, reports::csv(&report, &names)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_default_window_is_the_last_four_weeks_up_to_today_in_the_time_zone() {
        let ask = Ask {
            tz: Some("Pacific/Auckland".into()),
            ..Ask::default()
        };
        let w = window(&ask, at("2026-12-04T12:00:00Z")).unwrap();
        assert_eq!(
            w.to,
            "2026-12-05".parse::<NaiveDate>().unwrap(),
            "it is already the 5th in Auckland"
        );
        assert_eq!((w.to - w.from).num_days(), DEFAULT_DAYS - 1);
    }

    #[test]
    fn bad_windows_name_the_field() {
        let day = |s: &str| Some(s.parse::<NaiveDate>().unwrap());
        let now = at("2026-12-04T12:00:00Z");
        let err = |ask: Ask| match window(&ask, now) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        };
        assert_eq!(
            err(Ask {
                tz: Some("Mars/Olympus".into()),
                ..Ask::default()
            }),
            "tz"
        );
        assert_eq!(
            err(Ask {
                from: day("2026-12-02"),
                to: day("2026-12-01"),
                ..Ask::default()
            }),
            "to"
        );
        assert_eq!(
            err(Ask {
                from: day("2025-01-01"),
                to: day("2026-12-01"),
                ..Ask::default()
            }),
            "from"
        );
    }
}
