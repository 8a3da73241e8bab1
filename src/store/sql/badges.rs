//! The unread badges: what each teammate still has to look at.

use super::*;

/// `id, id, …` as bound parameters, for an `IN (…)` list.
pub(super) fn push_ids(q: &mut QueryBuilder<'_, Db>, ids: &[Uuid]) {
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
}

impl SqlStore {
    pub(super) async fn badge(&self, workspace_id: Uuid, teammate_id: Uuid) -> Result<Badge> {
        Ok(self
            .badges(workspace_id, &[teammate_id])
            .await?
            .remove(&teammate_id)
            .unwrap_or_default())
    }

    pub(super) async fn badges(
        &self,
        workspace_id: Uuid,
        teammates: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, Badge>> {
        // One statement per chunk, so each teammate's counts come from one snapshot: a
        // badge computed from several statements mixes moments and can show counts that
        // were never true (negative ones too) while writers commit in between.
        // unassigned(t) = open unassigned cases with a customer message, minus those t has
        // read to the end; mine(t) = t's open cases with an unread customer message.
        let mut out: std::collections::HashMap<Uuid, Badge> =
            teammates.iter().map(|t| (*t, Badge::default())).collect();
        for chunk in teammates.chunks(500) {
            let mut q = QueryBuilder::<Db>::new(
                "WITH un AS (SELECT COUNT(*) AS n FROM cases WHERE workspace_id = ",
            );
            q.push_bind(workspace_id);
            q.push(format!(
                " AND assignee_id IS NULL AND status IN {OPEN_SQL} AND inbound_count > 0), \
                 mine AS (SELECT c.assignee_id AS id, COUNT(*) AS n FROM cases c \
                 LEFT JOIN reads r ON r.case_id = c.id AND r.teammate_id = c.assignee_id \
                 WHERE c.workspace_id = "
            ));
            q.push_bind(workspace_id);
            q.push(format!(
                " AND c.status IN {OPEN_SQL} AND c.inbound_count > COALESCE(r.seen_inbound, 0) \
                 AND c.assignee_id IN ("
            ));
            push_ids(&mut q, chunk);
            q.push(
                ") GROUP BY c.assignee_id), \
                 seen AS (SELECT r.teammate_id AS id, COUNT(*) AS n FROM reads r \
                 JOIN cases c ON c.id = r.case_id WHERE c.workspace_id = ",
            );
            q.push_bind(workspace_id);
            q.push(format!(
                " AND c.assignee_id IS NULL AND c.status IN {OPEN_SQL} AND c.inbound_count > 0 \
                 AND r.seen_inbound >= c.inbound_count AND r.teammate_id IN ("
            ));
            push_ids(&mut q, chunk);
            q.push(
                ") GROUP BY r.teammate_id) \
                 SELECT t.id, COALESCE(mine.n, 0) AS mine, \
                 CASE WHEN t.notify_unassigned THEN un.n - COALESCE(seen.n, 0) ELSE 0 END \
                 AS unassigned \
                 FROM teammates t CROSS JOIN un LEFT JOIN mine ON mine.id = t.id LEFT \
                 JOIN seen ON seen.id = t.id \
                 WHERE t.workspace_id = ",
            );
            q.push_bind(workspace_id);
            q.push(" AND t.id IN (");
            push_ids(&mut q, chunk);
            q.push(")");
            for row in q.build().fetch_all(&self.read).await? {
                out.insert(
                    row.try_get("id")?,
                    Badge {
                        mine: row.try_get("mine")?,
                        unassigned: row.try_get("unassigned")?,
                    },
                );
            }
        }
        Ok(out)
    }
}
