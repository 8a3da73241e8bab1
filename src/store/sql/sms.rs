//! SMS and API channels: which way a case's replies leave, what an `sms_reply` / `api_reply` job
//! sends, the provider's id of a sent reply and its status callbacks.
//!
//! These replies are jobs of `notification_jobs` like email's (same lease, backoff, exactly
//! once); their outcome is recorded by `finish_outbound`.

use super::*;

impl SqlStore {
    /// Which way a reply on this case leaves, as (job channel, message channel): by the
    /// case's SMS or API channel when it has one and the customer can be reached there,
    /// else by email when the customer has an address, else not at all.
    pub(super) async fn reply_route(
        tx: &mut Tx,
        case_id: CaseId,
    ) -> Result<Option<(JobChannel, &'static str)>> {
        let row = sqlx::query(
            "SELECT ch.kind, cu.email, cu.phone FROM cases c JOIN customers cu \
             ON cu.id = c.customer_id LEFT JOIN channels ch ON ch.id = \
             c.channel_id WHERE c.id = $1",
        )
        .bind(case_id)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let kind: Option<String> = row.try_get("kind")?;
        let email: Option<String> = row.try_get("email")?;
        let phone: Option<String> = row.try_get("phone")?;
        Ok(match kind.as_deref() {
            Some("sms_twilio") if phone.as_deref().is_some_and(|p| !p.is_empty()) => {
                Some((JobChannel::SmsReply, "sms"))
            }
            Some("api") => Some((JobChannel::ApiReply, "api")),
            _ if email.as_deref().is_some_and(|e| !e.is_empty()) => {
                Some((JobChannel::EmailReply, "email"))
            }
            _ => None,
        })
    }

    pub(super) async fn channel_by_id(&self, id: ChannelId) -> Result<(WorkspaceId, Channel)> {
        let row = sqlx::query(
            "SELECT id, workspace_id, kind, name, settings, created_at FROM channels WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok((row.try_get("workspace_id")?, channel_from_row(&row)?))
    }

    pub(super) async fn channel_reply(&self, job: &Job) -> Result<crate::store::ChannelReply> {
        let message_id: MessageId = job.payload["message_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or(StoreError::NotFound)?;
        let row = sqlx::query(
            "SELECT m.case_id, m.body, m.delivery_state, m.created_at, c.number, c.channel_id, \
             w.case_prefix, \
             cu.name AS customer_name, cu.email AS customer_email, cu.phone AS customer_phone, \
             t.name AS author_name, \
             ch.kind AS channel_kind, ch.settings AS channel_settings \
             FROM messages m JOIN cases c ON c.id = m.case_id JOIN workspaces w ON w.id = \
             m.workspace_id JOIN customers cu ON cu.id = c.customer_id \
             JOIN channels ch ON ch.id = c.channel_id LEFT JOIN teammates t ON t.id = \
             m.author_id WHERE m.id = $1 AND m.workspace_id = $2",
        )
        .bind(message_id)
        .bind(job.workspace_id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        let prefix: String = row.try_get("case_prefix")?;
        Ok(crate::store::ChannelReply {
            workspace_id: job.workspace_id,
            case_id: row.try_get("case_id")?,
            message_id,
            number: format_number(&prefix, row.try_get("number")?),
            body: row.try_get("body")?,
            author_name: row.try_get("author_name")?,
            customer_name: row.try_get("customer_name")?,
            customer_email: row.try_get("customer_email")?,
            customer_phone: row.try_get("customer_phone")?,
            channel_id: row.try_get("channel_id")?,
            channel_kind: parse_channel_kind(&row.try_get::<String, _>("channel_kind")?)?,
            channel_settings: serde_json::from_str(&row.try_get::<String, _>("channel_settings")?)?,
            delivery_state: delivery_state(&row)?,
            created_at: from_ms(row.try_get("created_at")?),
        })
    }

    pub(super) async fn set_provider_id(
        &self,
        message_id: MessageId,
        provider_id: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE messages SET provider_id = $2 WHERE id = $1")
            .bind(message_id)
            .bind(provider_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub(super) async fn provider_status(
        &self,
        workspace_id: WorkspaceId,
        provider_id: &str,
        state: DeliveryState,
        error: Option<&str>,
    ) -> Result<Committed<bool>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let found: Option<MessageId> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE workspace_id = $1 AND provider_id = $2",
        )
        .bind(workspace_id)
        .bind(provider_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(message_id) = found else {
            tx.rollback().await?;
            return Ok(Committed {
                value: false,
                events: vec![],
            });
        };
        let mut log = Log::new(workspace_id, locked.last_seq);
        // States only move forward: a late `sent` never hides `delivered` or `failed`.
        let from: &[DeliveryState] = match state {
            DeliveryState::Sent => &[DeliveryState::Queued],
            DeliveryState::Queued | DeliveryState::Delivered | DeliveryState::Failed => {
                &[DeliveryState::Queued, DeliveryState::Sent]
            }
        };
        let moved = Self::set_delivery(&mut tx, &mut log, message_id, state, error, from).await?;
        Self::commit(tx, log, moved.is_some()).await
    }
}
