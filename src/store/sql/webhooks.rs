//! Outgoing webhooks: endpoints, their cursor in the event log and lease, and the delivery log.

use super::*;

fn webhook_from_row(r: &DbRow) -> Result<crate::store::Webhook> {
    let failing: Option<i64> = r.try_get("failing_since")?;
    Ok(crate::store::Webhook {
        id: r.try_get("id")?,
        url: r.try_get("url")?,
        events: serde_json::from_str(&r.try_get::<String, _>("events")?)?,
        active: r.try_get::<i64, _>("active")? != 0,
        next_retry_at: failing
            .map(|_| r.try_get::<i64, _>("next_at"))
            .transpose()?
            .map(from_ms),
        created_at: from_ms(r.try_get("created_at")?),
    })
}

fn delivery_from_row(r: &DbRow) -> Result<crate::store::WebhookDelivery> {
    Ok(crate::store::WebhookDelivery {
        id: r.try_get("id")?,
        seq: r.try_get("seq")?,
        kind: r.try_get("kind")?,
        state: webhook_delivery_state(r)?,
        attempts: r.try_get("attempts")?,
        status_code: r.try_get("status_code")?,
        response_ms: r.try_get("response_ms")?,
        error: r.try_get("error")?,
        created_at: from_ms(r.try_get("created_at")?),
        delivered_at: r.try_get::<Option<i64>, _>("delivered_at")?.map(from_ms),
    })
}

fn webhook_delivery_state(r: &DbRow) -> Result<WebhookDeliveryState> {
    let s: String = r.try_get("state")?;
    WebhookDeliveryState::parse(&s).ok_or_else(|| {
        StoreError::Internal(anyhow::anyhow!(
            "unknown webhook delivery state {s:?} in the database"
        ))
    })
}

const WEBHOOK_COLUMNS: &str = "id, url, events, active, next_at, failing_since, created_at";

impl SqlStore {
    pub(super) async fn create_webhook(
        &self,
        workspace_id: WorkspaceId,
        url: &str,
        events: &[String],
        secret: &str,
    ) -> Result<crate::store::Webhook> {
        let id = WebhookId::new();
        let now = now_ms();
        // An endpoint follows what happens from now on.
        let cursor: i64 = sqlx::query_scalar("SELECT last_seq FROM workspaces WHERE id = $1")
            .bind(workspace_id)
            .fetch_one(&self.write)
            .await?;
        sqlx::query(
            "INSERT INTO webhooks (id, workspace_id, url, events, secret, active, \
             cursor, next_at, created_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $7)",
        )
        .bind(id)
        .bind(workspace_id)
        .bind(url)
        .bind(serde_json::to_string(events)?)
        .bind(secret)
        .bind(cursor)
        .bind(now)
        .execute(&self.write)
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&self.write)
        .await?;
        webhook_from_row(&row)
    }

    pub(super) async fn webhooks(
        &self,
        workspace_id: WorkspaceId,
    ) -> Result<Vec<crate::store::Webhook>> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE \
             workspace_id = $1 ORDER BY created_at, id"
        ))
        .bind(workspace_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    pub(super) async fn delete_webhook(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookId,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let found: Option<WebhookId> =
            sqlx::query_scalar("SELECT id FROM webhooks WHERE id = $1 AND workspace_id = $2")
                .bind(id)
                .bind(workspace_id)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn webhook_deliveries(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookId,
        limit: i64,
    ) -> Result<Vec<crate::store::WebhookDelivery>> {
        let found: Option<WebhookId> =
            sqlx::query_scalar("SELECT id FROM webhooks WHERE id = $1 AND workspace_id = $2")
                .bind(id)
                .bind(workspace_id)
                .fetch_optional(&self.read)
                .await?;
        if found.is_none() {
            return Err(StoreError::NotFound);
        }
        let rows = sqlx::query(
            "SELECT id, seq, kind, state, attempts, status_code, response_ms, \
             error, created_at, delivered_at FROM webhook_deliveries WHERE \
             webhook_id = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    pub(super) async fn resend_webhook_delivery(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookId,
        delivery_id: Uuid,
    ) -> Result<crate::store::WebhookDelivery> {
        let mut tx = self.begin().await?;
        let active: Option<i64> =
            sqlx::query_scalar("SELECT active FROM webhooks WHERE id = $1 AND workspace_id = $2")
                .bind(id)
                .bind(workspace_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(active) = active else {
            return Err(StoreError::NotFound);
        };
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'resend' WHERE id = $1 AND \
             webhook_id = $2 AND state = 'delivered'",
        )
        .bind(delivery_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT id, seq, kind, state, attempts, status_code, response_ms, \
             error, created_at, delivered_at FROM webhook_deliveries WHERE id \
             = $1 AND webhook_id = $2",
        )
        .bind(delivery_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        // A pending delivery of a switched-off endpoint is sent again by switching it on:
        // it resumes from that delivery.
        if done.rows_affected() == 0
            && webhook_delivery_state(&row)? == WebhookDeliveryState::Pending
            && active != 0
        {
            return Err(StoreError::invalid(
                Input::ResentDelivery,
                Refusal::DeliveryRetrying,
            ));
        }
        // Re-activating a switched-off endpoint is what "send again" asks for too.
        sqlx::query("UPDATE webhooks SET active = 1, next_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        delivery_from_row(&row)
    }

    pub(super) async fn claim_webhooks(
        &self,
        now: DateTime<Utc>,
        lease: std::time::Duration,
    ) -> Result<Vec<crate::store::WebhookTarget>> {
        let now = ms(now);
        let until = now + lease.as_millis() as i64;
        // The lease condition is in the UPDATE's own WHERE, so two instances never hold
        // one endpoint (Postgres re-checks it on the locked row).
        let rows = sqlx::query(
            "UPDATE webhooks SET locked_until = $2 WHERE active = 1 AND next_at <= $1 AND \
             (locked_until IS NULL OR locked_until < $1) \
             RETURNING id, workspace_id, url, events, secret, cursor, failing_since",
        )
        .bind(now)
        .bind(until)
        .fetch_all(&self.write)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::store::WebhookTarget {
                    id: r.try_get("id")?,
                    workspace_id: r.try_get("workspace_id")?,
                    url: r.try_get("url")?,
                    events: serde_json::from_str(&r.try_get::<String, _>("events")?)?,
                    secret: r.try_get("secret")?,
                    cursor: r.try_get("cursor")?,
                    failing_since: r.try_get::<Option<i64>, _>("failing_since")?.map(from_ms),
                })
            })
            .collect()
    }

    pub(super) async fn webhook_resends(&self, id: WebhookId) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT seq, kind FROM \
             webhook_deliveries WHERE \
             webhook_id = $1 AND state \
             = 'resend' ORDER BY seq \
             LIMIT 20",
        )
        .bind(id)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("kind")?)))
            .collect()
    }

    pub(super) async fn record_webhook_attempt(
        &self,
        id: WebhookId,
        a: &crate::store::Attempt,
        advance: bool,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let now = now_ms();
        let state = if a.ok {
            WebhookDeliveryState::Delivered
        } else {
            WebhookDeliveryState::Pending
        };
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, seq, kind, state, attempts, \
             status_code, response_ms, error, created_at, delivered_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10) \
             ON CONFLICT (webhook_id, seq) DO UPDATE SET state = excluded.state, attempts = \
             webhook_deliveries.attempts + 1, \
             status_code = excluded.status_code, response_ms = excluded.response_ms, error = \
             excluded.error, \
             delivered_at = COALESCE(excluded.delivered_at, webhook_deliveries.delivered_at)",
        )
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(a.seq)
        .bind(&a.kind)
        .bind(state.as_str())
        .bind(a.status_code)
        .bind(a.response_ms)
        .bind(&a.error)
        .bind(now)
        .bind(a.ok.then_some(now))
        .execute(&mut *tx)
        .await?;
        if advance {
            sqlx::query(
                "UPDATE webhooks SET \
                 cursor = $2, \
                 failing_since = NULL \
                 WHERE id = $1 AND cursor \
                 < $2",
            )
            .bind(id)
            .bind(a.seq)
            .execute(&mut *tx)
            .await?;
        } else if a.ok {
            sqlx::query("UPDATE webhooks SET failing_since = NULL WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn switch_off_webhook(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookId,
        cursor: i64,
        failing_since: DateTime<Utc>,
    ) -> Result<Committed<()>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let row = sqlx::query(
            "UPDATE webhooks SET cursor = CASE WHEN cursor < $3 THEN $3 ELSE cursor END, \
             failing_since = $4, active = 0, locked_until = NULL \
             WHERE id = $1 AND workspace_id = $2 AND active = 1 RETURNING url",
        )
        .bind(id)
        .bind(workspace_id)
        .bind(cursor)
        .bind(ms(failing_since))
        .fetch_optional(&mut *tx)
        .await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        if let Some(row) = row {
            log.push(EventKind::WebhookSwitchedOff {
                webhook_id: id,
                url: row.try_get("url")?,
                failing_since,
            });
        }
        Self::commit(tx, log, ()).await
    }

    pub(super) async fn release_webhook(
        &self,
        id: WebhookId,
        cursor: i64,
        next_at: DateTime<Utc>,
        failing_since: Option<DateTime<Utc>>,
        active: bool,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE webhooks SET cursor = CASE WHEN cursor < $2 THEN $2 ELSE cursor END, \
             next_at = $3, failing_since = $4, active = $5, locked_until = NULL WHERE id \
             = $1",
        )
        .bind(id)
        .bind(cursor)
        .bind(ms(next_at))
        .bind(failing_since.map(ms))
        .bind(if active { 1i64 } else { 0i64 })
        .execute(&self.write)
        .await?;
        Ok(())
    }
}
