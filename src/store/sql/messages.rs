//! Replies and internal notes written by teammates.

use super::*;

pub(super) const MESSAGE_COLUMNS: &str = "id, case_id, kind, author_id, channel, body, quoted, \
                                          delivery_state, delivery_error, delivery_at, created_at";

pub(super) fn message_from_row(r: &DbRow) -> Result<Message> {
    let delivery = match delivery_state(r)? {
        Some(state) => Some(Delivery {
            state,
            error: r.try_get("delivery_error")?,
            at: from_ms(
                r.try_get::<Option<i64>, _>("delivery_at")?
                    .unwrap_or_default(),
            ),
        }),
        None => None,
    };
    Ok(Message {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        kind: parse_message_kind(&r.try_get::<String, _>("kind")?)?,
        author_id: r.try_get("author_id")?,
        channel: r.try_get("channel")?,
        body: r.try_get("body")?,
        quoted: r.try_get("quoted")?,
        delivery,
        attachments: Vec::new(),
        created_at: from_ms(r.try_get("created_at")?),
    })
}

impl SqlStore {
    #[allow(clippy::too_many_arguments)] // what one message is made of
    pub(super) async fn add_message(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        note: bool,
        body: &str,
        mentions: &[TeammateId],
        attachments: &[AttachmentId],
    ) -> Result<Committed<Message>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let state = Self::case_state(&mut tx, workspace_id, case_id).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        let now = ms(log.now);
        let number = format_number(&locked.case_prefix, state.number);
        let kind = if note {
            MessageKind::Note
        } else {
            MessageKind::Reply
        };
        // A reply leaves by email when the customer has an address: its job is written
        // in this transaction, so the reply and its sending commit together or not at all.
        // The case's channel picks the way out (SMS, an API webhook), else email.
        let route = if note {
            None
        } else {
            Self::reply_route(&mut tx, case_id).await?
        };
        let emailed = route.is_some();
        let delivery = emailed.then_some(Delivery {
            state: DeliveryState::Queued,
            error: None,
            at: log.now,
        });
        let channel = route.map_or("internal", |r| r.1);
        let mut message = Message {
            id: MessageId::new(),
            case_id,
            kind,
            author_id: Some(actor_id),
            channel: channel.into(),
            body: body.into(),
            quoted: None,
            delivery,
            attachments: Vec::new(),
            created_at: log.now,
        };
        sqlx::query(
            "INSERT INTO messages (id, workspace_id, case_id, kind, author_id, channel, body, \
             delivery_state, delivery_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10)",
        )
        .bind(message.id)
        .bind(workspace_id)
        .bind(case_id)
        .bind(kind.as_str())
        .bind(actor_id)
        .bind(&message.channel)
        .bind(body)
        .bind(emailed.then_some(DeliveryState::Queued.as_str()))
        .bind(emailed.then_some(now))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        message.attachments =
            Self::bind_uploads(&mut tx, workspace_id, actor_id, message.id, attachments).await?;
        if let Some((job_channel, _)) = route {
            Self::queue_outbound(
                &mut tx,
                workspace_id,
                case_id,
                actor_id,
                message.id,
                job_channel,
                now,
            )
            .await?;
        }
        let preview = crate::domain::input::preview(body, 140);
        if note {
            log.push(EventKind::NoteCreated {
                case_id,
                number,
                message_id: message.id,
                preview,
                author_id: actor_id,
                mentions: mentions.to_vec(),
            });
        } else {
            let status = state.status.after_reply();
            sqlx::query(
                "UPDATE cases SET status = $2, last_message_at = $3, preview = $4, \
                 response_due_at = NULL, breached_at = NULL, version = version + 1 WHERE id = $1",
            )
            .bind(case_id)
            .bind(status.as_str())
            .bind(now)
            .bind(&preview)
            .execute(&mut *tx)
            .await?;
            log.push(EventKind::MessageCreated {
                case_id,
                number: number.clone(),
                message_id: message.id,
                message_kind: MessageKind::Reply,
                preview,
                author_id: Some(actor_id),
                assignee_id: state.assignee_id,
            });
            if status != state.status {
                let actor = Some(actor_id);
                Self::record_status(&mut log, &state, number, status, actor);
            }
        }
        Self::commit(tx, log, message).await
    }
}
