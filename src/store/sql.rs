//! The `Store` implementation, written once and instantiated for each backend by `sql_store!`.
//!
//! The SQL is portable (`$N` parameters, `RETURNING`, `ON CONFLICT`, times as integer
//! milliseconds); the few backend-specific bits live in `sqlite.rs` and `postgres.rs`.
//!
//! Every write transaction starts by touching its workspace row
//! (`UPDATE workspaces SET last_seq = last_seq … RETURNING`). On Postgres that takes the row lock,
//! so writers of one workspace run one after another, across every process: `seq` and case
//! numbers have no gaps and no duplicates, round-robin advances once per case, and a stale
//! `if_version` is always seen. On SQLite the single writer connection gives the same order.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{numbers, Role, Status};
use crate::error::{Error, Result};
use crate::events::{Event, EventKind};
use crate::store::{from_ms, ms};

/// The columns of a case as the API shows it; `$1` is the viewer (for `unread`).
pub(crate) const CASE_SELECT: &str = "SELECT c.id, c.number, c.status, c.assignee_id, c.version, c.category, c.subject, \
     c.returning_customer, c.preview, c.created_at, c.last_message_at, c.closed_at, c.follow_up_at, c.response_due_at, c.breached_at, c.queued_at, c.channel_id, c.snoozed_until, \
     cu.id AS customer_id, cu.name AS customer_name, cu.email AS customer_email, cu.phone AS customer_phone, \
     w.case_prefix, (c.inbound_count > COALESCE(r.seen_inbound, 0)) AS unread \
     FROM cases c JOIN customers cu ON cu.id = c.customer_id JOIN workspaces w ON w.id = c.workspace_id \
     LEFT JOIN reads r ON r.case_id = c.id AND r.teammate_id = $1";

pub(crate) const MESSAGE_COLUMNS: &str = "id, case_id, kind, author_id, channel, body, quoted, delivery_state, delivery_error, delivery_at, created_at";

pub(crate) const TEAMMATE_COLUMNS: &str =
    "id, workspace_id, name, email, role, away, removed_at, created_at, away_from, away_until, max_open";

/// The events one transaction appends to its workspace's log.
pub(crate) struct Log {
    pub workspace_id: Uuid,
    pub last_seq: i64,
    pub now: DateTime<Utc>,
    pub events: Vec<Event>,
}

impl Log {
    pub fn new(workspace_id: Uuid, last_seq: i64) -> Self {
        Log {
            workspace_id,
            last_seq,
            now: Utc::now(),
            events: Vec::new(),
        }
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
pub(crate) struct Locked {
    pub last_seq: i64,
    pub last_case_number: i64,
    pub case_prefix: String,
    pub reopen_days: i64,
    pub category_keywords: BTreeMap<String, Vec<String>>,
}

/// The case fields a write needs to decide what to do.
#[derive(Debug, Clone)]
pub(crate) struct CaseState {
    pub id: Uuid,
    pub number: i64,
    pub status: Status,
    pub assignee_id: Option<Uuid>,
    pub version: i64,
    pub closed_at: Option<i64>,
}

pub(crate) fn parse_status(s: &str) -> Result<Status> {
    Status::parse(s)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("unknown status {s:?} in the database")))
}

pub(crate) fn parse_role(s: &str) -> Result<Role> {
    Role::parse(s)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("unknown role {s:?} in the database")))
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// `%term%` for `LIKE … ESCAPE '\'`, lower-cased, with the wildcards in `term` escaped.
pub(crate) fn like_pattern(term: &str) -> String {
    let mut p = String::from("%");
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

pub(crate) fn opt_ms(v: Option<i64>) -> Option<DateTime<Utc>> {
    v.map(from_ms)
}

pub(crate) fn now_ms() -> i64 {
    ms(Utc::now())
}

pub(crate) fn format_number(prefix: &str, n: i64) -> String {
    numbers::format(prefix, n)
}

macro_rules! sql_store {
    ($Store:ident, $Db:ty, $Row:ty, $backend:expr, skip_locked = $skip_locked:expr) => {
        use std::collections::BTreeMap;

        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::{QueryBuilder, Row};
        use uuid::Uuid;

        use crate::domain::{routing, routing::Rules, status::OPEN_SQL, Role, Status};
        use crate::error::{Error, Result};
        use crate::events::{Event, EventKind};
        use crate::notify::plan::{plan_for, Plan};
        use crate::store::sql::*;
        use crate::store::*;

        type Tx = sqlx::Transaction<'static, $Db>;

        /// `id, id, …` as bound parameters, for an `IN (…)` list.
        fn push_ids(q: &mut QueryBuilder<'_, $Db>, ids: &[Uuid]) {
            let mut list = q.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
        }

        /// `WHERE` and the list's conditions: the workspace, the view, the filter and the
        /// narrowing ones (statuses, assignee, channel, dates). Lists and searches share them.
        fn push_case_filters(qb: &mut QueryBuilder<'_, $Db>, workspace_id: Uuid, viewer: Uuid, query: &CaseQuery) {
            qb.push(" WHERE c.workspace_id = ").push_bind(workspace_id);
            match query.view {
                View::Mine => {
                    qb.push(" AND c.snoozed_until IS NULL AND c.assignee_id = ").push_bind(viewer);
                }
                View::Unassigned => {
                    qb.push(" AND c.snoozed_until IS NULL AND c.assignee_id IS NULL");
                }
                View::All => {
                    qb.push(" AND c.snoozed_until IS NULL");
                }
                View::Snoozed => {
                    qb.push(" AND c.snoozed_until IS NOT NULL");
                }
            }
            if let Some(tag) = query.tag {
                qb.push(" AND EXISTS (SELECT 1 FROM case_tags ct WHERE ct.case_id = c.id AND ct.tag_id = ").push_bind(tag).push(")");
            }
            match query.filter {
                Filter::Open => {
                    qb.push(format!(" AND c.status IN {OPEN_SQL}"));
                }
                Filter::Unread => {
                    qb.push(format!(" AND c.status IN {OPEN_SQL} AND c.inbound_count > COALESCE(r.seen_inbound, 0)"));
                }
                Filter::Closed => {
                    qb.push(format!(" AND c.status NOT IN {OPEN_SQL}"));
                }
                Filter::Breached => {
                    qb.push(format!(" AND c.status IN {OPEN_SQL} AND c.breached_at IS NOT NULL"));
                }
            }
            if !query.statuses.is_empty() {
                qb.push(" AND c.status IN (");
                let mut list = qb.separated(", ");
                for status in &query.statuses {
                    list.push_bind(status.as_str());
                }
                qb.push(")");
            }
            if let Some(id) = query.assignee_id {
                qb.push(" AND c.assignee_id = ").push_bind(id);
            }
            if let Some(id) = query.channel_id {
                qb.push(" AND c.channel_id = ").push_bind(id);
            }
            if let Some(at) = query.since {
                qb.push(" AND c.last_message_at >= ").push_bind(at);
            }
            if let Some(at) = query.until {
                qb.push(" AND c.last_message_at < ").push_bind(at);
            }
        }

        fn teammate_from_row(row: &$Row) -> Result<Teammate> {
            let away_from: Option<i64> = row.try_get("away_from")?;
            let away_until: Option<i64> = row.try_get("away_until")?;
            Ok(Teammate {
                id: row.try_get("id")?,
                workspace_id: row.try_get("workspace_id")?,
                name: row.try_get("name")?,
                email: row.try_get("email")?,
                role: parse_role(&row.try_get::<String, _>("role")?)?,
                away: routing::is_away(row.try_get("away")?, away_from, away_until, now_ms()),
                active: row.try_get::<Option<i64>, _>("removed_at")?.is_none(),
                created_at: from_ms(row.try_get("created_at")?),
                away_from: away_from.map(from_ms),
                away_until: away_until.map(from_ms),
                max_open: row.try_get("max_open")?,
            })
        }

        fn workspace_from_row(row: &$Row) -> Result<Workspace> {
            Ok(Workspace {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                case_prefix: row.try_get("case_prefix")?,
                reopen_days: row.try_get("reopen_days")?,
                category_keywords: serde_json::from_str(&row.try_get::<String, _>("category_keywords")?)?,
                ingest_token: Some(row.try_get("ingest_token")?),
                tags_locked: row.try_get("tags_locked")?,
                require_totp: row.try_get("require_totp")?,
                created_at: from_ms(row.try_get("created_at")?),
            })
        }

        fn case_from_row(row: &$Row) -> Result<Case> {
            let prefix: String = row.try_get("case_prefix")?;
            Ok(Case {
                id: row.try_get("id")?,
                number: format_number(&prefix, row.try_get("number")?),
                status: parse_status(&row.try_get::<String, _>("status")?)?,
                assignee_id: row.try_get("assignee_id")?,
                version: row.try_get("version")?,
                category: row.try_get("category")?,
                subject: row.try_get("subject")?,
                customer: Customer {
                    id: row.try_get("customer_id")?,
                    name: row.try_get("customer_name")?,
                    email: row.try_get("customer_email")?,
                    phone: row.try_get("customer_phone")?,
                },
                returning: row.try_get("returning_customer")?,
                preview: row.try_get("preview")?,
                last_message_at: from_ms(row.try_get("last_message_at")?),
                follow_up_at: opt_ms(row.try_get("follow_up_at")?),
                created_at: from_ms(row.try_get("created_at")?),
                closed_at: opt_ms(row.try_get("closed_at")?),
                unread: row.try_get("unread")?,
                channel_id: row.try_get("channel_id")?,
                response_due_at: opt_ms(row.try_get("response_due_at")?),
                breached_at: opt_ms(row.try_get("breached_at")?),
                queued_at: opt_ms(row.try_get("queued_at")?),
                snoozed_until: opt_ms(row.try_get("snoozed_until")?),
                tags: Vec::new(),
                search: None,
            })
        }

        fn message_from_row(r: &$Row) -> Result<Message> {
            let delivery = match r.try_get::<Option<String>, _>("delivery_state")? {
                Some(state) => Some(Delivery {
                    state,
                    error: r.try_get("delivery_error")?,
                    at: from_ms(r.try_get::<Option<i64>, _>("delivery_at")?.unwrap_or_default()),
                }),
                None => None,
            };
            Ok(Message {
                id: r.try_get("id")?,
                case_id: r.try_get("case_id")?,
                kind: r.try_get("kind")?,
                author_id: r.try_get("author_id")?,
                channel: r.try_get("channel")?,
                body: r.try_get("body")?,
                quoted: r.try_get("quoted")?,
                delivery,
                attachments: Vec::new(),
                created_at: from_ms(r.try_get("created_at")?),
            })
        }

        fn event_from_row(workspace_id: Uuid, row: &$Row) -> Result<Event> {
            Ok(Event {
                workspace_id,
                seq: row.try_get("seq")?,
                at: from_ms(row.try_get("created_at")?),
                event: serde_json::from_str(&row.try_get::<String, _>("payload")?)?,
            })
        }

        fn case_state_from_row(row: &$Row) -> Result<CaseState> {
            Ok(CaseState {
                id: row.try_get("id")?,
                number: row.try_get("number")?,
                status: parse_status(&row.try_get::<String, _>("status")?)?,
                assignee_id: row.try_get("assignee_id")?,
                version: row.try_get("version")?,
                closed_at: row.try_get("closed_at")?,
            })
        }

        impl $Store {
            async fn begin(&self) -> Result<Tx> {
                Ok(self.write.begin().await?)
            }

            /// Takes the workspace's write lock (see the module doc) and reads its counters.
            async fn lock(tx: &mut Tx, workspace_id: Uuid) -> Result<Locked> {
                let row = sqlx::query(
                    "UPDATE workspaces SET last_seq = last_seq WHERE id = $1 \
                     RETURNING last_seq, last_case_number, case_prefix, reopen_days, category_keywords",
                )
                .bind(workspace_id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(Error::NotFound)?;
                Ok(Locked {
                    last_seq: row.try_get("last_seq")?,
                    last_case_number: row.try_get("last_case_number")?,
                    case_prefix: row.try_get("case_prefix")?,
                    reopen_days: row.try_get("reopen_days")?,
                    category_keywords: serde_json::from_str(&row.try_get::<String, _>("category_keywords")?)?,
                })
            }

            /// Writes the transaction's events and advances the workspace's `seq`, then commits.
            async fn commit<T>(mut tx: Tx, log: Log, value: T) -> Result<Committed<T>> {
                for e in &log.events {
                    sqlx::query("INSERT INTO events (workspace_id, seq, kind, case_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(e.workspace_id)
                        .bind(e.seq)
                        .bind(e.event.name())
                        .bind(e.event.case_id())
                        .bind(serde_json::to_string(&e.event)?)
                        .bind(ms(e.at))
                        .execute(&mut *tx)
                        .await?;
                }
                Self::enqueue_notifications(&mut tx, &log).await?;
                if !log.events.is_empty() {
                    sqlx::query("UPDATE workspaces SET last_seq = $2 WHERE id = $1")
                        .bind(log.workspace_id)
                        .bind(log.last_seq)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(Committed { value, events: log.events })
            }

            /// Queues the pushes and emails the transaction's events call for, in the same
            /// transaction: who gets pinged is `domain::pings`; whether they are online, still
            /// the assignee, or have read the case is checked again when the job runs.
            async fn enqueue_notifications(tx: &mut Tx, log: &Log) -> Result<()> {
                let plans: Vec<(&Event, Plan)> = log.events.iter().filter_map(|e| plan_for(&e.event).map(|p| (e, p))).collect();
                if plans.is_empty() {
                    return Ok(());
                }
                let rows = sqlx::query("SELECT id, removed_at, notify_web_push, notify_email, notify_unassigned, email_delay_secs FROM teammates WHERE workspace_id = $1")
                    .bind(log.workspace_id)
                    .fetch_all(&mut **tx)
                    .await?;
                let mut team = Vec::new();
                let mut prefs = std::collections::HashMap::new();
                for r in &rows {
                    let id: Uuid = r.try_get("id")?;
                    let active = r.try_get::<Option<i64>, _>("removed_at")?.is_none();
                    team.push(crate::domain::pings::Candidate { id, active, wants_unassigned: r.try_get("notify_unassigned")? });
                    prefs.insert(id, (r.try_get::<bool, _>("notify_web_push")?, r.try_get::<bool, _>("notify_email")?, r.try_get::<i64, _>("email_delay_secs")?));
                }
                let now = ms(log.now);
                for (event, plan) in plans {
                    let recipients = crate::domain::pings::recipients(plan.happening(), plan.assignee, plan.actor, &team);
                    if recipients.is_empty() {
                        continue;
                    }
                    let customer: Option<String> = match plan.case_id {
                        Some(case_id) => sqlx::query_scalar("SELECT cu.name FROM cases c JOIN customers cu ON cu.id = c.customer_id WHERE c.id = $1").bind(case_id).fetch_optional(&mut **tx).await?,
                        None => None,
                    };
                    let payload = plan.payload(customer.as_deref());
                    for teammate in recipients {
                        let Some((web_push, email, delay)) = prefs.get(&teammate).copied() else { continue };
                        if web_push {
                            let subs: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM push_subscriptions WHERE teammate_id = $1").bind(teammate).fetch_all(&mut **tx).await?;
                            for sub in subs {
                                let key = format!("push:{sub}:{}:{}", log.workspace_id, event.seq);
                                Self::insert_job(tx, log.workspace_id, teammate, plan.case_id, Some(sub), "push", plan.reason, &key, &payload, now).await?;
                            }
                        }
                        if email && plan.emails {
                            let key = format!("email:{teammate}:{}", plan.case_id.map(|c| c.to_string()).unwrap_or_default());
                            Self::insert_job(tx, log.workspace_id, teammate, plan.case_id, None, "email", plan.reason, &key, &payload, now + delay * 1000).await?;
                        }
                    }
                }
                Ok(())
            }

            #[allow(clippy::too_many_arguments)] // one column each
            async fn insert_job(tx: &mut Tx, workspace_id: Uuid, teammate: Uuid, case_id: Option<Uuid>, sub: Option<Uuid>, channel: &str, reason: &str, key: &str, payload: &serde_json::Value, due_at: i64) -> Result<()> {
                // A pending email for the same case absorbs the newer message (one email per window).
                sqlx::query(
                    "INSERT INTO notification_jobs (id, workspace_id, teammate_id, case_id, subscription_id, channel, reason, dedupe_key, payload, state, attempts, due_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $11) \
                     ON CONFLICT (dedupe_key) WHERE state = 'pending' DO UPDATE SET payload = excluded.payload",
                )
                .bind(Uuid::now_v7())
                .bind(workspace_id)
                .bind(teammate)
                .bind(case_id)
                .bind(sub)
                .bind(channel)
                .bind(reason)
                .bind(key)
                .bind(payload.to_string())
                .bind(due_at)
                .bind(now_ms())
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn case_state(tx: &mut Tx, workspace_id: Uuid, case_id: Uuid) -> Result<CaseState> {
                let row = sqlx::query("SELECT id, number, status, assignee_id, version, closed_at FROM cases WHERE id = $1 AND workspace_id = $2")
                    .bind(case_id)
                    .bind(workspace_id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(Error::NotFound)?;
                case_state_from_row(&row)
            }

            async fn case_in_tx(tx: &mut Tx, workspace_id: Uuid, viewer: Uuid, case_id: Uuid) -> Result<Case> {
                let sql = format!("{CASE_SELECT} WHERE c.id = $2 AND c.workspace_id = $3");
                let row = sqlx::query(&sql).bind(viewer).bind(case_id).bind(workspace_id).fetch_optional(&mut **tx).await?;
                let mut case = [case_from_row(&not_found_if_none(row)?)?];
                Self::put_tags(&mut case, Self::tags_of(&mut **tx, &[case_id]).await?);
                let [case] = case;
                Ok(case)
            }

            #[allow(clippy::too_many_arguments)] // one column each
            async fn timeline(tx: &mut Tx, workspace_id: Uuid, case_id: Uuid, kind: &str, actor: Option<Uuid>, from: Option<Uuid>, to: Option<Uuid>, detail: serde_json::Value, at: i64) -> Result<()> {
                sqlx::query("INSERT INTO timeline (id, workspace_id, case_id, kind, actor_id, from_id, to_id, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                    .bind(Uuid::now_v7())
                    .bind(workspace_id)
                    .bind(case_id)
                    .bind(kind)
                    .bind(actor)
                    .bind(from)
                    .bind(to)
                    .bind(detail.to_string())
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            /// The active teammates of a workspace, for rules, pings and validation.
            async fn team_in_tx(tx: &mut Tx, workspace_id: Uuid) -> Result<Vec<Teammate>> {
                let sql = format!("SELECT {TEAMMATE_COLUMNS} FROM teammates WHERE workspace_id = $1 AND removed_at IS NULL");
                let rows = sqlx::query(&sql).bind(workspace_id).fetch_all(&mut **tx).await?;
                rows.iter().map(teammate_from_row).collect()
            }

            /// An assignee must be an active teammate of this workspace with an assignable role.
            async fn check_assignable(tx: &mut Tx, workspace_id: Uuid, id: Uuid, field: &'static str) -> Result<Teammate> {
                let sql = format!("SELECT {TEAMMATE_COLUMNS} FROM teammates WHERE id = $1 AND workspace_id = $2");
                let row = sqlx::query(&sql).bind(id).bind(workspace_id).fetch_optional(&mut **tx).await?;
                let t = match row {
                    Some(row) => teammate_from_row(&row)?,
                    None => return Err(Error::invalid(field, "no such teammate in this workspace")),
                };
                if !t.active {
                    return Err(Error::invalid(field, "this teammate was removed from the workspace"));
                }
                if !t.role.can_be_assigned() {
                    return Err(Error::invalid(field, "viewers cannot be assigned cases"));
                }
                Ok(t)
            }

            /// Moves every open case of `from` to `to`: one timeline entry per case, one summary event.
            async fn move_open_cases(tx: &mut Tx, log: &mut Log, actor: Uuid, from: Uuid, to: Option<Uuid>, reason: &str) -> Result<usize> {
                let sql = format!("SELECT id FROM cases WHERE workspace_id = $1 AND assignee_id = $2 AND status IN {OPEN_SQL} ORDER BY number");
                let ids: Vec<Uuid> = sqlx::query_scalar(&sql).bind(log.workspace_id).bind(from).fetch_all(&mut **tx).await?;
                let at = ms(log.now);
                for id in &ids {
                    sqlx::query("UPDATE cases SET assignee_id = $2, version = version + 1 WHERE id = $1")
                        .bind(id)
                        .bind(to)
                        .execute(&mut **tx)
                        .await?;
                    Self::timeline(tx, log.workspace_id, *id, "assigned", Some(actor), Some(from), to, serde_json::json!({ "reason": reason }), at).await?;
                }
                if !ids.is_empty() {
                    log.push(EventKind::CasesBulkReassigned { from_id: from, to_id: to, case_ids: ids.clone(), actor_id: actor });
                }
                Ok(ids.len())
            }

            async fn find_customer(tx: &mut Tx, workspace_id: Uuid, email: Option<&str>, phone: Option<&str>) -> Result<Option<Uuid>> {
                if let Some(email) = email {
                    let found: Option<Uuid> = sqlx::query_scalar("SELECT COALESCE(merged_into, id) FROM customers WHERE workspace_id = $1 AND email = $2 ORDER BY created_at LIMIT 1")
                        .bind(workspace_id)
                        .bind(email)
                        .fetch_optional(&mut **tx)
                        .await?;
                    if found.is_some() {
                        return Ok(found);
                    }
                }
                if let Some(phone) = phone {
                    return Ok(sqlx::query_scalar("SELECT COALESCE(merged_into, id) FROM customers WHERE workspace_id = $1 AND phone = $2 ORDER BY created_at LIMIT 1")
                        .bind(workspace_id)
                        .bind(phone)
                        .fetch_optional(&mut **tx)
                        .await?);
                }
                Ok(None)
            }

            async fn inbound_tx(&self, workspace_id: Uuid, m: &Inbound) -> Result<Committed<InboundOutcome>> {
                let mut tx = self.begin().await?;
                let locked = Self::lock(&mut tx, workspace_id).await?;
                if let Some(ext) = &m.external_id {
                    let seen = sqlx::query("SELECT c.id, c.number, c.assignee_id FROM messages m JOIN cases c ON c.id = m.case_id WHERE m.workspace_id = $1 AND m.external_id = $2")
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
                        return Ok(Committed { value: outcome, events: vec![] });
                    }
                }
                let mut log = Log::new(workspace_id, locked.last_seq);
                let now = ms(log.now);

                let existing_customer = Self::find_customer(&mut tx, workspace_id, m.email.as_deref(), m.phone.as_deref()).await?;
                let customer_id = match existing_customer {
                    Some(id) => {
                        // Learn the other contact detail if this message brings it.
                        sqlx::query("UPDATE customers SET email = COALESCE(email, $2), phone = COALESCE(phone, $3) WHERE id = $1")
                            .bind(id)
                            .bind(&m.email)
                            .bind(&m.phone)
                            .execute(&mut *tx)
                            .await?;
                        id
                    }
                    None => {
                        let id = Uuid::now_v7();
                        sqlx::query("INSERT INTO customers (id, workspace_id, name, email, phone, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
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
                let latest = match (threaded, existing_customer) {
                    (Some(case), _) => Some(case),
                    (None, Some(customer)) => sqlx::query("SELECT id, number, status, assignee_id, version, closed_at FROM cases WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 1")
                        .bind(customer)
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|row| case_state_from_row(&row))
                        .transpose()?,
                    (None, None) => None,
                };
                let window_ms = locked.reopen_days.saturating_mul(24 * 3600 * 1000);
                let (case, created, reopened) = match latest {
                    // A machine's mail (auto-reply, bounce, list) joins its case without reopening it.
                    Some(c) if automated => (c, false, false),
                    Some(c) if c.status.is_open() => (c, false, false),
                    Some(c) if c.closed_at.is_some_and(|closed| now - closed <= window_ms) => (c, false, true),
                    _ => {
                        let number = locked.last_case_number + 1;
                        let category = m.category.clone().or_else(|| {
                            let text = format!("{} {}", m.subject.as_deref().unwrap_or(""), m.body);
                            routing::detect_category(&locked.category_keywords, &text)
                        });
                        let assignee = self.auto_assign(&mut tx, workspace_id, category.as_deref()).await?;
                        let id = Uuid::now_v7();
                        sqlx::query(
                            "INSERT INTO cases (id, workspace_id, number, status, assignee_id, version, category, subject, customer_id, returning_customer, preview, created_at, last_message_at) \
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
                        sqlx::query("UPDATE workspaces SET last_case_number = $2 WHERE id = $1").bind(workspace_id).bind(number).execute(&mut *tx).await?;
                        Self::timeline(&mut tx, workspace_id, id, "created", None, None, None, serde_json::json!({ "channel": m.channel }), now).await?;
                        if assignee.is_some() {
                            Self::timeline(&mut tx, workspace_id, id, "assigned", None, None, assignee, serde_json::json!({ "reason": "auto_assign" }), now).await?;
                        } else {
                            Self::enqueue_if_routed(&mut tx, workspace_id, id, now).await?;
                        }
                        log.push(EventKind::CaseCreated {
                            case_id: id,
                            number: format_number(&locked.case_prefix, number),
                            assignee_id: assignee,
                            customer_name: m.from_name.clone(),
                            category,
                        });
                        let state = CaseState { id, number, status: Status::NeedsReply, assignee_id: assignee, version: 1, closed_at: None };
                        (state, true, false)
                    }
                };
                let mut case = case;
                // The customer starts waiting: the first-response clock runs until a reply.
                if !automated && (created || case.status != Status::NeedsReply) {
                    Self::start_response_clock(&mut tx, workspace_id, case.id, now).await?;
                }
                if !created && !automated {
                    self.reroute_if_unfit(&mut tx, &mut log, &mut case, &locked.case_prefix).await?;
                    // The customer wrote: a snoozed case comes back now (its owner is pinged by
                    // the message itself).
                    Self::wake_in_tx(&mut tx, &mut log, &case, &locked.case_prefix, "customer", None, None).await?;
                }
                let number = format_number(&locked.case_prefix, case.number);
                if reopened {
                    Self::timeline(&mut tx, workspace_id, case.id, "reopened", None, None, None, serde_json::json!({}), now).await?;
                }
                if !created && !automated && case.status != Status::NeedsReply {
                    log.push(EventKind::CaseStatusChanged {
                        case_id: case.id,
                        number: number.clone(),
                        status: Status::NeedsReply,
                        previous_status: case.status,
                        actor_id: None,
                        assignee_id: case.assignee_id,
                    });
                    Self::timeline(&mut tx, workspace_id, case.id, "status", None, None, None, serde_json::json!({ "from": case.status, "to": Status::NeedsReply }), now).await?;
                }
                let message_id = Uuid::now_v7();
                let kind = if automated { "automated" } else { "inbound" };
                sqlx::query("INSERT INTO messages (id, workspace_id, case_id, kind, author_id, channel, body, external_id, mail_id, quoted, created_at) VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, $8, $9, $10)")
                    .bind(message_id)
                    .bind(workspace_id)
                    .bind(case.id)
                    .bind(kind)
                    .bind(&m.channel)
                    .bind(&m.body)
                    .bind(&m.external_id)
                    .bind(m.mail.as_ref().and_then(|e| e.mail_id.clone()))
                    .bind(m.mail.as_ref().and_then(|e| e.quoted.clone()))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                if let Some(mail) = &m.mail {
                    Self::insert_attachments(&mut tx, workspace_id, message_id, &mail.attachments, now).await?;
                }
                let preview = crate::domain::input::preview(&m.body, 140);
                if automated {
                    log.push(EventKind::MessageCreated { case_id: case.id, number: number.clone(), message_id, message_kind: kind.into(), preview, author_id: None, assignee_id: case.assignee_id });
                    let outcome = InboundOutcome { case_id: case.id, number, created, reopened, assignee_id: case.assignee_id, duplicate: false };
                    return Self::commit(tx, log, outcome).await;
                }
                sqlx::query(
                    "UPDATE cases SET status = 'needs_reply', closed_at = NULL, last_message_at = $2, last_inbound_at = $2, \
                     inbound_count = inbound_count + 1, preview = $3, version = version + $4, channel_id = COALESCE($5, channel_id) WHERE id = $1",
                )
                .bind(case.id)
                .bind(now)
                .bind(&preview)
                .bind(if created { 0i64 } else { 1i64 })
                .bind(m.channel_id)
                .execute(&mut *tx)
                .await?;
                log.push(EventKind::MessageCreated {
                    case_id: case.id,
                    number: number.clone(),
                    message_id,
                    message_kind: "inbound".into(),
                    preview,
                    author_id: None,
                    assignee_id: case.assignee_id,
                });
                let outcome = InboundOutcome { case_id: case.id, number, created, reopened, assignee_id: case.assignee_id, duplicate: false };
                Self::commit(tx, log, outcome).await
            }

            /// Runs the workspace's auto-assign rules for a new case (the caller holds the lock).
            async fn auto_assign(&self, tx: &mut Tx, workspace_id: Uuid, category: Option<&str>) -> Result<Option<Uuid>> {
                let (rules, last) = Self::rules_in_tx(tx, workspace_id).await?;
                if rules.mode == routing::Mode::Unassigned {
                    return Ok(None);
                }
                let team = Self::team_in_tx(tx, workspace_id).await?;
                let open = Self::open_counts(tx, workspace_id, &rules, &team).await?;
                let online = Self::online_set(tx, workspace_id, &rules).await?;
                let eligible = |id: Uuid| team.iter().any(|t| t.id == id && Self::fits(t, &open, &rules, &online));
                let picked = routing::pick(&rules, category, last, eligible);
                if rules.mode == routing::Mode::RoundRobin && picked.is_some() {
                    sqlx::query("UPDATE assign_rules SET rr_last = $2 WHERE workspace_id = $1").bind(workspace_id).bind(picked).execute(&mut **tx).await?;
                }
                Ok(picked)
            }

            async fn rules_in_tx(tx: &mut Tx, workspace_id: Uuid) -> Result<(Rules, Option<Uuid>)> {
                let row = sqlx::query(
                    "SELECT mode, pool, categories, fallback, rr_last, capacity, away_behaviour, online_only, response_target_minutes, take_back, business_hours \
                     FROM assign_rules WHERE workspace_id = $1",
                )
                .bind(workspace_id)
                .fetch_optional(&mut **tx)
                .await?;
                let Some(row) = row else { return Ok((Rules::default(), None)) };
                let business_hours: Option<String> = row.try_get("business_hours")?;
                let rules = Rules {
                    mode: routing::Mode::parse(&row.try_get::<String, _>("mode")?).unwrap_or_default(),
                    pool: serde_json::from_str(&row.try_get::<String, _>("pool")?)?,
                    categories: serde_json::from_str(&row.try_get::<String, _>("categories")?)?,
                    fallback: row.try_get("fallback")?,
                    capacity: row.try_get::<Option<i64>, _>("capacity")?.map(|c| c.clamp(0, u32::MAX.into()) as u32),
                    away_behaviour: routing::AwayBehaviour::parse(&row.try_get::<String, _>("away_behaviour")?).unwrap_or_default(),
                    online_only: row.try_get("online_only")?,
                    response_target_minutes: row.try_get::<Option<i64>, _>("response_target_minutes")?.map(|c| c.clamp(0, u32::MAX.into()) as u32),
                    take_back: row.try_get("take_back")?,
                    business_hours: business_hours.map(|b| serde_json::from_str(&b)).transpose()?,
                };
                Ok((rules, row.try_get("rr_last")?))
            }

            async fn insert_teammate(tx: &mut Tx, workspace_id: Uuid, name: &str, email: &str, password_hash: Option<&str>, role: Role, now: i64) -> Result<Teammate> {
                let id = Uuid::now_v7();
                let prefs = NotificationPrefs::defaults_for(role);
                let inserted = sqlx::query(
                    "INSERT INTO teammates (id, workspace_id, name, email, password_hash, role, away, notify_unassigned, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7, $8)",
                )
                .bind(id)
                .bind(workspace_id)
                .bind(name)
                .bind(email)
                .bind(password_hash)
                .bind(role.as_str())
                .bind(prefs.unassigned)
                .bind(now)
                .execute(&mut **tx)
                .await;
                match inserted {
                    Err(e) if is_unique_violation(&e) => return Err(Error::Duplicate("email")),
                    other => other?,
                };
                Ok(Teammate { id, workspace_id, name: name.into(), email: email.into(), role, away: false, active: true, created_at: from_ms(now), away_from: None, away_until: None, max_open: None })
            }
        }

        #[async_trait]
        impl Store for $Store {
            fn backend(&self) -> Backend {
                $backend
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.read).await?;
                Ok(())
            }

            async fn durability(&self) -> Result<Durability> {
                self.read_durability().await
            }

            async fn create_workspace(&self, workspace_name: &str, owner_name: &str, email: &str, password_hash: &str, ingest_token: &str) -> Result<Committed<(Workspace, Teammate)>> {
                let mut tx = self.begin().await?;
                let now = now_ms();
                let id = Uuid::now_v7();
                let keywords: BTreeMap<String, Vec<String>> = [
                    ("pricing".to_string(), vec!["price".into(), "prices".into(), "quote".into(), "cost".into()]),
                    ("complaint".to_string(), vec!["refund".into(), "complaint".into(), "broken".into()]),
                ]
                .into();
                sqlx::query("INSERT INTO workspaces (id, name, case_prefix, reopen_days, category_keywords, ingest_token, created_at) VALUES ($1, $2, 'BT', 90, $3, $4, $5)")
                    .bind(id)
                    .bind(workspace_name)
                    .bind(serde_json::to_string(&keywords)?)
                    .bind(ingest_token)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO assign_rules (workspace_id) VALUES ($1)").bind(id).execute(&mut *tx).await?;
                let owner = Self::insert_teammate(&mut tx, id, owner_name, email, Some(password_hash), Role::Owner, now).await?;
                let mut log = Log::new(id, 0);
                log.push(EventKind::TeammateChanged { teammate_id: owner.id, change: "joined".into(), actor_id: None });
                let workspace = Workspace {
                    id,
                    name: workspace_name.into(),
                    case_prefix: "BT".into(),
                    reopen_days: 90,
                    category_keywords: keywords,
                    ingest_token: Some(ingest_token.into()),
                    tags_locked: false,
                    require_totp: false,
                    created_at: from_ms(now),
                };
                Self::commit(tx, log, (workspace, owner)).await
            }

            async fn workspace(&self, id: Uuid) -> Result<Workspace> {
                let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1").bind(id).fetch_optional(&self.read).await?;
                workspace_from_row(&not_found_if_none(row)?)
            }

            async fn workspace_by_ingest_token(&self, token: &str) -> Result<Option<Workspace>> {
                let row = sqlx::query("SELECT * FROM workspaces WHERE ingest_token = $1").bind(token).fetch_optional(&self.read).await?;
                row.map(|r| workspace_from_row(&r)).transpose()
            }

            async fn update_workspace(&self, id: Uuid, actor_id: Uuid, patch: WorkspacePatch) -> Result<Committed<Workspace>> {
                let mut tx = self.begin().await?;
                let locked = Self::lock(&mut tx, id).await?;
                let mut log = Log::new(id, locked.last_seq);
                sqlx::query(
                    "UPDATE workspaces SET name = COALESCE($2, name), case_prefix = COALESCE($3, case_prefix), \
                     reopen_days = COALESCE($4, reopen_days), category_keywords = COALESCE($5, category_keywords), \
                     tags_locked = COALESCE($6, tags_locked), require_totp = COALESCE($7, require_totp) WHERE id = $1",
                )
                .bind(id)
                .bind(patch.name)
                .bind(patch.case_prefix)
                .bind(patch.reopen_days)
                .bind(patch.category_keywords.map(|k| serde_json::to_string(&k)).transpose()?)
                .bind(patch.tags_locked)
                .bind(patch.require_totp)
                .execute(&mut *tx)
                .await?;
                let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1").bind(id).fetch_one(&mut *tx).await?;
                let workspace = workspace_from_row(&row)?;
                log.push(EventKind::WorkspaceChanged { actor_id });
                Self::commit(tx, log, workspace).await
            }

            async fn set_ingest_token(&self, id: Uuid, token: &str) -> Result<()> {
                let done = sqlx::query("UPDATE workspaces SET ingest_token = $2 WHERE id = $1").bind(id).bind(token).execute(&self.write).await?;
                if done.rows_affected() == 0 {
                    return Err(Error::NotFound);
                }
                Ok(())
            }

            async fn credentials(&self, email: &str) -> Result<Option<Credentials>> {
                let sql = format!("SELECT {TEAMMATE_COLUMNS}, password_hash FROM teammates WHERE email = $1 AND removed_at IS NULL AND password_hash IS NOT NULL");
                let row = sqlx::query(&sql).bind(email).fetch_optional(&self.read).await?;
                row.map(|r| Ok(Credentials { teammate: teammate_from_row(&r)?, password_hash: r.try_get("password_hash")? })).transpose()
            }

            async fn teammate(&self, workspace_id: Uuid, id: Uuid) -> Result<Teammate> {
                let sql = format!("SELECT {TEAMMATE_COLUMNS} FROM teammates WHERE id = $1 AND workspace_id = $2");
                let row = sqlx::query(&sql).bind(id).bind(workspace_id).fetch_optional(&self.read).await?;
                teammate_from_row(&not_found_if_none(row)?)
            }

            async fn teammates(&self, workspace_id: Uuid, q: Option<&str>, which: Which) -> Result<Vec<Teammate>> {
                let mut query = QueryBuilder::<$Db>::new(format!("SELECT {TEAMMATE_COLUMNS} FROM teammates WHERE workspace_id = "));
                query.push_bind(workspace_id);
                if which != Which::EverMember {
                    query.push(" AND removed_at IS NULL");
                }
                if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
                    let pattern = like_pattern(q);
                    query.push(" AND (LOWER(name) LIKE ").push_bind(pattern.clone()).push(" ESCAPE '\\' OR LOWER(email) LIKE ").push_bind(pattern).push(" ESCAPE '\\')");
                }
                if which == Which::Assignable {
                    query.push(" AND role <> 'viewer'");
                }
                query.push(" ORDER BY LOWER(name), id");
                let rows = query.build().fetch_all(&self.read).await?;
                rows.iter().map(teammate_from_row).collect()
            }

            async fn update_teammate(&self, workspace_id: Uuid, id: Uuid, actor_id: Uuid, role: Option<Role>, away: Option<bool>) -> Result<Committed<Teammate>> {
                let mut tx = self.begin().await?;
                let locked = Self::lock(&mut tx, workspace_id).await?;
                let team = Self::team_in_tx(&mut tx, workspace_id).await?;
                let target = team.iter().find(|t| t.id == id).cloned().ok_or(Error::NotFound)?;
                if let Some(role) = role {
                    let owners = team.iter().filter(|t| t.role == Role::Owner).count();
                    if target.role == Role::Owner && role != Role::Owner && owners <= 1 {
                        return Err(Error::invalid("role", "the workspace needs at least one owner"));
                    }
                    if !role.can_be_assigned() {
                        let sql = format!("SELECT COUNT(*) FROM cases WHERE workspace_id = $1 AND assignee_id = $2 AND status IN {OPEN_SQL}");
                        let open: i64 = sqlx::query_scalar(&sql).bind(workspace_id).bind(id).fetch_one(&mut *tx).await?;
                        if open > 0 {
                            return Err(Error::invalid("role", format!("this teammate owns {open} open cases; reassign them before making them a viewer")));
                        }
                    }
                }
                sqlx::query("UPDATE teammates SET role = COALESCE($2, role), away = COALESCE($3, away) WHERE id = $1")
                    .bind(id)
                    .bind(role.map(Role::as_str))
                    .bind(away)
                    .execute(&mut *tx)
                    .await?;
                let mut log = Log::new(workspace_id, locked.last_seq);
                log.push(EventKind::TeammateChanged { teammate_id: id, change: "updated".into(), actor_id: Some(actor_id) });
                self.drain_queue(&mut tx, &mut log, &locked.case_prefix).await?;
                let updated = Teammate { role: role.unwrap_or(target.role), away: away.unwrap_or(target.away), ..target };
                Self::commit(tx, log, updated).await
            }

            async fn remove_teammate(&self, workspace_id: Uuid, actor_id: Uuid, departure: Departure) -> Result<Committed<usize>> {
                let mut tx = self.begin().await?;
                let locked = Self::lock(&mut tx, workspace_id).await?;
                let team = Self::team_in_tx(&mut tx, workspace_id).await?;
                let target = team.iter().find(|t| t.id == departure.teammate_id).cloned().ok_or(Error::NotFound)?;
                if target.role == Role::Owner && team.iter().filter(|t| t.role == Role::Owner).count() <= 1 {
                    return Err(Error::invalid("teammate", "the last owner cannot be removed"));
                }
                if let Some(to) = departure.reassign_to {
                    if to == target.id {
                        return Err(Error::invalid("reassign_to", "cannot hand cases to the teammate who is leaving"));
                    }
                    Self::check_assignable(&mut tx, workspace_id, to, "reassign_to").await?;
                }
                let mut log = Log::new(workspace_id, locked.last_seq);
                let moved = Self::move_open_cases(&mut tx, &mut log, actor_id, target.id, departure.reassign_to, "departure").await?;
                sqlx::query("UPDATE teammates SET removed_at = $2 WHERE id = $1").bind(target.id).bind(ms(log.now)).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM tokens WHERE teammate_id = $1").bind(target.id).execute(&mut *tx).await?;
                log.push(EventKind::TeammateChanged { teammate_id: target.id, change: "removed".into(), actor_id: Some(actor_id) });
                Self::commit(tx, log, moved).await
            }

            async fn prefs(&self, teammate_id: Uuid) -> Result<NotificationPrefs> {
                let row = sqlx::query("SELECT notify_web_push, notify_email, notify_chime, notify_unassigned, email_delay_secs FROM teammates WHERE id = $1")
                    .bind(teammate_id)
                    .fetch_optional(&self.read)
                    .await?;
                let row = not_found_if_none(row)?;
                Ok(NotificationPrefs {
                    web_push: row.try_get("notify_web_push")?,
                    email: row.try_get("notify_email")?,
                    chime: row.try_get("notify_chime")?,
                    unassigned: row.try_get("notify_unassigned")?,
                    email_delay_secs: row.try_get("email_delay_secs")?,
                })
            }

            async fn set_prefs(&self, teammate_id: Uuid, p: NotificationPrefs) -> Result<()> {
                sqlx::query("UPDATE teammates SET notify_web_push = $2, notify_email = $3, notify_chime = $4, notify_unassigned = $5, email_delay_secs = $6 WHERE id = $1")
                    .bind(teammate_id)
                    .bind(p.web_push)
                    .bind(p.email)
                    .bind(p.chime)
                    .bind(p.unassigned)
                    .bind(p.email_delay_secs)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn create_token(&self, teammate_id: Uuid, token_hash: &str, kind: TokenKind, expires_at: Option<DateTime<Utc>>, client: &ClientInfo) -> Result<Uuid> {
                let id = Uuid::new_v4();
                sqlx::query("INSERT INTO tokens (token_hash, teammate_id, kind, created_at, expires_at, id, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(token_hash)
                    .bind(teammate_id)
                    .bind(kind.as_str())
                    .bind(now_ms())
                    .bind(expires_at.map(ms))
                    .bind(id)
                    .bind(client.ip.as_deref())
                    .bind(client.user_agent.as_deref())
                    .execute(&self.write)
                    .await?;
                Ok(id)
            }

            async fn token_teammate(&self, token_hash: &str) -> Result<Option<TokenOwner>> {
                let row = sqlx::query(
                    "SELECT t.id, t.workspace_id, t.name, t.email, t.role, t.away, t.removed_at, t.created_at, t.away_from, t.away_until, t.max_open, \
                     k.id AS token_id, k.kind AS token_kind, k.expires_at, k.last_used_at, \
                     (w.require_totp AND NOT EXISTS (SELECT 1 FROM totp z WHERE z.teammate_id = t.id AND z.confirmed_at IS NOT NULL)) AS totp_pending \
                     FROM tokens k JOIN teammates t ON t.id = k.teammate_id JOIN workspaces w ON w.id = t.workspace_id \
                     WHERE k.token_hash = $1 AND t.removed_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)",
                )
                .bind(token_hash)
                .bind(now_ms())
                .fetch_optional(&self.read)
                .await?;
                row.map(|r| {
                    let kind = if r.try_get::<String, _>("token_kind")? == "api" { TokenKind::Api } else { TokenKind::Session };
                    Ok(TokenOwner {
                        teammate: teammate_from_row(&r)?,
                        id: r.try_get("token_id")?,
                        kind,
                        expires_at: r.try_get::<Option<i64>, _>("expires_at")?.map(from_ms),
                        last_used_at: opt_ms(r.try_get("last_used_at")?),
                        totp_pending: r.try_get("totp_pending")?,
                    })
                })
                .transpose()
            }

            async fn delete_token(&self, token_hash: &str) -> Result<()> {
                sqlx::query("DELETE FROM tokens WHERE token_hash = $1").bind(token_hash).execute(&self.write).await?;
                Ok(())
            }

            async fn create_invite(&self, i: NewInvite) -> Result<()> {
                sqlx::query("INSERT INTO invites (token_hash, workspace_id, email, name, role, invited_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(&i.token_hash)
                    .bind(i.workspace_id)
                    .bind(&i.email)
                    .bind(&i.name)
                    .bind(i.role.as_str())
                    .bind(i.invited_by)
                    .bind(now_ms())
                    .bind(ms(i.expires_at))
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn accept_invite(&self, token_hash: &str, password_hash: &str) -> Result<Committed<(Workspace, Teammate)>> {
                let mut tx = self.begin().await?;
                let now = now_ms();
                let invite = sqlx::query("SELECT workspace_id, email, name, role FROM invites WHERE token_hash = $1 AND accepted_at IS NULL AND expires_at > $2")
                    .bind(token_hash)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(Error::NotFound)?;
                let workspace_id: Uuid = invite.try_get("workspace_id")?;
                let locked = Self::lock(&mut tx, workspace_id).await?;
                let role = parse_role(&invite.try_get::<String, _>("role")?)?;
                let email: String = invite.try_get("email")?;
                let name: String = invite.try_get("name")?;
                let teammate = Self::insert_teammate(&mut tx, workspace_id, &name, &email, Some(password_hash), role, now).await?;
                let claimed = sqlx::query("UPDATE invites SET accepted_at = $2 WHERE token_hash = $1 AND accepted_at IS NULL")
                    .bind(token_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                if claimed.rows_affected() != 1 {
                    return Err(Error::NotFound);
                }
                let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1").bind(workspace_id).fetch_one(&mut *tx).await?;
                let workspace = workspace_from_row(&row)?;
                let mut log = Log::new(workspace_id, locked.last_seq);
                log.push(EventKind::TeammateChanged { teammate_id: teammate.id, change: "joined".into(), actor_id: None });
                Self::commit(tx, log, (workspace, teammate)).await
            }

            async fn inbound(&self, workspace_id: Uuid, message: Inbound) -> Result<Committed<InboundOutcome>> {
                match self.inbound_tx(workspace_id, &message).await {
                    // Two deliveries of one webhook raced past the duplicate check of a
                    // backend without row locks: the loser answers like a redelivery.
                    Err(Error::Internal(e)) if message.external_id.is_some() && e.downcast_ref::<sqlx::Error>().is_some_and(is_unique_violation) => {
                        self.inbound_tx(workspace_id, &message).await
                    }
                    other => other,
                }
            }

            async fn cases(&self, workspace_id: Uuid, viewer: Uuid, query: CaseQuery) -> Result<Vec<Case>> {
                let prefix: String = sqlx::query_scalar("SELECT case_prefix FROM workspaces WHERE id = $1").bind(workspace_id).fetch_optional(&self.read).await?.ok_or(Error::NotFound)?;
                // Untrimmed: a trailing space says the last word is finished.
                if let Some(q) = query.q.as_deref().filter(|q| !q.trim().is_empty()) {
                    let mut cases = self.search_cases(workspace_id, viewer, &prefix, q, &query).await?;
                    let ids: Vec<Uuid> = cases.iter().map(|c| c.id).collect();
                    Self::put_tags(&mut cases, Self::tags_of(&self.read, &ids).await?);
                    return Ok(cases);
                }
                let mut qb = QueryBuilder::<$Db>::new(CASE_SELECT.replace("$1", "").trim_end().to_string());
                qb.push_bind(viewer);
                push_case_filters(&mut qb, workspace_id, viewer, &query);
                if let Some((at, id)) = query.after {
                    qb.push(" AND (c.last_message_at < ").push_bind(at);
                    qb.push(" OR (c.last_message_at = ").push_bind(at).push(" AND c.id < ").push_bind(id).push("))");
                }
                qb.push(" ORDER BY c.last_message_at DESC, c.id DESC LIMIT ").push_bind(query.limit);
                let rows = qb.build().fetch_all(&self.read).await?;
                let mut cases = rows.iter().map(case_from_row).collect::<Result<Vec<_>>>()?;
                let ids: Vec<Uuid> = cases.iter().map(|c| c.id).collect();
                Self::put_tags(&mut cases, Self::tags_of(&self.read, &ids).await?);
                Ok(cases)
            }

            async fn counts(&self, workspace_id: Uuid, viewer: Uuid) -> Result<Counts> {
                let open = format!("c.status IN {OPEN_SQL}");
                let unread = "c.inbound_count > COALESCE(r.seen_inbound, 0)";
                let mut cols = Vec::new();
                let awake = "c.snoozed_until IS NULL";
                let views = [
                    ("mine", format!("{awake} AND c.assignee_id = $1")),
                    ("unassigned", format!("{awake} AND c.assignee_id IS NULL")),
                    ("all", awake.to_string()),
                    ("snoozed", "c.snoozed_until IS NOT NULL".to_string()),
                ];
                for (view, cond) in views {
                    cols.push(format!("COUNT(CASE WHEN {cond} AND {open} THEN 1 END) AS {view}_open"));
                    cols.push(format!("COUNT(CASE WHEN {cond} AND {open} AND {unread} THEN 1 END) AS {view}_unread"));
                    cols.push(format!("COUNT(CASE WHEN {cond} AND NOT ({open}) THEN 1 END) AS {view}_closed"));
                    cols.push(format!("COUNT(CASE WHEN {cond} AND {open} AND c.breached_at IS NOT NULL THEN 1 END) AS {view}_breached"));
                }
                let sql = format!(
                    "SELECT {} FROM cases c LEFT JOIN reads r ON r.case_id = c.id AND r.teammate_id = $1 WHERE c.workspace_id = $2",
                    cols.join(", ")
                );
                let row = sqlx::query(&sql).bind(viewer).bind(workspace_id).fetch_one(&self.read).await?;
                let get = |view: &str| -> Result<FilterCounts> {
                    Ok(FilterCounts {
                        open: row.try_get(format!("{view}_open").as_str())?,
                        unread: row.try_get(format!("{view}_unread").as_str())?,
                        closed: row.try_get(format!("{view}_closed").as_str())?,
                        breached: row.try_get(format!("{view}_breached").as_str())?,
                    })
                };
                Ok(Counts { mine: get("mine")?, unassigned: get("unassigned")?, all: get("all")?, snoozed: get("snoozed")? })
            }

            async fn case(&self, workspace_id: Uuid, viewer: Uuid, id: Uuid) -> Result<Case> {
                let sql = format!("{CASE_SELECT} WHERE c.id = $2 AND c.workspace_id = $3");
                let row = sqlx::query(&sql).bind(viewer).bind(id).bind(workspace_id).fetch_optional(&self.read).await?;
                let mut case = [case_from_row(&not_found_if_none(row)?)?];
                Self::put_tags(&mut case, Self::tags_of(&self.read, &[id]).await?);
                let [case] = case;
                Ok(case)
            }

            async fn case_detail(&self, workspace_id: Uuid, viewer: Uuid, id: Uuid) -> Result<CaseDetail> {
                let case = self.case(workspace_id, viewer, id).await?;
                let messages = sqlx::query(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE case_id = $1 ORDER BY created_at, id"))
                    .bind(id)
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(message_from_row)
                    .collect::<Result<Vec<_>>>()?;
                let messages = self.with_attachments(messages).await?;
                let timeline = sqlx::query("SELECT id, kind, actor_id, from_id, to_id, detail, created_at FROM timeline WHERE case_id = $1 ORDER BY created_at, id")
                    .bind(id)
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(TimelineEntry {
                            id: r.try_get("id")?,
                            kind: r.try_get("kind")?,
                            actor_id: r.try_get("actor_id")?,
                            from_id: r.try_get("from_id")?,
                            to_id: r.try_get("to_id")?,
                            detail: serde_json::from_str(&r.try_get::<String, _>("detail")?)?,
                            at: from_ms(r.try_get("created_at")?),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(CaseDetail { case, messages, timeline })
            }

            async fn assign(&self, workspace_id: Uuid, req: AssignRequest) -> Result<Committed<Case>> {
                let mut tx = self.begin().await?;
                let locked = Self::lock(&mut tx, workspace_id).await?;
                let state = Self::case_state(&mut tx, workspace_id, req.case_id).await?;
                if req.if_version.is_some_and(|v| v != state.version) {
                    let current = Self::case_in_tx(&mut tx, workspace_id, req.actor_id, req.case_id).await?;
                    return Err(Error::Conflict {
                        message: format!("the case changed since version {}: it is at version {}", req.if_version.unwrap_or_default(), state.version),
                        current: serde_json::to_value(current)?,
                    });
                }
                if let Some(to) = req.assignee_id {
                    Self::check_assignable(&mut tx, workspace_id, to, "assignee_id").await?;
                }
                let mut log = Log::new(workspace_id, locked.last_seq);
                if state.assignee_id != req.assignee_id {
                    sqlx::query("UPDATE cases SET assignee_id = $2, queued_at = NULL, version = version + 1 WHERE id = $1").bind(state.id).bind(req.assignee_id).execute(&mut *tx).await?;
                    Self::timeline(&mut tx, workspace_id, state.id, "assigned", Some(req.actor_id), state.assignee_id, req.assignee_id, serde_json::json!({}), ms(log.now)).await?;
                    log.push(EventKind::CaseAssigned {
                        case_id: state.id,
                        number: format_number(&locked.case_prefix, state.number),
                        assignee_id: req.assignee_id,
                        previous_assignee_id: state.assignee_id,
                        actor_id: Some(req.actor_id),
                    });
                }
                self.drain_queue(&mut tx, &mut log, &locked.case_prefix).await?;
                let case = Self::case_in_tx(&mut tx, workspace_id, req.actor_id, req.case_id).await?;
                Self::commit(tx, log, case).await
            }

            async fn set_status(&self, workspace_id: Uuid, case_id: Uuid, actor_id: Uuid, status: Status) -> Result<Committed<Case>> {
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
                    sqlx::query("UPDATE cases SET status = $2, closed_at = $3, queued_at = CASE WHEN $3 IS NULL THEN queued_at END, snoozed_until = CASE WHEN $3 IS NULL THEN snoozed_until END, version = version + 1 WHERE id = $1")
                        .bind(case_id)
                        .bind(status.as_str())
                        .bind(closed_at)
                        .execute(&mut *tx)
                        .await?;
                    Self::timeline(&mut tx, workspace_id, case_id, "status", Some(actor_id), None, None, serde_json::json!({ "from": state.status, "to": status }), now).await?;
                    log.push(EventKind::CaseStatusChanged {
                        case_id,
                        number: format_number(&locked.case_prefix, state.number),
                        status,
                        previous_status: state.status,
                        actor_id: Some(actor_id),
                        assignee_id: state.assignee_id,
                    });
                }
                self.drain_queue(&mut tx, &mut log, &locked.case_prefix).await?;
                let case = Self::case_in_tx(&mut tx, workspace_id, actor_id, case_id).await?;
                Self::commit(tx, log, case).await
            }

            #[allow(clippy::too_many_arguments)] // what one message is made of
            async fn add_message(&self, workspace_id: Uuid, case_id: Uuid, actor_id: Uuid, note: bool, body: &str, mentions: &[Uuid], attachments: &[Uuid]) -> Result<Committed<Message>> {
                let mut tx = self.begin().await?;
                let locked = Self::lock(&mut tx, workspace_id).await?;
                let state = Self::case_state(&mut tx, workspace_id, case_id).await?;
                let mut log = Log::new(workspace_id, locked.last_seq);
                let now = ms(log.now);
                let number = format_number(&locked.case_prefix, state.number);
                let kind = if note { "note" } else { "reply" };
                // A reply leaves by email when the customer has an address: its job is written
                // in this transaction, so the reply and its sending commit together or not at all.
                // The case's channel picks the way out (SMS, an API webhook), else email.
                let route = if note { None } else { Self::reply_route(&mut tx, case_id).await? };
                let emailed = route.is_some();
                let delivery = emailed.then(|| Delivery { state: "queued".into(), error: None, at: log.now });
                let channel = route.map_or("internal", |r| r.1);
                let mut message = Message { id: Uuid::now_v7(), case_id, kind: kind.into(), author_id: Some(actor_id), channel: channel.into(), body: body.into(), quoted: None, delivery, attachments: Vec::new(), created_at: log.now };
                sqlx::query("INSERT INTO messages (id, workspace_id, case_id, kind, author_id, channel, body, delivery_state, delivery_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
                    .bind(message.id)
                    .bind(workspace_id)
                    .bind(case_id)
                    .bind(kind)
                    .bind(actor_id)
                    .bind(&message.channel)
                    .bind(body)
                    .bind(emailed.then_some("queued"))
                    .bind(emailed.then_some(now))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                message.attachments = Self::bind_uploads(&mut tx, workspace_id, actor_id, message.id, attachments).await?;
                if let Some((job_channel, _)) = route {
                    Self::queue_outbound(&mut tx, workspace_id, case_id, actor_id, message.id, job_channel, now).await?;
                }
                let preview = crate::domain::input::preview(body, 140);
                if note {
                    log.push(EventKind::NoteCreated { case_id, number, message_id: message.id, preview, author_id: actor_id, mentions: mentions.to_vec() });
                } else {
                    let status = state.status.after_reply();
                    sqlx::query("UPDATE cases SET status = $2, last_message_at = $3, preview = $4, response_due_at = NULL, breached_at = NULL, version = version + 1 WHERE id = $1")
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
                        message_kind: "reply".into(),
                        preview,
                        author_id: Some(actor_id),
                        assignee_id: state.assignee_id,
                    });
                    if status != state.status {
                        Self::timeline(&mut tx, workspace_id, case_id, "status", Some(actor_id), None, None, serde_json::json!({ "from": state.status, "to": status }), now).await?;
                        log.push(EventKind::CaseStatusChanged { case_id, number, status, previous_status: state.status, actor_id: Some(actor_id), assignee_id: state.assignee_id });
                    }
                }
                Self::commit(tx, log, message).await
            }

            async fn mark_read(&self, workspace_id: Uuid, case_id: Uuid, teammate_id: Uuid) -> Result<()> {
                let done = sqlx::query(
                    "INSERT INTO reads (teammate_id, case_id, seen_inbound) SELECT $1, id, inbound_count FROM cases WHERE id = $2 AND workspace_id = $3 \
                     ON CONFLICT (teammate_id, case_id) DO UPDATE SET seen_inbound = excluded.seen_inbound",
                )
                .bind(teammate_id)
                .bind(case_id)
                .bind(workspace_id)
                .execute(&self.write)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(Error::NotFound);
                }
                Ok(())
            }

            async fn set_follow_up(&self, workspace_id: Uuid, case_id: Uuid, actor_id: Uuid, due_at: Option<DateTime<Utc>>) -> Result<Committed<Case>> {
                let mut tx = self.begin().await?;
                let locked = Self::lock(&mut tx, workspace_id).await?;
                let state = Self::case_state(&mut tx, workspace_id, case_id).await?;
                let mut log = Log::new(workspace_id, locked.last_seq);
                sqlx::query("UPDATE cases SET follow_up_at = $2, version = version + 1 WHERE id = $1").bind(case_id).bind(due_at.map(ms)).execute(&mut *tx).await?;
                Self::timeline(&mut tx, workspace_id, case_id, "follow_up_set", Some(actor_id), None, None, serde_json::json!({ "due_at": due_at }), ms(log.now)).await?;
                log.push(EventKind::FollowUpSet { case_id, number: format_number(&locked.case_prefix, state.number), due_at, actor_id });
                let case = Self::case_in_tx(&mut tx, workspace_id, actor_id, case_id).await?;
                Self::commit(tx, log, case).await
            }

            async fn fire_due_follow_ups(&self, now: DateTime<Utc>) -> Result<Vec<Event>> {
                let due = sqlx::query("SELECT id, workspace_id FROM cases WHERE follow_up_at IS NOT NULL AND follow_up_at <= $1 ORDER BY follow_up_at LIMIT 500")
                    .bind(ms(now))
                    .fetch_all(&self.read)
                    .await?;
                let mut events = Vec::new();
                for row in due {
                    let (case_id, workspace_id): (Uuid, Uuid) = (row.try_get("id")?, row.try_get("workspace_id")?);
                    let mut tx = self.begin().await?;
                    let locked = Self::lock(&mut tx, workspace_id).await?;
                    // Another instance may have fired it first: claim it under the lock.
                    let claimed = sqlx::query("UPDATE cases SET follow_up_at = NULL, version = version + 1 WHERE id = $1 AND follow_up_at IS NOT NULL AND follow_up_at <= $2")
                        .bind(case_id)
                        .bind(ms(now))
                        .execute(&mut *tx)
                        .await?;
                    if claimed.rows_affected() == 0 {
                        continue;
                    }
                    let state = Self::case_state(&mut tx, workspace_id, case_id).await?;
                    let mut log = Log::new(workspace_id, locked.last_seq);
                    let at = ms(log.now);
                    Self::timeline(&mut tx, workspace_id, case_id, "follow_up_due", None, None, None, serde_json::json!({}), at).await?;
                    if let Some(status) = state.status.after_follow_up_due() {
                        sqlx::query("UPDATE cases SET status = $2 WHERE id = $1").bind(case_id).bind(status.as_str()).execute(&mut *tx).await?;
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

            async fn bulk_reassign(&self, workspace_id: Uuid, actor_id: Uuid, from: Uuid, to: Option<Uuid>) -> Result<Committed<usize>> {
                let mut tx = self.begin().await?;
                let locked = Self::lock(&mut tx, workspace_id).await?;
                let known: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM teammates WHERE id = $1 AND workspace_id = $2").bind(from).bind(workspace_id).fetch_one(&mut *tx).await?;
                if known == 0 {
                    return Err(Error::invalid("from", "no such teammate in this workspace"));
                }
                if let Some(to) = to {
                    if to == from {
                        return Err(Error::invalid("to", "must differ from `from`"));
                    }
                    Self::check_assignable(&mut tx, workspace_id, to, "to").await?;
                }
                let mut log = Log::new(workspace_id, locked.last_seq);
                let moved = Self::move_open_cases(&mut tx, &mut log, actor_id, from, to, "bulk_reassign").await?;
                Self::commit(tx, log, moved).await
            }

            async fn rules(&self, workspace_id: Uuid) -> Result<Rules> {
                let mut tx = self.read.begin().await?;
                let (rules, _) = Self::rules_in_tx(&mut tx, workspace_id).await?;
                tx.rollback().await?;
                Ok(rules)
            }

            async fn set_rules(&self, workspace_id: Uuid, actor_id: Uuid, rules: Rules) -> Result<Committed<Rules>> {
                let mut tx = self.begin().await?;
                let locked = Self::lock(&mut tx, workspace_id).await?;
                for id in &rules.pool {
                    Self::check_assignable(&mut tx, workspace_id, *id, "pool").await?;
                }
                for id in rules.categories.values() {
                    Self::check_assignable(&mut tx, workspace_id, *id, "categories").await?;
                }
                if let Some(id) = rules.fallback {
                    Self::check_assignable(&mut tx, workspace_id, id, "fallback").await?;
                }
                sqlx::query(
                    "UPDATE assign_rules SET mode = $2, pool = $3, categories = $4, fallback = $5, capacity = $6, away_behaviour = $7, \
                     online_only = $8, response_target_minutes = $9, take_back = $10, business_hours = $11 WHERE workspace_id = $1",
                )
                .bind(workspace_id)
                .bind(rules.mode.as_str())
                .bind(serde_json::to_string(&rules.pool)?)
                .bind(serde_json::to_string(&rules.categories)?)
                .bind(rules.fallback)
                .bind(rules.capacity.map(i64::from))
                .bind(rules.away_behaviour.as_str())
                .bind(rules.online_only)
                .bind(rules.response_target_minutes.map(i64::from))
                .bind(rules.take_back)
                .bind(rules.business_hours.as_ref().map(|b| b.to_string()))
                .execute(&mut *tx)
                .await?;
                let mut log = Log::new(workspace_id, locked.last_seq);
                log.push(EventKind::RulesChanged { actor_id });
                self.drain_queue(&mut tx, &mut log, &locked.case_prefix).await?;
                Self::commit(tx, log, rules).await
            }

            async fn badge(&self, workspace_id: Uuid, teammate_id: Uuid) -> Result<Badge> {
                Ok(self.badges(workspace_id, &[teammate_id]).await?.remove(&teammate_id).unwrap_or_default())
            }

            async fn badges(&self, workspace_id: Uuid, teammates: &[Uuid]) -> Result<std::collections::HashMap<Uuid, Badge>> {
                // One statement per chunk, so each teammate's counts come from one snapshot: a
                // badge computed from several statements mixes moments and can show counts that
                // were never true (negative ones too) while writers commit in between.
                // unassigned(t) = open unassigned cases with a customer message, minus those t has
                // read to the end; mine(t) = t's open cases with an unread customer message.
                let mut out: std::collections::HashMap<Uuid, Badge> = teammates.iter().map(|t| (*t, Badge::default())).collect();
                for chunk in teammates.chunks(500) {
                    let mut q = QueryBuilder::<$Db>::new("WITH un AS (SELECT COUNT(*) AS n FROM cases WHERE workspace_id = ");
                    q.push_bind(workspace_id);
                    q.push(format!(" AND assignee_id IS NULL AND status IN {OPEN_SQL} AND inbound_count > 0), \
                         mine AS (SELECT c.assignee_id AS id, COUNT(*) AS n FROM cases c \
                         LEFT JOIN reads r ON r.case_id = c.id AND r.teammate_id = c.assignee_id WHERE c.workspace_id = "));
                    q.push_bind(workspace_id);
                    q.push(format!(" AND c.status IN {OPEN_SQL} AND c.inbound_count > COALESCE(r.seen_inbound, 0) AND c.assignee_id IN ("));
                    push_ids(&mut q, chunk);
                    q.push(") GROUP BY c.assignee_id), \
                         seen AS (SELECT r.teammate_id AS id, COUNT(*) AS n FROM reads r JOIN cases c ON c.id = r.case_id WHERE c.workspace_id = ");
                    q.push_bind(workspace_id);
                    q.push(format!(" AND c.assignee_id IS NULL AND c.status IN {OPEN_SQL} AND c.inbound_count > 0 \
                         AND r.seen_inbound >= c.inbound_count AND r.teammate_id IN ("));
                    push_ids(&mut q, chunk);
                    q.push(") GROUP BY r.teammate_id) \
                         SELECT t.id, COALESCE(mine.n, 0) AS mine, \
                         CASE WHEN t.notify_unassigned THEN un.n - COALESCE(seen.n, 0) ELSE 0 END AS unassigned \
                         FROM teammates t CROSS JOIN un LEFT JOIN mine ON mine.id = t.id LEFT JOIN seen ON seen.id = t.id \
                         WHERE t.workspace_id = ");
                    q.push_bind(workspace_id);
                    q.push(" AND t.id IN (");
                    push_ids(&mut q, chunk);
                    q.push(")");
                    for row in q.build().fetch_all(&self.read).await? {
                        out.insert(row.try_get("id")?, Badge { mine: row.try_get("mine")?, unassigned: row.try_get("unassigned")? });
                    }
                }
                Ok(out)
            }

            async fn add_push_subscription(&self, teammate_id: Uuid, endpoint: &str, p256dh: &str, auth: &str) -> Result<PushSubscription> {
                let id = Uuid::now_v7();
                // The same browser subscribing again (or for another teammate) replaces its row.
                let id: Uuid = sqlx::query_scalar(
                    "INSERT INTO push_subscriptions (id, teammate_id, endpoint, p256dh, auth, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (endpoint) DO UPDATE SET teammate_id = excluded.teammate_id, p256dh = excluded.p256dh, auth = excluded.auth RETURNING id",
                )
                .bind(id)
                .bind(teammate_id)
                .bind(endpoint)
                .bind(p256dh)
                .bind(auth)
                .bind(now_ms())
                .fetch_one(&self.write)
                .await?;
                Ok(PushSubscription { id, teammate_id, endpoint: endpoint.into(), p256dh: p256dh.into(), auth: auth.into() })
            }

            async fn remove_push_subscription(&self, teammate_id: Uuid, endpoint: &str) -> Result<bool> {
                let done = sqlx::query("DELETE FROM push_subscriptions WHERE teammate_id = $1 AND endpoint = $2").bind(teammate_id).bind(endpoint).execute(&self.write).await?;
                Ok(done.rows_affected() > 0)
            }

            async fn push_subscription(&self, id: Uuid) -> Result<Option<PushSubscription>> {
                let row = sqlx::query("SELECT id, teammate_id, endpoint, p256dh, auth FROM push_subscriptions WHERE id = $1").bind(id).fetch_optional(&self.read).await?;
                row.map(|r| {
                    Ok(PushSubscription { id: r.try_get("id")?, teammate_id: r.try_get("teammate_id")?, endpoint: r.try_get("endpoint")?, p256dh: r.try_get("p256dh")?, auth: r.try_get("auth")? })
                })
                .transpose()
            }

            async fn delete_push_subscription(&self, id: Uuid) -> Result<()> {
                sqlx::query("DELETE FROM push_subscriptions WHERE id = $1").bind(id).execute(&self.write).await?;
                Ok(())
            }

            async fn claim_jobs(&self, now: DateTime<Utc>, limit: i64, lease: std::time::Duration) -> Result<Vec<Job>> {
                let sql = format!(
                    "UPDATE notification_jobs SET state = 'running', attempts = attempts + 1, locked_until = $2 \
                     WHERE id IN (SELECT id FROM notification_jobs \
                                  WHERE (state = 'pending' AND due_at <= $1) OR (state = 'running' AND locked_until < $1) \
                                  ORDER BY due_at LIMIT $3{}) \
                     RETURNING id, workspace_id, teammate_id, case_id, subscription_id, channel, reason, payload, attempts",
                    $skip_locked
                );
                let rows = sqlx::query(&sql).bind(ms(now)).bind(ms(now) + lease.as_millis() as i64).bind(limit).fetch_all(&self.write).await?;
                rows.iter()
                    .map(|r| {
                        Ok(Job {
                            id: r.try_get("id")?,
                            workspace_id: r.try_get("workspace_id")?,
                            teammate_id: r.try_get("teammate_id")?,
                            case_id: r.try_get("case_id")?,
                            subscription_id: r.try_get("subscription_id")?,
                            channel: r.try_get("channel")?,
                            reason: r.try_get("reason")?,
                            payload: serde_json::from_str(&r.try_get::<String, _>("payload")?)?,
                            attempts: r.try_get("attempts")?,
                        })
                    })
                    .collect()
            }

            async fn job_context(&self, job: &Job) -> Result<JobContext> {
                let teammate = self.teammate(job.workspace_id, job.teammate_id).await?;
                let prefs = self.prefs(job.teammate_id).await?;
                let (case_assignee, case_status, case_unread) = match job.case_id {
                    Some(case_id) => match self.case(job.workspace_id, job.teammate_id, case_id).await {
                        Ok(c) => (c.assignee_id, Some(c.status), c.unread),
                        Err(Error::NotFound) => (None, None, false),
                        Err(e) => return Err(e),
                    },
                    None => (None, None, false),
                };
                Ok(JobContext { teammate, prefs, case_assignee, case_status, case_unread })
            }

            async fn finish_job(&self, id: Uuid, outcome: &JobOutcome) -> Result<()> {
                let now = now_ms();
                let (state, error, due) = match outcome {
                    JobOutcome::Sent => ("sent", None, None),
                    JobOutcome::Skipped(why) => ("skipped", Some(why.clone()), None),
                    JobOutcome::Cancelled(why) => ("cancelled", Some(why.clone()), None),
                    JobOutcome::Failed(why) => ("failed", Some(why.clone()), None),
                    JobOutcome::Retry { at, error } => ("pending", Some(error.clone()), Some(ms(*at))),
                };
                let done = sqlx::query(
                    "UPDATE notification_jobs SET state = $2, last_error = $3, due_at = COALESCE($4, due_at), locked_until = NULL, \
                     done_at = CASE WHEN $2 = 'pending' THEN NULL ELSE $5 END WHERE id = $1 AND state = 'running'",
                )
                .bind(id)
                .bind(state)
                .bind(&error)
                .bind(due)
                .bind(now)
                .execute(&self.write)
                .await;
                match done {
                    // A newer job with the same key is already waiting: it carries this one.
                    Err(e) if is_unique_violation(&e) => {
                        sqlx::query("UPDATE notification_jobs SET state = 'cancelled', last_error = 'merged into a newer job', locked_until = NULL, done_at = $2 WHERE id = $1")
                            .bind(id)
                            .bind(now)
                            .execute(&self.write)
                            .await?;
                    }
                    other => {
                        other?;
                    }
                }
                Ok(())
            }

            async fn job_counts(&self) -> Result<Vec<(String, String, i64)>> {
                let rows = sqlx::query("SELECT channel, state, COUNT(*) AS n FROM notification_jobs GROUP BY channel, state ORDER BY channel, state").fetch_all(&self.read).await?;
                rows.iter().map(|r| Ok((r.try_get("channel")?, r.try_get("state")?, r.try_get("n")?))).collect()
            }

            async fn server_key(&self, name: &str, value: &str) -> Result<String> {
                sqlx::query("INSERT INTO server_keys (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING").bind(name).bind(value).execute(&self.write).await?;
                Ok(sqlx::query_scalar("SELECT value FROM server_keys WHERE name = $1").bind(name).fetch_one(&self.write).await?)
            }

            async fn last_seq(&self, workspace_id: Uuid) -> Result<i64> {
                let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM workspaces WHERE id = $1").bind(workspace_id).fetch_optional(&self.read).await?;
                seq.ok_or(Error::NotFound)
            }

            async fn events_since(&self, workspace_id: Uuid, since: i64, limit: i64) -> Result<Vec<Event>> {
                let rows = sqlx::query("SELECT seq, payload, created_at FROM events WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
                    .bind(workspace_id)
                    .bind(since)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(|r| event_from_row(workspace_id, r)).collect()
            }

            async fn first_retained_seq(&self, workspace_id: Uuid) -> Result<Option<i64>> {
                Ok(sqlx::query_scalar("SELECT MIN(seq) FROM events WHERE workspace_id = $1").bind(workspace_id).fetch_one(&self.read).await?)
            }

            async fn report_histories(&self, workspace_id: Uuid, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Vec<crate::domain::reports::History>> {
                self.report_histories_impl(workspace_id, start, end).await
            }

            async fn sessions(&self, teammate_id: Uuid) -> Result<Vec<SessionInfo>> {
                self.sessions_of(teammate_id).await
            }

            async fn delete_session(&self, teammate_id: Uuid, id: Uuid) -> Result<bool> {
                self.delete_session_of(teammate_id, id).await
            }

            async fn touch_token(&self, token_hash: &str, client: &ClientInfo, stale_before: DateTime<Utc>) -> Result<()> {
                self.touch_token_impl(token_hash, client, stale_before).await
            }

            async fn record_audit(&self, entry: &NewAuditEntry) -> Result<()> {
                self.record_audit_impl(entry).await
            }

            async fn audit_entries(&self, workspace_id: Uuid, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
                self.audit_entries_impl(workspace_id, query).await
            }

            async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64> {
                self.prune_audit_impl(before).await
            }

            async fn sso_config(&self, workspace_id: Uuid) -> Result<Option<SsoConfig>> {
                self.sso_config_of(workspace_id).await
            }

            async fn sso_config_for_domain(&self, domain: &str) -> Result<Option<SsoConfig>> {
                self.sso_config_for_domain_impl(domain).await
            }

            async fn put_sso_config(&self, config: &SsoConfig) -> Result<()> {
                self.put_sso_config_impl(config).await
            }

            async fn delete_sso_config(&self, workspace_id: Uuid) -> Result<bool> {
                self.delete_sso_config_impl(workspace_id).await
            }

            async fn create_sso_login(&self, state_hash: &str, login: &SsoLogin, expires_at: DateTime<Utc>) -> Result<()> {
                self.create_sso_login_impl(state_hash, login, expires_at).await
            }

            async fn take_sso_login(&self, state_hash: &str) -> Result<Option<SsoLogin>> {
                self.take_sso_login_impl(state_hash).await
            }

            async fn teammate_by_email(&self, email: &str) -> Result<Option<Teammate>> {
                self.active_teammate_by_email(email).await
            }

            async fn join_by_sso(&self, workspace_id: Uuid, name: &str, email: &str, role: Role) -> Result<Committed<Teammate>> {
                self.join_by_sso_impl(workspace_id, name, email, role).await
            }

            async fn totp(&self, teammate_id: Uuid) -> Result<Option<Totp>> {
                self.totp_get(teammate_id).await
            }

            async fn begin_totp(&self, teammate_id: Uuid, secret: &str) -> Result<()> {
                self.totp_begin(teammate_id, secret).await
            }

            async fn confirm_totp(&self, teammate_id: Uuid, step: i64, recovery_hashes: &[String]) -> Result<()> {
                self.totp_confirm(teammate_id, step, recovery_hashes).await
            }

            async fn use_totp_step(&self, teammate_id: Uuid, step: i64) -> Result<bool> {
                self.totp_use_step(teammate_id, step).await
            }

            async fn use_recovery_code(&self, teammate_id: Uuid, code_hash: &str) -> Result<bool> {
                self.totp_use_recovery(teammate_id, code_hash).await
            }

            async fn delete_totp(&self, teammate_id: Uuid) -> Result<()> {
                self.totp_delete(teammate_id).await
            }

            async fn saved_replies(&self, workspace_id: Uuid, viewer: Uuid) -> Result<Vec<SavedReply>> {
                self.saved_replies_impl(workspace_id, viewer).await
            }

            async fn saved_reply(&self, workspace_id: Uuid, viewer: Uuid, id: Uuid) -> Result<SavedReply> {
                self.saved_reply_impl(workspace_id, viewer, id).await
            }

            async fn create_saved_reply(&self, workspace_id: Uuid, owner_id: Option<Uuid>, name: &str, body: &str) -> Result<SavedReply> {
                self.create_saved_reply_impl(workspace_id, owner_id, name, body).await
            }

            async fn update_saved_reply(&self, workspace_id: Uuid, id: Uuid, name: Option<&str>, body: Option<&str>) -> Result<SavedReply> {
                self.update_saved_reply_impl(workspace_id, id, name, body).await
            }

            async fn delete_saved_reply(&self, workspace_id: Uuid, id: Uuid) -> Result<()> {
                self.delete_saved_reply_impl(workspace_id, id).await
            }

            async fn tags(&self, workspace_id: Uuid, viewer: Uuid) -> Result<Vec<ListedTag>> {
                self.tags_impl(workspace_id, viewer).await
            }

            async fn create_tag(&self, workspace_id: Uuid, actor_id: Uuid, admin: bool, name: &str, color: Option<&str>) -> Result<Committed<Tag>> {
                self.create_tag_impl(workspace_id, actor_id, admin, name, color).await
            }

            async fn update_tag(&self, workspace_id: Uuid, actor_id: Uuid, id: Uuid, name: Option<&str>, color: Option<&str>) -> Result<Committed<Tag>> {
                self.update_tag_impl(workspace_id, actor_id, id, name, color).await
            }

            async fn delete_tag(&self, workspace_id: Uuid, actor_id: Uuid, id: Uuid) -> Result<Committed<()>> {
                self.delete_tag_impl(workspace_id, actor_id, id).await
            }

            async fn tag_case(&self, workspace_id: Uuid, case_id: Uuid, actor_id: Uuid, admin: bool, name: &str, color: Option<&str>) -> Result<Committed<Case>> {
                self.tag_case_impl(workspace_id, case_id, actor_id, admin, name, color).await
            }

            async fn untag_case(&self, workspace_id: Uuid, case_id: Uuid, actor_id: Uuid, tag_id: Uuid) -> Result<Committed<Case>> {
                self.untag_case_impl(workspace_id, case_id, actor_id, tag_id).await
            }

            async fn snooze(&self, workspace_id: Uuid, case_id: Uuid, actor_id: Uuid, until: DateTime<Utc>) -> Result<Committed<Case>> {
                self.snooze_impl(workspace_id, case_id, actor_id, until).await
            }

            async fn wake(&self, workspace_id: Uuid, case_id: Uuid, actor_id: Uuid) -> Result<Committed<Case>> {
                self.wake_impl(workspace_id, case_id, actor_id).await
            }

            async fn wake_due(&self, now: DateTime<Utc>) -> Result<Vec<Event>> {
                self.wake_due_impl(now).await
            }

            async fn mark_online(&self, present: &[(Uuid, Uuid)], until: DateTime<Utc>) -> Result<()> {
                self.mark_online_impl(present, until).await
            }

            async fn came_online(&self, workspace_id: Uuid, teammate_id: Uuid, until: DateTime<Utc>) -> Result<Committed<()>> {
                self.came_online_impl(workspace_id, teammate_id, until).await
            }

            async fn fire_breaches(&self, now: DateTime<Utc>) -> Result<Vec<Event>> {
                self.fire_breaches_impl(now).await
            }

            async fn open_cases(&self, workspace_id: Uuid) -> Result<std::collections::HashMap<Uuid, i64>> {
                let sql = format!("SELECT assignee_id, COUNT(*) AS n FROM cases WHERE workspace_id = $1 AND assignee_id IS NOT NULL AND status IN {OPEN_SQL} GROUP BY assignee_id");
                let rows = sqlx::query(&sql).bind(workspace_id).fetch_all(&self.read).await?;
                rows.iter().map(|r| Ok((r.try_get("assignee_id")?, r.try_get("n")?))).collect()
            }

            async fn drain_waiting(&self, limit: i64) -> Result<Vec<Event>> {
                self.drain_waiting_impl(limit).await
            }

            async fn update_teammate_routing(&self, workspace_id: Uuid, id: Uuid, actor_id: Uuid, patch: RoutingPatch) -> Result<Committed<Teammate>> {
                self.routing_patch(workspace_id, id, actor_id, patch).await
            }

            async fn channels(&self, workspace_id: Uuid) -> Result<Vec<Channel>> {
                self.email_channels(workspace_id).await
            }

            async fn save_channel(&self, workspace_id: Uuid, actor_id: Uuid, channel: ChannelWrite) -> Result<Committed<Channel>> {
                self.email_save_channel(workspace_id, actor_id, channel).await
            }

            async fn delete_channel(&self, workspace_id: Uuid, actor_id: Uuid, id: Uuid) -> Result<Committed<()>> {
                self.email_delete_channel(workspace_id, actor_id, id).await
            }

            async fn outbound_reply(&self, job: &Job, mail_domain: &str) -> Result<OutboundReply> {
                self.email_outbound_reply(job, mail_domain).await
            }

            async fn finish_outbound(&self, job: &Job, outcome: &JobOutcome) -> Result<Committed<()>> {
                self.email_finish_outbound(job, outcome).await
            }

            async fn retry_delivery(&self, workspace_id: Uuid, case_id: Uuid, message_id: Uuid, actor_id: Uuid) -> Result<Committed<Message>> {
                self.email_retry_delivery(workspace_id, case_id, message_id, actor_id).await
            }

            async fn bounce(&self, workspace_id: Uuid, mail_id: &str, reason: &str) -> Result<Committed<Option<InboundOutcome>>> {
                self.email_bounce(workspace_id, mail_id, reason).await
            }

            async fn workspace_of_address(&self, address: &str) -> Result<Option<Uuid>> {
                Ok(sqlx::query_scalar("SELECT workspace_id FROM channels WHERE address = $1").bind(address).fetch_optional(&self.read).await?)
            }

            async fn workspace_of_case(&self, case_id: Uuid) -> Result<Option<Uuid>> {
                Ok(sqlx::query_scalar("SELECT workspace_id FROM cases WHERE id = $1").bind(case_id).fetch_optional(&self.read).await?)
            }

            async fn attachment(&self, workspace_id: Uuid, id: Uuid) -> Result<AttachmentFile> {
                self.email_attachment(workspace_id, id).await
            }

            async fn upload_attachment(&self, workspace_id: Uuid, uploader: Uuid, file: &crate::attachments::StoredFile) -> Result<Attachment> {
                self.email_upload_attachment(workspace_id, uploader, file).await
            }

            async fn create_webhook(&self, workspace_id: Uuid, url: &str, events: &[String], secret: &str) -> Result<crate::store::Webhook> {
                self.wh_create(workspace_id, url, events, secret).await
            }

            async fn webhooks(&self, workspace_id: Uuid) -> Result<Vec<crate::store::Webhook>> {
                self.wh_list(workspace_id).await
            }

            async fn delete_webhook(&self, workspace_id: Uuid, id: Uuid) -> Result<()> {
                self.wh_delete(workspace_id, id).await
            }

            async fn webhook_deliveries(&self, workspace_id: Uuid, id: Uuid, limit: i64) -> Result<Vec<crate::store::WebhookDelivery>> {
                self.wh_deliveries(workspace_id, id, limit).await
            }

            async fn resend_webhook_delivery(&self, workspace_id: Uuid, id: Uuid, delivery_id: Uuid) -> Result<crate::store::WebhookDelivery> {
                self.wh_resend(workspace_id, id, delivery_id).await
            }

            async fn claim_webhooks(&self, now: DateTime<Utc>, lease: std::time::Duration) -> Result<Vec<crate::store::WebhookTarget>> {
                self.wh_claim(now, lease).await
            }

            async fn webhook_resends(&self, id: Uuid) -> Result<Vec<(i64, String)>> {
                self.wh_resends(id).await
            }

            async fn record_webhook_attempt(&self, id: Uuid, attempt: &crate::store::Attempt, advance: bool) -> Result<()> {
                self.wh_record(id, attempt, advance).await
            }

            async fn release_webhook(&self, id: Uuid, cursor: i64, next_at: DateTime<Utc>, failing_since: Option<DateTime<Utc>>, active: bool) -> Result<()> {
                self.wh_release(id, cursor, next_at, failing_since, active).await
            }

            async fn switch_off_webhook(&self, workspace_id: Uuid, id: Uuid, cursor: i64, failing_since: DateTime<Utc>) -> Result<Committed<()>> {
                self.wh_switch_off(workspace_id, id, cursor, failing_since).await
            }

            async fn all_email_channels(&self) -> Result<Vec<(Uuid, Channel)>> {
                self.imap_email_channels().await
            }

            async fn lease_imap(&self, channel_id: Uuid, holder: &str, lease: std::time::Duration) -> Result<bool> {
                self.imap_lease(channel_id, holder, lease).await
            }

            async fn release_imap(&self, channel_id: Uuid, holder: &str) -> Result<()> {
                self.imap_release(channel_id, holder).await
            }

            async fn imap_cursor(&self, channel_id: Uuid) -> Result<crate::store::ImapCursor> {
                self.imap_cursor_get(channel_id).await
            }

            async fn reset_imap_cursor(&self, channel_id: Uuid, mailbox: &str, uid_validity: i64) -> Result<()> {
                self.imap_cursor_reset(channel_id, mailbox, uid_validity).await
            }

            async fn advance_imap_cursor(&self, channel_id: Uuid, mailbox: &str, uid_validity: i64, uid: i64) -> Result<()> {
                self.imap_cursor_advance(channel_id, mailbox, uid_validity, uid).await
            }

            async fn channel_by_id(&self, id: Uuid) -> Result<(Uuid, Channel)> {
                self.sms_channel_by_id(id).await
            }

            async fn channel_reply(&self, job: &Job) -> Result<crate::store::ChannelReply> {
                self.sms_channel_reply(job).await
            }

            async fn set_provider_id(&self, message_id: Uuid, provider_id: &str) -> Result<()> {
                self.sms_set_provider_id(message_id, provider_id).await
            }

            async fn provider_status(&self, workspace_id: Uuid, provider_id: &str, state: &str, error: Option<&str>) -> Result<Committed<bool>> {
                self.sms_provider_status(workspace_id, provider_id, state, error).await
            }

            async fn export_page(&self, workspace_id: Uuid, kind: ExportKind, after: Option<Uuid>, until: DateTime<Utc>, limit: i64) -> Result<Vec<ExportRow>> {
                self.export_rows(workspace_id, kind, after, until, limit).await
            }

            async fn customer(&self, workspace_id: Uuid, id: Uuid) -> Result<Customer> {
                self.customer_in(workspace_id, id).await
            }

            async fn erase_customer(&self, workspace_id: Uuid, actor_id: Uuid, customer_id: Uuid) -> Result<Committed<Erasure>> {
                self.erase_customer_tx(workspace_id, actor_id, customer_id).await
            }

            async fn customer_profile(&self, workspace_id: Uuid, id: Uuid) -> Result<crate::store::CustomerProfile> {
                self.customer_profile_impl(workspace_id, id).await
            }

            async fn set_customer_notes(&self, workspace_id: Uuid, id: Uuid, notes: &str) -> Result<()> {
                self.set_customer_notes_impl(workspace_id, id, notes).await
            }

            async fn find_customers(&self, workspace_id: Uuid, q: &str, limit: i64) -> Result<Vec<Customer>> {
                self.find_customers_impl(workspace_id, q, limit).await
            }

            async fn merge_customers(&self, workspace_id: Uuid, actor_id: Uuid, from: Uuid, into: Uuid) -> Result<Committed<crate::store::Merge>> {
                self.merge_customers_tx(workspace_id, actor_id, from, into).await
            }

            async fn attachment_bytes_in_use(&self, sha256: &str) -> Result<bool> {
                self.bytes_in_use(sha256).await
            }

            async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64> {
                let done = sqlx::query("DELETE FROM events WHERE created_at < $1 AND seq < (SELECT w.last_seq FROM workspaces w WHERE w.id = events.workspace_id)")
                    .bind(ms(before))
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected())
            }
        }

    };
}

pub(crate) use sql_store;
