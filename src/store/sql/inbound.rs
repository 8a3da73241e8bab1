//! A customer's message arriving: finding (or creating) the customer and the case it belongs
//! to, and which workspace an address or a case belongs to.

use super::*;

/// A customer found by the address or number a message came from.
pub(super) struct KnownCustomer {
    pub id: CustomerId,
    email: Option<String>,
    phone: Option<String>,
}

impl KnownCustomer {
    /// Whether the message brings a contact detail the customer does not have yet.
    fn learns_from(&self, m: &Inbound) -> bool {
        (self.email.is_none() && m.email.is_some()) || (self.phone.is_none() && m.phone.is_some())
    }
}

impl SqlStore {
    /// The customer who wrote from this address or number (the one a merge kept), with the
    /// contact details it already has.
    pub(super) async fn find_customer(
        tx: &mut Tx,
        workspace_id: WorkspaceId,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Option<KnownCustomer>> {
        for (column, value) in [("email", email), ("phone", phone)] {
            let Some(value) = value else { continue };
            let sql = format!(
                "SELECT COALESCE(c.merged_into, c.id) AS id, kept.email, kept.phone \
                 FROM customers c LEFT JOIN customers kept ON kept.id = COALESCE(c.merged_into, c.id) \
                 WHERE c.workspace_id = $1 AND c.{column} = $2 ORDER BY c.created_at LIMIT 1"
            );
            let found = sqlx::query(&sql)
                .bind(workspace_id)
                .bind(value)
                .fetch_optional(&mut **tx)
                .await?;
            if let Some(row) = found {
                return Ok(Some(KnownCustomer {
                    id: row.try_get("id")?,
                    email: row.try_get("email")?,
                    phone: row.try_get("phone")?,
                }));
            }
        }
        Ok(None)
    }

    pub(super) async fn inbound_tx(
        &self,
        workspace_id: WorkspaceId,
        m: &Inbound,
    ) -> Result<Committed<InboundOutcome>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        if let Some(ext) = &m.external_id {
            let seen = sqlx::query(
                "SELECT c.id, c.number, c.assignee_id FROM messages m \
                 JOIN cases c ON c.id = m.case_id WHERE m.workspace_id = $1 AND m.external_id = $2",
            )
            .bind(workspace_id)
            .bind(ext)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = seen {
                let outcome = InboundOutcome {
                    case_id: row.try_get("id")?,
                    number: format_number(&locked.case_prefix, row.try_get("number")?),
                    created: false,
                    reopened: false,
                    assignee_id: row.try_get("assignee_id")?,
                    duplicate: true,
                };
                tx.rollback().await?;
                return Ok(Committed {
                    value: outcome,
                    events: vec![],
                });
            }
        }
        let mut log = Log::new(workspace_id, locked.last_seq);
        let now = ms(log.now);

        let existing_customer = Self::find_customer(
            &mut tx,
            workspace_id,
            m.email.as_deref(),
            m.phone.as_deref(),
        )
        .await?;
        let customer_id = match &existing_customer {
            Some(known) if !known.learns_from(m) => known.id,
            Some(known) => {
                // Learn the other contact detail this message brings.
                let id = known.id;
                sqlx::query(
                    "UPDATE customers SET email = COALESCE(email, $2), phone = COALESCE(phone, $3) \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(&m.email)
                .bind(&m.phone)
                .execute(&mut *tx)
                .await?;
                id
            }
            None => {
                let id = CustomerId::new();
                sqlx::query(
                    "INSERT INTO customers (id, workspace_id, name, email, phone, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(workspace_id)
                .bind(&m.from_name)
                .bind(&m.email)
                .bind(&m.phone)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                id
            }
        };

        // An email names its case (a reply token, then its In-Reply-To/References);
        // anything else goes to the customer's latest case.
        let threaded = match &m.mail {
            Some(email) => Self::email_thread(&mut tx, workspace_id, email).await?,
            None => None,
        };
        // A case whose customer was erased is closed to new text: whoever writes to it
        // again starts afresh, as a new customer.
        let threaded = match threaded {
            Some(case) if Self::case_erased(&mut tx, case.id).await? => None,
            other => other,
        };
        let automated = m.mail.as_ref().is_some_and(|e| e.automated);
        let existing_customer = existing_customer.map(|known| known.id);
        let latest = match (threaded, existing_customer) {
            (Some(case), _) => Some(case),
            (None, Some(customer)) => sqlx::query(
                "SELECT id, number, status, assignee_id, version, closed_at, snoozed_until \
                 FROM cases WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 1",
            )
            .bind(customer)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| case_state_from_row(&row))
            .transpose()?,
            (None, None) => None,
        };
        let window_ms = locked.reopen_days.saturating_mul(24 * 3600 * 1000);
        // The routing rules, read once if the message needs them (a new case, a clock to start).
        let mut rules = None;
        let (case, created, reopened) = match latest {
            // A machine's mail (auto-reply, bounce, list) joins its case without reopening it.
            Some(c) if automated => (c, false, false),
            Some(c) if c.status.is_open() => (c, false, false),
            Some(c) if c.closed_at.is_some_and(|closed| now - closed <= window_ms) => {
                (c, false, true)
            }
            _ => {
                let number = locked.last_case_number + 1;
                let category = m.category.clone().or_else(|| {
                    let text = format!("{} {}", m.subject.as_deref().unwrap_or(""), m.body);
                    routing::detect_category(&locked.category_keywords, &text)
                });
                let (read, last) = Self::rules_in_tx(&mut tx, workspace_id).await?;
                let assignee = self
                    .auto_assign(&mut tx, workspace_id, (&read, last), category.as_deref())
                    .await?;
                let mode = read.mode;
                rules = Some(read);
                let id = CaseId::new();
                sqlx::query(
                    "INSERT INTO cases (id, workspace_id, number, status, assignee_id, version, \
                     category, subject, customer_id, returning_customer, preview, created_at, \
                     last_message_at) \
                     VALUES ($1, $2, $3, 'needs_reply', $4, 1, $5, $6, $7, $8, '', $9, $9)",
                )
                .bind(id)
                .bind(workspace_id)
                .bind(number)
                .bind(assignee)
                .bind(&category)
                .bind(&m.subject)
                .bind(customer_id)
                .bind(existing_customer.is_some())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE workspaces SET last_case_number = $2 WHERE id = $1")
                    .bind(workspace_id)
                    .bind(number)
                    .execute(&mut *tx)
                    .await?;
                log.timeline(
                    id,
                    TimelineKind::Created,
                    None,
                    None,
                    None,
                    serde_json::json!({ "channel": m.channel }),
                );
                if assignee.is_some() {
                    log.timeline(
                        id,
                        TimelineKind::Assigned,
                        None,
                        None,
                        assignee,
                        serde_json::json!({ "reason": "auto_assign" }),
                    );
                } else {
                    Self::enqueue_if_routed(&mut tx, mode, id, now).await?;
                }
                log.push(EventKind::CaseCreated {
                    case_id: id,
                    number: format_number(&locked.case_prefix, number),
                    assignee_id: assignee,
                    customer_name: m.from_name.clone(),
                    category,
                });
                let state = CaseState {
                    id,
                    number,
                    status: Status::NeedsReply,
                    assignee_id: assignee,
                    version: 1,
                    closed_at: None,
                    snoozed_until: None,
                };
                (state, true, false)
            }
        };
        let mut case = case;
        // The customer starts waiting: the first-response clock runs until a reply.
        if !automated && (created || case.status != Status::NeedsReply) {
            let rules = match rules {
                Some(rules) => rules,
                None => Self::rules_in_tx(&mut tx, workspace_id).await?.0,
            };
            Self::start_response_clock(&mut tx, &rules, case.id, now).await?;
        }
        if !created && !automated {
            self.reroute_if_unfit(&mut tx, &mut log, &mut case, &locked.case_prefix)
                .await?;
            // The customer wrote: a snoozed case comes back now (its owner is pinged by
            // the message itself).
            Self::wake_in_tx(
                &mut tx,
                &mut log,
                &case,
                &locked.case_prefix,
                "customer",
                None,
                None,
            )
            .await?;
        }
        let number = format_number(&locked.case_prefix, case.number);
        if reopened {
            log.timeline(
                case.id,
                TimelineKind::Reopened,
                None,
                None,
                None,
                serde_json::json!({}),
            );
        }
        if !created && !automated && case.status != Status::NeedsReply {
            let status = Status::NeedsReply;
            Self::record_status(&mut log, &case, number.clone(), status, None);
        }
        let message_id = MessageId::new();
        let kind = if automated {
            MessageKind::Automated
        } else {
            MessageKind::Inbound
        };
        let preview = crate::domain::input::preview(&m.body, 140);
        // The message and its case's new state in one request: neither reads the other.
        let mut batch = Batch::new();
        let insert = batch.statement();
        insert.push(
            "INSERT INTO messages (id, workspace_id, case_id, kind, author_id, channel, body, \
             external_id, mail_id, quoted, created_at) VALUES (",
        );
        insert
            .separated(", ")
            .push_bind(message_id)
            .push_bind(workspace_id)
            .push_bind(case.id)
            .push_bind(kind.as_str())
            .push("NULL")
            .push_bind(&m.channel)
            .push_bind(&m.body)
            .push_bind(&m.external_id)
            .push_bind(m.mail.as_ref().and_then(|e| e.mail_id.as_deref()))
            .push_bind(m.mail.as_ref().and_then(|e| e.quoted.as_deref()))
            .push_bind(now)
            .push_unseparated(")");
        // A machine's mail is kept on its case but leaves the case as it was.
        if !automated {
            batch
                .statement()
                .push(
                    "UPDATE cases SET status = 'needs_reply', closed_at = NULL, \
                     last_message_at = ",
                )
                .push_bind(now)
                .push(", last_inbound_at = ")
                .push_bind(now)
                .push(", inbound_count = inbound_count + 1, preview = ")
                .push_bind(&preview)
                .push(", version = version + ")
                .push_bind(if created { 0i64 } else { 1i64 })
                .push(", channel_id = COALESCE(")
                .push_bind(m.channel_id)
                .push(", channel_id) WHERE id = ")
                .push_bind(case.id);
        }
        batch.execute(&mut tx).await?;
        if let Some(mail) = &m.mail {
            Self::insert_attachments(&mut tx, workspace_id, message_id, &mail.attachments, now)
                .await?;
        }
        log.push(EventKind::MessageCreated {
            case_id: case.id,
            number: number.clone(),
            message_id,
            message_kind: kind,
            preview,
            author_id: None,
            assignee_id: case.assignee_id,
        });
        let outcome = InboundOutcome {
            case_id: case.id,
            number,
            created,
            reopened,
            assignee_id: case.assignee_id,
            duplicate: false,
        };
        Self::commit(tx, log, outcome).await
    }

    pub(super) async fn inbound(
        &self,
        workspace_id: WorkspaceId,
        message: Inbound,
    ) -> Result<Committed<InboundOutcome>> {
        match self.inbound_tx(workspace_id, &message).await {
            // Two deliveries of one webhook raced past the duplicate check of a
            // backend without row locks: the loser answers like a redelivery.
            Err(StoreError::Conflict(Conflict::UniqueKey(_))) if message.external_id.is_some() => {
                self.inbound_tx(workspace_id, &message).await
            }
            other => other,
        }
    }

    pub(super) async fn workspace_of_address(&self, address: &str) -> Result<Option<WorkspaceId>> {
        Ok(
            sqlx::query_scalar("SELECT workspace_id FROM channels WHERE address = $1")
                .bind(address)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    pub(super) async fn workspace_of_case(&self, case_id: CaseId) -> Result<Option<WorkspaceId>> {
        Ok(
            sqlx::query_scalar("SELECT workspace_id FROM cases WHERE id = $1")
                .bind(case_id)
                .fetch_optional(&self.read)
                .await?,
        )
    }
}
