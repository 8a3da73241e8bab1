//! Who owns a case: assigning by hand or in bulk, the workspace's auto-assign rules and the
//! checks that an assignee can take cases.

use super::jobs::Audience;
use super::log::Locked;
use super::*;
use crate::store::combine::Combiner;

/// The most assignments one group commit takes: under the locks, one statement each.
const GROUP_MOST: usize = 64;

type Answer = Result<Option<Committed<Case>>>;

/// The group commits of the assignments this process makes, in every workspace.
pub(in crate::store) type Assignments = Combiner<ReadyAssignment, Answer>;

pub(in crate::store) fn assignments() -> Assignments {
    Combiner::new(GROUP_MOST)
}

/// An assignment read and checked, waiting for its group commit.
pub(in crate::store) struct ReadyAssignment {
    workspace_id: WorkspaceId,
    req: AssignRequest,
    state: CaseState,
    /// The case as its actor saw it when it was read: with the change, the answer.
    case: Case,
    /// The assignee's role as read: the change is made only if it is still theirs.
    role: Option<Role>,
    /// Who may be pinged; the transaction that makes the assignment takes it.
    audience: Option<Audience>,
}

impl ReadyAssignment {
    /// The case once the assignment is made: as read, with what `apply_assignment` changes.
    fn answer(&self) -> Case {
        Case {
            assignee_id: self.req.assignee_id,
            version: self.state.version + 1,
            queued_at: None,
            ..self.case.clone()
        }
    }
}

/// The answer to an assignment that changes nothing: the case as read, no event.
fn unchanged(case: Case) -> Committed<Case> {
    Committed {
        value: case,
        events: Vec::new(),
    }
}

/// How long a group waits for its first workspace's lock (Postgres): past it, each of the
/// group's assignments goes alone, so a long write in one workspace holds up nobody else's.
const GROUP_LOCK_WAIT: &str = "100ms";

enum Prepared {
    /// Nothing to change: the case is theirs already.
    Answered(Box<Case>),
    Ready(Box<ReadyAssignment>),
}

/// A teammate's `role` and `removed_at` as read (active, role); none when the row has no
/// teammate (a role is never null).
fn teammate_read(row: &DbRow) -> Result<Option<(bool, Role)>> {
    let Some(role) = row.try_get::<Option<String>, _>("role")? else {
        return Ok(None);
    };
    let active = row.try_get::<Option<i64>, _>("removed_at")?.is_none();
    Ok(Some((active, parse_role(&role)?)))
}

/// Whether a teammate read as `found` (active, role; none: not in the workspace) may take
/// cases: their role if so, the refusal for `input` if not.
fn assignable_role(found: Option<(bool, Role)>, input: Input) -> Result<Role> {
    match found {
        None => Err(StoreError::invalid(input, Refusal::NoSuchTeammate)),
        Some((false, _)) => Err(StoreError::invalid(input, Refusal::TeammateRemoved)),
        Some((true, role)) if !role.can_be_assigned() => {
            Err(StoreError::invalid(input, Refusal::ViewerNotAssignable))
        }
        Some((true, role)) => Ok(role),
    }
}

impl SqlStore {
    /// An assignee must be an active teammate of this workspace with an assignable role.
    pub(super) async fn check_assignable(
        conn: &mut DbConn,
        workspace_id: WorkspaceId,
        id: TeammateId,
        input: Input,
    ) -> Result<()> {
        let row = sqlx::query(
            "SELECT role, removed_at FROM teammates WHERE id = $1 AND workspace_id = $2",
        )
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(&mut *conn)
        .await?;
        let found = match row {
            Some(row) => teammate_read(&row)?,
            None => None,
        };
        assignable_role(found, input).map(|_| ())
    }

    /// The case an assignment is asked for, as its actor sees it, and, when one is named, the
    /// would-be assignee (still to be checked: `assignable_role`), in one statement.
    async fn case_and_assignee(
        conn: &mut DbConn,
        workspace_id: WorkspaceId,
        req: &AssignRequest,
    ) -> Result<(CaseState, Case, Option<(bool, Role)>)> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            one_case_sql(
                "a.role, a.removed_at, ",
                "LEFT JOIN teammates a ON a.id = $4 AND a.workspace_id = $3",
            )
        });
        let rows = sqlx::query(&SQL)
            .bind(req.actor_id)
            .bind(req.case_id)
            .bind(workspace_id)
            .bind(req.assignee_id)
            .fetch_all(&mut *conn)
            .await?;
        let case = case_with_tags(&rows)?;
        Ok((
            case_state_from_row(&rows[0])?,
            case,
            teammate_read(&rows[0])?,
        ))
    }

    /// Moves every open case of `from` to `to`: one timeline entry per case, one summary event.
    pub(super) async fn move_open_cases(
        tx: &mut Tx,
        log: &mut Log,
        actor: TeammateId,
        from: TeammateId,
        to: Option<TeammateId>,
        reason: &str,
    ) -> Result<usize> {
        let sql = format!(
            "SELECT id FROM cases WHERE workspace_id = $1 AND assignee_id = $2 \
             AND status IN {OPEN_SQL} ORDER BY number"
        );
        let ids: Vec<CaseId> = sqlx::query_scalar(&sql)
            .bind(log.workspace_id)
            .bind(from)
            .fetch_all(&mut **tx)
            .await?;
        for id in &ids {
            sqlx::query("UPDATE cases SET assignee_id = $2, version = version + 1 WHERE id = $1")
                .bind(id)
                .bind(to)
                .execute(&mut **tx)
                .await?;
            log.timeline(
                *id,
                TimelineKind::Assigned,
                Some(actor),
                Some(from),
                to,
                serde_json::json!({ "reason": reason }),
            );
        }
        if !ids.is_empty() {
            log.push(EventKind::CasesBulkReassigned {
                from_id: from,
                to_id: to,
                case_ids: ids.clone(),
                actor_id: actor,
            });
        }
        Ok(ids.len())
    }

    /// Runs the workspace's auto-assign rules (`rules`, read by the caller, which holds the
    /// lock; `last`, round-robin's last pick) for a new case.
    pub(super) async fn auto_assign(
        &self,
        tx: &mut Tx,
        workspace_id: WorkspaceId,
        (rules, last): (&Rules, Option<TeammateId>),
        category: Option<&str>,
    ) -> Result<Option<TeammateId>> {
        if rules.mode == routing::Mode::Unassigned {
            return Ok(None);
        }
        let team = Self::team_in_tx(tx, workspace_id).await?;
        let open = Self::open_counts(tx, workspace_id, rules, &team).await?;
        let online = Self::online_set(tx, workspace_id, rules).await?;
        let eligible = |id: TeammateId| {
            team.iter()
                .any(|t| t.id == id && Self::fits(t, &open, rules, &online))
        };
        let picked = routing::pick(rules, category, last, eligible);
        if rules.mode == routing::Mode::RoundRobin && picked.is_some() {
            sqlx::query("UPDATE assign_rules SET rr_last = $2 WHERE workspace_id = $1")
                .bind(workspace_id)
                .bind(picked)
                .execute(&mut **tx)
                .await?;
        }
        Ok(picked)
    }

    pub(super) async fn rules_in_tx(
        tx: &mut Tx,
        workspace_id: WorkspaceId,
    ) -> Result<(Rules, Option<TeammateId>)> {
        let row = sqlx::query(
            "SELECT mode, pool, categories, fallback, rr_last, capacity, away_behaviour, \
             online_only, response_target_minutes, take_back, business_hours \
             FROM assign_rules WHERE workspace_id = $1",
        )
        .bind(workspace_id)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else {
            return Ok((Rules::default(), None));
        };
        let business_hours: Option<String> = row.try_get("business_hours")?;
        let rules = Rules {
            mode: routing::Mode::parse(&row.try_get::<String, _>("mode")?).unwrap_or_default(),
            pool: serde_json::from_str(&row.try_get::<String, _>("pool")?)?,
            categories: serde_json::from_str(&row.try_get::<String, _>("categories")?)?,
            fallback: row.try_get("fallback")?,
            capacity: row
                .try_get::<Option<i64>, _>("capacity")?
                .map(|c| c.clamp(0, u32::MAX.into()) as u32),
            away_behaviour: routing::AwayBehaviour::parse(
                &row.try_get::<String, _>("away_behaviour")?,
            )
            .unwrap_or_default(),
            online_only: row.try_get("online_only")?,
            response_target_minutes: row
                .try_get::<Option<i64>, _>("response_target_minutes")?
                .map(|c| c.clamp(0, u32::MAX.into()) as u32),
            take_back: row.try_get("take_back")?,
            business_hours: business_hours
                .map(|b| serde_json::from_str(&b))
                .transpose()?,
        };
        Ok((rules, row.try_get("rr_last")?))
    }

    /// Assigns by hand. The first attempt reads and checks before it takes the workspace lock,
    /// so that writers of one workspace wait for each other only while the order matters: the
    /// change, the queue and the events. It then joins the next group commit
    /// (`store::combine`): the assignments that arrive while a group commits go into one
    /// transaction, one commit for all, one lock per workspace. Under the lock each change is made
    /// only if the case and the assignee are still as read; if not, that assignment starts
    /// again alone, holding the lock from the start, where nothing can change under it. Asking
    /// for the assignee the case has changes nothing and takes no lock: it is answered as of the
    /// read.
    /// The case after the assignment, as its actor sees it, and its events. The case is the one
    /// read, with the change: the change is made only if the case's version is still the one
    /// read, and every change to a case moves its version.
    pub(super) async fn assign(
        &self,
        workspace_id: WorkspaceId,
        req: AssignRequest,
    ) -> Result<Committed<Case>> {
        // Each read sees what is committed when it runs, as it would in a transaction of
        // Postgres's READ COMMITTED: nothing here needs one snapshot, since the change is made
        // only if the case and the assignee are still as read. So no BEGIN and no ROLLBACK.
        let mut conn = self.read.acquire().await?;
        let prepared = Self::prepare_assignment(&mut conn, workspace_id, req).await;
        drop(conn);
        let prepared = match prepared? {
            Prepared::Answered(case) => return Ok(unchanged(*case)),
            Prepared::Ready(ready) => *ready,
        };
        let store = self.clone();
        let commit = move |group| {
            let store = store.clone();
            async move { store.commit_assignments(group).await }
        };
        let grouped = self.assignments.submit(prepared, commit).await;
        match grouped {
            Some(Ok(Some(committed))) => Ok(committed),
            Some(Ok(None)) => self.assign_locked(workspace_id, req).await,
            Some(Err(e)) => Err(e),
            None => Err(StoreError::Internal(anyhow::anyhow!(
                "the group commit failed"
            ))),
        }
    }

    /// What an assignment reads and checks before it changes anything: the case, the version
    /// asked for, the assignee and who may be pinged.
    async fn prepare_assignment(
        conn: &mut DbConn,
        workspace_id: WorkspaceId,
        req: AssignRequest,
    ) -> Result<Prepared> {
        let (state, case, assignee) = Self::case_and_assignee(conn, workspace_id, &req).await?;
        if req.if_version.is_some_and(|v| v != state.version) {
            return Err(StoreError::Conflict(Conflict::CaseVersion {
                expected: req.if_version.unwrap_or_default(),
                actual: state.version,
                current: Box::new(case),
            }));
        }
        let role = match req.assignee_id {
            Some(_) => Some(assignable_role(assignee, Input::Assignee)?),
            None => None,
        };
        if state.assignee_id == req.assignee_id {
            return Ok(Prepared::Answered(Box::new(case)));
        }
        let named: Vec<TeammateId> = req.assignee_id.into_iter().collect();
        let audience = Self::audience(conn, workspace_id, &named, Some(req.case_id)).await?;
        Ok(Prepared::Ready(Box::new(ReadyAssignment {
            workspace_id,
            req,
            state,
            case,
            role,
            audience: Some(audience),
        })))
    }

    /// One group of prepared assignments, in one transaction: each answered with its case's
    /// new version and its events, or `None`: its case or assignee changed since it was read,
    /// its workspace was busy, or the group failed. Those go again alone, each in its caller's
    /// own transaction, so that one assignment's error or wait is not the others'.
    async fn commit_assignments(&self, mut group: Vec<ReadyAssignment>) -> Vec<Answer> {
        match self.commit_group(&mut group).await {
            Ok(made) => made.into_iter().map(Ok).collect(),
            Err(e) => {
                tracing::debug!(error = %e, "a group commit failed; its assignments go alone");
                group.iter().map(|_| Ok(None)).collect()
            }
        }
    }

    /// The group's transaction. It waits for the lock of its oldest assignment's workspace, on
    /// Postgres for `GROUP_LOCK_WAIT` at most, and takes the other workspaces' locks only where
    /// they are free: holding one lock it never waits for another, so groups of several
    /// processes cannot deadlock, and a busy workspace does not hold up the rest. Each
    /// workspace gets its own log and `seq`s; one commit for all.
    async fn commit_group(
        &self,
        group: &mut [ReadyAssignment],
    ) -> Result<Vec<Option<Committed<Case>>>> {
        let first = group[0].workspace_id;
        let mut others: Vec<WorkspaceId> = group
            .iter()
            .map(|r| r.workspace_id)
            .filter(|w| *w != first)
            .collect();
        others.sort();
        others.dedup();
        let mut tx = self.begin().await?;
        if BACKEND == Backend::Postgres {
            sqlx::query(&format!("SET LOCAL lock_timeout = '{GROUP_LOCK_WAIT}'"))
                .execute(&mut *tx)
                .await?;
        }
        let mut locked = vec![(first, Self::lock(&mut tx, first).await?)];
        locked.extend(Self::lock_free(&mut tx, &others).await?);
        // An assignment never queues a case, so a workspace with nothing queued now has nothing
        // for its queue to hand out after the group either: one read for all, not one each.
        let ids: Vec<WorkspaceId> = locked.iter().map(|(id, _)| *id).collect();
        let queues = Self::queues_waiting(&mut tx, &ids).await?;
        let mut out: Vec<Option<Committed<Case>>> = group.iter().map(|_| None).collect();
        // Per workspace written: its log, and its assignments' own ranges of the log's events
        // and where the cases its queue handed out begin.
        let (mut logs, mut written) = (Vec::new(), Vec::new());
        for (workspace_id, locked) in &locked {
            let mut log = Log::new(*workspace_id, locked.last_seq);
            let mut own = Vec::new();
            for (i, ready) in group.iter_mut().enumerate() {
                if ready.workspace_id != *workspace_id {
                    continue;
                }
                let from = log.events.len();
                if Self::apply_assignment(&mut tx, &mut log, locked, ready).await? {
                    own.push((i, from..log.events.len()));
                }
            }
            if own.is_empty() {
                continue;
            }
            let queue_from = log.events.len();
            if queues.contains(workspace_id) {
                self.drain_queue(&mut tx, &mut log, &locked.case_prefix)
                    .await?;
            }
            logs.push(log);
            written.push((own, queue_from));
        }
        if written.is_empty() {
            tx.rollback().await?;
            return Ok(out);
        }
        Self::append_all(&mut tx, &mut logs).await?;
        tx.commit().await?;
        for (log, (own, queue_from)) in logs.into_iter().zip(written) {
            let events = log.events;
            let last = own.len() - 1;
            for (k, (i, range)) in own.into_iter().enumerate() {
                let mut its = events[range].to_vec();
                // The cases the queue handed out go with its last assignment: published once.
                if k == last {
                    its.extend_from_slice(&events[queue_from..]);
                }
                out[i] = Some(Committed {
                    value: group[i].answer(),
                    events: its,
                });
            }
        }
        Ok(out)
    }

    /// Makes one prepared assignment under the lock, if its case and assignee are still as
    /// read: the change, its timeline entry and its event. Whether it was made.
    async fn apply_assignment(
        tx: &mut Tx,
        log: &mut Log,
        locked: &Locked,
        ready: &mut ReadyAssignment,
    ) -> Result<bool> {
        let (req, state) = (&ready.req, &ready.state);
        // As read: the case's version, and the assignee still active in the same role.
        let changed = sqlx::query(
            "UPDATE cases SET assignee_id = $2, queued_at = NULL, version = version + 1 \
             WHERE id = $1 AND version = $3 AND ($2 IS NULL OR EXISTS (SELECT 1 \
             FROM teammates t WHERE t.id = $2 AND t.removed_at IS NULL AND t.role = $4))",
        )
        .bind(state.id)
        .bind(req.assignee_id)
        .bind(state.version)
        .bind(ready.role.map(|r| r.as_str()))
        .execute(&mut **tx)
        .await?;
        if changed.rows_affected() == 0 {
            return Ok(false);
        }
        log.audience = match (log.audience.take(), ready.audience.take()) {
            (Some(mut all), Some(more)) => {
                all.merge(more);
                Some(all)
            }
            (all, more) => all.or(more),
        };
        log.timeline(
            state.id,
            TimelineKind::Assigned,
            Some(req.actor_id),
            state.assignee_id,
            req.assignee_id,
            serde_json::json!({}),
        );
        log.push(EventKind::CaseAssigned {
            case_id: state.id,
            number: format_number(&locked.case_prefix, state.number),
            assignee_id: req.assignee_id,
            previous_assignee_id: state.assignee_id,
            actor_id: Some(req.actor_id),
        });
        Ok(true)
    }

    /// An assignment its group could not make (its case or assignee changed, its workspace was
    /// busy, the group failed): read and made again alone, holding the lock from the start,
    /// where nothing can change.
    async fn assign_locked(
        &self,
        workspace_id: WorkspaceId,
        req: AssignRequest,
    ) -> Result<Committed<Case>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let mut ready = match Self::prepare_assignment(&mut tx, workspace_id, req).await? {
            Prepared::Answered(case) => {
                tx.rollback().await?;
                return Ok(unchanged(*case));
            }
            Prepared::Ready(ready) => ready,
        };
        let mut log = Log::new(workspace_id, locked.last_seq);
        if !Self::apply_assignment(&mut tx, &mut log, &locked, &mut ready).await? {
            return Err(StoreError::Internal(anyhow::anyhow!(
                "a locked assignment found a change"
            )));
        }
        self.drain_queue(&mut tx, &mut log, &locked.case_prefix)
            .await?;
        let answer = ready.answer();
        Self::commit(tx, log, answer).await
    }

    pub(super) async fn bulk_reassign(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        from: TeammateId,
        to: Option<TeammateId>,
    ) -> Result<Committed<usize>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let known: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM teammates WHERE id = $1 AND workspace_id = $2",
        )
        .bind(from)
        .bind(workspace_id)
        .fetch_one(&mut *tx)
        .await?;
        if known == 0 {
            return Err(StoreError::invalid(
                Input::ReassignFrom,
                Refusal::NoSuchTeammate,
            ));
        }
        if let Some(to) = to {
            if to == from {
                return Err(StoreError::invalid(
                    Input::ReassignTo,
                    Refusal::ReassignToSelf,
                ));
            }
            Self::check_assignable(&mut tx, workspace_id, to, Input::ReassignTo).await?;
        }
        let mut log = Log::new(workspace_id, locked.last_seq);
        let moved =
            Self::move_open_cases(&mut tx, &mut log, actor_id, from, to, "bulk_reassign").await?;
        Self::commit(tx, log, moved).await
    }

    pub(super) async fn rules(&self, workspace_id: WorkspaceId) -> Result<Rules> {
        let mut tx = self.read.begin().await?;
        let (rules, _) = Self::rules_in_tx(&mut tx, workspace_id).await?;
        tx.rollback().await?;
        Ok(rules)
    }

    async fn write_rules(tx: &mut Tx, workspace_id: WorkspaceId, rules: &Rules) -> Result<()> {
        sqlx::query(
            "UPDATE assign_rules SET mode = $2, pool = $3, categories = $4, fallback = $5, \
             capacity = $6, away_behaviour = $7, \
             online_only = $8, response_target_minutes = $9, take_back = $10, business_hours = $11 \
             WHERE workspace_id = $1",
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
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A teammate who left or became a viewer is taken out of the rules in the transaction that
    /// made them unable to take cases: no rule names them afterwards, and everyone sees the
    /// rules change (`rules.changed`, by the admin who did it).
    pub(super) async fn drop_from_rules(
        tx: &mut Tx,
        log: &mut Log,
        member: TeammateId,
        actor_id: TeammateId,
    ) -> Result<()> {
        let (rules, last) = Self::rules_in_tx(tx, log.workspace_id).await?;
        let without = rules.without(member);
        if without == rules {
            return Ok(());
        }
        Self::write_rules(tx, log.workspace_id, &without).await?;
        let resume = routing::last_without(&rules.pool, last, member);
        if resume != last {
            sqlx::query("UPDATE assign_rules SET rr_last = $2 WHERE workspace_id = $1")
                .bind(log.workspace_id)
                .bind(resume)
                .execute(&mut **tx)
                .await?;
        }
        log.push(EventKind::RulesChanged { actor_id });
        Ok(())
    }

    pub(super) async fn set_rules(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        rules: Rules,
    ) -> Result<Committed<Rules>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        for id in &rules.pool {
            Self::check_assignable(&mut tx, workspace_id, *id, Input::RulePool).await?;
        }
        for id in rules.categories.values() {
            Self::check_assignable(&mut tx, workspace_id, *id, Input::RuleCategories).await?;
        }
        if let Some(id) = rules.fallback {
            Self::check_assignable(&mut tx, workspace_id, id, Input::RuleFallback).await?;
        }
        Self::write_rules(&mut tx, workspace_id, &rules).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        log.push(EventKind::RulesChanged { actor_id });
        self.drain_queue(&mut tx, &mut log, &locked.case_prefix)
            .await?;
        Self::commit(tx, log, rules).await
    }

    pub(super) async fn open_cases(
        &self,
        workspace_id: WorkspaceId,
    ) -> Result<std::collections::HashMap<TeammateId, i64>> {
        let sql = format!(
            "SELECT assignee_id, COUNT(*) AS n FROM cases WHERE workspace_id = $1 \
             AND assignee_id IS NOT NULL AND status IN {OPEN_SQL} GROUP BY assignee_id"
        );
        let rows = sqlx::query(&sql)
            .bind(workspace_id)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("assignee_id")?, r.try_get("n")?)))
            .collect()
    }
}
