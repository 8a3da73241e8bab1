//! Sign-in tokens (sessions and API tokens, stored as hashes only) and invites.

use super::*;

impl SqlStore {
    pub(super) async fn create_token(
        &self,
        teammate_id: TeammateId,
        token_hash: &str,
        kind: TokenKind,
        expires_at: Option<DateTime<Utc>>,
        client: &ClientInfo,
    ) -> Result<Uuid> {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO tokens (token_hash, teammate_id, kind, created_at, expires_at, id, ip, \
             user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(token_hash)
        .bind(teammate_id)
        .bind(kind.as_str())
        .bind(now_ms())
        .bind(expires_at.map(ms))
        .bind(id)
        .bind(client.ip.as_deref())
        .bind(client.user_agent.as_deref())
        .execute(&self.write)
        .await?;
        Ok(id)
    }

    pub(super) async fn token_teammate(&self, token_hash: &str) -> Result<Option<TokenOwner>> {
        let row = sqlx::query(
            "SELECT t.id, t.workspace_id, t.name, t.email, t.role, t.away, t.removed_at, \
             t.created_at, t.away_from, t.away_until, t.max_open, \
             k.id AS token_id, k.kind AS token_kind, k.expires_at, k.last_used_at, \
             (w.require_totp AND NOT EXISTS (SELECT 1 FROM totp z WHERE z.teammate_id = t.id \
             AND z.confirmed_at IS NOT NULL)) AS totp_pending \
             FROM tokens k JOIN teammates t ON t.id = k.teammate_id \
             JOIN workspaces w ON w.id = t.workspace_id \
             WHERE k.token_hash = $1 AND t.removed_at IS NULL AND (k.expires_at IS NULL \
             OR k.expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            Ok(TokenOwner {
                teammate: teammate_from_row(&r)?,
                id: r.try_get("token_id")?,
                kind: parse_token_kind(&r.try_get::<String, _>("token_kind")?)?,
                expires_at: r.try_get::<Option<i64>, _>("expires_at")?.map(from_ms),
                last_used_at: opt_ms(r.try_get("last_used_at")?),
                totp_pending: r.try_get("totp_pending")?,
            })
        })
        .transpose()
    }

    pub(super) async fn delete_token(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub(super) async fn create_invite(&self, i: NewInvite) -> Result<()> {
        sqlx::query(
            "INSERT INTO invites (token_hash, workspace_id, email, name, role, invited_by, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&i.token_hash)
        .bind(i.workspace_id)
        .bind(&i.email)
        .bind(&i.name)
        .bind(i.role.as_str())
        .bind(i.invited_by)
        .bind(now_ms())
        .bind(ms(i.expires_at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub(super) async fn pending_invite(&self, token_hash: &str) -> Result<Option<PendingInvite>> {
        let row = sqlx::query(
            "SELECT i.workspace_id, w.name AS workspace_name, i.email, i.name, i.role, \
             i.expires_at FROM invites i JOIN workspaces w ON w.id = i.workspace_id \
             WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PendingInvite {
            workspace_id: row.try_get("workspace_id")?,
            workspace_name: row.try_get("workspace_name")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            role: parse_role(&row.try_get::<String, _>("role")?)?,
            expires_at: from_ms(row.try_get("expires_at")?),
        }))
    }

    pub(super) async fn accept_invite(
        &self,
        token_hash: &str,
        password_hash: Option<&str>,
    ) -> Result<Committed<(Workspace, Teammate)>> {
        let mut tx = self.begin().await?;
        let now = now_ms();
        let invite = sqlx::query(
            "SELECT workspace_id, email, name, role FROM invites WHERE token_hash = $1 \
             AND accepted_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let workspace_id: WorkspaceId = invite.try_get("workspace_id")?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let role = parse_role(&invite.try_get::<String, _>("role")?)?;
        let email: String = invite.try_get("email")?;
        let name: String = invite.try_get("name")?;
        let teammate = Self::insert_teammate(
            &mut tx,
            workspace_id,
            &name,
            &email,
            password_hash,
            role,
            now,
        )
        .await?;
        let claimed = sqlx::query(
            "UPDATE invites SET accepted_at = $2 WHERE token_hash = $1 AND accepted_at IS NULL",
        )
        .bind(token_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Err(StoreError::NotFound);
        }
        let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1")
            .bind(workspace_id)
            .fetch_one(&mut *tx)
            .await?;
        let workspace = workspace_from_row(&row)?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        log.push(EventKind::TeammateChanged {
            teammate_id: teammate.id,
            change: TeammateChange::Joined,
            actor_id: None,
        });
        Self::commit(tx, log, (workspace, teammate)).await
    }
}
