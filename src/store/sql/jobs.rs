//! Notification jobs (the durable queue the push and email workers claim) and the push
//! subscriptions they are sent to.

use super::*;

/// Who may be pinged by a write and how: the active teammates it names (assignees, mentions)
/// and those who watch unassigned cases, read in one statement, before a write takes its
/// workspace's lock where the write can (nothing in it needs the write order). Nobody else can
/// be pinged by an event (`domain::pings`), so a big team costs a write only its watchers.
pub(super) struct Audience {
    team: Vec<crate::domain::pings::Candidate>,
    /// The teammates it was read for besides the watchers of unassigned cases.
    named: Vec<TeammateId>,
    /// Per teammate: web push on, email on, the email delay in seconds, the push subscriptions.
    prefs: std::collections::HashMap<TeammateId, Prefs>,
    /// The customer's name of a case, where it was read already.
    customers: std::collections::HashMap<CaseId, Option<String>>,
}

impl Audience {
    /// Everyone either could ping: for the writes of one group commit.
    pub fn merge(&mut self, other: Audience) {
        for candidate in other.team {
            if !self.prefs.contains_key(&candidate.id) {
                self.team.push(candidate);
            }
        }
        for (id, prefs) in other.prefs {
            self.prefs.entry(id).or_insert(prefs);
        }
        for id in other.named {
            if !self.named.contains(&id) {
                self.named.push(id);
            }
        }
        self.customers.extend(other.customers);
    }

    /// Whether everyone these plans could ping was read.
    fn covers(&self, named: &[TeammateId]) -> bool {
        named.iter().all(|id| self.named.contains(id))
    }
}

struct Prefs {
    web_push: bool,
    email: bool,
    email_delay_secs: i64,
    subscriptions: Vec<Uuid>,
}

/// The teammates the plans name (assignees, mentions): with the watchers of unassigned cases,
/// everyone they could ping.
fn named_by(plans: &[(i64, Plan)]) -> Vec<TeammateId> {
    let mut named: Vec<TeammateId> = plans
        .iter()
        .flat_map(|(_, p)| p.assignee.iter().chain(&p.mentions).copied())
        .collect();
    named.sort();
    named.dedup();
    named
}

/// A notification job to write: one row of `notification_jobs`, pending.
pub(super) struct NewJob {
    pub workspace_id: WorkspaceId,
    pub teammate: TeammateId,
    pub case_id: Option<CaseId>,
    pub sub: Option<Uuid>,
    pub channel: JobChannel,
    pub reason: JobReason,
    /// At most one pending job per key.
    pub key: String,
    pub payload: String,
    pub due_at: i64,
}

impl NewJob {
    /// Adds its INSERT to `batch`. A pending job with the same key absorbs the newer payload
    /// (one email per case and window).
    pub fn push(self, batch: &mut Batch<'_>) {
        let qb = batch.statement();
        qb.push(
            "INSERT INTO notification_jobs (id, workspace_id, teammate_id, case_id, \
             subscription_id, channel, reason, dedupe_key, payload, state, attempts, due_at, \
             created_at) VALUES (",
        );
        qb.separated(", ")
            .push_bind(JobId::new())
            .push_bind(self.workspace_id)
            .push_bind(self.teammate)
            .push_bind(self.case_id)
            .push_bind(self.sub)
            .push_bind(self.channel.as_str())
            .push_bind(self.reason.as_str())
            .push_bind(self.key)
            .push_bind(self.payload)
            .push("'pending'")
            .push("0")
            .push_bind(self.due_at)
            .push_bind(now_ms())
            .push_unseparated(
                ") ON CONFLICT (dedupe_key) WHERE state = 'pending' DO UPDATE \
                 SET payload = excluded.payload",
            );
    }
}

/// Two jobs of one transaction with the same key become the first with the later payload, as
/// the second INSERT would make of the first. Written in one batch they must: on Postgres one
/// statement cannot insert a key and then update the row it inserted.
fn absorb_repeats(jobs: Vec<NewJob>) -> Vec<NewJob> {
    let mut kept: Vec<NewJob> = Vec::with_capacity(jobs.len());
    for job in jobs {
        match kept.iter_mut().find(|k| k.key == job.key) {
            Some(first) => first.payload = job.payload,
            None => kept.push(job),
        }
    }
    kept
}

impl SqlStore {
    /// The active teammates among `named` and those who watch unassigned cases, with their
    /// notification settings and push subscriptions, and the customer of `case_id` when one
    /// is given, in one statement. Nobody to ping reads no name: none is needed then.
    pub(super) async fn audience(
        conn: &mut DbConn,
        workspace_id: WorkspaceId,
        named: &[TeammateId],
        case_id: Option<CaseId>,
    ) -> Result<Audience> {
        let mut q = QueryBuilder::<Db>::new(
            "SELECT t.id, t.notify_web_push, t.notify_email, t.notify_unassigned, \
             t.email_delay_secs, s.id AS subscription_id, ",
        );
        match case_id {
            Some(case_id) => q
                .push(
                    "(SELECT cu.name FROM cases c JOIN customers cu ON cu.id = c.customer_id \
                     WHERE c.id = ",
                )
                .push_bind(case_id)
                .push(")"),
            None => q.push("NULL"),
        };
        q.push(
            " AS customer_name FROM teammates t \
             LEFT JOIN push_subscriptions s ON s.teammate_id = t.id AND t.notify_web_push \
             WHERE t.workspace_id = ",
        );
        q.push_bind(workspace_id)
            .push(" AND t.removed_at IS NULL AND (t.notify_unassigned");
        if !named.is_empty() {
            q.push(" OR t.id IN (");
            push_ids(&mut q, named);
            q.push(")");
        }
        q.push(") ORDER BY t.id, s.id");
        let rows = q.build().fetch_all(&mut *conn).await?;
        let mut audience = Audience {
            team: Vec::new(),
            named: named.to_vec(),
            prefs: std::collections::HashMap::new(),
            customers: std::collections::HashMap::new(),
        };
        for r in &rows {
            let id: TeammateId = r.try_get("id")?;
            let subscription: Option<Uuid> = r.try_get("subscription_id")?;
            if let Some(prefs) = audience.prefs.get_mut(&id) {
                prefs.subscriptions.extend(subscription);
                continue;
            }
            audience.team.push(crate::domain::pings::Candidate {
                id,
                active: true,
                wants_unassigned: r.try_get("notify_unassigned")?,
            });
            let prefs = Prefs {
                web_push: r.try_get("notify_web_push")?,
                email: r.try_get("notify_email")?,
                email_delay_secs: r.try_get("email_delay_secs")?,
                subscriptions: subscription.into_iter().collect(),
            };
            audience.prefs.insert(id, prefs);
        }
        if let (Some(case_id), Some(row)) = (case_id, rows.first()) {
            audience
                .customers
                .insert(case_id, row.try_get("customer_name")?);
        }
        Ok(audience)
    }

    async fn customer_name(tx: &mut Tx, case_id: CaseId) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT cu.name FROM cases c JOIN customers cu ON cu.id = c.customer_id \
             WHERE c.id = $1",
        )
        .bind(case_id)
        .fetch_optional(&mut **tx)
        .await?)
    }

    /// The pushes and emails the transaction's events call for, to be written in the same
    /// transaction: who gets pinged is `domain::pings`; whether they are online, still the
    /// assignee, or have read the case is checked again when the job runs.
    pub(super) async fn notification_jobs(tx: &mut Tx, log: &mut Log) -> Result<Vec<NewJob>> {
        let plans: Vec<(i64, Plan)> = log
            .events
            .iter()
            .filter_map(|e| plan_for(&e.event).map(|p| (e.seq, p)))
            .collect();
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        let named = named_by(&plans);
        let mut audience = match log.audience.take() {
            Some(audience) if audience.covers(&named) => audience,
            _ => {
                let case_id = plans.iter().find_map(|(_, plan)| plan.case_id);
                Self::audience(tx, log.workspace_id, &named, case_id).await?
            }
        };
        let now = ms(log.now);
        let mut jobs: Vec<NewJob> = Vec::new();
        for (seq, plan) in plans {
            let recipients = crate::domain::pings::recipients(
                plan.happening(),
                plan.assignee,
                plan.actor,
                &audience.team,
            );
            if recipients.is_empty() {
                continue;
            }
            let customer = match plan.case_id {
                Some(case_id) => match audience.customers.get(&case_id) {
                    Some(name) => name.clone(),
                    None => {
                        let name = Self::customer_name(tx, case_id).await?;
                        audience.customers.insert(case_id, name.clone());
                        name
                    }
                },
                None => None,
            };
            let payload = plan.payload(customer.as_deref()).to_string();
            let job = |teammate, sub, channel, key, due_at| NewJob {
                workspace_id: log.workspace_id,
                teammate,
                case_id: plan.case_id,
                sub,
                channel,
                reason: plan.reason,
                key,
                payload: payload.clone(),
                due_at,
            };
            for teammate in recipients {
                let Some(prefs) = audience.prefs.get(&teammate) else {
                    continue;
                };
                if prefs.web_push {
                    for sub in &prefs.subscriptions {
                        let key = format!("push:{sub}:{}:{seq}", log.workspace_id);
                        jobs.push(job(teammate, Some(*sub), JobChannel::Push, key, now));
                    }
                }
                if prefs.email && plan.emails {
                    let key = format!(
                        "email:{teammate}:{}",
                        plan.case_id.map(|c| c.to_string()).unwrap_or_default()
                    );
                    let due_at = now + prefs.email_delay_secs * 1000;
                    jobs.push(job(teammate, None, JobChannel::Email, key, due_at));
                }
            }
        }
        Ok(absorb_repeats(jobs))
    }

    /// Writes one job now.
    pub(super) async fn insert_job(tx: &mut Tx, job: NewJob) -> Result<()> {
        let mut batch = Batch::new();
        job.push(&mut batch);
        batch.execute(tx).await
    }

    pub(super) async fn add_push_subscription(
        &self,
        teammate_id: TeammateId,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<PushSubscription> {
        let id = Uuid::now_v7();
        // The same browser subscribing again (or for another teammate) replaces its row.
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO push_subscriptions (id, teammate_id, endpoint, p256dh, auth, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (endpoint) DO UPDATE SET teammate_id = excluded.teammate_id, \
             p256dh = excluded.p256dh, auth = excluded.auth RETURNING id",
        )
        .bind(id)
        .bind(teammate_id)
        .bind(endpoint)
        .bind(p256dh)
        .bind(auth)
        .bind(now_ms())
        .fetch_one(&self.write)
        .await?;
        Ok(PushSubscription {
            id,
            teammate_id,
            endpoint: endpoint.into(),
            p256dh: p256dh.into(),
            auth: auth.into(),
        })
    }

    pub(super) async fn remove_push_subscription(
        &self,
        teammate_id: TeammateId,
        endpoint: &str,
    ) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM push_subscriptions WHERE teammate_id = $1 AND endpoint = $2")
                .bind(teammate_id)
                .bind(endpoint)
                .execute(&self.write)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn push_subscription(&self, id: Uuid) -> Result<Option<PushSubscription>> {
        let row = sqlx::query(
            "SELECT id, teammate_id, endpoint, p256dh, auth FROM push_subscriptions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            Ok(PushSubscription {
                id: r.try_get("id")?,
                teammate_id: r.try_get("teammate_id")?,
                endpoint: r.try_get("endpoint")?,
                p256dh: r.try_get("p256dh")?,
                auth: r.try_get("auth")?,
            })
        })
        .transpose()
    }

    pub(super) async fn delete_push_subscription(&self, id: Uuid) -> Result<()> {
        sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub(super) async fn claim_jobs(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        lease: std::time::Duration,
    ) -> Result<Vec<Job>> {
        let sql = format!(
            "UPDATE notification_jobs SET state = 'running', attempts = attempts + 1, \
             locked_until = $2 \
             WHERE id IN (SELECT id FROM notification_jobs \
             WHERE (state = 'pending' AND due_at <= $1) OR (state = 'running' \
             AND locked_until < $1) \
             ORDER BY due_at LIMIT $3{}) \
             RETURNING id, workspace_id, teammate_id, case_id, subscription_id, channel, reason, \
             payload, attempts",
            SKIP_LOCKED
        );
        let rows = sqlx::query(&sql)
            .bind(ms(now))
            .bind(ms(now) + lease.as_millis() as i64)
            .bind(limit)
            .fetch_all(&self.write)
            .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for r in &rows {
            let id = r.try_get("id")?;
            let channel: String = r.try_get("channel")?;
            let reason: String = r.try_get("reason")?;
            // A channel or reason this version does not know (a newer one wrote it) fails its
            // own job; refusing the whole batch would hold up every job claimed with it.
            let (channel, reason) = match (JobChannel::parse(&channel), JobReason::parse(&reason)) {
                (Some(channel), Some(reason)) => (channel, reason),
                (known, _) => {
                    let why = match known {
                        None => format!("unknown channel {channel}"),
                        Some(_) => format!("unknown reason {reason}"),
                    };
                    self.finish_job(id, &JobOutcome::Failed(why)).await?;
                    continue;
                }
            };
            jobs.push(Job {
                id,
                workspace_id: r.try_get("workspace_id")?,
                teammate_id: r.try_get("teammate_id")?,
                case_id: r.try_get("case_id")?,
                subscription_id: r.try_get("subscription_id")?,
                channel,
                reason,
                payload: serde_json::from_str(&r.try_get::<String, _>("payload")?)?,
                attempts: r.try_get("attempts")?,
            });
        }
        Ok(jobs)
    }

    pub(super) async fn job_context(&self, job: &Job) -> Result<JobContext> {
        let teammate = self.teammate(job.workspace_id, job.teammate_id).await?;
        let prefs = self.prefs(job.teammate_id).await?;
        let (case_assignee, case_status, case_unread) = match job.case_id {
            Some(case_id) => match self.case(job.workspace_id, job.teammate_id, case_id).await {
                Ok(c) => (c.assignee_id, Some(c.status), c.unread),
                Err(StoreError::NotFound) => (None, None, false),
                Err(e) => return Err(e),
            },
            None => (None, None, false),
        };
        Ok(JobContext {
            teammate,
            prefs,
            case_assignee,
            case_status,
            case_unread,
        })
    }

    pub(super) async fn finish_job(&self, id: JobId, outcome: &JobOutcome) -> Result<()> {
        let now = now_ms();
        let (state, error, due) = match outcome {
            JobOutcome::Sent => ("sent", None, None),
            JobOutcome::Skipped(why) => ("skipped", Some(why.clone()), None),
            JobOutcome::Cancelled(why) => ("cancelled", Some(why.clone()), None),
            JobOutcome::Failed(why) => ("failed", Some(why.clone()), None),
            JobOutcome::Retry { at, error } => ("pending", Some(error.clone()), Some(ms(*at))),
        };
        let done = sqlx::query(
            "UPDATE notification_jobs SET state = $2, last_error = $3, due_at = COALESCE($4, \
             due_at), locked_until = NULL, \
             done_at = CASE WHEN $2 = 'pending' THEN NULL ELSE $5 END WHERE id = $1 \
             AND state = 'running'",
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
                sqlx::query(
                    "UPDATE notification_jobs SET state = 'cancelled', last_error = 'merged into a \
                     newer job', locked_until = NULL, done_at = $2 WHERE id = $1",
                )
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

    pub(super) async fn job_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT channel, state, COUNT(*) AS n FROM notification_jobs GROUP BY channel, state \
             ORDER BY channel, state",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("channel")?, r.try_get("state")?, r.try_get("n")?)))
            .collect()
    }

    pub(super) async fn server_key(&self, name: &str, value: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO server_keys (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.write)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM server_keys WHERE name = $1")
                .bind(name)
                .fetch_one(&self.write)
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(key: &str, payload: &str, due_at: i64) -> NewJob {
        NewJob {
            workspace_id: WorkspaceId::new(),
            teammate: TeammateId::new(),
            case_id: None,
            sub: None,
            channel: JobChannel::Email,
            reason: JobReason::Inbound,
            key: key.into(),
            payload: payload.into(),
            due_at,
        }
    }

    #[test]
    fn a_repeated_key_keeps_the_first_job_with_the_later_payload() {
        let jobs = absorb_repeats(vec![
            job("email:a:1", "first", 10),
            job("push:s:2", "other", 20),
            job("email:a:1", "second", 30),
        ]);
        let seen: Vec<(&str, &str, i64)> = jobs
            .iter()
            .map(|j| (j.key.as_str(), j.payload.as_str(), j.due_at))
            .collect();
        assert_eq!(
            seen,
            vec![("email:a:1", "second", 10), ("push:s:2", "other", 20)]
        );
    }
}
