//! The unread badges: what each teammate still has to look at.

use super::*;

/// `id, id, …` as bound parameters, for an `IN (…)` list.
pub(super) fn push_ids(q: &mut QueryBuilder<'_, Db>, ids: &[impl Into<Uuid> + Copy]) {
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind((*id).into());
    }
}

impl SqlStore {
    pub(super) async fn badge(
        &self,
        workspace_id: WorkspaceId,
        teammate_id: TeammateId,
    ) -> Result<Badge> {
        Ok(self
            .badges(workspace_id, &[teammate_id])
            .await?
            .remove(&teammate_id)
            .unwrap_or_default())
    }

    /// Every asked teammate's badge, from one statement, so each count comes from one
    /// snapshot: a badge computed from several statements mixes moments and can show counts
    /// that were never true (negative ones too) while writers commit in between.
    /// unassigned(t) = open unassigned cases with a customer message, minus those t has read
    /// to the end (0 for teammates who do not watch unassigned cases); mine(t) = t's open cases
    /// with an unread customer message.
    ///
    /// The statement answers with the parts, not with a row per teammate: the unassigned count
    /// once, then only the teammates with something of their own to count. A refresh for a
    /// whole room of a thousand teammates costs what one for ten does.
    pub(super) async fn badges(
        &self,
        workspace_id: WorkspaceId,
        teammates: &[TeammateId],
    ) -> Result<std::collections::HashMap<TeammateId, Badge>> {
        let parts = if teammates.len() <= FEW {
            self.badge_parts(workspace_id, Some(teammates)).await?
        } else {
            self.badge_parts(workspace_id, None).await?
        };
        Ok(teammates.iter().map(|t| (*t, parts.badge(*t))).collect())
    }

    /// The parts of the badges, for these teammates or (`None`) for the whole workspace.
    async fn badge_parts(
        &self,
        workspace_id: WorkspaceId,
        only: Option<&[TeammateId]>,
    ) -> Result<BadgeParts> {
        let only = |q: &mut QueryBuilder<'_, Db>, column: &str| {
            if let Some(ids) = only {
                q.push(format!(" AND {column} IN ("));
                push_ids(q, ids);
                q.push(")");
            }
        };
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT 'u' AS part, w.id AS id, (SELECT COUNT(*) FROM cases \
             WHERE workspace_id = w.id AND assignee_id IS NULL AND status IN {OPEN_SQL} \
             AND inbound_count > 0) AS n FROM workspaces w WHERE w.id = "
        ));
        q.push_bind(workspace_id);
        q.push(
            " UNION ALL SELECT 'm', c.assignee_id, COUNT(*) FROM cases c \
             LEFT JOIN reads r ON r.case_id = c.id AND r.teammate_id = c.assignee_id \
             WHERE c.workspace_id = ",
        );
        q.push_bind(workspace_id);
        q.push(format!(
            " AND c.assignee_id IS NOT NULL AND c.status IN {OPEN_SQL} \
             AND c.inbound_count > COALESCE(r.seen_inbound, 0)"
        ));
        only(&mut q, "c.assignee_id");
        q.push(
            " GROUP BY c.assignee_id \
             UNION ALL SELECT 's', r.teammate_id, COUNT(*) FROM reads r \
             JOIN cases c ON c.id = r.case_id WHERE c.workspace_id = ",
        );
        q.push_bind(workspace_id);
        q.push(format!(
            " AND c.assignee_id IS NULL AND c.status IN {OPEN_SQL} AND c.inbound_count > 0 \
             AND r.seen_inbound >= c.inbound_count"
        ));
        only(&mut q, "r.teammate_id");
        q.push(
            " GROUP BY r.teammate_id \
             UNION ALL SELECT 'q', t.id, 0 FROM teammates t WHERE t.workspace_id = ",
        );
        q.push_bind(workspace_id);
        q.push(" AND NOT t.notify_unassigned");
        only(&mut q, "t.id");
        let mut parts = BadgeParts::default();
        for row in q.build().fetch_all(&self.read).await? {
            let part: String = row.try_get("part")?;
            let id: TeammateId = row.try_get("id")?;
            let n: i64 = row.try_get("n")?;
            match part.as_str() {
                "u" => parts.unassigned = n,
                "m" => {
                    parts.mine.insert(id, n);
                }
                "s" => {
                    parts.seen.insert(id, n);
                }
                _ => {
                    parts.quiet.insert(id);
                }
            }
        }
        Ok(parts)
    }
}

/// Up to this many teammates, the badge statement counts only theirs.
const FEW: usize = 16;

/// What the badges of a workspace are made of, read in one statement.
#[derive(Debug, Default)]
struct BadgeParts {
    /// Open unassigned cases with a customer message.
    unassigned: i64,
    /// Per teammate: their open cases with an unread customer message.
    mine: std::collections::HashMap<TeammateId, i64>,
    /// Per teammate: the unassigned ones they have read to the end.
    seen: std::collections::HashMap<TeammateId, i64>,
    /// Teammates who do not watch unassigned cases.
    quiet: std::collections::HashSet<TeammateId>,
}

impl BadgeParts {
    fn badge(&self, teammate: TeammateId) -> Badge {
        let unassigned = if self.quiet.contains(&teammate) {
            0
        } else {
            self.unassigned - self.seen.get(&teammate).copied().unwrap_or(0)
        };
        Badge {
            mine: self.mine.get(&teammate).copied().unwrap_or(0),
            unassigned,
        }
    }
}
