//! The working day: saved replies, tags on cases, and snooze. Snooze's timer is the follow-ups'
//! pattern: a durable due time on the case, claimed by a conditional update under the workspace
//! lock, so it fires once across instances and restarts.

use super::*;

fn saved_reply_from_row(r: &DbRow) -> Result<SavedReply> {
    let owner_id: Option<TeammateId> = r.try_get("owner_id")?;
    Ok(SavedReply {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        body: r.try_get("body")?,
        scope: Scope::of(owner_id),
        owner_id,
        created_at: from_ms(r.try_get("created_at")?),
        updated_at: from_ms(r.try_get("updated_at")?),
    })
}

fn tag_from_row(r: &DbRow) -> Result<Tag> {
    Ok(Tag {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        color: r.try_get("color")?,
    })
}

impl SqlStore {
    // Saved replies: the workspace's and the viewer's own; anyone else's is not there.

    pub(super) async fn saved_replies(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
    ) -> Result<Vec<SavedReply>> {
        let rows = sqlx::query(
            "SELECT id, owner_id, name, body, created_at, updated_at FROM \
             saved_replies WHERE workspace_id = $1 AND (owner_id IS NULL OR \
             owner_id = $2) ORDER BY LOWER(name), id",
        )
        .bind(workspace_id)
        .bind(viewer)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(saved_reply_from_row).collect()
    }

    pub(super) async fn saved_reply(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        id: SavedReplyId,
    ) -> Result<SavedReply> {
        let row = sqlx::query(
            "SELECT id, owner_id, name, body, created_at, updated_at FROM \
             saved_replies WHERE id = $1 AND workspace_id = $2 AND (owner_id \
             IS NULL OR owner_id = $3)",
        )
        .bind(id)
        .bind(workspace_id)
        .bind(viewer)
        .fetch_optional(&self.write)
        .await?;
        saved_reply_from_row(&not_found_if_none(row)?)
    }

    pub(super) async fn create_saved_reply(
        &self,
        workspace_id: WorkspaceId,
        owner_id: Option<TeammateId>,
        name: &str,
        body: &str,
    ) -> Result<SavedReply> {
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO saved_replies (id, workspace_id, owner_id, name, \
             body, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             RETURNING id, owner_id, name, body, created_at, updated_at",
        )
        .bind(SavedReplyId::new())
        .bind(workspace_id)
        .bind(owner_id)
        .bind(name)
        .bind(body)
        .bind(now)
        .fetch_one(&self.write)
        .await?;
        saved_reply_from_row(&row)
    }

    pub(super) async fn update_saved_reply(
        &self,
        workspace_id: WorkspaceId,
        id: SavedReplyId,
        name: Option<&str>,
        body: Option<&str>,
    ) -> Result<SavedReply> {
        let row = sqlx::query(
            "UPDATE saved_replies SET name = COALESCE($3, name), body = \
             COALESCE($4, body), updated_at = $5 WHERE id = $1 AND \
             workspace_id = $2 RETURNING id, owner_id, name, body, created_at, \
             updated_at",
        )
        .bind(id)
        .bind(workspace_id)
        .bind(name)
        .bind(body)
        .bind(now_ms())
        .fetch_optional(&self.write)
        .await?;
        saved_reply_from_row(&not_found_if_none(row)?)
    }

    pub(super) async fn delete_saved_reply(
        &self,
        workspace_id: WorkspaceId,
        id: SavedReplyId,
    ) -> Result<()> {
        let done = sqlx::query("DELETE FROM saved_replies WHERE id = $1 AND workspace_id = $2")
            .bind(id)
            .bind(workspace_id)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    // Tags.

    /// The tags on each of these cases, by name.
    pub(super) async fn tags_of<'e, E>(
        ex: E,
        case_ids: &[CaseId],
    ) -> Result<std::collections::HashMap<CaseId, Vec<Tag>>>
    where
        E: sqlx::Executor<'e, Database = Db>,
    {
        let mut out: std::collections::HashMap<CaseId, Vec<Tag>> = std::collections::HashMap::new();
        if case_ids.is_empty() {
            return Ok(out);
        }
        let mut q = QueryBuilder::<Db>::new(
            "SELECT ct.case_id, t.id, t.name, t.color FROM \
             case_tags ct JOIN tags t ON t.id = ct.tag_id WHERE \
             ct.case_id IN (",
        );
        push_ids(&mut q, case_ids);
        q.push(") ORDER BY t.name_key");
        for r in q.build().fetch_all(ex).await? {
            out.entry(r.try_get("case_id")?)
                .or_default()
                .push(tag_from_row(&r)?);
        }
        Ok(out)
    }

    pub(super) fn put_tags(
        cases: &mut [Case],
        mut tags: std::collections::HashMap<CaseId, Vec<Tag>>,
    ) {
        for case in cases {
            case.tags = tags.remove(&case.id).unwrap_or_default();
        }
    }

    pub(super) async fn tags(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
    ) -> Result<Vec<ListedTag>> {
        let sql = format!(
            "SELECT t.id, t.name, t.color, \
             COUNT(CASE WHEN c.id IS NOT NULL AND c.snoozed_until IS NULL AND c.assignee_id = $1 \
             THEN 1 END) AS mine, \
             COUNT(CASE WHEN c.id IS NOT NULL AND c.snoozed_until IS NULL AND c.assignee_id IS \
             NULL THEN 1 END) AS unassigned, \
             COUNT(CASE WHEN c.id IS NOT NULL AND c.snoozed_until IS NULL THEN 1 END) AS \
             all_open, \
             COUNT(CASE WHEN c.id IS NOT NULL AND c.snoozed_until IS NOT NULL THEN 1 END) AS \
             snoozed \
             FROM tags t LEFT JOIN case_tags ct ON ct.tag_id = t.id LEFT JOIN cases c ON c.id = \
             ct.case_id AND c.status IN {OPEN_SQL} \
             WHERE t.workspace_id = $2 GROUP BY t.id, t.name, t.color, t.name_key ORDER BY \
             t.name_key"
        );
        let rows = sqlx::query(&sql)
            .bind(viewer)
            .bind(workspace_id)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ListedTag {
                    tag: tag_from_row(r)?,
                    counts: TagCounts {
                        mine: r.try_get("mine")?,
                        unassigned: r.try_get("unassigned")?,
                        all: r.try_get("all_open")?,
                        snoozed: r.try_get("snoozed")?,
                    },
                })
            })
            .collect()
    }

    /// The tag of that name (any case), or a new one when `may_add` and the list is not
    /// locked for this teammate (`admin` may always add). The bool: it is new.
    async fn find_or_add_tag(
        tx: &mut Tx,
        log: &mut Log,
        actor_id: TeammateId,
        admin: bool,
        name: &str,
        color: Option<&str>,
    ) -> Result<(Tag, bool)> {
        let key = name.to_lowercase();
        let found = sqlx::query(
            "SELECT id, name, color FROM tags WHERE workspace_id = $1 AND name_key = $2",
        )
        .bind(log.workspace_id)
        .bind(&key)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = found {
            return Ok((tag_from_row(&row)?, false));
        }
        let locked: bool = sqlx::query_scalar("SELECT tags_locked FROM workspaces WHERE id = $1")
            .bind(log.workspace_id)
            .fetch_one(&mut **tx)
            .await?;
        if locked && !admin {
            return Err(StoreError::Conflict(Conflict::TagListLocked));
        }
        let tag = Tag {
            id: TagId::new(),
            name: name.to_string(),
            color: color.map_or_else(
                || crate::domain::tags::default_color(&key).to_string(),
                str::to_string,
            ),
        };
        sqlx::query(
            "INSERT INTO tags (id, workspace_id, name, name_key, color, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tag.id)
        .bind(log.workspace_id)
        .bind(&tag.name)
        .bind(&key)
        .bind(&tag.color)
        .bind(ms(log.now))
        .execute(&mut **tx)
        .await?;
        log.push(EventKind::TagsChanged {
            tag_id: tag.id,
            actor_id,
        });
        Ok((tag, true))
    }

    pub(super) async fn create_tag(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        admin: bool,
        name: &str,
        color: Option<&str>,
    ) -> Result<Committed<Tag>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        let (tag, created) =
            Self::find_or_add_tag(&mut tx, &mut log, actor_id, admin, name, color).await?;
        if !created {
            return Err(StoreError::Conflict(Conflict::TagName));
        }
        Self::commit(tx, log, tag).await
    }

    pub(super) async fn update_tag(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        id: TagId,
        name: Option<&str>,
        color: Option<&str>,
    ) -> Result<Committed<Tag>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        let updated = sqlx::query(
            "UPDATE tags SET name = COALESCE($3, name), name_key = \
             COALESCE($4, name_key), color = COALESCE($5, color) WHERE id \
             = $1 AND workspace_id = $2 RETURNING id, name, color",
        )
        .bind(id)
        .bind(workspace_id)
        .bind(name)
        .bind(name.map(str::to_lowercase))
        .bind(color)
        .fetch_optional(&mut *tx)
        .await;
        let row = match updated {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(Conflict::TagName))
            }
            other => not_found_if_none(other?)?,
        };
        let tag = tag_from_row(&row)?;
        log.push(EventKind::TagsChanged {
            tag_id: id,
            actor_id,
        });
        Self::commit(tx, log, tag).await
    }

    /// Deletes a tag and takes it off every case (their timelines keep the entries).
    pub(super) async fn delete_tag(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        id: TagId,
    ) -> Result<Committed<()>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        sqlx::query("DELETE FROM case_tags WHERE tag_id = $1 AND workspace_id = $2")
            .bind(id)
            .bind(workspace_id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM tags WHERE id = $1 AND workspace_id = $2")
            .bind(id)
            .bind(workspace_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        log.push(EventKind::TagsChanged {
            tag_id: id,
            actor_id,
        });
        Self::commit(tx, log, ()).await
    }

    pub(super) async fn tag_case(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        admin: bool,
        name: &str,
        color: Option<&str>,
    ) -> Result<Committed<Case>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let state = Self::case_state(&mut tx, workspace_id, case_id).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        let (tag, _) =
            Self::find_or_add_tag(&mut tx, &mut log, actor_id, admin, name, color).await?;
        let added = sqlx::query(
            "INSERT INTO case_tags (case_id, tag_id, workspace_id, \
             created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (case_id, \
             tag_id) DO NOTHING",
        )
        .bind(case_id)
        .bind(tag.id)
        .bind(workspace_id)
        .bind(ms(log.now))
        .execute(&mut *tx)
        .await?;
        if added.rows_affected() == 1 {
            Self::tag_changed(
                &mut tx,
                &mut log,
                &state,
                &locked.case_prefix,
                actor_id,
                tag,
                true,
            )
            .await?;
        }
        let case = Self::case_in_tx(&mut tx, workspace_id, actor_id, case_id).await?;
        Self::commit(tx, log, case).await
    }

    pub(super) async fn untag_case(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        tag_id: TagId,
    ) -> Result<Committed<Case>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let state = Self::case_state(&mut tx, workspace_id, case_id).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        let row =
            sqlx::query("SELECT id, name, color FROM tags WHERE id = $1 AND workspace_id = $2")
                .bind(tag_id)
                .bind(workspace_id)
                .fetch_optional(&mut *tx)
                .await?;
        let tag = tag_from_row(&not_found_if_none(row)?)?;
        let removed = sqlx::query("DELETE FROM case_tags WHERE case_id = $1 AND tag_id = $2")
            .bind(case_id)
            .bind(tag_id)
            .execute(&mut *tx)
            .await?;
        if removed.rows_affected() == 1 {
            Self::tag_changed(
                &mut tx,
                &mut log,
                &state,
                &locked.case_prefix,
                actor_id,
                tag,
                false,
            )
            .await?;
        }
        let case = Self::case_in_tx(&mut tx, workspace_id, actor_id, case_id).await?;
        Self::commit(tx, log, case).await
    }

    /// The timeline entry and the event of a tag put on (`on`) or taken off a case.
    async fn tag_changed(
        tx: &mut Tx,
        log: &mut Log,
        state: &CaseState,
        prefix: &str,
        actor_id: TeammateId,
        tag: Tag,
        on: bool,
    ) -> Result<()> {
        sqlx::query("UPDATE cases SET version = version + 1 WHERE id = $1")
            .bind(state.id)
            .execute(&mut **tx)
            .await?;
        let kind = if on {
            TimelineKind::Tagged
        } else {
            TimelineKind::Untagged
        };
        let detail = serde_json::json!({ "tag_id": tag.id, "name": tag.name, "color": tag.color });
        log.timeline(state.id, kind, Some(actor_id), None, None, detail);
        let (case_id, number, tag_id, name, color) = (
            state.id,
            format_number(prefix, state.number),
            tag.id,
            tag.name,
            tag.color,
        );
        log.push(if on {
            EventKind::CaseTagged {
                case_id,
                number,
                tag_id,
                name,
                color,
                actor_id,
            }
        } else {
            EventKind::CaseUntagged {
                case_id,
                number,
                tag_id,
                name,
                color,
                actor_id,
            }
        });
        Ok(())
    }

    // Snooze.

    pub(super) async fn snooze(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        until: DateTime<Utc>,
    ) -> Result<Committed<Case>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let state = Self::case_state(&mut tx, workspace_id, case_id).await?;
        if !state.status.is_open() {
            return Err(StoreError::invalid(
                Input::SnoozeUntil,
                Refusal::CaseNotOpen,
            ));
        }
        let mut log = Log::new(workspace_id, locked.last_seq);
        sqlx::query(
            "UPDATE cases SET snoozed_until = $2, snoozed_by = $3, version = version + 1 \
             WHERE id = $1",
        )
        .bind(case_id)
        .bind(ms(until))
        .bind(actor_id)
        .execute(&mut *tx)
        .await?;
        log.timeline(
            case_id,
            TimelineKind::Snoozed,
            Some(actor_id),
            None,
            None,
            serde_json::json!({ "until": until }),
        );
        log.push(EventKind::CaseSnoozed {
            case_id,
            number: format_number(&locked.case_prefix, state.number),
            until,
            assignee_id: state.assignee_id,
            actor_id,
        });
        let case = Self::case_in_tx(&mut tx, workspace_id, actor_id, case_id).await?;
        Self::commit(tx, log, case).await
    }

    pub(super) async fn wake(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
    ) -> Result<Committed<Case>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let state = Self::case_state(&mut tx, workspace_id, case_id).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        Self::wake_in_tx(
            &mut tx,
            &mut log,
            &state,
            &locked.case_prefix,
            "teammate",
            Some(actor_id),
            None,
        )
        .await?;
        let case = Self::case_in_tx(&mut tx, workspace_id, actor_id, case_id).await?;
        Self::commit(tx, log, case).await
    }

    /// Wakes a snoozed case (the caller holds the lock): clears the snooze, writes the
    /// timeline entry and `case.woke`. `due_by`: only if its time has come (the clock's
    /// claim). False when it was not snoozed (or not yet due): nothing written.
    pub(super) async fn wake_in_tx(
        tx: &mut Tx,
        log: &mut Log,
        state: &CaseState,
        prefix: &str,
        reason: &str,
        actor_id: Option<TeammateId>,
        due_by: Option<i64>,
    ) -> Result<bool> {
        // `state` was read under the lock, so it is current: a case that is not snoozed (the
        // usual case for a customer's message) costs no statement.
        let due_by = due_by.unwrap_or(i64::MAX);
        if state.snoozed_until.is_none_or(|until| until > due_by) {
            return Ok(false);
        }
        let claimed = sqlx::query(
            "UPDATE cases SET snoozed_until = NULL, snoozed_by = NULL, \
             version = version + 1 WHERE id = $1 AND snoozed_until IS NOT \
             NULL AND snoozed_until <= $2",
        )
        .bind(state.id)
        .bind(due_by)
        .execute(&mut **tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(false);
        }
        log.timeline(
            state.id,
            TimelineKind::Woke,
            actor_id,
            None,
            None,
            serde_json::json!({ "reason": reason }),
        );
        log.push(EventKind::CaseWoke {
            case_id: state.id,
            number: format_number(prefix, state.number),
            reason: reason.into(),
            assignee_id: state.assignee_id,
            actor_id,
        });
        Ok(true)
    }

    /// The snooze timer: every case whose snooze ended by `now` comes back, each claimed
    /// once under its workspace lock, on whichever instance gets there first.
    pub(super) async fn wake_due(&self, now: DateTime<Utc>) -> Result<Vec<Event>> {
        let due = sqlx::query(
            "SELECT id, workspace_id FROM cases WHERE snoozed_until IS NOT \
             NULL AND snoozed_until <= $1 ORDER BY snoozed_until LIMIT 500",
        )
        .bind(ms(now))
        .fetch_all(&self.read)
        .await?;
        let mut events = Vec::new();
        for row in due {
            let (case_id, workspace_id): (CaseId, WorkspaceId) =
                (row.try_get("id")?, row.try_get("workspace_id")?);
            let mut tx = self.begin().await?;
            let locked = Self::lock(&mut tx, workspace_id).await?;
            let state = Self::case_state(&mut tx, workspace_id, case_id).await?;
            let mut log = Log::new(workspace_id, locked.last_seq);
            if Self::wake_in_tx(
                &mut tx,
                &mut log,
                &state,
                &locked.case_prefix,
                "time",
                None,
                Some(ms(now)),
            )
            .await?
            {
                events.extend(Self::commit(tx, log, ()).await?.events);
            }
        }
        Ok(events)
    }
}
