//! Email: channels, threading lookups, outbound reply jobs and their delivery state.
//!
//! Outbound replies are rows of `notification_jobs` with channel `email_reply`: the claim with a
//! lease, the backoff and the two-instance safety are the notification worker's, not a copy.

use super::*;

pub(super) fn channel_from_row(r: &DbRow) -> Result<Channel> {
    Ok(Channel {
        id: r.try_get("id")?,
        kind: parse_channel_kind(&r.try_get::<String, _>("kind")?)?,
        name: r.try_get("name")?,
        settings: serde_json::from_str(&r.try_get::<String, _>("settings")?)?,
        created_at: from_ms(r.try_get("created_at")?),
        inbound_url: None,
    })
}

fn attachment_file_from_row(r: &DbRow) -> Result<AttachmentFile> {
    Ok(AttachmentFile {
        attachment: Attachment {
            id: r.try_get("id")?,
            filename: r.try_get("filename")?,
            content_type: r.try_get("content_type")?,
            size: r.try_get("size")?,
        },
        sha256: r.try_get("sha256")?,
    })
}

impl SqlStore {
    /// The case an inbound email threads into: its verified reply token's case, else the
    /// case of the newest stored Message-ID among its In-Reply-To/References.
    pub(super) async fn email_thread(
        tx: &mut Tx,
        workspace_id: WorkspaceId,
        email: &EmailMeta,
    ) -> Result<Option<CaseState>> {
        if let Some(case_id) = email.token_case {
            match Self::case_state(tx, workspace_id, case_id).await {
                Ok(state) => return Ok(Some(state)),
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        if email.thread_ids.is_empty() {
            return Ok(None);
        }
        let mut q =
            QueryBuilder::<Db>::new("SELECT mail_id, case_id FROM messages WHERE workspace_id = ");
        q.push_bind(workspace_id).push(" AND mail_id IN (");
        let mut list = q.separated(", ");
        for id in &email.thread_ids {
            list.push_bind(id.clone());
        }
        q.push(")");
        let rows = q.build().fetch_all(&mut **tx).await?;
        let mut found: Vec<(String, CaseId)> = Vec::new();
        for r in &rows {
            found.push((r.try_get("mail_id")?, r.try_get("case_id")?));
        }
        let Some(case_id) = email
            .thread_ids
            .iter()
            .find_map(|id| found.iter().find(|(m, _)| m == id).map(|(_, c)| *c))
        else {
            return Ok(None);
        };
        Ok(Some(Self::case_state(tx, workspace_id, case_id).await?))
    }

    /// Writes the job that sends a reply; `job_channel` is `email_reply`, `sms_reply` or
    /// `api_reply` (see `reply_route`).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn queue_outbound(
        tx: &mut Tx,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        author: TeammateId,
        message_id: MessageId,
        job_channel: JobChannel,
        now: i64,
    ) -> Result<()> {
        let job = NewJob {
            workspace_id,
            teammate: author,
            case_id: Some(case_id),
            sub: None,
            channel: job_channel,
            reason: JobReason::Reply,
            key: format!("reply:{message_id}"),
            payload: serde_json::json!({ "message_id": message_id }).to_string(),
            due_at: now,
        };
        Self::insert_job(tx, job).await
    }

    pub(super) async fn channels(&self, workspace_id: WorkspaceId) -> Result<Vec<Channel>> {
        let rows = sqlx::query(
            "SELECT id, kind, name, settings, created_at FROM channels WHERE \
             workspace_id = $1 ORDER BY created_at, id",
        )
        .bind(workspace_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(channel_from_row).collect()
    }

    pub(super) async fn save_channel(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        c: ChannelWrite,
    ) -> Result<Committed<Channel>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        let now = ms(log.now);
        let settings = serde_json::to_string(&c.settings)?;
        let written = match c.id {
            None => {
                sqlx::query(
                    "INSERT INTO channels (id, workspace_id, kind, name, settings, \
                     address, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(ChannelId::new())
                .bind(workspace_id)
                .bind(c.kind.as_str())
                .bind(&c.name)
                .bind(&settings)
                .bind(&c.address)
                .bind(now)
                .execute(&mut *tx)
                .await
            }
            Some(id) => {
                sqlx::query(
                    "UPDATE channels SET name = $3, settings = $4, address = $5 WHERE id \
                     = $1 AND workspace_id = $2",
                )
                .bind(id)
                .bind(workspace_id)
                .bind(&c.name)
                .bind(&settings)
                .bind(&c.address)
                .execute(&mut *tx)
                .await
            }
        };
        match written {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(Conflict::ChannelAddress))
            }
            Ok(done) if done.rows_affected() == 0 => return Err(StoreError::NotFound),
            other => {
                other?;
            }
        }
        let row = match c.id {
            Some(id) => {
                sqlx::query(
                    "SELECT id, kind, name, \
                     settings, created_at \
                     FROM channels WHERE id \
                     = $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT id, kind, \
                     name, settings, \
                     created_at FROM \
                     channels WHERE \
                     workspace_id = \
                     $1 ORDER BY \
                     created_at DESC, \
                     id DESC LIMIT 1",
                )
                .bind(workspace_id)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        let channel = channel_from_row(&row)?;
        log.push(EventKind::WorkspaceChanged { actor_id });
        Self::commit(tx, log, channel).await
    }

    pub(super) async fn delete_channel(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        id: ChannelId,
    ) -> Result<Committed<()>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let done = sqlx::query("DELETE FROM channels WHERE id = $1 AND workspace_id = $2")
            .bind(id)
            .bind(workspace_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let mut log = Log::new(workspace_id, locked.last_seq);
        log.push(EventKind::WorkspaceChanged { actor_id });
        Self::commit(tx, log, ()).await
    }

    pub(super) async fn outbound_reply(
        &self,
        job: &Job,
        mail_domain: &str,
    ) -> Result<OutboundReply> {
        let message_id: MessageId = job.payload["message_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or(StoreError::NotFound)?;
        let row = sqlx::query(
            "SELECT m.case_id, m.body, m.mail_id, m.delivery_state, m.created_at, c.number, \
             c.subject, c.channel_id, w.name AS workspace_name, w.case_prefix, \
             cu.name AS customer_name, cu.email AS customer_email, t.name AS author_name \
             FROM messages m JOIN cases c ON c.id = m.case_id JOIN workspaces w ON w.id = \
             m.workspace_id JOIN customers cu ON cu.id = c.customer_id \
             LEFT JOIN teammates t ON t.id = m.author_id WHERE m.id = $1 AND m.workspace_id = $2",
        )
        .bind(message_id)
        .bind(job.workspace_id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        let mail_id: String = match row.try_get::<Option<String>, _>("mail_id")? {
            Some(id) => id,
            None => {
                let id = format!("{}@{mail_domain}", message_id.as_uuid().simple());
                sqlx::query("UPDATE messages SET mail_id = $2 WHERE id = $1 AND mail_id IS NULL")
                    .bind(message_id)
                    .bind(&id)
                    .execute(&self.write)
                    .await?;
                sqlx::query_scalar("SELECT mail_id FROM messages WHERE id = $1")
                    .bind(message_id)
                    .fetch_one(&self.write)
                    .await?
            }
        };
        let case_id: CaseId = row.try_get("case_id")?;
        let created_at: i64 = row.try_get("created_at")?;
        let earlier = sqlx::query(
            "SELECT mail_id, kind FROM messages WHERE case_id = $1 AND \
             mail_id IS NOT NULL AND id <> $2 AND created_at <= $3 ORDER \
             BY created_at, id",
        )
        .bind(case_id)
        .bind(message_id)
        .bind(created_at)
        .fetch_all(&self.read)
        .await?;
        let mut references = Vec::new();
        let mut in_reply_to = None;
        for r in &earlier {
            let id: String = r.try_get("mail_id")?;
            if parse_message_kind(&r.try_get::<String, _>("kind")?)? == MessageKind::Inbound {
                in_reply_to = Some(id.clone());
            }
            references.push(id);
        }
        // The reply goes out from the address the customer wrote to: the case's own
        // channel, or (a case that came in another way) the workspace's first.
        let sender = sqlx::query_scalar::<_, String>(
            "SELECT settings FROM channels WHERE workspace_id = $1 AND kind = 'email' \
             ORDER BY CASE WHEN id = $2 THEN 0 ELSE 1 END, created_at, id LIMIT 1",
        )
        .bind(job.workspace_id)
        .bind(row.try_get::<Option<Uuid>, _>("channel_id")?)
        .fetch_optional(&self.read)
        .await?
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| {
            Some((
                v["from_name"].as_str()?.to_string(),
                v["from_address"].as_str()?.to_string(),
            ))
        });
        let prefix: String = row.try_get("case_prefix")?;
        let attachments = self.attachment_files(message_id).await?;
        Ok(OutboundReply {
            workspace_id: job.workspace_id,
            case_id,
            message_id,
            workspace_name: row.try_get("workspace_name")?,
            number: format_number(&prefix, row.try_get("number")?),
            subject: row.try_get("subject")?,
            customer_name: row.try_get("customer_name")?,
            customer_email: row.try_get("customer_email")?,
            author_name: row.try_get("author_name")?,
            body: row.try_get("body")?,
            sender,
            mail_id,
            in_reply_to,
            references,
            delivery_state: delivery_state(&row)?,
            attachments,
        })
    }

    /// Moves a message's delivery to `state` (only from one of `from`) and logs it.
    pub(super) async fn set_delivery(
        tx: &mut Tx,
        log: &mut Log,
        message_id: MessageId,
        state: DeliveryState,
        error: Option<&str>,
        from: &[DeliveryState],
    ) -> Result<Option<CaseId>> {
        let row = sqlx::query(
            "SELECT case_id, delivery_state FROM messages WHERE id = $1 AND workspace_id = $2",
        )
        .bind(message_id)
        .bind(log.workspace_id)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        if !delivery_state(&row)?.is_some_and(|c| from.contains(&c)) {
            return Ok(None);
        }
        let case_id: CaseId = row.try_get("case_id")?;
        sqlx::query(
            "UPDATE messages SET delivery_state = $2, delivery_error = $3, delivery_at = \
             $4 WHERE id = $1",
        )
        .bind(message_id)
        .bind(state.as_str())
        .bind(error)
        .bind(ms(log.now))
        .execute(&mut **tx)
        .await?;
        log.push(EventKind::MessageDelivery {
            case_id,
            message_id,
            state,
            error: error.map(str::to_string),
        });
        Ok(Some(case_id))
    }

    pub(super) async fn finish_outbound(
        &self,
        job: &Job,
        outcome: &JobOutcome,
    ) -> Result<Committed<()>> {
        let message_id: Option<MessageId> = job.payload["message_id"]
            .as_str()
            .and_then(|s| s.parse().ok());
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, job.workspace_id).await?;
        let mut log = Log::new(job.workspace_id, locked.last_seq);
        let now = ms(log.now);
        let (state, delivery, error, due) = match outcome {
            JobOutcome::Sent => ("sent", DeliveryState::Sent, None, None),
            JobOutcome::Retry { at, error } => (
                "pending",
                DeliveryState::Queued,
                Some(error.clone()),
                Some(ms(*at)),
            ),
            JobOutcome::Skipped(why) | JobOutcome::Cancelled(why) | JobOutcome::Failed(why) => {
                ("failed", DeliveryState::Failed, Some(why.clone()), None)
            }
        };
        sqlx::query(
            "UPDATE notification_jobs SET state = $2, last_error = $3, due_at = COALESCE($4, \
             due_at), locked_until = NULL, \
             done_at = CASE WHEN $2 = 'pending' THEN NULL ELSE $5 END WHERE id = $1 AND state = \
             'running'",
        )
        .bind(job.id)
        .bind(state)
        .bind(&error)
        .bind(due)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if let Some(message_id) = message_id {
            // A bounce may have marked it failed already: `sent` never overwrites that.
            Self::set_delivery(
                &mut tx,
                &mut log,
                message_id,
                delivery,
                error.as_deref(),
                &[DeliveryState::Queued],
            )
            .await?;
        }
        Self::commit(tx, log, ()).await
    }

    pub(super) async fn retry_delivery(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        message_id: MessageId,
        actor_id: TeammateId,
    ) -> Result<Committed<Message>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let row = sqlx::query(
            "SELECT delivery_state FROM messages WHERE id = $1 AND case_id = \
             $2 AND workspace_id = $3 AND kind = 'reply'",
        )
        .bind(message_id)
        .bind(case_id)
        .bind(workspace_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        if delivery_state(&row)? != Some(DeliveryState::Failed) {
            return Err(StoreError::invalid(
                Input::RetriedReply,
                Refusal::ReplyNotFailed,
            ));
        }
        let mut log = Log::new(workspace_id, locked.last_seq);
        let now = ms(log.now);
        Self::set_delivery(
            &mut tx,
            &mut log,
            message_id,
            DeliveryState::Queued,
            None,
            &[DeliveryState::Failed],
        )
        .await?;
        // The job runs as the retrying teammate: the author may have left since.
        let job_channel = Self::reply_route(&mut tx, case_id)
            .await?
            .map_or(JobChannel::EmailReply, |r| r.0);
        Self::queue_outbound(
            &mut tx,
            workspace_id,
            case_id,
            actor_id,
            message_id,
            job_channel,
            now,
        )
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
        ))
        .bind(message_id)
        .fetch_one(&mut *tx)
        .await?;
        let message = message_from_row(&row)?;
        Self::commit(tx, log, message).await
    }

    pub(super) async fn bounce(
        &self,
        workspace_id: WorkspaceId,
        mail_id: &str,
        reason: &str,
    ) -> Result<Committed<Option<InboundOutcome>>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let found: Option<MessageId> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE workspace_id = $1 AND mail_id = $2 AND kind = 'reply'",
        )
        .bind(workspace_id)
        .bind(mail_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(message_id) = found else {
            tx.rollback().await?;
            return Ok(Committed {
                value: None,
                events: vec![],
            });
        };
        let mut log = Log::new(workspace_id, locked.last_seq);
        let error = format!("bounced: {reason}");
        Self::set_delivery(
            &mut tx,
            &mut log,
            message_id,
            DeliveryState::Failed,
            Some(&error),
            &[
                DeliveryState::Queued,
                DeliveryState::Sent,
                DeliveryState::Delivered,
            ],
        )
        .await?;
        let row = sqlx::query(
            "SELECT c.id, \
             c.number, \
             c.assignee_id FROM \
             messages m JOIN \
             cases c ON c.id = \
             m.case_id WHERE m.id \
             = $1",
        )
        .bind(message_id)
        .fetch_one(&mut *tx)
        .await?;
        let outcome = InboundOutcome {
            case_id: row.try_get("id")?,
            number: format_number(&locked.case_prefix, row.try_get("number")?),
            created: false,
            reopened: false,
            assignee_id: row.try_get("assignee_id")?,
            duplicate: false,
        };
        Self::commit(tx, log, Some(outcome)).await
    }

    /// Rows for files already stored under the data dir, in the message's transaction.
    pub(super) async fn insert_attachments(
        tx: &mut Tx,
        workspace_id: WorkspaceId,
        message_id: MessageId,
        files: &[crate::attachments::StoredFile],
        now: i64,
    ) -> Result<()> {
        for f in files {
            sqlx::query(
                "INSERT INTO attachments (id, workspace_id, message_id, sha256, \
                 filename, content_type, size, created_at) VALUES ($1, $2, $3, $4, $5, \
                 $6, $7, $8)",
            )
            .bind(AttachmentId::new())
            .bind(workspace_id)
            .bind(message_id)
            .bind(&f.sha256)
            .bind(&f.filename)
            .bind(&f.content_type)
            .bind(f.size)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Fills in each message's attachments (one query for the whole conversation).
    pub(super) async fn with_attachments(
        &self,
        mut messages: Vec<Message>,
    ) -> Result<Vec<Message>> {
        if messages.is_empty() {
            return Ok(messages);
        }
        let mut q = QueryBuilder::<Db>::new(
            "SELECT id, message_id, filename, content_type, \
             size FROM attachments WHERE message_id IN (",
        );
        let mut list = q.separated(", ");
        for m in &messages {
            list.push_bind(m.id);
        }
        q.push(") ORDER BY id");
        let rows = q.build().fetch_all(&self.read).await?;
        for r in &rows {
            let message_id: MessageId = r.try_get("message_id")?;
            if let Some(m) = messages.iter_mut().find(|m| m.id == message_id) {
                m.attachments.push(Attachment {
                    id: r.try_get("id")?,
                    filename: r.try_get("filename")?,
                    content_type: r.try_get("content_type")?,
                    size: r.try_get("size")?,
                });
            }
        }
        Ok(messages)
    }

    async fn attachment_files(&self, message_id: MessageId) -> Result<Vec<AttachmentFile>> {
        let rows = sqlx::query(
            "SELECT id, sha256, filename, content_type, size FROM attachments \
             WHERE message_id = $1 ORDER BY id",
        )
        .bind(message_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(attachment_file_from_row).collect()
    }

    /// A file a teammate uploaded for a reply not yet written: a row without a message.
    pub(super) async fn upload_attachment(
        &self,
        workspace_id: WorkspaceId,
        uploader: TeammateId,
        file: &crate::attachments::StoredFile,
    ) -> Result<Attachment> {
        let id = AttachmentId::new();
        sqlx::query(
            "INSERT INTO attachments (id, workspace_id, message_id, uploaded_by, sha256, \
             filename, content_type, size, created_at) VALUES ($1, $2, NULL, $3, $4, $5, \
             $6, $7, $8)",
        )
        .bind(id)
        .bind(workspace_id)
        .bind(uploader)
        .bind(&file.sha256)
        .bind(&file.filename)
        .bind(&file.content_type)
        .bind(file.size)
        .bind(ms(Utc::now()))
        .execute(&self.write)
        .await?;
        Ok(Attachment {
            id,
            filename: file.filename.clone(),
            content_type: file.content_type.clone(),
            size: file.size,
        })
    }

    /// Binds the author's own uploads to the message they wrote, in its transaction. An
    /// id that is not an unbound upload of this author is a 422.
    pub(super) async fn bind_uploads(
        tx: &mut Tx,
        workspace_id: WorkspaceId,
        author: TeammateId,
        message_id: MessageId,
        ids: &[AttachmentId],
    ) -> Result<Vec<Attachment>> {
        let mut bound = Vec::with_capacity(ids.len());
        for id in ids {
            let done = sqlx::query(
                "UPDATE attachments SET message_id = $1 WHERE id = $2 AND \
                 workspace_id = $3 AND uploaded_by = $4 AND message_id IS NULL",
            )
            .bind(message_id)
            .bind(id)
            .bind(workspace_id)
            .bind(author)
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::invalid(
                    Input::Attachments,
                    Refusal::NotAnUpload,
                ));
            }
            let r = sqlx::query(
                "SELECT id, sha256, filename, content_type, size FROM attachments WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
            bound.push(attachment_file_from_row(&r)?.attachment);
        }
        Ok(bound)
    }

    pub(super) async fn attachment(
        &self,
        workspace_id: WorkspaceId,
        id: AttachmentId,
    ) -> Result<AttachmentFile> {
        let r = sqlx::query(
            "SELECT id, sha256, filename, content_type, size FROM attachments \
             WHERE id = $1 AND workspace_id = $2",
        )
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        attachment_file_from_row(&r)
    }
}
