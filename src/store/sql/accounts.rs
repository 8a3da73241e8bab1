//! Workspaces and their teammates: creating, changing and removing them, and each one's
//! notification settings.

use super::*;

pub(super) const TEAMMATE_COLUMNS: &str =
    "id, workspace_id, name, email, role, away, removed_at, created_at, away_from, \
     away_until, max_open";

pub(super) fn teammate_from_row(row: &DbRow) -> Result<Teammate> {
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

pub(super) fn workspace_from_row(row: &DbRow) -> Result<Workspace> {
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

impl SqlStore {
    pub(super) async fn insert_teammate(
        tx: &mut Tx,
        workspace_id: WorkspaceId,
        name: &str,
        email: &str,
        password_hash: Option<&str>,
        role: Role,
        now: i64,
    ) -> Result<Teammate> {
        let id = TeammateId::new();
        let prefs = NotificationPrefs::defaults_for(role);
        let inserted = sqlx::query(
            "INSERT INTO teammates (id, workspace_id, name, email, password_hash, role, away, \
             notify_unassigned, created_at) \
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
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict(Conflict::Email)),
            other => other?,
        };
        Ok(Teammate {
            id,
            workspace_id,
            name: name.into(),
            email: email.into(),
            role,
            away: false,
            active: true,
            created_at: from_ms(now),
            away_from: None,
            away_until: None,
            max_open: None,
        })
    }

    /// The active teammates of a workspace, for rules, pings and validation.
    pub(super) async fn team_in_tx(
        tx: &mut Tx,
        workspace_id: WorkspaceId,
    ) -> Result<Vec<Teammate>> {
        let sql = format!(
            "SELECT {TEAMMATE_COLUMNS} FROM teammates WHERE workspace_id = $1 \
             AND removed_at IS NULL"
        );
        let rows = sqlx::query(&sql)
            .bind(workspace_id)
            .fetch_all(&mut **tx)
            .await?;
        rows.iter().map(teammate_from_row).collect()
    }

    pub(super) async fn create_workspace(
        &self,
        workspace_name: &str,
        owner_name: &str,
        email: &str,
        password_hash: &str,
        ingest_token: &str,
    ) -> Result<Committed<(Workspace, Teammate)>> {
        let mut tx = self.begin().await?;
        let now = now_ms();
        let id = WorkspaceId::new();
        let keywords: BTreeMap<String, Vec<String>> = [
            (
                "pricing".to_string(),
                vec![
                    "price".into(),
                    "prices".into(),
                    "quote".into(),
                    "cost".into(),
                ],
            ),
            (
                "complaint".to_string(),
                vec!["refund".into(), "complaint".into(), "broken".into()],
            ),
        ]
        .into();
        sqlx::query(
            "INSERT INTO workspaces (id, name, case_prefix, reopen_days, category_keywords, \
             ingest_token, created_at) VALUES ($1, $2, 'BT', 90, $3, $4, $5)",
        )
        .bind(id)
        .bind(workspace_name)
        .bind(serde_json::to_string(&keywords)?)
        .bind(ingest_token)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO assign_rules (workspace_id) VALUES ($1)")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let owner = Self::insert_teammate(
            &mut tx,
            id,
            owner_name,
            email,
            Some(password_hash),
            Role::Owner,
            now,
        )
        .await?;
        let mut log = Log::new(id, 0);
        log.push(EventKind::TeammateChanged {
            teammate_id: owner.id,
            change: TeammateChange::Joined,
            actor_id: None,
        });
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

    pub(super) async fn workspace(&self, id: WorkspaceId) -> Result<Workspace> {
        let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        workspace_from_row(&not_found_if_none(row)?)
    }

    pub(super) async fn workspace_by_ingest_token(&self, token: &str) -> Result<Option<Workspace>> {
        let row = sqlx::query("SELECT * FROM workspaces WHERE ingest_token = $1")
            .bind(token)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| workspace_from_row(&r)).transpose()
    }

    pub(super) async fn update_workspace(
        &self,
        id: WorkspaceId,
        actor_id: TeammateId,
        patch: WorkspacePatch,
    ) -> Result<Committed<Workspace>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, id).await?;
        let mut log = Log::new(id, locked.last_seq);
        sqlx::query(
            "UPDATE workspaces SET name = COALESCE($2, name), case_prefix = COALESCE($3, \
             case_prefix), \
             reopen_days = COALESCE($4, reopen_days), category_keywords = COALESCE($5, \
             category_keywords), \
             tags_locked = COALESCE($6, tags_locked), require_totp = COALESCE($7, require_totp) \
             WHERE id = $1",
        )
        .bind(id)
        .bind(patch.name)
        .bind(patch.case_prefix)
        .bind(patch.reopen_days)
        .bind(
            patch
                .category_keywords
                .map(|k| serde_json::to_string(&k))
                .transpose()?,
        )
        .bind(patch.tags_locked)
        .bind(patch.require_totp)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let workspace = workspace_from_row(&row)?;
        log.push(EventKind::WorkspaceChanged { actor_id });
        Self::commit(tx, log, workspace).await
    }

    pub(super) async fn set_ingest_token(&self, id: WorkspaceId, token: &str) -> Result<()> {
        let done = sqlx::query("UPDATE workspaces SET ingest_token = $2 WHERE id = $1")
            .bind(id)
            .bind(token)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub(super) async fn credentials(&self, email: &str) -> Result<Option<Credentials>> {
        let sql = format!(
            "SELECT {TEAMMATE_COLUMNS}, password_hash FROM teammates WHERE email = $1 \
             AND removed_at IS NULL AND password_hash IS NOT NULL"
        );
        let row = sqlx::query(&sql)
            .bind(email)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| {
            Ok(Credentials {
                teammate: teammate_from_row(&r)?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    pub(super) async fn teammate(
        &self,
        workspace_id: WorkspaceId,
        id: TeammateId,
    ) -> Result<Teammate> {
        let sql =
            format!("SELECT {TEAMMATE_COLUMNS} FROM teammates WHERE id = $1 AND workspace_id = $2");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(workspace_id)
            .fetch_optional(&self.read)
            .await?;
        teammate_from_row(&not_found_if_none(row)?)
    }

    pub(super) async fn teammates(
        &self,
        workspace_id: WorkspaceId,
        q: Option<&str>,
        which: Which,
    ) -> Result<Vec<Teammate>> {
        let mut query = QueryBuilder::<Db>::new(format!(
            "SELECT {TEAMMATE_COLUMNS} FROM teammates WHERE workspace_id = "
        ));
        query.push_bind(workspace_id);
        if which != Which::EverMember {
            query.push(" AND removed_at IS NULL");
        }
        if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
            let pattern = like_pattern(q);
            query
                .push(" AND (LOWER(name) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR LOWER(email) LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if which == Which::Assignable {
            query.push(" AND role <> 'viewer'");
        }
        query.push(" ORDER BY LOWER(name), id");
        let rows = query.build().fetch_all(&self.read).await?;
        rows.iter().map(teammate_from_row).collect()
    }

    pub(super) async fn update_teammate(
        &self,
        workspace_id: WorkspaceId,
        id: TeammateId,
        actor_id: TeammateId,
        role: Option<Role>,
        away: Option<bool>,
    ) -> Result<Committed<Teammate>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let team = Self::team_in_tx(&mut tx, workspace_id).await?;
        let target = team
            .iter()
            .find(|t| t.id == id)
            .cloned()
            .ok_or(StoreError::NotFound)?;
        if let Some(role) = role {
            let owners = team.iter().filter(|t| t.role == Role::Owner).count();
            if target.role == Role::Owner && role != Role::Owner && owners <= 1 {
                return Err(StoreError::invalid(Input::Role, Refusal::LastOwnerDemoted));
            }
            if !role.can_be_assigned() {
                let sql = format!(
                    "SELECT COUNT(*) FROM cases WHERE workspace_id = $1 AND assignee_id = $2 \
                     AND status IN {OPEN_SQL}"
                );
                let open: i64 = sqlx::query_scalar(&sql)
                    .bind(workspace_id)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                if open > 0 {
                    return Err(StoreError::invalid(
                        Input::Role,
                        Refusal::OwnsOpenCases { open },
                    ));
                }
            }
        }
        sqlx::query(
            "UPDATE teammates SET role = COALESCE($2, role), away = COALESCE($3, away) \
             WHERE id = $1",
        )
        .bind(id)
        .bind(role.map(Role::as_str))
        .bind(away)
        .execute(&mut *tx)
        .await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        log.push(EventKind::TeammateChanged {
            teammate_id: id,
            change: TeammateChange::Updated,
            actor_id: Some(actor_id),
        });
        if role.is_some_and(|r| !r.can_be_assigned()) {
            Self::drop_from_rules(&mut tx, &mut log, id, actor_id).await?;
        }
        self.drain_queue(&mut tx, &mut log, &locked.case_prefix)
            .await?;
        let updated = Teammate {
            role: role.unwrap_or(target.role),
            away: away.unwrap_or(target.away),
            ..target
        };
        Self::commit(tx, log, updated).await
    }

    pub(super) async fn remove_teammate(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        departure: Departure,
    ) -> Result<Committed<usize>> {
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let team = Self::team_in_tx(&mut tx, workspace_id).await?;
        let target = team
            .iter()
            .find(|t| t.id == departure.teammate_id)
            .cloned()
            .ok_or(StoreError::NotFound)?;
        if target.role == Role::Owner && team.iter().filter(|t| t.role == Role::Owner).count() <= 1
        {
            return Err(StoreError::invalid(
                Input::Departing,
                Refusal::LastOwnerRemoved,
            ));
        }
        if let Some(to) = departure.reassign_to {
            if to == target.id {
                return Err(StoreError::invalid(
                    Input::Successor,
                    Refusal::SuccessorIsLeaving,
                ));
            }
            Self::check_assignable(&mut tx, workspace_id, to, Input::Successor).await?;
        }
        let mut log = Log::new(workspace_id, locked.last_seq);
        let moved = Self::move_open_cases(
            &mut tx,
            &mut log,
            actor_id,
            target.id,
            departure.reassign_to,
            "departure",
        )
        .await?;
        sqlx::query("UPDATE teammates SET removed_at = $2 WHERE id = $1")
            .bind(target.id)
            .bind(ms(log.now))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM tokens WHERE teammate_id = $1")
            .bind(target.id)
            .execute(&mut *tx)
            .await?;
        log.push(EventKind::TeammateChanged {
            teammate_id: target.id,
            change: TeammateChange::Removed,
            actor_id: Some(actor_id),
        });
        Self::drop_from_rules(&mut tx, &mut log, target.id, actor_id).await?;
        Self::commit(tx, log, moved).await
    }

    pub(super) async fn prefs(&self, teammate_id: TeammateId) -> Result<NotificationPrefs> {
        let row = sqlx::query(
            "SELECT notify_web_push, notify_email, notify_chime, notify_unassigned, \
             email_delay_secs FROM teammates WHERE id = $1",
        )
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

    pub(super) async fn set_prefs(
        &self,
        teammate_id: TeammateId,
        p: NotificationPrefs,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE teammates SET notify_web_push = $2, notify_email = $3, notify_chime = $4, \
             notify_unassigned = $5, email_delay_secs = $6 WHERE id = $1",
        )
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
}
