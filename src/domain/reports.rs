//! How the team is doing, from each case's permanent history (its messages and timeline): first
//! response and resolution times, replies sent and cases handled, by teammate and by week, and
//! the hours when customers write. Pure: the store hands in the histories, this counts.
//!
//! The rules (also in `docs/reports.md`):
//! - A *conversation* starts with a customer's message when none is going on: the first message
//!   of a case, or the first one after the case was closed (won, lost or archived).
//! - Its *first response* is the first reply after that start; the time counts for the teammate
//!   who wrote the reply and for the week (in the report's time zone) the reply was sent. A case
//!   reassigned before anyone answered counts for whoever answered.
//! - Its *resolution* is the first close after the start; the time counts for the case's owner at
//!   that moment (the teammate who closed it when nobody owned it) and for the week of the close.
//!   A reopened case starts a new conversation: both times are measured again from the new
//!   customer message.
//! - *Replies* counts every reply; *cases handled* counts, per teammate and week, the distinct
//!   cases they replied on or resolved.
//! - Only what happened inside the report's window counts; a conversation that started before
//!   the window is measured from its real start.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::domain::ids::{CaseId, TeammateId};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One thing in a case's history that the report looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happening {
    /// A message from the customer.
    Inbound,
    /// A reply to the customer by a teammate.
    Reply { author: TeammateId },
    /// The case changed hands (to nobody when `to` is None).
    Assigned { to: Option<TeammateId> },
    /// The case was closed (won, lost or archived) by `actor` (None: the system).
    Closed { actor: Option<TeammateId> },
}

/// A case's history in the order it happened.
#[derive(Debug, Clone)]
pub struct History {
    pub case_id: CaseId,
    pub items: Vec<(DateTime<Utc>, Happening)>,
}

/// The report's window: local dates `from` to `to`, both included, in `tz`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub tz: Tz,
}

impl Window {
    /// The longest window a report covers.
    pub const MAX_DAYS: i64 = 366;

    /// The window's first and last instants, as a half-open range in UTC.
    pub fn bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            local_midnight(self.tz, self.from),
            local_midnight(self.tz, self.to + Duration::days(1)),
        )
    }

    fn contains(&self, at: DateTime<Utc>) -> bool {
        let (start, end) = self.bounds();
        start <= at && at < end
    }

    /// The Monday that starts `at`'s week, in the window's time zone.
    fn week_of(&self, at: DateTime<Utc>) -> NaiveDate {
        let day = at.with_timezone(&self.tz).date_naive();
        day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
    }
}

/// Midnight of `day` in `tz` (the first instant of the day when a clock change skips midnight).
fn local_midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        chrono::LocalResult::None => {
            let one = (1..=3)
                .find_map(|h| {
                    tz.from_local_datetime(&(midnight + Duration::hours(h)))
                        .earliest()
                })
                .expect("a clock change skips at most a few hours");
            one.with_timezone(&Utc)
        }
    }
}

/// Median and 90th percentile of a set of durations, in whole seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Times {
    pub count: usize,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
}

impl Times {
    fn of(mut seconds: Vec<i64>) -> Times {
        seconds.sort_unstable();
        Times {
            count: seconds.len(),
            median_seconds: nearest_rank(&seconds, 50),
            p90_seconds: nearest_rank(&seconds, 90),
        }
    }
}

/// The nearest-rank percentile: the smallest value with at least `pct`% of values at or below.
fn nearest_rank(sorted: &[i64], pct: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Stats {
    pub first_response: Times,
    pub resolution: Times,
    pub replies: usize,
    pub cases_handled: usize,
}

/// What one teammate (or the whole team, `teammate_id` None) did in one week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WeekRow {
    /// The Monday that starts the week.
    pub week: NaiveDate,
    pub teammate_id: Option<TeammateId>,
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TeammateRow {
    pub teammate_id: TeammateId,
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Report {
    pub team: Stats,
    /// Everyone who replied or resolved something in the window, by teammate id.
    pub teammates: Vec<TeammateRow>,
    /// The team's figures for each week that touches the window, oldest first.
    pub weeks: Vec<WeekRow>,
    /// Each teammate's figures for each week, for the CSV export.
    pub teammate_weeks: Vec<WeekRow>,
    /// Customer messages by weekday (Monday first) and hour of the day, in the time zone.
    pub busiest_hours: [[u32; 24]; 7],
}

/// What one teammate did in one week, before the percentiles are taken.
#[derive(Default)]
struct Tally {
    first_response: Vec<i64>,
    resolution: Vec<i64>,
    replies: usize,
    cases: BTreeSet<CaseId>,
}

impl Tally {
    fn merge(&mut self, other: &Tally) {
        self.first_response.extend(&other.first_response);
        self.resolution.extend(&other.resolution);
        self.replies += other.replies;
        self.cases.extend(other.cases.iter().copied());
    }

    fn stats(&self) -> Stats {
        Stats {
            first_response: Times::of(self.first_response.clone()),
            resolution: Times::of(self.resolution.clone()),
            replies: self.replies,
            cases_handled: self.cases.len(),
        }
    }
}

/// Counts the window's figures from the histories of the cases it touches.
pub fn report(histories: &[History], window: &Window) -> Report {
    let mut tallies: BTreeMap<(NaiveDate, TeammateId), Tally> = BTreeMap::new();
    let mut busiest_hours = [[0u32; 24]; 7];
    for history in histories {
        let mut owner: Option<TeammateId> = None;
        let mut started: Option<DateTime<Utc>> = None;
        let mut answered = false;
        for &(at, happening) in &history.items {
            let counts = window.contains(at);
            match happening {
                Happening::Inbound => {
                    if started.is_none() {
                        started = Some(at);
                        answered = false;
                    }
                    if counts {
                        let local = at.with_timezone(&window.tz);
                        busiest_hours[local.weekday().num_days_from_monday() as usize]
                            [local.hour() as usize] += 1;
                    }
                }
                Happening::Reply { author } => {
                    if !counts {
                        answered |= started.is_some();
                        continue;
                    }
                    let tally = tallies.entry((window.week_of(at), author)).or_default();
                    tally.replies += 1;
                    tally.cases.insert(history.case_id);
                    if let (Some(start), false) = (started, answered) {
                        tally.first_response.push((at - start).num_seconds());
                    }
                    answered |= started.is_some();
                }
                Happening::Assigned { to } => owner = to,
                Happening::Closed { actor } => {
                    let Some(start) = started.take() else {
                        continue;
                    };
                    let Some(who) = owner.or(actor) else { continue };
                    if counts {
                        let tally = tallies.entry((window.week_of(at), who)).or_default();
                        tally.resolution.push((at - start).num_seconds());
                        tally.cases.insert(history.case_id);
                    }
                }
            }
        }
    }

    let mut team = Tally::default();
    let mut by_teammate: BTreeMap<TeammateId, Tally> = BTreeMap::new();
    let mut by_week: BTreeMap<NaiveDate, Tally> = BTreeMap::new();
    let mut teammate_weeks = Vec::with_capacity(tallies.len());
    for ((week, who), tally) in &tallies {
        team.merge(tally);
        by_teammate.entry(*who).or_default().merge(tally);
        by_week.entry(*week).or_default().merge(tally);
        teammate_weeks.push(WeekRow {
            week: *week,
            teammate_id: Some(*who),
            stats: tally.stats(),
        });
    }
    // Every week of the window has a row, quiet ones too, so a chart's gaps are real.
    let mut week = window.week_of(window.bounds().0);
    let last = window.week_of(window.bounds().1 - Duration::seconds(1));
    while week <= last {
        by_week.entry(week).or_default();
        week += Duration::days(7);
    }
    // A case handled by two teammates counts once for the team.
    let mut team_stats = team.stats();
    team_stats.cases_handled = tallies
        .values()
        .flat_map(|t| t.cases.iter())
        .collect::<BTreeSet<_>>()
        .len();
    let weeks = by_week
        .into_iter()
        .map(|(week, tally)| {
            let mut stats = tally.stats();
            let cases: BTreeSet<&CaseId> = tallies
                .range(
                    (week, TeammateId::from_uuid(Uuid::nil()))
                        ..=(week, TeammateId::from_uuid(Uuid::max())),
                )
                .flat_map(|(_, t)| t.cases.iter())
                .collect();
            stats.cases_handled = cases.len();
            WeekRow {
                week,
                teammate_id: None,
                stats,
            }
        })
        .collect();
    Report {
        team: team_stats,
        teammates: by_teammate
            .into_iter()
            .map(|(teammate_id, t)| TeammateRow {
                teammate_id,
                stats: t.stats(),
            })
            .collect(),
        weeks,
        teammate_weeks,
        busiest_hours,
    }
}

/// The CSV export: one row per week for the team, then one per teammate and week.
pub fn csv(report: &Report, names: &HashMap<TeammateId, String>) -> String {
    let mut out = String::from(
        "week,teammate,replies,cases_handled,first_responses,first_response_median_seconds,first_response_p90_seconds,resolutions,resolution_median_seconds,resolution_p90_seconds\r\n",
    );
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    for row in report.weeks.iter().chain(&report.teammate_weeks) {
        let who = match row.teammate_id {
            None => "Team".to_owned(),
            Some(id) => names.get(&id).cloned().unwrap_or_else(|| id.to_string()),
        };
        let s = &row.stats;
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\r\n",
            row.week,
            csv_field(&who),
            s.replies,
            s.cases_handled,
            s.first_response.count,
            opt(s.first_response.median_seconds),
            opt(s.first_response.p90_seconds),
            s.resolution.count,
            opt(s.resolution.median_seconds),
            opt(s.resolution.p90_seconds),
        ));
    }
    out
}

/// A CSV field (RFC 4180), quoted when needed; a leading `=`, `+`, `-` or `@` is defused so that
/// a teammate's name never runs as a spreadsheet formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn window(from: &str, to: &str, tz: Tz) -> Window {
        Window {
            from: day(from),
            to: day(to),
            tz,
        }
    }

    fn id<T: From<Uuid>>(n: u128) -> T {
        Uuid::from_u128(n).into()
    }

    const ANA: u128 = 1;
    const BEN: u128 = 2;
    const CAL: u128 = 3;

    fn history(case: u128, items: &[(&str, Happening)]) -> History {
        History {
            case_id: id(case),
            items: items.iter().map(|(at, h)| (t(at), *h)).collect(),
        }
    }

    fn reply(who: u128) -> Happening {
        Happening::Reply { author: id(who) }
    }

    fn to(who: u128) -> Happening {
        Happening::Assigned { to: Some(id(who)) }
    }

    fn closed(by: u128) -> Happening {
        Happening::Closed {
            actor: Some(id(by)),
        }
    }

    fn row(report: &Report, who: u128) -> &Stats {
        &report
            .teammates
            .iter()
            .find(|r| r.teammate_id == id(who))
            .expect("a row for the teammate")
            .stats
    }

    #[test]
    fn a_case_reassigned_twice_credits_the_answer_to_who_answered_and_the_close_to_the_owner() {
        let h = history(
            10,
            &[
                ("2026-11-02T09:00:00Z", Happening::Inbound),
                ("2026-11-02T09:00:00Z", to(ANA)),
                ("2026-11-02T09:30:00Z", to(BEN)),
                ("2026-11-02T10:00:00Z", reply(BEN)),
                ("2026-11-02T11:00:00Z", Happening::Inbound),
                ("2026-11-02T11:20:00Z", reply(BEN)),
                ("2026-11-03T09:00:00Z", to(CAL)),
                ("2026-11-03T12:00:00Z", closed(BEN)),
            ],
        );
        let r = report(&[h], &window("2026-11-01", "2026-11-30", chrono_tz::UTC));
        // Ben answered an hour after the customer wrote: one first response, not two.
        assert_eq!(
            row(&r, BEN).first_response,
            Times {
                count: 1,
                median_seconds: Some(3600),
                p90_seconds: Some(3600)
            }
        );
        assert_eq!(row(&r, BEN).replies, 2);
        // Cal owned the case when Ben closed it: the resolution (27 h) is Cal's.
        assert_eq!(
            row(&r, CAL).resolution,
            Times {
                count: 1,
                median_seconds: Some(27 * 3600),
                p90_seconds: Some(27 * 3600)
            }
        );
        assert_eq!(row(&r, CAL).replies, 0);
        assert_eq!(row(&r, CAL).cases_handled, 1);
        assert!(
            r.teammates.iter().all(|row| row.teammate_id != id(ANA)),
            "Ana neither answered nor resolved"
        );
        assert_eq!(r.team.cases_handled, 1);
        assert_eq!(r.team.replies, 2);
    }

    #[test]
    fn a_reopened_case_is_measured_again_from_the_new_message() {
        let h = history(
            11,
            &[
                ("2026-11-02T08:00:00Z", Happening::Inbound),
                ("2026-11-02T08:00:00Z", to(ANA)),
                ("2026-11-02T08:10:00Z", reply(ANA)),
                ("2026-11-02T09:00:00Z", closed(ANA)),
                ("2026-11-04T08:00:00Z", Happening::Inbound),
                ("2026-11-04T10:00:00Z", reply(ANA)),
                ("2026-11-05T08:00:00Z", closed(ANA)),
            ],
        );
        let r = report(&[h], &window("2026-11-01", "2026-11-30", chrono_tz::UTC));
        let ana = row(&r, ANA);
        assert_eq!(ana.first_response.count, 2);
        assert_eq!(ana.first_response.median_seconds, Some(600));
        assert_eq!(ana.first_response.p90_seconds, Some(7200));
        assert_eq!(ana.resolution.count, 2);
        assert_eq!(ana.resolution.median_seconds, Some(3600));
        assert_eq!(ana.resolution.p90_seconds, Some(24 * 3600));
        assert_eq!(ana.cases_handled, 1);
    }

    #[test]
    fn a_reply_at_the_edge_of_a_week_counts_in_the_week_of_the_time_zone() {
        // Sunday 23:30 in Berlin is Sunday 22:30 UTC; Monday 00:30 in Berlin is Sunday 23:30 UTC.
        let cases = [
            history(
                12,
                &[
                    ("2026-11-08T20:00:00Z", Happening::Inbound),
                    ("2026-11-08T22:30:00Z", reply(ANA)),
                ],
            ),
            history(
                13,
                &[
                    ("2026-11-08T20:00:00Z", Happening::Inbound),
                    ("2026-11-08T23:30:00Z", reply(ANA)),
                ],
            ),
        ];
        let berlin = report(
            &cases,
            &window("2026-11-02", "2026-11-15", chrono_tz::Europe::Berlin),
        );
        let weeks: Vec<(NaiveDate, usize)> = berlin
            .weeks
            .iter()
            .map(|w| (w.week, w.stats.replies))
            .collect();
        assert_eq!(weeks, vec![(day("2026-11-02"), 1), (day("2026-11-09"), 1)]);
        let utc = report(&cases, &window("2026-11-02", "2026-11-15", chrono_tz::UTC));
        let weeks: Vec<(NaiveDate, usize)> = utc
            .weeks
            .iter()
            .map(|w| (w.week, w.stats.replies))
            .collect();
        assert_eq!(weeks, vec![(day("2026-11-02"), 2), (day("2026-11-09"), 0)]);
    }

    #[test]
    fn only_the_window_counts_but_a_conversation_is_measured_from_its_real_start() {
        let h = history(
            14,
            &[
                ("2026-10-31T12:00:00Z", Happening::Inbound),
                ("2026-10-31T12:00:00Z", to(ANA)),
                ("2026-11-01T12:00:00Z", reply(ANA)),
                ("2026-12-01T12:00:00Z", closed(ANA)),
            ],
        );
        let r = report(&[h], &window("2026-11-01", "2026-11-30", chrono_tz::UTC));
        assert_eq!(row(&r, ANA).first_response.median_seconds, Some(24 * 3600));
        assert_eq!(
            row(&r, ANA).resolution.count,
            0,
            "the close is after the window"
        );
        assert_eq!(
            r.busiest_hours.iter().flatten().sum::<u32>(),
            0,
            "the customer wrote before the window"
        );
    }

    #[test]
    fn a_reply_before_any_customer_message_is_a_reply_but_no_first_response() {
        let h = history(
            15,
            &[
                ("2026-11-02T08:00:00Z", reply(ANA)),
                ("2026-11-02T09:00:00Z", Happening::Inbound),
                ("2026-11-02T09:05:00Z", reply(ANA)),
            ],
        );
        let r = report(&[h], &window("2026-11-01", "2026-11-30", chrono_tz::UTC));
        assert_eq!(row(&r, ANA).replies, 2);
        assert_eq!(
            row(&r, ANA).first_response,
            Times {
                count: 1,
                median_seconds: Some(300),
                p90_seconds: Some(300)
            }
        );
    }

    #[test]
    fn a_case_closed_with_nobody_owning_it_is_resolved_by_who_closed_it() {
        let h = history(
            16,
            &[
                ("2026-11-02T08:00:00Z", Happening::Inbound),
                ("2026-11-02T08:00:00Z", to(ANA)),
                ("2026-11-02T08:30:00Z", Happening::Assigned { to: None }),
                ("2026-11-02T10:00:00Z", closed(BEN)),
            ],
        );
        let r = report(&[h], &window("2026-11-01", "2026-11-30", chrono_tz::UTC));
        assert_eq!(row(&r, BEN).resolution.median_seconds, Some(2 * 3600));
    }

    #[test]
    fn busiest_hours_are_counted_in_the_time_zone() {
        // Monday 2026-11-02 07:15 UTC is 08:15 in Berlin.
        let h = history(
            17,
            &[
                ("2026-11-02T07:15:00Z", Happening::Inbound),
                ("2026-11-02T07:45:00Z", Happening::Inbound),
            ],
        );
        let r = report(
            &[h],
            &window("2026-11-01", "2026-11-30", chrono_tz::Europe::Berlin),
        );
        assert_eq!(r.busiest_hours[0][8], 2);
        assert_eq!(r.busiest_hours.iter().flatten().sum::<u32>(), 2);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 50), Some(5));
        assert_eq!(nearest_rank(&ten, 90), Some(9));
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[test]
    fn quiet_weeks_still_have_a_row() {
        let r = report(&[], &window("2026-11-01", "2026-11-30", chrono_tz::UTC));
        let weeks: Vec<NaiveDate> = r.weeks.iter().map(|w| w.week).collect();
        assert_eq!(
            weeks,
            [
                "2026-10-26",
                "2026-11-02",
                "2026-11-09",
                "2026-11-16",
                "2026-11-23",
                "2026-11-30"
            ]
            .map(day)
        );
        assert_eq!(r.team, Stats::default());
    }

    #[test]
    fn csv_quotes_and_defuses_names() {
        let h = history(
            18,
            &[
                ("2026-11-02T08:00:00Z", Happening::Inbound),
                ("2026-11-02T08:01:00Z", reply(ANA)),
            ],
        );
        let r = report(&[h], &window("2026-11-02", "2026-11-08", chrono_tz::UTC));
        let names = HashMap::from([(id(ANA), "=HYPERLINK(\"x\"), Ana".to_owned())]);
        let text = csv(&r, &names);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert!(lines[0].starts_with("week,teammate,replies"));
        assert_eq!(lines[1], "2026-11-02,Team,1,1,1,60,60,0,,");
        assert_eq!(
            lines[2],
            "2026-11-02,\"'=HYPERLINK(\"\"x\"\"), Ana\",1,1,1,60,60,0,,"
        );
    }
}
