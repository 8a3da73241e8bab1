//! The routing part of the store: whether an owner can still act on a case when its customer
//! writes, open-case counts for capacity, and a teammate's away dates and limit. Instantiated
//! next to `sql_store!` for each backend (it uses that macro's imports, `Tx`, `Log`, `timeline`
//! and `auto_assign`); every choice it makes is a function of `domain::routing`.

macro_rules! routing_sql {
    ($Store:ident, $Db:ty, $Row:ty) => {
        impl $Store {
            /// Open cases per teammate, read only when some limit applies (the caller holds the
            /// workspace lock, so the counts cannot move under the choice).
            async fn open_counts(tx: &mut Tx, workspace_id: Uuid, rules: &Rules, team: &[Teammate]) -> Result<std::collections::HashMap<Uuid, u32>> {
                if rules.capacity.is_none() && team.iter().all(|t| t.max_open.is_none()) {
                    return Ok(Default::default());
                }
                let sql = format!("SELECT assignee_id, COUNT(*) AS n FROM cases WHERE workspace_id = $1 AND assignee_id IS NOT NULL AND status IN {OPEN_SQL} GROUP BY assignee_id");
                let rows = sqlx::query(&sql).bind(workspace_id).fetch_all(&mut **tx).await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("assignee_id")?, r.try_get::<i64, _>("n")?.clamp(0, u32::MAX.into()) as u32)))
                    .collect()
            }

            /// A customer wrote on `case` (open or reopened): if its owner was removed, made a
            /// viewer, or is away (per `away_behaviour`), the case goes through the rules as if
            /// it were new, or to the pool, with a timeline entry and a `case.assigned` event
            /// (which pings the new owner). The caller's later events carry the new assignee, so
            /// an unassigned result pings the "unassigned" subscribers.
            async fn reroute_if_unfit(&self, tx: &mut Tx, log: &mut Log, case: &mut CaseState, prefix: &str) -> Result<()> {
                let Some(owner_id) = case.assignee_id else { return Ok(()) };
                let workspace_id = log.workspace_id;
                let sql = format!("SELECT {TEAMMATE_COLUMNS} FROM teammates WHERE id = $1 AND workspace_id = $2");
                let row = sqlx::query(&sql).bind(owner_id).bind(workspace_id).fetch_optional(&mut **tx).await?;
                let owner = match row {
                    Some(row) => {
                        let t = teammate_from_row(&row)?;
                        routing::Owner { active: t.active, assignable: t.role.can_be_assigned(), away: t.away }
                    }
                    None => routing::Owner { active: false, assignable: false, away: false },
                };
                let behaviour = if owner.away { Self::rules_in_tx(tx, workspace_id).await?.0.away_behaviour } else { routing::AwayBehaviour::default() };
                let (to, unfit) = match routing::on_customer_message(Some(owner), behaviour) {
                    routing::OnCustomerMessage::Keep => return Ok(()),
                    routing::OnCustomerMessage::Pool(unfit) => (None, unfit),
                    routing::OnCustomerMessage::Reroute(unfit) => {
                        let category: Option<String> = sqlx::query_scalar("SELECT category FROM cases WHERE id = $1").bind(case.id).fetch_one(&mut **tx).await?;
                        (self.auto_assign(tx, workspace_id, category.as_deref()).await?, unfit)
                    }
                };
                sqlx::query("UPDATE cases SET assignee_id = $2, version = version + 1 WHERE id = $1").bind(case.id).bind(to).execute(&mut **tx).await?;
                Self::timeline(tx, workspace_id, case.id, "assigned", None, Some(owner_id), to, serde_json::json!({ "reason": unfit.reason() }), ms(log.now)).await?;
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

            async fn routing_patch(&self, workspace_id: Uuid, id: Uuid, actor_id: Uuid, patch: RoutingPatch) -> Result<Committed<Teammate>> {
                let mut tx = self.begin().await?;
                let locked = Self::lock(&mut tx, workspace_id).await?;
                let sql = format!("SELECT {TEAMMATE_COLUMNS} FROM teammates WHERE id = $1 AND workspace_id = $2 AND removed_at IS NULL");
                let row = sqlx::query(&sql).bind(id).bind(workspace_id).fetch_optional(&mut *tx).await?;
                let target = teammate_from_row(&not_found_if_none(row)?)?;
                let keep = |field: Option<Option<DateTime<Utc>>>, current: Option<DateTime<Utc>>| field.unwrap_or(current).map(|d| ms(d));
                let away_from = keep(patch.away_from, target.away_from);
                let away_until = keep(patch.away_until, target.away_until);
                if let (Some(from), Some(until)) = (away_from, away_until) {
                    if until <= from {
                        return Err(Error::invalid("away_until", "must be after away_from"));
                    }
                }
                let max_open = patch.max_open.unwrap_or(target.max_open);
                if max_open.is_some_and(|m| !(0..=100_000).contains(&m)) {
                    return Err(Error::invalid("max_open", "must be between 0 and 100000"));
                }
                // A start date makes the range the whole story: a flag left from before goes.
                let flag_sql = if matches!(patch.away_from, Some(Some(_))) { ", away = FALSE" } else { "" };
                sqlx::query(&format!("UPDATE teammates SET away_from = $2, away_until = $3, max_open = $4{flag_sql} WHERE id = $1"))
                    .bind(id)
                    .bind(away_from)
                    .bind(away_until)
                    .bind(max_open)
                    .execute(&mut *tx)
                    .await?;
                let row = sqlx::query(&sql).bind(id).bind(workspace_id).fetch_one(&mut *tx).await?;
                let updated = teammate_from_row(&row)?;
                let mut log = Log::new(workspace_id, locked.last_seq);
                log.push(EventKind::TeammateChanged { teammate_id: id, change: "updated".into(), actor_id: Some(actor_id) });
                Self::commit(tx, log, updated).await
            }
        }
    };
}

pub(crate) use routing_sql;
