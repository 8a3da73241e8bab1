//! Reading cases: lists, counts, one case and its detail, and the timeline every change writes.

use super::*;

/// The columns of a case as the API shows it; `$1` is the viewer (for `unread`).
pub(super) const CASE_SELECT: &str =
    "SELECT c.id, c.number, c.status, c.assignee_id, c.version, c.category, c.subject, \
     c.returning_customer, c.preview, c.created_at, c.last_message_at, c.closed_at, \
     c.follow_up_at, c.response_due_at, c.breached_at, c.queued_at, c.channel_id, \
     c.snoozed_until, \
     cu.id AS customer_id, cu.name AS customer_name, cu.email AS customer_email, \
     cu.phone AS customer_phone, \
     w.case_prefix, (c.inbound_count > COALESCE(r.seen_inbound, 0)) AS unread \
     FROM cases c JOIN customers cu ON cu.id = c.customer_id \
     JOIN workspaces w ON w.id = c.workspace_id \
     LEFT JOIN reads r ON r.case_id = c.id AND r.teammate_id = $1";

/// The case fields a write needs to decide what to do.
#[derive(Debug, Clone)]
pub(super) struct CaseState {
    pub id: CaseId,
    pub number: i64,
    pub status: Status,
    pub assignee_id: Option<TeammateId>,
    pub version: i64,
    pub closed_at: Option<i64>,
    /// When a snoozed case comes back; none while it is not snoozed.
    pub snoozed_until: Option<i64>,
}

/// Narrows a newest-first list to the cases older than `after` (last activity in ms, id), where
/// its next page resumes. Lists and searches by recency share it.
pub(super) fn push_after(qb: &mut QueryBuilder<'_, Db>, (at, id): (i64, CaseId)) {
    qb.push(" AND (c.last_message_at < ").push_bind(at);
    qb.push(" OR (c.last_message_at = ")
        .push_bind(at)
        .push(" AND c.id < ")
        .push_bind(id)
        .push("))");
}

/// `WHERE` and the list's conditions: the workspace, the view, the filter and the
/// narrowing ones (statuses, assignee, channel, dates). Lists and searches share them.
pub(super) fn push_case_filters(
    qb: &mut QueryBuilder<'_, Db>,
    workspace_id: WorkspaceId,
    viewer: TeammateId,
    query: &CaseQuery,
) {
    qb.push(" WHERE c.workspace_id = ").push_bind(workspace_id);
    match query.view {
        View::Mine => {
            qb.push(" AND c.snoozed_until IS NULL AND c.assignee_id = ")
                .push_bind(viewer);
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
        qb.push(" AND EXISTS (SELECT 1 FROM case_tags ct WHERE ct.case_id = c.id AND ct.tag_id = ")
            .push_bind(tag)
            .push(")");
    }
    match query.filter {
        Filter::Open => {
            qb.push(format!(" AND c.status IN {OPEN_SQL}"));
        }
        Filter::Unread => {
            qb.push(format!(
                " AND c.status IN {OPEN_SQL} AND c.inbound_count > COALESCE(r.seen_inbound, 0)"
            ));
        }
        Filter::Closed => {
            qb.push(format!(" AND c.status NOT IN {OPEN_SQL}"));
        }
        Filter::Breached => {
            qb.push(format!(
                " AND c.status IN {OPEN_SQL} AND c.breached_at IS NOT NULL"
            ));
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

pub(super) fn case_from_row(row: &DbRow) -> Result<Case> {
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

/// One case as `viewer` sees it, with its tags, in one statement (`$1` the viewer, `$2` the
/// case, `$3` the workspace): a row per tag, ordered as the tags are everywhere, or one row
/// without a tag. `columns` and `joins` add to it (the case's columns are `c.`).
pub(super) fn one_case_sql(columns: &str, joins: &str) -> String {
    format!(
        "{} LEFT JOIN case_tags ct ON ct.case_id = c.id LEFT JOIN tags tg ON tg.id = ct.tag_id \
         {joins} WHERE c.id = $2 AND c.workspace_id = $3 ORDER BY tg.name_key",
        CASE_SELECT.replacen(
            "SELECT ",
            &format!(
                "SELECT {columns}tg.id AS tag_id, tg.name AS tag_name, tg.color AS tag_color, "
            ),
            1
        )
    )
}

static ONE_CASE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| one_case_sql("", ""));

/// The case of `one_case_sql`'s rows; none is not found.
pub(super) fn case_with_tags(rows: &[DbRow]) -> Result<Case> {
    let mut case = case_from_row(rows.first().ok_or(StoreError::NotFound)?)?;
    for row in rows {
        if let Some(id) = row.try_get("tag_id")? {
            case.tags.push(Tag {
                id,
                name: row.try_get("tag_name")?,
                color: row.try_get("tag_color")?,
            });
        }
    }
    Ok(case)
}

async fn one_case<'e, E>(
    ex: E,
    workspace_id: WorkspaceId,
    viewer: TeammateId,
    id: CaseId,
) -> Result<Case>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let rows = sqlx::query(&ONE_CASE)
        .bind(viewer)
        .bind(id)
        .bind(workspace_id)
        .fetch_all(ex)
        .await?;
    case_with_tags(&rows)
}

pub(super) fn case_state_from_row(row: &DbRow) -> Result<CaseState> {
    Ok(CaseState {
        id: row.try_get("id")?,
        number: row.try_get("number")?,
        status: parse_status(&row.try_get::<String, _>("status")?)?,
        assignee_id: row.try_get("assignee_id")?,
        version: row.try_get("version")?,
        closed_at: row.try_get("closed_at")?,
        snoozed_until: row.try_get("snoozed_until")?,
    })
}

impl SqlStore {
    pub(super) async fn case_state(
        conn: &mut DbConn,
        workspace_id: WorkspaceId,
        case_id: CaseId,
    ) -> Result<CaseState> {
        let row = sqlx::query(
            "SELECT id, number, status, assignee_id, version, closed_at, snoozed_until FROM cases \
             WHERE id = $1 AND workspace_id = $2",
        )
        .bind(case_id)
        .bind(workspace_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
        case_state_from_row(&row)
    }

    pub(super) async fn case_in_tx(
        conn: &mut DbConn,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        case_id: CaseId,
    ) -> Result<Case> {
        one_case(&mut *conn, workspace_id, viewer, case_id).await
    }

    pub(super) async fn cases(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        query: CaseQuery,
    ) -> Result<Vec<Case>> {
        let prefix: String = sqlx::query_scalar("SELECT case_prefix FROM workspaces WHERE id = $1")
            .bind(workspace_id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        // Untrimmed: a trailing space says the last word is finished.
        if let Some(q) = query.q.as_deref().filter(|q| !q.trim().is_empty()) {
            let mut cases = self
                .search_cases(workspace_id, viewer, &prefix, q, &query)
                .await?;
            let ids: Vec<CaseId> = cases.iter().map(|c| c.id).collect();
            Self::put_tags(&mut cases, Self::tags_of(&self.read, &ids).await?);
            return Ok(cases);
        }
        let mut qb = QueryBuilder::<Db>::new(CASE_SELECT.replace("$1", "").trim_end().to_string());
        qb.push_bind(viewer);
        push_case_filters(&mut qb, workspace_id, viewer, &query);
        if let Some(after) = query.after {
            push_after(&mut qb, after);
        }
        qb.push(" ORDER BY c.last_message_at DESC, c.id DESC LIMIT ")
            .push_bind(query.limit);
        let rows = qb.build().fetch_all(&self.read).await?;
        let mut cases = rows.iter().map(case_from_row).collect::<Result<Vec<_>>>()?;
        let ids: Vec<CaseId> = cases.iter().map(|c| c.id).collect();
        Self::put_tags(&mut cases, Self::tags_of(&self.read, &ids).await?);
        Ok(cases)
    }

    pub(super) async fn counts(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
    ) -> Result<Counts> {
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
            cols.push(format!(
                "COUNT(CASE WHEN {cond} AND {open} THEN 1 END) AS {view}_open"
            ));
            cols.push(format!(
                "COUNT(CASE WHEN {cond} AND {open} AND {unread} THEN 1 END) AS {view}_unread"
            ));
            cols.push(format!(
                "COUNT(CASE WHEN {cond} AND NOT ({open}) THEN 1 END) AS {view}_closed"
            ));
            cols.push(format!(
                "COUNT(CASE WHEN {cond} AND {open} AND c.breached_at IS NOT NULL THEN 1 END) \
                 AS {view}_breached"
            ));
        }
        let sql = format!(
            "SELECT {} FROM cases c LEFT JOIN reads r ON r.case_id = c.id AND r.teammate_id = $1 \
             WHERE c.workspace_id = $2",
            cols.join(", ")
        );
        let row = sqlx::query(&sql)
            .bind(viewer)
            .bind(workspace_id)
            .fetch_one(&self.read)
            .await?;
        let get = |view: &str| -> Result<FilterCounts> {
            Ok(FilterCounts {
                open: row.try_get(format!("{view}_open").as_str())?,
                unread: row.try_get(format!("{view}_unread").as_str())?,
                closed: row.try_get(format!("{view}_closed").as_str())?,
                breached: row.try_get(format!("{view}_breached").as_str())?,
            })
        };
        Ok(Counts {
            mine: get("mine")?,
            unassigned: get("unassigned")?,
            all: get("all")?,
            snoozed: get("snoozed")?,
        })
    }

    pub(super) async fn case(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        id: CaseId,
    ) -> Result<Case> {
        one_case(&self.read, workspace_id, viewer, id).await
    }

    pub(super) async fn case_detail(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        id: CaseId,
    ) -> Result<CaseDetail> {
        let case = self.case(workspace_id, viewer, id).await?;
        let messages = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE case_id = $1 ORDER BY created_at, id"
        ))
        .bind(id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(message_from_row)
        .collect::<Result<Vec<_>>>()?;
        let messages = self.with_attachments(messages).await?;
        let timeline = sqlx::query(
            "SELECT id, kind, actor_id, from_id, to_id, detail, created_at FROM timeline \
             WHERE case_id = $1 ORDER BY created_at, id",
        )
        .bind(id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|r| {
            Ok(TimelineEntry {
                id: r.try_get("id")?,
                kind: parse_timeline_kind(&r.try_get::<String, _>("kind")?)?,
                actor_id: r.try_get("actor_id")?,
                from_id: r.try_get("from_id")?,
                to_id: r.try_get("to_id")?,
                detail: serde_json::from_str(&r.try_get::<String, _>("detail")?)?,
                at: from_ms(r.try_get("created_at")?),
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(CaseDetail {
            case,
            messages,
            timeline,
        })
    }

    pub(super) async fn mark_read(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        teammate_id: TeammateId,
    ) -> Result<()> {
        let done = sqlx::query(
            "INSERT INTO reads (teammate_id, case_id, seen_inbound) SELECT $1, id, inbound_count \
             FROM cases WHERE id = $2 AND workspace_id = $3 \
             ON CONFLICT (teammate_id, case_id) DO UPDATE SET seen_inbound = excluded.seen_inbound",
        )
        .bind(teammate_id)
        .bind(case_id)
        .bind(workspace_id)
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
