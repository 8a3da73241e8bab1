//! `@mentions` in internal notes. A mention is `@` followed by a handle: a teammate's email
//! local part (`@dana.k`), their name without spaces (`@DanaKim`) or their first name (`@dana`)
//! when no other teammate shares it. Matching is case-insensitive.

use crate::domain::ids::TeammateId;

pub struct Mentionable<'a> {
    pub id: TeammateId,
    pub name: &'a str,
    pub email: &'a str,
}

pub fn find(body: &str, team: &[Mentionable<'_>]) -> Vec<TeammateId> {
    let handles = body.split('@').skip(1).filter_map(|rest| {
        let handle: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
            .collect();
        let handle = handle.trim_end_matches(['.', '-', '_']).to_lowercase();
        (!handle.is_empty()).then_some(handle)
    });
    let first = |name: &str| name.split_whitespace().next().unwrap_or("").to_lowercase();
    let mut out = Vec::new();
    for handle in handles {
        let exact = team.iter().find(|t| {
            t.email
                .split('@')
                .next()
                .is_some_and(|local| local.eq_ignore_ascii_case(&handle))
                || t.name.split_whitespace().collect::<String>().to_lowercase() == handle
        });
        let by_first = || {
            let mut same = team.iter().filter(|t| first(t.name) == handle);
            match (same.next(), same.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        };
        if let Some(t) = exact.or_else(by_first) {
            if !out.contains(&t.id) {
                out.push(t.id);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mentions_by_handle_full_name_or_unique_first_name() {
        let ids: Vec<TeammateId> = (0..3).map(|_| TeammateId::new()).collect();
        let team = [
            Mentionable {
                id: ids[0],
                name: "Dana Kim",
                email: "dana.k@example.com",
            },
            Mentionable {
                id: ids[1],
                name: "Sam Ortiz",
                email: "sam@example.com",
            },
            Mentionable {
                id: ids[2],
                name: "Sam Lee",
                email: "slee@example.com",
            },
        ];
        assert_eq!(find("ping @dana.k, thanks", &team), vec![ids[0]]);
        assert_eq!(find("@Dana please look", &team), vec![ids[0]]);
        assert_eq!(find("@SamLee and @samortiz.", &team), vec![ids[2], ids[1]]);
        // Two Sams: a bare first name is ambiguous and mentions nobody.
        assert_eq!(
            find("@sam?", &team),
            vec![ids[1]],
            "sam@ is Sam Ortiz's handle"
        );
        assert!(find("mail me at x@y.z", &team).is_empty());
        assert_eq!(find("@dana @dana.k", &team), vec![ids[0]]);
    }
}
