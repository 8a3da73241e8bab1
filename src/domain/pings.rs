//! Who gets pinged (badge, push, email) for a case event. The notification worker and the
//! badge code call this and nothing else decides.
//!
//! - An assigned case pings its assignee only; after a reassign the previous assignee stops and
//!   the new one starts at once (the caller passes the assignee as of the event).
//! - An unassigned case pings the teammates who opted in to "unassigned inquiries".
//! - A note pings the teammates it mentions.
//! - Never the actor of the event.

use crate::domain::ids::TeammateId;

/// A teammate who could be pinged, with what the rules need to know about them.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub id: TeammateId,
    /// Still in the workspace (removed teammates are never pinged).
    pub active: bool,
    /// Opted in to pings for unassigned cases.
    pub wants_unassigned: bool,
}

/// What happened, as far as pinging is concerned.
#[derive(Debug, Clone, Copy)]
pub enum Happening<'a> {
    /// A customer wrote (new case, new message on a case, or reopen).
    Inbound,
    /// A case was handed to someone: they learn it is theirs now.
    Assigned,
    /// A follow-up fell due.
    FollowUpDue,
    /// An internal note mentioned these teammates.
    Mentioned(&'a [TeammateId]),
}

pub fn recipients(
    happening: Happening<'_>,
    assignee: Option<TeammateId>,
    actor: Option<TeammateId>,
    team: &[Candidate],
) -> Vec<TeammateId> {
    let active = |id: TeammateId| team.iter().any(|c| c.id == id && c.active);
    let mut out: Vec<TeammateId> = match happening {
        Happening::Mentioned(ids) => ids.iter().copied().filter(|id| active(*id)).collect(),
        Happening::Assigned => assignee.filter(|id| active(*id)).into_iter().collect(),
        Happening::Inbound | Happening::FollowUpDue => match assignee {
            Some(a) => Some(a).filter(|id| active(*id)).into_iter().collect(),
            None => team
                .iter()
                .filter(|c| c.active && c.wants_unassigned)
                .map(|c| c.id)
                .collect(),
        },
    };
    out.retain(|id| Some(*id) != actor);
    out.sort();
    out.dedup();
    out
}

/// Whose unread badge can change when a case with these assignees (before and after) changes:
/// both assignees, and when either side is "unassigned", everyone who watches unassigned cases.
pub fn badge_audience(
    before: Option<TeammateId>,
    after: Option<TeammateId>,
    team: &[Candidate],
) -> Vec<TeammateId> {
    let mut out: Vec<TeammateId> = before.into_iter().chain(after).collect();
    if before.is_none() || after.is_none() {
        out.extend(
            team.iter()
                .filter(|c| c.active && c.wants_unassigned)
                .map(|c| c.id),
        );
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team() -> (Vec<Candidate>, [TeammateId; 4]) {
        let ids = [
            TeammateId::new(),
            TeammateId::new(),
            TeammateId::new(),
            TeammateId::new(),
        ];
        let [owner, agent, other, gone] = ids;
        let team = vec![
            Candidate {
                id: owner,
                active: true,
                wants_unassigned: true,
            },
            Candidate {
                id: agent,
                active: true,
                wants_unassigned: false,
            },
            Candidate {
                id: other,
                active: true,
                wants_unassigned: false,
            },
            Candidate {
                id: gone,
                active: false,
                wants_unassigned: true,
            },
        ];
        (team, ids)
    }

    #[test]
    fn assigned_case_pings_the_assignee_only() {
        let (team, [_owner, agent, _, _]) = team();
        assert_eq!(
            recipients(Happening::Inbound, Some(agent), None, &team),
            vec![agent]
        );
    }

    #[test]
    fn reassign_moves_the_pings_at_once() {
        let (team, [_, agent, other, _]) = team();
        // Once the case belongs to `other`, the next message pings `other`, not `agent`.
        let after = recipients(Happening::Inbound, Some(other), None, &team);
        assert_eq!(after, vec![other]);
        assert!(!after.contains(&agent));
    }

    #[test]
    fn unassigned_case_pings_those_who_opted_in_and_still_belong() {
        let (team, [owner, _, _, gone]) = team();
        let got = recipients(Happening::Inbound, None, None, &team);
        assert_eq!(got, vec![owner]);
        assert!(!got.contains(&gone));
    }

    #[test]
    fn never_the_actor() {
        let (team, [owner, agent, other, _]) = team();
        assert!(recipients(Happening::Assigned, Some(agent), Some(agent), &team).is_empty());
        assert_eq!(
            recipients(Happening::Assigned, Some(agent), Some(owner), &team),
            vec![agent]
        );
        assert_eq!(
            recipients(
                Happening::Mentioned(&[agent, other]),
                None,
                Some(agent),
                &team
            ),
            vec![other]
        );
    }

    #[test]
    fn mentions_ping_the_mentioned_even_on_someone_elses_case() {
        let (team, [owner, agent, other, gone]) = team();
        assert_eq!(
            recipients(
                Happening::Mentioned(&[other, gone]),
                Some(agent),
                Some(owner),
                &team
            ),
            vec![other]
        );
    }

    #[test]
    fn removed_assignee_gets_nothing() {
        let (team, [_, _, _, gone]) = team();
        assert!(recipients(Happening::Inbound, Some(gone), None, &team).is_empty());
    }

    #[test]
    fn badge_audience_covers_both_sides_and_unassigned_watchers() {
        let (team, [owner, agent, other, _]) = team();
        assert_eq!(badge_audience(Some(agent), Some(other), &team), {
            let mut v = vec![agent, other];
            v.sort();
            v
        });
        let mut expect = vec![agent, owner];
        expect.sort();
        assert_eq!(badge_audience(None, Some(agent), &team), expect);
    }
}
