//! Auto-assign: which teammate a newly created case goes to. Rules fire once, when an inbound
//! message creates a case, never on reopen (the caller decides when to ask).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

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
    pub pool: Vec<Uuid>,
    /// By category: category → teammate.
    #[serde(default)]
    pub categories: BTreeMap<String, Uuid>,
    /// By category: who gets a case whose category has no rule (none: it stays unassigned).
    #[serde(default)]
    pub fallback: Option<Uuid>,
}

/// Picks the assignee for a new case.
///
/// `eligible` says whether a teammate can take new work now (active, assignable role, not away);
/// `last` is the pool member round-robin picked last, shared by every instance through the
/// database, so the rotation advances exactly once per case cluster-wide.
pub fn pick(
    rules: &Rules,
    category: Option<&str>,
    last: Option<Uuid>,
    eligible: impl Fn(Uuid) -> bool,
) -> Option<Uuid> {
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

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|_| Uuid::now_v7()).collect()
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
            pick(&rules, None, Some(Uuid::now_v7()), |_| true),
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
}
