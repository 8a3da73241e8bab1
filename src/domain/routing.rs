//! Auto-assign: which teammate a newly created case goes to. Rules fire once, when an inbound
//! message creates a case, never on reopen (the caller decides when to ask).

use std::collections::BTreeMap;

use crate::domain::ids::TeammateId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    RoundRobin,
    ByCategory,
    #[default]
    Unassigned,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::RoundRobin => "round_robin",
            Mode::ByCategory => "by_category",
            Mode::Unassigned => "unassigned",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::RoundRobin, Mode::ByCategory, Mode::Unassigned]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// The workspace's auto-assign rules, as stored and as `GET/PUT /api/assign-rules` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub struct Rules {
    pub mode: Mode,
    /// Round-robin rotates through these teammates in this order.
    #[serde(default)]
    pub pool: Vec<TeammateId>,
    /// By category: category → teammate.
    #[serde(default)]
    pub categories: BTreeMap<String, TeammateId>,
    /// By category: who gets a case whose category has no rule (none: it stays unassigned).
    #[serde(default)]
    pub fallback: Option<TeammateId>,
    /// Default limit of open cases per teammate (a teammate's own `max_open` wins); none: no limit.
    #[serde(default)]
    pub capacity: Option<u32>,
    /// What happens to an away owner's case when the customer writes.
    #[serde(default)]
    pub away_behaviour: AwayBehaviour,
    /// Assign only to teammates connected now.
    #[serde(default)]
    pub online_only: bool,
    /// First-response target in minutes (of business hours when they are set).
    #[serde(default)]
    pub response_target_minutes: Option<u32>,
    /// Take a case past its target back from its owner and run the rules again (once).
    #[serde(default)]
    pub take_back: bool,
    /// `{time_zone, days: {mon: [["09:00", "17:00"]], …}}`; none: around the clock.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub business_hours: Option<serde_json::Value>,
}

impl Rules {
    /// The rules with `member` named nowhere: out of the round-robin pool, the category rules
    /// and the fallback (a category that named them falls to the fallback). A teammate who left
    /// or became a viewer cannot take a case, and rules that still named them could not be
    /// saved back as shown.
    pub fn without(&self, member: TeammateId) -> Rules {
        let mut rules = self.clone();
        rules.pool.retain(|t| *t != member);
        rules.categories.retain(|_, t| *t != member);
        if rules.fallback == Some(member) {
            rules.fallback = None;
        }
        rules
    }
}

/// Where round-robin resumes once `member` leaves `pool`: if they were picked last, the one
/// before them counts as last, so the one after them is next and nobody is skipped or served
/// twice in a row.
pub fn last_without(
    pool: &[TeammateId],
    last: Option<TeammateId>,
    member: TeammateId,
) -> Option<TeammateId> {
    if last != Some(member) {
        return last;
    }
    let i = pool.iter().position(|t| *t == member)?;
    (pool.len() > 1).then(|| pool[(i + pool.len() - 1) % pool.len()])
}

/// What an away owner's case does when the customer writes (`away_behaviour`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum AwayBehaviour {
    /// The owner keeps it (and is pinged as usual).
    Keep,
    /// Back to Unassigned.
    Pool,
    /// Through the rules as if it were new.
    #[default]
    Reassign,
}

impl AwayBehaviour {
    pub fn as_str(self) -> &'static str {
        match self {
            AwayBehaviour::Keep => "keep",
            AwayBehaviour::Pool => "pool",
            AwayBehaviour::Reassign => "reassign",
        }
    }

    pub fn parse(s: &str) -> Option<AwayBehaviour> {
        [
            AwayBehaviour::Keep,
            AwayBehaviour::Pool,
            AwayBehaviour::Reassign,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }
}

/// Away now: the flag, or a date range that has started; either ends at `until` by itself.
pub fn is_away(flag: bool, from: Option<i64>, until: Option<i64>, now: i64) -> bool {
    (flag || from.is_some_and(|f| f <= now)) && until.is_none_or(|u| now < u)
}

/// What the routing rules need to know of a case's owner when its customer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// Not removed from the workspace.
    pub active: bool,
    /// Their role may hold cases (not a viewer).
    pub assignable: bool,
    pub away: bool,
}

/// Why a case left its owner: the timeline entry's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfit {
    Removed,
    Viewer,
    Away,
}

impl Unfit {
    pub fn reason(self) -> &'static str {
        match self {
            Unfit::Removed => "owner_removed",
            Unfit::Viewer => "owner_viewer",
            Unfit::Away => "owner_away",
        }
    }
}

/// The decision when a customer writes on an existing case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCustomerMessage {
    /// The owner (or the pool) keeps the case.
    Keep,
    /// Back to Unassigned.
    Pool(Unfit),
    /// Through the rules as if the case were new.
    Reroute(Unfit),
}

/// A case whose owner cannot act on it (removed, a viewer, away) never stays with them when
/// the customer writes; away follows the workspace's `away_behaviour`.
pub fn on_customer_message(owner: Option<Owner>, behaviour: AwayBehaviour) -> OnCustomerMessage {
    let Some(owner) = owner else {
        return OnCustomerMessage::Keep;
    };
    if !owner.active {
        OnCustomerMessage::Reroute(Unfit::Removed)
    } else if !owner.assignable {
        OnCustomerMessage::Reroute(Unfit::Viewer)
    } else if owner.away {
        match behaviour {
            AwayBehaviour::Keep => OnCustomerMessage::Keep,
            AwayBehaviour::Pool => OnCustomerMessage::Pool(Unfit::Away),
            AwayBehaviour::Reassign => OnCustomerMessage::Reroute(Unfit::Away),
        }
    } else {
        OnCustomerMessage::Keep
    }
}

/// Room for one more case under a limit (a teammate's own, else the workspace default).
pub fn has_room(open: u32, own_limit: Option<u32>, default_limit: Option<u32>) -> bool {
    own_limit.or(default_limit).is_none_or(|limit| open < limit)
}

/// Picks the assignee for a new case.
///
/// `eligible` says whether a teammate can take new work now (active, assignable role, not away);
/// `last` is the pool member round-robin picked last, shared by every instance through the
/// database, so the rotation advances exactly once per case cluster-wide.
pub fn pick(
    rules: &Rules,
    category: Option<&str>,
    last: Option<TeammateId>,
    eligible: impl Fn(TeammateId) -> bool,
) -> Option<TeammateId> {
    match rules.mode {
        Mode::Unassigned => None,
        Mode::ByCategory => category
            .and_then(|c| rules.categories.get(c))
            .copied()
            .filter(|t| eligible(*t))
            .or(rules.fallback.filter(|t| eligible(*t))),
        Mode::RoundRobin => {
            let pool = &rules.pool;
            let start = last
                .and_then(|l| pool.iter().position(|t| *t == l))
                .map_or(0, |i| i + 1);
            (0..pool.len())
                .map(|k| pool[(start + k) % pool.len()])
                .find(|t| eligible(*t))
        }
    }
}

/// Category from the workspace's keyword rules: the category whose keyword appears first in the
/// text (whole words, case-insensitive); ties go to the alphabetically first category.
pub fn detect_category(keywords: &BTreeMap<String, Vec<String>>, text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect();
    words.iter().find_map(|word| {
        keywords
            .iter()
            .find(|(_, kws)| kws.iter().any(|k| k.to_lowercase() == *word))
            .map(|(category, _)| category.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<TeammateId> {
        (0..n).map(|_| TeammateId::new()).collect()
    }

    #[test]
    fn round_robin_rotates_in_pool_order() {
        let pool = ids(3);
        let rules = Rules {
            mode: Mode::RoundRobin,
            pool: pool.clone(),
            ..Rules::default()
        };
        let mut last = None;
        let mut picked = vec![];
        for _ in 0..6 {
            last = pick(&rules, None, last, |_| true);
            picked.push(last.unwrap());
        }
        assert_eq!(picked, [pool.clone(), pool].concat());
    }

    #[test]
    fn round_robin_skips_away_and_removed() {
        let pool = ids(3);
        let rules = Rules {
            mode: Mode::RoundRobin,
            pool: pool.clone(),
            ..Rules::default()
        };
        let away = pool[1];
        assert_eq!(
            pick(&rules, None, Some(pool[0]), |t| t != away),
            Some(pool[2])
        );
        assert_eq!(pick(&rules, None, None, |_| false), None);
        // The last pick was removed from the pool since: start from the top.
        assert_eq!(
            pick(&rules, None, Some(TeammateId::new()), |_| true),
            Some(pool[0])
        );
    }

    #[test]
    fn round_robin_is_fair() {
        let pool = ids(4);
        let rules = Rules {
            mode: Mode::RoundRobin,
            pool: pool.clone(),
            ..Rules::default()
        };
        let mut last = None;
        let mut counts = std::collections::HashMap::new();
        for _ in 0..1000 {
            last = pick(&rules, None, last, |_| true);
            *counts.entry(last.unwrap()).or_insert(0) += 1;
        }
        assert!(pool.iter().all(|t| counts[t] == 250), "{counts:?}");
    }

    #[test]
    fn by_category_with_fallback() {
        let [senior, owner, lead] = ids(3).try_into().unwrap();
        let rules = Rules {
            mode: Mode::ByCategory,
            categories: [
                ("complaint".to_string(), senior),
                ("pricing".to_string(), owner),
            ]
            .into(),
            fallback: Some(lead),
            ..Rules::default()
        };
        assert_eq!(
            pick(&rules, Some("complaint"), None, |_| true),
            Some(senior)
        );
        assert_eq!(pick(&rules, Some("pricing"), None, |_| true), Some(owner));
        assert_eq!(pick(&rules, Some("other"), None, |_| true), Some(lead));
        assert_eq!(pick(&rules, None, None, |_| true), Some(lead));
        assert_eq!(
            pick(&rules, Some("complaint"), None, |t| t != senior),
            Some(lead)
        );
        let no_fallback = Rules {
            fallback: None,
            ..rules
        };
        assert_eq!(pick(&no_fallback, Some("other"), None, |_| true), None);
    }

    #[test]
    fn without_names_the_member_nowhere() {
        let [a, b, c] = ids(3).try_into().unwrap();
        let rules = Rules {
            mode: Mode::ByCategory,
            pool: vec![a, b, c],
            categories: [("complaint".to_string(), b), ("pricing".to_string(), c)].into(),
            fallback: Some(b),
            capacity: Some(3),
            away_behaviour: AwayBehaviour::Pool,
            ..Rules::default()
        };
        let left = rules.without(b);
        assert_eq!(left.pool, vec![a, c]);
        assert_eq!(
            left.categories,
            BTreeMap::from([("pricing".to_string(), c)])
        );
        assert_eq!(left.fallback, None);
        assert_eq!(
            Rules {
                pool: rules.pool.clone(),
                categories: rules.categories.clone(),
                fallback: rules.fallback,
                ..left.clone()
            },
            rules,
            "everything else stays"
        );
        assert_eq!(
            pick(&left, Some("complaint"), None, |_| true),
            None,
            "the category falls to the (now empty) fallback"
        );
        assert_eq!(
            rules.without(TeammateId::new()),
            rules,
            "a stranger changes nothing"
        );
        assert_eq!(left.without(b), left, "twice is once");
    }

    #[test]
    fn round_robin_resumes_after_the_member_who_left() {
        let [a, b, c] = ids(3).try_into().unwrap();
        let pool = vec![a, b, c];
        // B was picked last: C is next, as it would have been.
        let last = last_without(&pool, Some(b), b);
        assert_eq!(last, Some(a));
        let rules = Rules {
            mode: Mode::RoundRobin,
            pool: pool.clone(),
            ..Rules::default()
        }
        .without(b);
        assert_eq!(pick(&rules, None, last, |_| true), Some(c));
        // The first of the pool picked last: the one after them is next.
        assert_eq!(last_without(&pool, Some(a), a), Some(c));
        // Someone else picked last: the rotation is untouched.
        assert_eq!(last_without(&pool, Some(c), b), Some(c));
        assert_eq!(last_without(&pool, None, b), None);
        // The last one of a pool of one: the rotation starts over.
        assert_eq!(last_without(&[a], Some(a), a), None);
    }

    #[test]
    fn unassigned_mode_assigns_nobody() {
        let rules = Rules {
            mode: Mode::Unassigned,
            pool: ids(2),
            ..Rules::default()
        };
        assert_eq!(pick(&rules, None, None, |_| true), None);
    }

    #[test]
    fn detects_category_from_keywords() {
        let kw: BTreeMap<String, Vec<String>> = [
            (
                "pricing".to_string(),
                vec!["price".to_string(), "Quote".to_string()],
            ),
            (
                "complaint".to_string(),
                vec!["refund".to_string(), "complaint".to_string()],
            ),
        ]
        .into();
        assert_eq!(
            detect_category(&kw, "Can I get a QUOTE?"),
            Some("pricing".into())
        );
        assert_eq!(
            detect_category(&kw, "I want a refund, the price was wrong"),
            Some("complaint".into())
        );
        assert_eq!(detect_category(&kw, "pricey"), None);
        assert_eq!(detect_category(&kw, "hello"), None);
    }

    #[test]
    fn away_by_flag_or_dates_ends_by_itself() {
        assert!(!is_away(false, None, None, 100));
        assert!(is_away(true, None, None, 100));
        assert!(is_away(true, None, Some(200), 100));
        assert!(!is_away(true, None, Some(100), 100), "ends at until");
        assert!(
            !is_away(false, Some(150), Some(200), 100),
            "not started yet"
        );
        assert!(is_away(false, Some(150), Some(200), 150));
        assert!(!is_away(false, Some(150), Some(200), 200));
        assert!(is_away(false, Some(50), None, 100), "open-ended");
    }

    #[test]
    fn customer_message_on_unfit_owner() {
        use OnCustomerMessage::*;
        let fit = Owner {
            active: true,
            assignable: true,
            away: false,
        };
        for b in [
            AwayBehaviour::Keep,
            AwayBehaviour::Pool,
            AwayBehaviour::Reassign,
        ] {
            assert_eq!(on_customer_message(None, b), Keep);
            assert_eq!(on_customer_message(Some(fit), b), Keep);
            let removed = Owner {
                active: false,
                ..fit
            };
            assert_eq!(
                on_customer_message(Some(removed), b),
                Reroute(Unfit::Removed)
            );
            let viewer = Owner {
                assignable: false,
                ..fit
            };
            assert_eq!(on_customer_message(Some(viewer), b), Reroute(Unfit::Viewer));
        }
        let away = Owner { away: true, ..fit };
        assert_eq!(on_customer_message(Some(away), AwayBehaviour::Keep), Keep);
        assert_eq!(
            on_customer_message(Some(away), AwayBehaviour::Pool),
            Pool(Unfit::Away)
        );
        assert_eq!(
            on_customer_message(Some(away), AwayBehaviour::Reassign),
            Reroute(Unfit::Away)
        );
        assert_eq!(Unfit::Removed.reason(), "owner_removed");
    }

    #[test]
    fn capacity_own_limit_wins_over_default() {
        assert!(has_room(100, None, None));
        assert!(has_room(2, None, Some(3)));
        assert!(!has_room(3, None, Some(3)));
        assert!(has_room(3, Some(5), Some(3)));
        assert!(!has_room(1, Some(1), Some(3)));
        assert!(!has_room(0, Some(0), None));
    }

    #[test]
    fn away_behaviour_names() {
        for b in [
            AwayBehaviour::Keep,
            AwayBehaviour::Pool,
            AwayBehaviour::Reassign,
        ] {
            assert_eq!(AwayBehaviour::parse(b.as_str()), Some(b));
        }
        assert_eq!(AwayBehaviour::default(), AwayBehaviour::Reassign);
        assert_eq!(AwayBehaviour::parse("nope"), None);
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        #[derive(Debug, Clone)]
        enum Step {
            CustomerWrites(usize),
            Remove(usize),
            MakeViewer(usize),
            SetAway(usize, bool),
            Assign(usize, usize),
            Close(usize),
        }

        const TEAM: usize = 4;
        const CASES: usize = 6;

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                4 => (0..CASES).prop_map(Step::CustomerWrites),
                1 => (0..TEAM).prop_map(Step::Remove),
                1 => (0..TEAM).prop_map(Step::MakeViewer),
                2 => (0..TEAM, any::<bool>()).prop_map(|(t, a)| Step::SetAway(t, a)),
                2 => (0..CASES, 0..TEAM).prop_map(|(c, t)| Step::Assign(c, t)),
                2 => (0..CASES).prop_map(Step::Close),
            ]
        }

        fn behaviour() -> impl Strategy<Value = AwayBehaviour> {
            prop_oneof![
                Just(AwayBehaviour::Keep),
                Just(AwayBehaviour::Pool),
                Just(AwayBehaviour::Reassign),
            ]
        }

        #[derive(Clone, Copy)]
        struct Case {
            open: bool,
            assignee: Option<usize>,
        }

        proptest! {
            /// The store's rules, played on a model: removal moves open cases to the pool,
            /// a viewer can't be made of someone holding open cases, assignments go to
            /// active assignable teammates, and every customer message asks
            /// `on_customer_message`. No open case ever sits with a removed teammate or a viewer,
            /// nor, under "return to pool" or "reassign", with an away owner after the customer
            /// wrote.
            #[test]
            fn no_case_is_left_with_someone_who_cannot_act(
                steps in prop::collection::vec(step(), 1..80),
                behaviour in behaviour(),
                round_robin in any::<bool>(),
            ) {
                let ids: Vec<TeammateId> =
                    (0..TEAM).map(|i| uuid::Uuid::from_u128(i as u128 + 1).into()).collect();
                let mut owners = [Owner { active: true, assignable: true, away: false }; TEAM];
                let mut cases = [Case { open: false, assignee: None }; CASES];
                let rules = Rules {
                    mode: if round_robin { Mode::RoundRobin } else { Mode::Unassigned },
                    pool: ids.clone(),
                    away_behaviour: behaviour,
                    ..Rules::default()
                };
                let mut last = None;
                for s in steps {
                    match s {
                        Step::CustomerWrites(c) => {
                            let case = &mut cases[c];
                            case.open = true;
                            let owner = case.assignee.map(|t| owners[t]);
                            let reroute = match on_customer_message(owner, behaviour) {
                                OnCustomerMessage::Keep => false,
                                OnCustomerMessage::Pool(_) => {
                                    case.assignee = None;
                                    false
                                }
                                OnCustomerMessage::Reroute(_) => true,
                            };
                            if reroute {
                                let eligible = |id: TeammateId| {
                                    let o = owners[ids.iter().position(|i| *i == id).unwrap()];
                                    o.active && o.assignable && !o.away
                                };
                                let picked = pick(&rules, None, last, eligible);
                                if picked.is_some() {
                                    last = picked;
                                }
                                case.assignee = picked.map(|p| ids.iter().position(|i| *i == p).unwrap());
                            }
                            if let (Some(t), false) = (case.assignee, behaviour == AwayBehaviour::Keep) {
                                prop_assert!(!owners[t].away, "the customer wrote to an away owner's case and it stayed");
                            }
                        }
                        Step::Remove(t) => {
                            owners[t].active = false;
                            for case in cases.iter_mut().filter(|c| c.open && c.assignee == Some(t)) {
                                case.assignee = None;
                            }
                        }
                        Step::MakeViewer(t) => {
                            if !cases.iter().any(|c| c.open && c.assignee == Some(t)) {
                                owners[t].assignable = false;
                            }
                        }
                        Step::SetAway(t, away) => owners[t].away = away,
                        Step::Assign(c, t) => {
                            if owners[t].active && owners[t].assignable {
                                cases[c].assignee = Some(t);
                            }
                        }
                        Step::Close(c) => {
                            cases[c].open = false;
                        }
                    }
                    for case in cases.iter().filter(|c| c.open) {
                        if let Some(t) = case.assignee {
                            prop_assert!(owners[t].active, "an open case with a removed owner");
                            prop_assert!(owners[t].assignable, "an open case with a viewer");
                        }
                    }
                }
            }
        }
    }
}
