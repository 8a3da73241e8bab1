//! Routing's side of the store: the queue of cases waiting for someone with room, who is online,
//! response targets and their breaches, whether an owner can still act on a case when its
//! customer writes, open-case counts for capacity, and a teammate's away dates and limit. Every
//! choice it makes is a function of `domain::routing`.

use super::*;

/// The highest open-case limit a teammate can have.
const MAX_OPEN_LIMIT: i64 = 100_000;

/// A case waiting in its workspace's queue: routed, not handed out yet, still open.
static WAITING: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("queued_at IS NOT NULL AND assignee_id IS NULL AND status IN {OPEN_SQL}")
});

impl SqlStore {
    /// Can take one more case now: here, may hold cases, not away, and under their limit.
    /// With `online_only`, also connected now (`online` is then the set of who is).
    pub(super) fn fits(
        t: &Teammate,
        open: &std::collections::HashMap<TeammateId, u32>,
        rules: &Rules,
        online: &Option<std::collections::HashSet<TeammateId>>,
    ) -> bool {
        let own = t.max_open.map(|m| m.clamp(0, u32::MAX.into()) as u32);
        t.active
            && !t.away
            && t.role.can_be_assigned()
            && routing::has_room(open.get(&t.id).copied().unwrap_or(0), own, rules.capacity)
            && online.as_ref().is_none_or(|o| o.contains(&t.id))
    }

    /// Who is connected now, read only when the rules assign to connected teammates only.
    pub(super) async fn online_set(
        tx: &mut Tx,
        workspace_id: WorkspaceId,
        rules: &Rules,
    ) -> Result<Option<std::collections::HashSet<TeammateId>>> {
        if !rules.online_only {
            return Ok(None);
        }
        let ids: Vec<TeammateId> = sqlx::query_scalar(
            "SELECT teammate_id FROM online_teammates WHERE \
             workspace_id = $1 AND online_until > $2",
        )
        .bind(workspace_id)
        .bind(now_ms())
        .fetch_all(&mut **tx)
        .await?;
        Ok(Some(ids.into_iter().collect()))
    }

    async fn upsert_online(
        tx: &mut Tx,
        workspace_id: WorkspaceId,
        teammate_id: TeammateId,
        until: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO online_teammates (teammate_id, workspace_id, online_until) SELECT id, \
             workspace_id, $3 FROM teammates WHERE id = $1 AND workspace_id = $2 \
             ON CONFLICT (teammate_id) DO UPDATE SET online_until = CASE WHEN \
             excluded.online_until > online_teammates.online_until THEN excluded.online_until \
             ELSE online_teammates.online_until END",
        )
        .bind(teammate_id)
        .bind(workspace_id)
        .bind(until)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub(super) async fn mark_online(
        &self,
        present: &[(WorkspaceId, TeammateId)],
        until: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        for (workspace_id, teammate_id) in present {
            Self::upsert_online(&mut tx, *workspace_id, *teammate_id, ms(until)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A teammate connected: they count as online, and under `online_only` the queue
    /// goes out to them now.
    pub(super) async fn came_online(
        &self,
        workspace_id: WorkspaceId,
        teammate_id: TeammateId,
        until: DateTime<Utc>,
    ) -> Result<Committed<()>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        Self::upsert_online(&mut tx, workspace_id, teammate_id, ms(until)).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        self.drain_queue(&mut tx, &mut log, &locked.case_prefix)
            .await?;
        Self::commit(tx, log, ()).await
    }

    /// Marks a case the rules found nobody for as waiting (so it is handed out, oldest
    /// first, when someone has room); a workspace without rules keeps a plain pool.
    pub(super) async fn enqueue_if_routed(
        tx: &mut Tx,
        mode: routing::Mode,
        case_id: CaseId,
        now: i64,
    ) -> Result<()> {
        if mode != routing::Mode::Unassigned {
            sqlx::query("UPDATE cases SET queued_at = $2 WHERE id = $1 AND queued_at IS NULL")
                .bind(case_id)
                .bind(now)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Which of `ids` have cases waiting in their queue.
    pub(super) async fn queues_waiting(
        tx: &mut Tx,
        ids: &[WorkspaceId],
    ) -> Result<std::collections::HashSet<WorkspaceId>> {
        let mut q = QueryBuilder::<Db>::new(
            "SELECT DISTINCT workspace_id FROM cases WHERE workspace_id IN (",
        );
        push_ids(&mut q, ids);
        q.push(format!(") AND {}", *WAITING));
        let rows = q
            .build_query_scalar::<WorkspaceId>()
            .fetch_all(&mut **tx)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Hands waiting cases out, oldest first, to whoever the rules pick and has room. The
    /// caller holds the workspace lock, so across instances each case goes out once.
    pub(super) async fn drain_queue(
        &self,
        tx: &mut Tx,
        log: &mut Log,
        prefix: &str,
    ) -> Result<usize> {
        let workspace_id = log.workspace_id;
        let sql = format!(
            "SELECT id, number, category FROM cases WHERE workspace_id = $1 AND {} \
             ORDER BY queued_at, number LIMIT 500",
            *WAITING
        );
        let waiting = sqlx::query(&sql)
            .bind(workspace_id)
            .fetch_all(&mut **tx)
            .await?;
        if waiting.is_empty() {
            return Ok(0);
        }
        let (rules, mut last) = Self::rules_in_tx(tx, workspace_id).await?;
        if rules.mode == routing::Mode::Unassigned {
            return Ok(0);
        }
        let team = Self::team_in_tx(tx, workspace_id).await?;
        let mut open = Self::open_counts(tx, workspace_id, &rules, &team).await?;
        let online = Self::online_set(tx, workspace_id, &rules).await?;
        let mut handed = 0;
        for row in &waiting {
            let case_id: CaseId = row.try_get("id")?;
            let category: Option<String> = row.try_get("category")?;
            let eligible = |id: TeammateId| {
                team.iter()
                    .any(|t| t.id == id && Self::fits(t, &open, &rules, &online))
            };
            let Some(to) = routing::pick(&rules, category.as_deref(), last, eligible) else {
                // Round-robin ignores the category: nobody for this case is nobody for all.
                if rules.mode == routing::Mode::RoundRobin {
                    break;
                }
                continue;
            };
            if rules.mode == routing::Mode::RoundRobin {
                last = Some(to);
            }
            sqlx::query(
                "UPDATE cases SET \
                 assignee_id = $2, \
                 queued_at = NULL, \
                 version = version + 1 \
                 WHERE id = $1",
            )
            .bind(case_id)
            .bind(to)
            .execute(&mut **tx)
            .await?;
            log.timeline(
                case_id,
                TimelineKind::Assigned,
                None,
                None,
                Some(to),
                serde_json::json!({ "reason": "queue" }),
            );
            log.push(EventKind::CaseAssigned {
                case_id,
                number: format_number(prefix, row.try_get("number")?),
                assignee_id: Some(to),
                previous_assignee_id: None,
                actor_id: None,
            });
            if rules.capacity.is_some() || team.iter().any(|t| t.max_open.is_some()) {
                *open.entry(to).or_insert(0) += 1;
            }
            handed += 1;
        }
        if handed > 0 && rules.mode == routing::Mode::RoundRobin {
            sqlx::query("UPDATE assign_rules SET rr_last = $2 WHERE workspace_id = $1")
                .bind(workspace_id)
                .bind(last)
                .execute(&mut **tx)
                .await?;
        }
        Ok(handed)
    }

    /// Starts the first-response clock of a case whose customer starts waiting now (a
    /// clock already running keeps its deadline).
    pub(super) async fn start_response_clock(
        tx: &mut Tx,
        rules: &Rules,
        case_id: CaseId,
        now: i64,
    ) -> Result<()> {
        let Some(minutes) = rules.response_target_minutes else {
            return Ok(());
        };
        // The rules were checked when saved; a schedule that no longer parses counts as none.
        let hours = rules
            .business_hours
            .as_ref()
            .and_then(|h| crate::domain::hours::Hours::parse(h).ok());
        let due = crate::domain::hours::deadline(hours.as_ref(), from_ms(now), minutes);
        sqlx::query(
            "UPDATE cases SET response_due_at = $2, breached_at = NULL WHERE id = $1 AND \
             response_due_at IS NULL",
        )
        .bind(case_id)
        .bind(due.map(ms))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The response-target timer: claims each due case under its workspace lock (so one
    /// instance fires it, once), flags it, and takes it back from its owner if asked.
    pub(super) async fn fire_breaches(&self, now: DateTime<Utc>) -> Result<Vec<Event>> {
        let due = sqlx::query(
            "SELECT id, workspace_id FROM cases WHERE response_due_at IS NOT \
             NULL AND response_due_at <= $1 ORDER BY response_due_at LIMIT 500",
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
            let Some(row) = sqlx::query(
                "SELECT response_due_at FROM cases WHERE id = $1 AND \
                 response_due_at IS NOT NULL AND response_due_at <= $2",
            )
            .bind(case_id)
            .bind(ms(now))
            .fetch_optional(&mut *tx)
            .await?
            else {
                continue;
            };
            let due_at: i64 = row.try_get("response_due_at")?;
            let state = Self::case_state(&mut tx, workspace_id, case_id).await?;
            let mut log = Log::new(workspace_id, locked.last_seq);
            let at = ms(log.now);
            sqlx::query(
                "UPDATE cases SET \
                 response_due_at = \
                 NULL, breached_at = \
                 $2, version = version \
                 + 1 WHERE id = $1",
            )
            .bind(case_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if !state.status.is_open() {
                events.extend(Self::commit(tx, log, ()).await?.events);
                continue;
            }
            let number = format_number(&locked.case_prefix, state.number);
            log.timeline(
                case_id,
                TimelineKind::Breached,
                None,
                None,
                None,
                serde_json::json!({ "due_at": from_ms(due_at) }),
            );
            log.push(EventKind::CaseBreached {
                case_id,
                number: number.clone(),
                assignee_id: state.assignee_id,
                due_at: from_ms(due_at),
            });
            let (rules, last) = Self::rules_in_tx(&mut tx, workspace_id).await?;
            if let (true, Some(owner)) = (rules.take_back, state.assignee_id) {
                let team = Self::team_in_tx(&mut tx, workspace_id).await?;
                let open = Self::open_counts(&mut tx, workspace_id, &rules, &team).await?;
                let online = Self::online_set(&mut tx, workspace_id, &rules).await?;
                let category: Option<String> =
                    sqlx::query_scalar("SELECT category FROM cases WHERE id = $1")
                        .bind(case_id)
                        .fetch_one(&mut *tx)
                        .await?;
                let eligible = |id: TeammateId| {
                    id != owner
                        && team
                            .iter()
                            .any(|t| t.id == id && Self::fits(t, &open, &rules, &online))
                };
                let to = routing::pick(&rules, category.as_deref(), last, eligible);
                if rules.mode == routing::Mode::RoundRobin && to.is_some() {
                    sqlx::query("UPDATE assign_rules SET rr_last = $2 WHERE workspace_id = $1")
                        .bind(workspace_id)
                        .bind(to)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("UPDATE cases SET assignee_id = $2 WHERE id = $1")
                    .bind(case_id)
                    .bind(to)
                    .execute(&mut *tx)
                    .await?;
                if to.is_none() {
                    Self::enqueue_if_routed(&mut tx, rules.mode, case_id, at).await?;
                }
                log.timeline(
                    case_id,
                    TimelineKind::Assigned,
                    None,
                    Some(owner),
                    to,
                    serde_json::json!({ "reason": "response_target" }),
                );
                log.push(EventKind::CaseAssigned {
                    case_id,
                    number,
                    assignee_id: to,
                    previous_assignee_id: Some(owner),
                    actor_id: None,
                });
            }
            events.extend(Self::commit(tx, log, ()).await?.events);
        }
        Ok(events)
    }

    /// The timer's half of the queue: away that ended by its date frees no row, so every
    /// instance looks now and then at the workspaces with waiting cases.
    pub(super) async fn drain_waiting(&self, limit: i64) -> Result<Vec<Event>> {
        let sql = format!(
            "SELECT DISTINCT workspace_id FROM cases WHERE {} LIMIT $1",
            *WAITING
        );
        let workspaces: Vec<WorkspaceId> = sqlx::query_scalar(&sql)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        let mut events = Vec::new();
        for workspace_id in workspaces {
            let mut tx = self.begin().await?;
            let locked = Self::lock(&mut tx, workspace_id).await?;
            let mut log = Log::new(workspace_id, locked.last_seq);
            if self
                .drain_queue(&mut tx, &mut log, &locked.case_prefix)
                .await?
                == 0
            {
                tx.rollback().await?;
                continue;
            }
            events.extend(Self::commit(tx, log, ()).await?.events);
        }
        Ok(events)
    }
    /// Open cases per teammate, read only when some limit applies (the caller holds the
    /// workspace lock, so the counts cannot move under the choice).
    pub(super) async fn open_counts(
        tx: &mut Tx,
        workspace_id: WorkspaceId,
        rules: &Rules,
        team: &[Teammate],
    ) -> Result<std::collections::HashMap<TeammateId, u32>> {
        if rules.capacity.is_none() && team.iter().all(|t| t.max_open.is_none()) {
            return Ok(Default::default());
        }
        let sql = format!(
            "SELECT assignee_id, COUNT(*) AS n FROM cases WHERE workspace_id = $1 \
             AND assignee_id IS NOT NULL AND status IN {OPEN_SQL} GROUP BY \
             assignee_id"
        );
        let rows = sqlx::query(&sql)
            .bind(workspace_id)
            .fetch_all(&mut **tx)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("assignee_id")?,
                    r.try_get::<i64, _>("n")?.clamp(0, u32::MAX.into()) as u32,
                ))
            })
            .collect()
    }

    /// A customer wrote on `case` (open or reopened): if its owner was removed, made a
    /// viewer, or is away (per `away_behaviour`), the case goes through the rules as if
    /// it were new, or to the pool, with a timeline entry and a `case.assigned` event
    /// (which pings the new owner). The caller's later events carry the new assignee, so
    /// an unassigned result pings the "unassigned" subscribers.
    pub(super) async fn reroute_if_unfit(
        &self,
        tx: &mut Tx,
        log: &mut Log,
        case: &mut CaseState,
        prefix: &str,
    ) -> Result<()> {
        let Some(owner_id) = case.assignee_id else {
            return Ok(());
        };
        let workspace_id = log.workspace_id;
        let sql =
            format!("SELECT {TEAMMATE_COLUMNS} FROM teammates WHERE id = $1 AND workspace_id = $2");
        let row = sqlx::query(&sql)
            .bind(owner_id)
            .bind(workspace_id)
            .fetch_optional(&mut **tx)
            .await?;
        let owner = match row {
            Some(row) => {
                let t = teammate_from_row(&row)?;
                routing::Owner {
                    active: t.active,
                    assignable: t.role.can_be_assigned(),
                    away: t.away,
                }
            }
            None => routing::Owner {
                active: false,
                assignable: false,
                away: false,
            },
        };
        let behaviour = if owner.away {
            Self::rules_in_tx(tx, workspace_id).await?.0.away_behaviour
        } else {
            routing::AwayBehaviour::default()
        };
        let (to, unfit) = match routing::on_customer_message(Some(owner), behaviour) {
            routing::OnCustomerMessage::Keep => return Ok(()),
            routing::OnCustomerMessage::Pool(unfit) => (None, unfit),
            routing::OnCustomerMessage::Reroute(unfit) => {
                let category: Option<String> =
                    sqlx::query_scalar("SELECT category FROM cases WHERE id = $1")
                        .bind(case.id)
                        .fetch_one(&mut **tx)
                        .await?;
                let (rules, last) = Self::rules_in_tx(tx, workspace_id).await?;
                let to = self
                    .auto_assign(tx, workspace_id, (&rules, last), category.as_deref())
                    .await?;
                if to.is_none() {
                    Self::enqueue_if_routed(tx, rules.mode, case.id, ms(log.now)).await?;
                }
                (to, unfit)
            }
        };
        sqlx::query("UPDATE cases SET assignee_id = $2, version = version + 1 WHERE id = $1")
            .bind(case.id)
            .bind(to)
            .execute(&mut **tx)
            .await?;
        log.timeline(
            case.id,
            TimelineKind::Assigned,
            None,
            Some(owner_id),
            to,
            serde_json::json!({ "reason": unfit.reason() }),
        );
        log.push(EventKind::CaseAssigned {
            case_id: case.id,
            number: format_number(prefix, case.number),
            assignee_id: to,
            previous_assignee_id: Some(owner_id),
            actor_id: None,
        });
        case.assignee_id = to;
        case.version += 1;
        Ok(())
    }

    pub(super) async fn update_teammate_routing(
        &self,
        workspace_id: WorkspaceId,
        id: TeammateId,
        actor_id: TeammateId,
        patch: RoutingPatch,
    ) -> Result<Committed<Teammate>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let sql = format!(
            "SELECT {TEAMMATE_COLUMNS} FROM teammates WHERE id = $1 AND \
             workspace_id = $2 AND removed_at IS NULL"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(workspace_id)
            .fetch_optional(&mut *tx)
            .await?;
        let target = teammate_from_row(&not_found_if_none(row)?)?;
        let keep = |field: Option<Option<DateTime<Utc>>>, current: Option<DateTime<Utc>>| {
            field.unwrap_or(current).map(ms)
        };
        let away_from = keep(patch.away_from, target.away_from);
        let away_until = keep(patch.away_until, target.away_until);
        if let (Some(from), Some(until)) = (away_from, away_until) {
            if until <= from {
                return Err(StoreError::invalid(
                    Input::AwayUntil,
                    Refusal::AwayEndsBeforeStart,
                ));
            }
        }
        let max_open = patch.max_open.unwrap_or(target.max_open);
        if max_open.is_some_and(|m| !(0..=MAX_OPEN_LIMIT).contains(&m)) {
            return Err(StoreError::invalid(
                Input::MaxOpen,
                Refusal::OutOfRange {
                    min: 0,
                    max: MAX_OPEN_LIMIT,
                },
            ));
        }
        // A start date makes the range the whole story: a flag left from before goes.
        let flag_sql = if matches!(patch.away_from, Some(Some(_))) {
            ", away = FALSE"
        } else {
            ""
        };
        sqlx::query(&format!(
            "UPDATE teammates SET away_from = $2, away_until = $3, max_open = \
             $4{flag_sql} WHERE id = $1"
        ))
        .bind(id)
        .bind(away_from)
        .bind(away_until)
        .bind(max_open)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(workspace_id)
            .fetch_one(&mut *tx)
            .await?;
        let updated = teammate_from_row(&row)?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        log.push(EventKind::TeammateChanged {
            teammate_id: id,
            change: TeammateChange::Updated,
            actor_id: Some(actor_id),
        });
        self.drain_queue(&mut tx, &mut log, &locked.case_prefix)
            .await?;
        Self::commit(tx, log, updated).await
    }
}
