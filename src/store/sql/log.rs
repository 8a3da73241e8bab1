//! The write lock and the event log: every write transaction takes its workspace's row first,
//! appends its events with the next `seq` numbers and queues the notifications they call for,
//! all in the one commit; readers replay the log from a `seq`.

use super::jobs::Audience;
use super::*;

/// Events written by one statement: well under either database's limit of bound values.
const EVENTS_PER_INSERT: usize = 500;
/// Notification jobs written with one request: with a chunk of events, well under the limit too.
const JOBS_PER_BATCH: usize = 200;

/// The events one transaction appends to its workspace's log.
pub(super) struct Log {
    pub workspace_id: WorkspaceId,
    pub last_seq: i64,
    pub now: DateTime<Utc>,
    pub events: Vec<Event>,
    /// Who may be pinged, when the write read it before taking the lock.
    pub audience: Option<Audience>,
    /// Timeline entries, written with the events: nothing reads them in the transaction.
    timeline: Vec<TimelineRow>,
}

/// One entry of a case's timeline, waiting for the commit.
struct TimelineRow {
    id: Uuid,
    case_id: CaseId,
    kind: TimelineKind,
    actor: Option<TeammateId>,
    from: Option<TeammateId>,
    to: Option<TeammateId>,
    detail: String,
}

impl Log {
    pub fn new(workspace_id: WorkspaceId, last_seq: i64) -> Self {
        Log {
            workspace_id,
            last_seq,
            now: Utc::now(),
            events: Vec::new(),
            audience: None,
            timeline: Vec::new(),
        }
    }

    /// Adds an entry to a case's timeline, at the transaction's time (written at the commit, in
    /// the order added).
    pub fn timeline(
        &mut self,
        case_id: CaseId,
        kind: TimelineKind,
        actor: Option<TeammateId>,
        from: Option<TeammateId>,
        to: Option<TeammateId>,
        detail: serde_json::Value,
    ) {
        self.timeline.push(TimelineRow {
            id: Uuid::now_v7(),
            case_id,
            kind,
            actor,
            from,
            to,
            detail: detail.to_string(),
        });
    }

    pub fn push(&mut self, event: EventKind) {
        self.last_seq += 1;
        self.events.push(Event {
            workspace_id: self.workspace_id,
            seq: self.last_seq,
            at: self.now,
            event,
        });
    }
}

/// What a write transaction learns when it locks its workspace row.
pub(super) struct Locked {
    pub last_seq: i64,
    pub last_case_number: i64,
    pub case_prefix: String,
    pub reopen_days: i64,
    pub category_keywords: BTreeMap<String, Vec<String>>,
}

const LOCKED_COLUMNS: &str =
    "last_seq, last_case_number, case_prefix, reopen_days, category_keywords";

fn locked_from_row(row: &DbRow) -> Result<Locked> {
    Ok(Locked {
        last_seq: row.try_get("last_seq")?,
        last_case_number: row.try_get("last_case_number")?,
        case_prefix: row.try_get("case_prefix")?,
        reopen_days: row.try_get("reopen_days")?,
        category_keywords: serde_json::from_str(&row.try_get::<String, _>("category_keywords")?)?,
    })
}

pub(super) fn event_from_row(workspace_id: WorkspaceId, row: &DbRow) -> Result<Event> {
    Ok(Event {
        workspace_id,
        seq: row.try_get("seq")?,
        at: from_ms(row.try_get("created_at")?),
        event: serde_json::from_str(&row.try_get::<String, _>("payload")?)?,
    })
}

impl SqlStore {
    pub(super) async fn begin(&self) -> Result<Tx> {
        Ok(self.write.begin().await?)
    }

    /// Takes the workspace's write lock (see `sql/mod.rs`) and reads its counters.
    pub(super) async fn lock(tx: &mut Tx, workspace_id: WorkspaceId) -> Result<Locked> {
        let row = sqlx::query(&format!(
            "UPDATE workspaces SET last_seq = last_seq WHERE id = $1 RETURNING {LOCKED_COLUMNS}"
        ))
        .bind(workspace_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        locked_from_row(&row)
    }

    /// Takes the write locks of those of `ids` that no other transaction holds, without waiting
    /// for the others (on Postgres; SQLite's one writer holds them all): a transaction that
    /// already holds a lock never waits for another, so two such can never deadlock.
    pub(super) async fn lock_free(
        tx: &mut Tx,
        ids: &[WorkspaceId],
    ) -> Result<Vec<(WorkspaceId, Locked)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<Db>::new(
            "UPDATE workspaces SET last_seq = last_seq WHERE id IN (SELECT id FROM workspaces \
             WHERE id IN (",
        );
        push_ids(&mut q, ids);
        q.push(format!("){SKIP_LOCKED}) RETURNING id, {LOCKED_COLUMNS}"));
        let rows = q.build().fetch_all(&mut **tx).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, locked_from_row(row)?)))
            .collect()
    }

    /// Writes the transaction's events, advances the workspace's `seq`, writes its timeline
    /// entries and queues the notifications the events call for, in one request (`Batch`:
    /// every round trip here is one the workspace's other writers wait for), then commits.
    pub(super) async fn commit<T>(mut tx: Tx, mut log: Log, value: T) -> Result<Committed<T>> {
        Self::append(&mut tx, &mut log).await?;
        tx.commit().await?;
        Ok(Committed {
            value,
            events: log.events,
        })
    }

    /// All `commit` writes, without the commit.
    pub(super) async fn append(tx: &mut Tx, log: &mut Log) -> Result<()> {
        Self::append_all(tx, std::slice::from_mut(log)).await
    }

    /// The `commit` writes of several workspaces' logs (a group commit), without the commit, in
    /// as few requests as the limits on one allow: one when they are small, as they nearly
    /// always are, however many workspaces there are. Each is a round trip the group's next
    /// transaction waits for.
    pub(super) async fn append_all(tx: &mut Tx, logs: &mut [Log]) -> Result<()> {
        struct Pending<'l> {
            log: &'l Log,
            events: &'l [Event],
            entries: std::vec::IntoIter<TimelineRow>,
            jobs: std::vec::IntoIter<NewJob>,
        }
        let mut pending = Vec::with_capacity(logs.len());
        for log in logs.iter_mut() {
            let jobs = Self::notification_jobs(tx, log).await?;
            let entries = std::mem::take(&mut log.timeline);
            let log: &Log = log;
            pending.push(Pending {
                log,
                events: &log.events,
                entries: entries.into_iter(),
                jobs: jobs.into_iter(),
            });
        }
        // Nearly always one pass; more only for a bulk change's hundreds of events.
        for pass in 0.. {
            let mut batch = Batch::new();
            let (mut events_left, mut entries_left, mut jobs_left) =
                (EVENTS_PER_INSERT, EVENTS_PER_INSERT, JOBS_PER_BATCH);
            for p in &mut pending {
                let log = p.log;
                if pass == 0 && !log.events.is_empty() {
                    batch
                        .statement()
                        .push("UPDATE workspaces SET last_seq = ")
                        .push_bind(log.last_seq)
                        .push(" WHERE id = ")
                        .push_bind(log.workspace_id);
                }
                let (chunk, rest) = p.events.split_at(p.events.len().min(events_left));
                p.events = rest;
                events_left -= chunk.len();
                if !chunk.is_empty() {
                    let mut rows = Vec::with_capacity(chunk.len());
                    for e in chunk {
                        rows.push((e, serde_json::to_string(&e.event)?));
                    }
                    let qb = batch.statement();
                    qb.push(
                        "INSERT INTO events (workspace_id, seq, kind, case_id, payload, created_at) ",
                    );
                    qb.push_values(rows, |mut row, (e, payload)| {
                        row.push_bind(e.workspace_id)
                            .push_bind(e.seq)
                            .push_bind(e.event.name())
                            .push_bind(e.event.case_id())
                            .push_bind(payload)
                            .push_bind(ms(e.at));
                    });
                }
                let entries: Vec<TimelineRow> = p.entries.by_ref().take(entries_left).collect();
                entries_left -= entries.len();
                if !entries.is_empty() {
                    let qb = batch.statement();
                    qb.push(
                        "INSERT INTO timeline (id, workspace_id, case_id, kind, actor_id, from_id, \
                         to_id, detail, created_at) ",
                    );
                    qb.push_values(entries, |mut row, e| {
                        row.push_bind(e.id)
                            .push_bind(log.workspace_id)
                            .push_bind(e.case_id)
                            .push_bind(e.kind.as_str())
                            .push_bind(e.actor)
                            .push_bind(e.from)
                            .push_bind(e.to)
                            .push_bind(e.detail)
                            .push_bind(ms(log.now));
                    });
                }
                for job in p.jobs.by_ref().take(jobs_left) {
                    job.push(&mut batch);
                    jobs_left -= 1;
                }
            }
            if batch.is_empty() {
                break;
            }
            batch.execute(tx).await?;
        }
        Ok(())
    }

    pub(super) async fn last_seq(&self, workspace_id: WorkspaceId) -> Result<i64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM workspaces WHERE id = $1")
            .bind(workspace_id)
            .fetch_optional(&self.read)
            .await?;
        seq.ok_or(StoreError::NotFound)
    }

    pub(super) async fn events_since(
        &self,
        workspace_id: WorkspaceId,
        since: i64,
        limit: i64,
    ) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT seq, payload, created_at FROM events WHERE workspace_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(workspace_id)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| event_from_row(workspace_id, r))
            .collect()
    }

    pub(super) async fn first_retained_seq(
        &self,
        workspace_id: WorkspaceId,
    ) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT MIN(seq) FROM events WHERE workspace_id = $1")
                .bind(workspace_id)
                .fetch_one(&self.read)
                .await?,
        )
    }

    pub(super) async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM events WHERE created_at < $1 AND seq < (SELECT w.last_seq \
             FROM workspaces w WHERE w.id = events.workspace_id)",
        )
        .bind(ms(before))
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }
}
