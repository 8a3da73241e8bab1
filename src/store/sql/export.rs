//! Export and erasure: a workspace's rows page by page for the export archive, and a customer's
//! erasure in one transaction.

use super::*;

/// One page: `$1` workspace, `$2` the last id of the previous page, `$3` the export's
/// cutoff (rows created later are left for the next export), `$4` the page size.
fn page_sql(kind: ExportKind) -> &'static str {
    match kind {
        ExportKind::Customers => {
            "SELECT id, name, email, phone, created_at, erased_at FROM \
             customers \
             WHERE workspace_id = $1 AND id > $2 AND created_at <= $3 ORDER \
             BY id LIMIT $4"
        }
        ExportKind::Cases => {
            "SELECT c.id, c.number, w.case_prefix, c.status, c.assignee_id, \
             c.category, c.subject, c.customer_id, c.channel_id, \
             c.created_at, c.last_message_at, c.closed_at, c.follow_up_at, \
             c.breached_at FROM cases c JOIN workspaces w ON w.id = \
             c.workspace_id \
             WHERE c.workspace_id = $1 AND c.id > $2 AND c.created_at <= $3 \
             ORDER BY c.id LIMIT $4"
        }
        ExportKind::Messages => {
            "SELECT id, case_id, kind, author_id, channel, body, quoted, \
             delivery_state, delivery_error, created_at FROM messages \
             WHERE workspace_id = $1 AND id > $2 AND created_at <= $3 AND \
             kind <> 'note' ORDER BY id LIMIT $4"
        }
        ExportKind::Notes => {
            "SELECT id, case_id, kind, author_id, channel, body, quoted, \
             delivery_state, delivery_error, created_at FROM messages \
             WHERE workspace_id = $1 AND id > $2 AND created_at <= $3 AND kind \
             = 'note' ORDER BY id LIMIT $4"
        }
        ExportKind::Timeline => {
            "SELECT id, case_id, kind, actor_id, from_id, to_id, detail, \
             created_at FROM timeline \
             WHERE workspace_id = $1 AND id > $2 AND created_at <= $3 ORDER \
             BY id LIMIT $4"
        }
        ExportKind::Attachments => {
            "SELECT a.id, a.message_id, m.case_id, a.filename, \
             a.content_type, a.size, a.sha256, a.created_at \
             FROM attachments a JOIN messages m ON m.id = a.message_id \
             WHERE a.workspace_id = $1 AND a.id > $2 AND a.created_at <= \
             $3 ORDER BY a.id LIMIT $4"
        }
    }
}

fn ms_json(v: Option<i64>) -> serde_json::Value {
    serde_json::json!(v.map(from_ms))
}

fn export_row(kind: ExportKind, r: &DbRow) -> Result<ExportRow> {
    let id: Uuid = r.try_get("id")?;
    let mut sha256 = None;
    let json = match kind {
        ExportKind::Customers => serde_json::json!({
            "id": id,
            "name": r.try_get::<String, _>("name")?,
            "email": r.try_get::<Option<String>, _>("email")?,
            "phone": r.try_get::<Option<String>, _>("phone")?,
            "created_at": ms_json(r.try_get("created_at")?),
            "erased_at": ms_json(r.try_get("erased_at")?),
        }),
        ExportKind::Cases => serde_json::json!({
            "id": id,
            "number": format_number(&r.try_get::<String, _>("case_prefix")?, r.try_get("number")?),
            "status": r.try_get::<String, _>("status")?,
            "assignee_id": r.try_get::<Option<Uuid>, _>("assignee_id")?,
            "category": r.try_get::<Option<String>, _>("category")?,
            "subject": r.try_get::<Option<String>, _>("subject")?,
            "customer_id": r.try_get::<Uuid, _>("customer_id")?,
            "channel_id": r.try_get::<Option<Uuid>, _>("channel_id")?,
            "created_at": ms_json(r.try_get("created_at")?),
            "last_message_at": ms_json(r.try_get("last_message_at")?),
            "closed_at": ms_json(r.try_get("closed_at")?),
            "follow_up_at": ms_json(r.try_get("follow_up_at")?),
            "breached_at": ms_json(r.try_get("breached_at")?),
        }),
        ExportKind::Messages | ExportKind::Notes => serde_json::json!({
            "id": id,
            "case_id": r.try_get::<Uuid, _>("case_id")?,
            "kind": r.try_get::<String, _>("kind")?,
            "author_id": r.try_get::<Option<Uuid>, _>("author_id")?,
            "channel": r.try_get::<String, _>("channel")?,
            "body": r.try_get::<String, _>("body")?,
            "quoted": r.try_get::<Option<String>, _>("quoted")?,
            "delivery_state": r.try_get::<Option<String>, _>("delivery_state")?,
            "delivery_error": r.try_get::<Option<String>, _>("delivery_error")?,
            "created_at": ms_json(r.try_get("created_at")?),
        }),
        ExportKind::Timeline => serde_json::json!({
            "id": id,
            "case_id": r.try_get::<Uuid, _>("case_id")?,
            "kind": r.try_get::<String, _>("kind")?,
            "actor_id": r.try_get::<Option<Uuid>, _>("actor_id")?,
            "from_id": r.try_get::<Option<Uuid>, _>("from_id")?,
            "to_id": r.try_get::<Option<Uuid>, _>("to_id")?,
            "detail": serde_json::from_str::<serde_json::Value>(
                &r.try_get::<String, _>("detail")?
            )?,
            "at": ms_json(r.try_get("created_at")?),
        }),
        ExportKind::Attachments => {
            let filename: String = r.try_get("filename")?;
            sha256 = Some(r.try_get::<String, _>("sha256")?);
            serde_json::json!({
                "id": id,
                "message_id": r.try_get::<Uuid, _>("message_id")?,
                "case_id": r.try_get::<Uuid, _>("case_id")?,
                "path": format!("attachments/{id}/{filename}"),
                "filename": filename,
                "content_type": r.try_get::<String, _>("content_type")?,
                "size": r.try_get::<i64, _>("size")?,
                "sha256": sha256,
                "created_at": ms_json(r.try_get("created_at")?),
            })
        }
    };
    Ok(ExportRow { id, json, sha256 })
}

impl SqlStore {
    pub(super) async fn export_page(
        &self,
        workspace_id: WorkspaceId,
        kind: ExportKind,
        after: Option<Uuid>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ExportRow>> {
        let rows = sqlx::query(page_sql(kind))
            .bind(workspace_id)
            .bind(after.unwrap_or(Uuid::nil()))
            .bind(ms(until))
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(|r| export_row(kind, r)).collect()
    }

    /// Whether this case's customer was erased: mail threading onto it starts afresh.
    pub(super) async fn case_erased(tx: &mut Tx, case_id: CaseId) -> Result<bool> {
        let erased: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT cu.erased_at FROM cases c \
             JOIN customers cu ON cu.id = \
             c.customer_id WHERE c.id = $1",
        )
        .bind(case_id)
        .fetch_optional(&mut **tx)
        .await?;
        Ok(erased.flatten().is_some())
    }

    pub(super) async fn erase_customer(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        customer_id: CustomerId,
    ) -> Result<Committed<Erasure>> {
        const CASES: &str = "(SELECT id FROM cases WHERE customer_id = $1)";
        const MESSAGES: &str = "(SELECT id FROM messages WHERE case_id IN (SELECT id FROM cases \
                                WHERE customer_id = $1))";
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        let now = ms(log.now);
        let exists: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM customers WHERE id = $1 AND workspace_id = $2")
                .bind(customer_id)
                .bind(workspace_id)
                .fetch_optional(&mut *tx)
                .await?;
        exists.ok_or(StoreError::NotFound)?;
        let case_ids: Vec<CaseId> = sqlx::query_scalar(
            "SELECT id FROM cases WHERE customer_id = $1 ORDER BY created_at, id",
        )
        .bind(customer_id)
        .fetch_all(&mut *tx)
        .await?;

        // Files: rows go now; bytes no other row names go after the commit.
        let digests: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT sha256 FROM attachments WHERE message_id IN {MESSAGES}"
        ))
        .bind(customer_id)
        .fetch_all(&mut *tx)
        .await?;
        let attachments = sqlx::query(&format!(
            "DELETE FROM attachments WHERE message_id IN {MESSAGES}"
        ))
        .bind(customer_id)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        let mut unreferenced_files = Vec::new();
        for sha256 in digests {
            let used: Option<String> =
                sqlx::query_scalar("SELECT sha256 FROM attachments WHERE sha256 = $1 LIMIT 1")
                    .bind(&sha256)
                    .fetch_optional(&mut *tx)
                    .await?;
            if used.is_none() {
                unreferenced_files.push(sha256);
            }
        }

        // Jobs that would still send the text: notifications and replies not yet out.
        let jobs_cancelled = sqlx::query(&format!(
            "UPDATE notification_jobs SET state = 'cancelled', last_error = 'the customer was \
             erased', locked_until = NULL, done_at = $2 \
             WHERE case_id IN {CASES} AND state IN ('pending', 'running')"
        ))
        .bind(customer_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        sqlx::query(&format!(
            "UPDATE notification_jobs SET payload = '{{}}' WHERE case_id IN {CASES}"
        ))
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
        // The text: every message on their cases, the subject and preview, their name and
        // addresses.
        let messages = sqlx::query(&format!(
            "UPDATE messages SET body = '', quoted = NULL, mail_id = NULL, delivery_error = NULL \
             WHERE case_id IN {CASES}"
        ))
        .bind(customer_id)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        // After the text, so that the reason stays.
        sqlx::query(&format!(
            "UPDATE messages SET delivery_state = 'failed', delivery_error = 'not sent: the \
             customer was erased', delivery_at = $2 \
             WHERE case_id IN {CASES} AND delivery_state = 'queued'"
        ))
        .bind(customer_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;

        sqlx::query(
            "UPDATE cases SET subject = NULL, preview = '', version = version + 1 WHERE \
             customer_id = $1",
        )
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
        // Customers merged into this one keep their old name and addresses as aliases.
        sqlx::query(
            "UPDATE customers SET name = $2, email = NULL, phone = NULL, notes = '', \
             erased_at = $3 WHERE id = $1 OR merged_into = $1",
        )
        .bind(customer_id)
        .bind(ERASED_NAME)
        .bind(now)
        .execute(&mut *tx)
        .await?;

        // The event log: what clients replay on resume and webhooks deliver from.
        let rows = sqlx::query(
            "SELECT seq, payload FROM events WHERE workspace_id = $1 AND \
             case_id IN (SELECT id FROM cases WHERE customer_id = $2)",
        )
        .bind(workspace_id)
        .bind(customer_id)
        .fetch_all(&mut *tx)
        .await?;
        for r in &rows {
            let mut event: crate::events::EventKind =
                serde_json::from_str(&r.try_get::<String, _>("payload")?)?;
            if scrub_event(&mut event) {
                sqlx::query("UPDATE events SET payload = $3 WHERE workspace_id = $1 AND seq = $2")
                    .bind(workspace_id)
                    .bind(r.try_get::<i64, _>("seq")?)
                    .bind(serde_json::to_string(&event)?)
                    .execute(&mut *tx)
                    .await?;
            }
        }

        for case_id in &case_ids {
            log.timeline(
                *case_id,
                TimelineKind::Erased,
                Some(actor_id),
                None,
                None,
                serde_json::json!({}),
            );
        }
        log.push(EventKind::CustomerErased {
            customer_id,
            case_ids: case_ids.clone(),
            actor_id,
        });
        let erasure = Erasure {
            customer_id,
            case_ids,
            messages,
            attachments,
            jobs_cancelled,
            unreferenced_files,
        };
        Self::commit(tx, log, erasure).await
    }

    pub(super) async fn customer(
        &self,
        workspace_id: WorkspaceId,
        id: CustomerId,
    ) -> Result<Customer> {
        // A customer merged into another answers as that one.
        let row = sqlx::query(
            "SELECT id, name, email, phone FROM customers WHERE id = (SELECT \
             COALESCE(merged_into, id) FROM customers WHERE id = $1 AND \
             workspace_id = $2)",
        )
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(Customer {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            phone: row.try_get("phone")?,
        })
    }

    /// Whether any attachment row (of any workspace) names these bytes.
    pub(super) async fn attachment_bytes_in_use(&self, sha256: &str) -> Result<bool> {
        let used: Option<String> =
            sqlx::query_scalar("SELECT sha256 FROM attachments WHERE sha256 = $1 LIMIT 1")
                .bind(sha256)
                .fetch_optional(&self.write)
                .await?;
        Ok(used.is_some())
    }
}

/// An event with the erased customer's name and text taken out (the log that clients replay on
/// resume and webhooks deliver from keeps only the shape of what happened).
fn scrub_event(event: &mut crate::events::EventKind) -> bool {
    use crate::events::EventKind;
    match event {
        EventKind::CaseCreated { customer_name, .. } => {
            *customer_name = ERASED_NAME.to_string();
            true
        }
        EventKind::MessageCreated { preview, .. } | EventKind::NoteCreated { preview, .. } => {
            preview.clear();
            true
        }
        EventKind::MessageDelivery { error, .. } => {
            *error = None;
            true
        }
        _ => false,
    }
}
