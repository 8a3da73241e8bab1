//! Business hours in a time zone with a weekly schedule, and the response-target deadline:
//! the moment a number of business minutes after a start has passed.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `{time_zone: "Europe/Paris", days: {mon: [["09:00", "17:00"]], …}}`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Hours {
    tz: Tz,
    /// Monday first; each day's open intervals in minutes since midnight, sorted, disjoint.
    days: [Vec<(u32, u32)>; 7],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    time_zone: String,
    #[serde(default)]
    days: BTreeMap<String, Vec<[String; 2]>>,
}

fn minutes(s: &str) -> Option<u32> {
    if s == "24:00" {
        return Some(24 * 60);
    }
    let t = NaiveTime::parse_from_str(s, "%H:%M").ok()?;
    Some(t.hour() * 60 + t.minute())
}

impl Hours {
    /// Parses and checks a schedule; the error says what is wrong, for the `business_hours` field.
    pub fn parse(v: &serde_json::Value) -> Result<Hours, String> {
        let spec: Spec = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        let tz: Tz = spec
            .time_zone
            .parse()
            .map_err(|_| format!("unknown time zone {:?}", spec.time_zone))?;
        let mut days: [Vec<(u32, u32)>; 7] = Default::default();
        for (day, intervals) in &spec.days {
            let i = DAYS
                .iter()
                .position(|d| d == day)
                .ok_or_else(|| format!("unknown day {day:?} (mon … sun)"))?;
            if intervals.len() > 12 {
                return Err(format!("{day}: at most 12 intervals"));
            }
            for [from, to] in intervals {
                let (Some(a), Some(b)) = (minutes(from), minutes(to)) else {
                    return Err(format!("{day}: times are HH:MM"));
                };
                if a >= b {
                    return Err(format!("{day}: {from} is not before {to}"));
                }
                days[i].push((a, b));
            }
            days[i].sort_unstable();
            if days[i].windows(2).any(|w| w[0].1 > w[1].0) {
                return Err(format!("{day}: intervals overlap"));
            }
        }
        Ok(Hours { tz, days })
    }

    fn at(&self, date: NaiveDate, minute: u32) -> Option<DateTime<Utc>> {
        let (date, minute) = if minute == 24 * 60 {
            (date.succ_opt()?, 0)
        } else {
            (date, minute)
        };
        let time = NaiveTime::from_num_seconds_from_midnight_opt(minute * 60, 0)?;
        // A time skipped by a clock change is the first moment after it.
        (0..=2)
            .find_map(|h| {
                self.tz
                    .from_local_datetime(&date.and_time(time + Duration::hours(h)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
    }

    /// The moment `target` of business time after `start` has passed; none when the schedule
    /// has no open hour at all.
    pub fn add(&self, start: DateTime<Utc>, target: Duration) -> Option<DateTime<Utc>> {
        let mut left = target;
        let mut date = start.with_timezone(&self.tz).date_naive().pred_opt()?;
        // Eight weeks are more than any schedule with one open minute a week needs.
        for _ in 0..(8 * 7 + 2) {
            for &(a, b) in &self.days[date.weekday().num_days_from_monday() as usize] {
                let (Some(open), Some(close)) = (self.at(date, a), self.at(date, b)) else {
                    continue;
                };
                let from = open.max(start);
                if close <= from {
                    continue;
                }
                if close - from >= left {
                    return Some(from + left);
                }
                left -= close - from;
            }
            date = date.succ_opt()?;
        }
        None
    }
}

/// The response deadline of a case the customer is waiting on since `start`: around the clock
/// without business hours.
pub fn deadline(
    hours: Option<&Hours>,
    start: DateTime<Utc>,
    minutes: u32,
) -> Option<DateTime<Utc>> {
    let target = Duration::minutes(minutes.into());
    match hours {
        None => Some(start + target),
        Some(h) => h.add(start, target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paris_nine_to_five() -> Hours {
        let week: serde_json::Map<String, serde_json::Value> = ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|d| {
                (
                    d.to_string(),
                    json!([["09:00", "12:00"], ["13:00", "17:00"]]),
                )
            })
            .collect();
        Hours::parse(&json!({ "time_zone": "Europe/Paris", "days": week })).unwrap()
    }

    fn paris(s: &str) -> DateTime<Utc> {
        let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        chrono_tz::Europe::Paris
            .from_local_datetime(&naive)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn within_the_day() {
        let h = paris_nine_to_five();
        // Wednesday 2026-03-04.
        assert_eq!(
            deadline(Some(&h), paris("2026-03-04 10:00"), 60),
            Some(paris("2026-03-04 11:00"))
        );
    }

    #[test]
    fn skips_lunch_nights_and_weekends() {
        let h = paris_nine_to_five();
        assert_eq!(
            deadline(Some(&h), paris("2026-03-04 11:30"), 60),
            Some(paris("2026-03-04 13:30")),
            "lunch"
        );
        assert_eq!(
            deadline(Some(&h), paris("2026-03-06 16:30"), 60),
            Some(paris("2026-03-09 09:30")),
            "Friday evening to Monday"
        );
        assert_eq!(
            deadline(Some(&h), paris("2026-03-07 03:00"), 30),
            Some(paris("2026-03-09 09:30")),
            "written on Saturday"
        );
        assert_eq!(
            deadline(Some(&h), paris("2026-03-04 20:00"), 7 * 60),
            Some(paris("2026-03-05 17:00")),
            "a whole day of business time (3 h + 4 h)"
        );
        assert_eq!(
            deadline(Some(&h), paris("2026-03-04 20:00"), 7 * 60 + 30),
            Some(paris("2026-03-06 09:30")),
            "and half an hour of the next"
        );
    }

    #[test]
    fn across_a_clock_change() {
        let h = paris_nine_to_five();
        // Summer time starts on Sunday 2026-03-29: Friday 16:00 + 2 h is Monday 10:00 local.
        assert_eq!(
            deadline(Some(&h), paris("2026-03-27 16:00"), 120),
            Some(paris("2026-03-30 10:00"))
        );
    }

    #[test]
    fn around_the_clock_and_never_open() {
        let start = paris("2026-03-07 03:00");
        assert_eq!(
            deadline(None, start, 45),
            Some(start + Duration::minutes(45))
        );
        let closed = Hours::parse(&json!({ "time_zone": "UTC", "days": {} })).unwrap();
        assert_eq!(deadline(Some(&closed), start, 1), None);
        let all_day =
            Hours::parse(&json!({ "time_zone": "UTC", "days": { "sat": [["00:00", "24:00"]] } }))
                .unwrap();
        assert_eq!(
            deadline(Some(&all_day), start, 60),
            Some(start + Duration::hours(1))
        );
    }

    #[test]
    fn refuses_bad_schedules() {
        for bad in [
            json!({ "time_zone": "Mars/Olympus", "days": {} }),
            json!({ "time_zone": "UTC", "days": { "someday": [] } }),
            json!({ "time_zone": "UTC", "days": { "mon": [["9", "17:00"]] } }),
            json!({ "time_zone": "UTC", "days": { "mon": [["17:00", "09:00"]] } }),
            json!({ "time_zone": "UTC", "days": { "mon": [["09:00", "12:00"], ["11:00", "13:00"]] } }),
            json!({ "days": {} }),
        ] {
            assert!(Hours::parse(&bad).is_err(), "{bad}");
        }
    }
}
