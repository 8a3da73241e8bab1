//! Single sign-on: each workspace's identity provider, the email domains that lead to it, and
//! the sign-ins under way.

use super::*;

impl SqlStore {
    pub(super) async fn sso_config(&self, workspace_id: WorkspaceId) -> Result<Option<SsoConfig>> {
        let row = sqlx::query("SELECT * FROM sso_configs WHERE workspace_id = $1")
            .bind(workspace_id)
            .fetch_optional(&self.read)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let domains: Vec<String> = sqlx::query_scalar(
            "SELECT domain FROM sso_domains WHERE workspace_id = $1 ORDER BY domain",
        )
        .bind(workspace_id)
        .fetch_all(&self.read)
        .await?;
        Ok(Some(SsoConfig {
            workspace_id,
            issuer: row.try_get("issuer")?,
            client_id: row.try_get("client_id")?,
            client_secret: row.try_get("client_secret")?,
            domains,
            join_role: row
                .try_get::<Option<String>, _>("join_role")?
                .map(|r| parse_role(&r))
                .transpose()?,
            sso_only: row.try_get("sso_only")?,
            enabled: row.try_get("enabled")?,
            updated_at: from_ms(row.try_get("updated_at")?),
        }))
    }

    pub(super) async fn sso_config_for_domain(&self, domain: &str) -> Result<Option<SsoConfig>> {
        let workspace: Option<WorkspaceId> =
            sqlx::query_scalar("SELECT workspace_id FROM sso_domains WHERE domain = $1")
                .bind(domain)
                .fetch_optional(&self.read)
                .await?;
        match workspace {
            Some(id) => self.sso_config(id).await,
            None => Ok(None),
        }
    }

    pub(super) async fn put_sso_config(&self, config: &SsoConfig) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO sso_configs (workspace_id, issuer, client_id, client_secret, join_role, \
             sso_only, enabled, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (workspace_id) DO UPDATE SET \
             issuer = excluded.issuer, \
             client_id = excluded.client_id, client_secret = excluded.client_secret, join_role = \
             excluded.join_role, \
             sso_only = excluded.sso_only, enabled = excluded.enabled, updated_at = \
             excluded.updated_at",
        )
        .bind(config.workspace_id)
        .bind(&config.issuer)
        .bind(&config.client_id)
        .bind(&config.client_secret)
        .bind(config.join_role.map(|r| r.as_str()))
        .bind(config.sso_only)
        .bind(config.enabled)
        .bind(ms(config.updated_at))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sso_domains WHERE workspace_id = $1")
            .bind(config.workspace_id)
            .execute(&mut *tx)
            .await?;
        for domain in &config.domains {
            let inserted =
                sqlx::query("INSERT INTO sso_domains (domain, workspace_id) VALUES ($1, $2)")
                    .bind(domain)
                    .bind(config.workspace_id)
                    .execute(&mut *tx)
                    .await;
            match inserted {
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Conflict(Conflict::SsoDomain))
                }
                other => other?,
            };
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn delete_sso_config(&self, workspace_id: WorkspaceId) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM sso_domains WHERE workspace_id = $1")
            .bind(workspace_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sso_logins WHERE workspace_id = $1")
            .bind(workspace_id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM sso_configs WHERE workspace_id = $1")
            .bind(workspace_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn create_sso_login(
        &self,
        state_hash: &str,
        login: &SsoLogin,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let now = now_ms();
        // Sign-ins nobody came back from are forgotten as new ones start.
        sqlx::query("DELETE FROM sso_logins WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.write)
            .await?;
        sqlx::query(
            "INSERT INTO sso_logins (state_hash, workspace_id, nonce, pkce_verifier, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(state_hash)
        .bind(login.workspace_id)
        .bind(&login.nonce)
        .bind(&login.pkce_verifier)
        .bind(now)
        .bind(ms(expires_at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub(super) async fn take_sso_login(&self, state_hash: &str) -> Result<Option<SsoLogin>> {
        // One statement: of two callbacks with the same `state`, only one gets the row.
        let row = sqlx::query(
            "DELETE FROM sso_logins WHERE state_hash = $1 RETURNING \
             workspace_id, nonce, pkce_verifier, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.write)
        .await?;
        let Some(row) = row else { return Ok(None) };
        if row.try_get::<i64, _>("expires_at")? <= now_ms() {
            return Ok(None);
        }
        Ok(Some(SsoLogin {
            workspace_id: row.try_get("workspace_id")?,
            nonce: row.try_get("nonce")?,
            pkce_verifier: row.try_get("pkce_verifier")?,
        }))
    }

    pub(super) async fn teammate_by_email(&self, email: &str) -> Result<Option<Teammate>> {
        let sql = format!(
            "SELECT {TEAMMATE_COLUMNS} FROM teammates WHERE email = $1 AND removed_at IS NULL"
        );
        let row = sqlx::query(&sql)
            .bind(email)
            .fetch_optional(&self.write)
            .await?;
        row.map(|r| teammate_from_row(&r)).transpose()
    }

    pub(super) async fn was_removed(&self, workspace_id: WorkspaceId, email: &str) -> Result<bool> {
        let removed: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM teammates WHERE workspace_id = $1 AND email = $2 AND removed_at \
             IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM teammates a WHERE a.workspace_id = $1 AND a.email = \
             $2 AND a.removed_at IS NULL)",
        )
        .bind(workspace_id)
        .bind(email)
        .fetch_one(&self.read)
        .await?;
        Ok(removed > 0)
    }

    pub(super) async fn join_by_sso(
        &self,
        workspace_id: WorkspaceId,
        name: &str,
        email: &str,
        role: Role,
    ) -> Result<Committed<Teammate>> {
        let mut tx = self.begin().await?;
        let now = now_ms();
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let teammate =
            Self::insert_teammate(&mut tx, workspace_id, name, email, None, role, now).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        log.push(EventKind::TeammateChanged {
            teammate_id: teammate.id,
            change: TeammateChange::Joined,
            actor_id: None,
        });
        Self::commit(tx, log, teammate).await
    }
}
