//! The case histories a report counts (`domain::reports`): the customer messages, replies,
//! assignments and closes of every case touched in a time range, from the permanent tables (the
//! live event log is pruned after a week).

use super::*;

/// The cases with a customer message, a reply or a status change in the range.
const TOUCHED: &str = "SELECT case_id FROM messages WHERE workspace_id = $1 AND created_at >= $2 \
                       AND created_at < $3 AND kind IN ('inbound', 'reply') \
                       UNION SELECT case_id FROM timeline WHERE workspace_id = $1 AND created_at \
                       >= $2 AND created_at < $3 AND kind = 'status'";

impl SqlStore {
    pub(super) async fn report_histories(
        &self,
        workspace_id: WorkspaceId,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<crate::domain::reports::History>> {
        use crate::domain::reports::{Happening, History};

        let messages = sqlx::query(&format!(
            "SELECT case_id, created_at, kind, author_id FROM messages \
             WHERE workspace_id = $1 AND created_at < $3 AND kind IN ('inbound', 'reply') AND \
             case_id IN ({TOUCHED}) \
             ORDER BY case_id, created_at"
        ))
        .bind(workspace_id)
        .bind(ms(start))
        .bind(ms(end))
        .fetch_all(&self.read)
        .await?;
        let timeline = sqlx::query(&format!(
            "SELECT case_id, created_at, kind, actor_id, to_id, detail FROM timeline \
             WHERE workspace_id = $1 AND created_at < $3 AND kind IN ('assigned', 'status') AND \
             case_id IN ({TOUCHED}) \
             ORDER BY case_id, created_at"
        ))
        .bind(workspace_id)
        .bind(ms(start))
        .bind(ms(end))
        .fetch_all(&self.read)
        .await?;

        // Per case: (time, order within the same instant, what happened). A customer's
        // message comes before the assignment the same transaction made.
        let mut cases: BTreeMap<CaseId, Vec<(i64, u8, Happening)>> = BTreeMap::new();
        for r in &messages {
            let happening = match parse_message_kind(&r.try_get::<String, _>("kind")?)? {
                MessageKind::Inbound => Happening::Inbound,
                MessageKind::Automated | MessageKind::Reply | MessageKind::Note => {
                    match r.try_get::<Option<TeammateId>, _>("author_id")? {
                        Some(author) => Happening::Reply { author },
                        None => continue,
                    }
                }
            };
            cases.entry(r.try_get("case_id")?).or_default().push((
                r.try_get("created_at")?,
                0,
                happening,
            ));
        }
        for r in &timeline {
            let happening = if parse_timeline_kind(&r.try_get::<String, _>("kind")?)?
                == TimelineKind::Assigned
            {
                Happening::Assigned {
                    to: r.try_get("to_id")?,
                }
            } else {
                let detail: serde_json::Value =
                    serde_json::from_str(&r.try_get::<String, _>("detail")?).unwrap_or_default();
                match detail
                    .get("to")
                    .and_then(|s| s.as_str())
                    .and_then(Status::parse)
                {
                    Some(status) if status.is_closed() => Happening::Closed {
                        actor: r.try_get("actor_id")?,
                    },
                    _ => continue,
                }
            };
            cases.entry(r.try_get("case_id")?).or_default().push((
                r.try_get("created_at")?,
                1,
                happening,
            ));
        }
        Ok(cases
            .into_iter()
            .map(|(case_id, mut items)| {
                items.sort_by_key(|(at, order, _)| (*at, *order));
                History {
                    case_id,
                    items: items
                        .into_iter()
                        .map(|(at, _, h)| (from_ms(at), h))
                        .collect(),
                }
            })
            .collect())
    }
}
