//! A case's status and its follow-up date, including the follow-ups that fall due on their own.

use super::*;

impl SqlStore {
    /// A status change as every write records it: a timeline entry and a `case.status_changed`
    /// event.
    pub(super) fn record_status(
        log: &mut Log,
        case: &CaseState,
        number: String,
        status: Status,
        actor: Option<TeammateId>,
    ) {
        let detail = serde_json::json!({ "from": case.status, "to": status });
        log.timeline(case.id, TimelineKind::Status, actor, None, None, detail);
        log.push(EventKind::CaseStatusChanged {
            case_id: case.id,
            number,
            status,
            previous_status: case.status,
            actor_id: actor,
            assignee_id: case.assignee_id,
        });
    }

    pub(super) async fn set_status(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        status: Status,
    ) -> Result<Committed<Case>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let state = Self::case_state(&mut tx, workspace_id, case_id).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        if state.status != status {
            let now = ms(log.now);
            let closed_at = match (state.status.is_closed(), status.is_closed()) {
                (_, false) => None,
                (true, true) => state.closed_at,
                (false, true) => Some(now),
            };
            sqlx::query(
                "UPDATE cases SET status = $2, closed_at = $3, queued_at = CASE \
                 WHEN $3 IS NULL THEN queued_at END, snoozed_until = CASE \
                 WHEN $3 IS NULL THEN snoozed_until END, version = version + 1 WHERE id = $1",
            )
            .bind(case_id)
            .bind(status.as_str())
            .bind(closed_at)
            .execute(&mut *tx)
            .await?;
            let number = format_number(&locked.case_prefix, state.number);
            let actor = Some(actor_id);
            Self::record_status(&mut log, &state, number, status, actor);
        }
        self.drain_queue(&mut tx, &mut log, &locked.case_prefix)
            .await?;
        let case = Self::case_in_tx(&mut tx, workspace_id, actor_id, case_id).await?;
        Self::commit(tx, log, case).await
    }

    pub(super) async fn set_follow_up(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<Committed<Case>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let state = Self::case_state(&mut tx, workspace_id, case_id).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        sqlx::query("UPDATE cases SET follow_up_at = $2, version = version + 1 WHERE id = $1")
            .bind(case_id)
            .bind(due_at.map(ms))
            .execute(&mut *tx)
            .await?;
        log.timeline(
            case_id,
            TimelineKind::FollowUpSet,
            Some(actor_id),
            None,
            None,
            serde_json::json!({ "due_at": due_at }),
        );
        log.push(EventKind::FollowUpSet {
            case_id,
            number: format_number(&locked.case_prefix, state.number),
            due_at,
            actor_id,
        });
        let case = Self::case_in_tx(&mut tx, workspace_id, actor_id, case_id).await?;
        Self::commit(tx, log, case).await
    }

    pub(super) async fn fire_due_follow_ups(&self, now: DateTime<Utc>) -> Result<Vec<Event>> {
        let due = sqlx::query(
            "SELECT id, workspace_id FROM cases WHERE follow_up_at IS NOT NULL \
             AND follow_up_at <= $1 ORDER BY follow_up_at LIMIT 500",
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
            // Another instance may have fired it first: claim it under the lock.
            let claimed = sqlx::query(
                "UPDATE cases SET follow_up_at = NULL, version = version + 1 WHERE id = $1 \
                 AND follow_up_at IS NOT NULL AND follow_up_at <= $2",
            )
            .bind(case_id)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() == 0 {
                continue;
            }
            let state = Self::case_state(&mut tx, workspace_id, case_id).await?;
            let mut log = Log::new(workspace_id, locked.last_seq);
            log.timeline(
                case_id,
                TimelineKind::FollowUpDue,
                None,
                None,
                None,
                serde_json::json!({}),
            );
            if let Some(status) = state.status.after_follow_up_due() {
                sqlx::query("UPDATE cases SET status = $2 WHERE id = $1")
                    .bind(case_id)
                    .bind(status.as_str())
                    .execute(&mut *tx)
                    .await?;
                log.push(EventKind::CaseStatusChanged {
                    case_id,
                    number: format_number(&locked.case_prefix, state.number),
                    status,
                    previous_status: state.status,
                    actor_id: None,
                    assignee_id: state.assignee_id,
                });
            }
            events.extend(Self::commit(tx, log, ()).await?.events);
        }
        Ok(events)
    }
}
