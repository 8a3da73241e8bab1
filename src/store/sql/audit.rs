//! Sessions as their teammate sees them, and the audit log.

use super::*;

impl SqlStore {
    pub(super) async fn sessions(&self, teammate_id: TeammateId) -> Result<Vec<SessionInfo>> {
        let rows = sqlx::query(
            "SELECT id, kind, created_at, last_used_at, expires_at, ip, user_agent FROM tokens \
             WHERE teammate_id = $1 AND (expires_at IS NULL OR expires_at > $2) \
             ORDER BY COALESCE(last_used_at, created_at) DESC, created_at DESC",
        )
        .bind(teammate_id)
        .bind(now_ms())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SessionInfo {
                    id: r.try_get("id")?,
                    kind: parse_token_kind(&r.try_get::<String, _>("kind")?)?,
                    created_at: from_ms(r.try_get("created_at")?),
                    last_used_at: opt_ms(r.try_get("last_used_at")?),
                    expires_at: opt_ms(r.try_get("expires_at")?),
                    ip: r.try_get("ip")?,
                    user_agent: r.try_get("user_agent")?,
                    current: false,
                })
            })
            .collect()
    }

    pub(super) async fn delete_session(&self, teammate_id: TeammateId, id: Uuid) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tokens WHERE id = $1 AND teammate_id = $2")
            .bind(id)
            .bind(teammate_id)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn touch_token(
        &self,
        token_hash: &str,
        client: &ClientInfo,
        stale_before: DateTime<Utc>,
    ) -> Result<()> {
        // The condition again here: of two instances that saw it stale, one writes.
        sqlx::query(
            "UPDATE tokens SET last_used_at = $2, ip = COALESCE($3, ip), user_agent = \
             COALESCE($4, user_agent) \
             WHERE token_hash = $1 AND (last_used_at IS NULL OR last_used_at < $5)",
        )
        .bind(token_hash)
        .bind(now_ms())
        .bind(client.ip.as_deref())
        .bind(client.user_agent.as_deref())
        .bind(ms(stale_before))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub(super) async fn record_audit(&self, e: &NewAuditEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (workspace_id, at, actor_id, email, action, target_id, ip, \
             user_agent, changes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(e.workspace_id)
        .bind(ms(e.at))
        .bind(e.actor_id)
        .bind(e.email.as_deref())
        .bind(e.action)
        .bind(e.target_id.as_deref())
        .bind(e.client.ip.as_deref())
        .bind(e.client.user_agent.as_deref())
        .bind(serde_json::to_string(&e.changes)?)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub(super) async fn audit_entries(
        &self,
        workspace_id: WorkspaceId,
        q: &AuditQuery,
    ) -> Result<Vec<AuditEntry>> {
        let mut query = QueryBuilder::<Db>::new(
            "SELECT a.id, a.at, a.action, a.actor_id, t.name AS actor_name, a.email, a.target_id, \
             a.ip, a.user_agent, a.changes \
             FROM audit_log a LEFT JOIN teammates t ON t.id = a.actor_id WHERE a.workspace_id = ",
        );
        query.push_bind(workspace_id);
        if let Some(before) = q.before {
            query.push(" AND a.id < ").push_bind(before);
        }
        if let Some(actor) = q.actor_id {
            query.push(" AND a.actor_id = ").push_bind(actor);
        }
        if let Some(action) = &q.action {
            query.push(" AND a.action = ").push_bind(action.clone());
        }
        if let Some(since) = q.since {
            query.push(" AND a.at >= ").push_bind(ms(since));
        }
        if let Some(until) = q.until {
            query.push(" AND a.at < ").push_bind(ms(until));
        }
        query.push(" ORDER BY a.id DESC LIMIT ").push_bind(q.limit);
        let rows = query.build().fetch_all(&self.read).await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: from_ms(r.try_get("at")?),
                    action: r.try_get("action")?,
                    actor_id: r.try_get("actor_id")?,
                    actor_name: r.try_get("actor_name")?,
                    email: r.try_get("email")?,
                    target_id: r.try_get("target_id")?,
                    ip: r.try_get("ip")?,
                    user_agent: r.try_get("user_agent")?,
                    changes: serde_json::from_str(&r.try_get::<String, _>("changes")?)?,
                })
            })
            .collect()
    }

    pub(super) async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(ms(before))
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}
