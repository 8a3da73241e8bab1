//! Customer history: a customer's page (their addresses, notes and cases), a search to find one,
//! and merging two customers into one. A merged customer's row stays as an alias of the one it
//! was merged into (`merged_into`, one hop at most), so that their old addresses still find it;
//! every lookup by id goes through `COALESCE(merged_into, id)`.

use super::*;

/// Cases a customer page lists at most (newest first).
const PROFILE_CASES: i64 = 100;

impl SqlStore {
    /// The customer `id` names (following a merge), with its erasure time: `NotFound`
    /// outside the workspace.
    async fn resolve_customer<'e, E>(
        executor: E,
        workspace_id: WorkspaceId,
        id: CustomerId,
    ) -> Result<CustomerId>
    where
        E: sqlx::Executor<'e, Database = Db>,
    {
        let found: Option<CustomerId> = sqlx::query_scalar(
            "SELECT COALESCE(merged_into, id) FROM customers WHERE id = $1 AND workspace_id = $2",
        )
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(executor)
        .await?;
        found.ok_or(StoreError::NotFound)
    }

    pub(super) async fn customer_profile(
        &self,
        workspace_id: WorkspaceId,
        id: CustomerId,
    ) -> Result<CustomerProfile> {
        let id = Self::resolve_customer(&self.read, workspace_id, id).await?;
        let rows = sqlx::query(
            "SELECT id, name, email, phone, notes, created_at, erased_at, \
             merged_into FROM customers WHERE id = $1 OR merged_into = $1 \
             ORDER BY created_at, id",
        )
        .bind(id)
        .fetch_all(&self.read)
        .await?;
        let main = rows
            .iter()
            .find(|r| {
                r.try_get::<Option<CustomerId>, _>("merged_into")
                    .ok()
                    .flatten()
                    .is_none()
            })
            .ok_or(StoreError::NotFound)?;
        let mut addresses: Vec<Address> = Vec::new();
        for r in &rows {
            for kind in AddressKind::ALL {
                if let Some(value) = r.try_get::<Option<String>, _>(kind.as_str())? {
                    let address = Address { kind, value };
                    if !addresses.contains(&address) {
                        addresses.push(address);
                    }
                }
            }
        }
        let cases = sqlx::query(
            "SELECT c.id, c.number, c.status, c.assignee_id, c.subject, c.preview, c.channel_id, \
             c.created_at, c.last_message_at, w.case_prefix \
             FROM cases c JOIN workspaces w ON w.id = c.workspace_id WHERE c.customer_id = $1 \
             ORDER BY c.created_at DESC, c.id LIMIT $2",
        )
        .bind(id)
        .bind(PROFILE_CASES)
        .fetch_all(&self.read)
        .await?;
        let cases = cases
            .iter()
            .map(|r| {
                let status: String = r.try_get("status")?;
                Ok(CustomerCase {
                    id: r.try_get("id")?,
                    number: format_number(
                        &r.try_get::<String, _>("case_prefix")?,
                        r.try_get("number")?,
                    ),
                    status: Status::parse(&status)
                        .ok_or_else(|| anyhow::anyhow!("unknown status {status}"))?,
                    assignee_id: r.try_get("assignee_id")?,
                    subject: r.try_get("subject")?,
                    preview: r.try_get("preview")?,
                    channel_id: r.try_get("channel_id")?,
                    created_at: from_ms(r.try_get("created_at")?),
                    last_message_at: from_ms(r.try_get("last_message_at")?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CustomerProfile {
            customer: Customer {
                id,
                name: main.try_get("name")?,
                email: main.try_get("email")?,
                phone: main.try_get("phone")?,
            },
            notes: main.try_get("notes")?,
            created_at: from_ms(main.try_get("created_at")?),
            erased: main.try_get::<Option<i64>, _>("erased_at")?.is_some(),
            addresses,
            cases,
        })
    }

    pub(super) async fn set_customer_notes(
        &self,
        workspace_id: WorkspaceId,
        id: CustomerId,
        notes: &str,
    ) -> Result<()> {
        let id = Self::resolve_customer(&self.write, workspace_id, id).await?;
        sqlx::query("UPDATE customers SET notes = $2 WHERE id = $1")
            .bind(id)
            .bind(notes)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub(super) async fn find_customers(
        &self,
        workspace_id: WorkspaceId,
        q: &str,
        limit: i64,
    ) -> Result<Vec<Customer>> {
        let escaped = q
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        let rows = sqlx::query(
            "SELECT id, name, email, phone FROM customers WHERE workspace_id = $1 AND merged_into \
             IS NULL AND erased_at IS NULL \
             AND (LOWER(name) LIKE $2 ESCAPE '\\' OR LOWER(COALESCE(email, '')) LIKE $2 ESCAPE \
             '\\' OR COALESCE(phone, '') LIKE $2 ESCAPE '\\') \
             ORDER BY name, id LIMIT $3",
        )
        .bind(workspace_id)
        .bind(pattern)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Customer {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    email: r.try_get("email")?,
                    phone: r.try_get("phone")?,
                })
            })
            .collect()
    }

    pub(super) async fn merge_customers(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        from: CustomerId,
        into: CustomerId,
    ) -> Result<Committed<Merge>> {
        use Merge;
        let mut tx = self.begin().await?;
        let locked = Self::lock(&mut tx, workspace_id).await?;
        let mut log = Log::new(workspace_id, locked.last_seq);
        let from = Self::resolve_customer(&mut *tx, workspace_id, from).await?;
        let into = Self::resolve_customer(&mut *tx, workspace_id, into)
            .await
            .map_err(|e| {
                if matches!(e, StoreError::NotFound) {
                    StoreError::invalid(Input::MergeInto, Refusal::NoSuchCustomer)
                } else {
                    e
                }
            })?;
        if from == into {
            return Err(StoreError::invalid(
                Input::MergeInto,
                Refusal::MergeIntoSelf,
            ));
        }
        let erased: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM customers WHERE id IN ($1, $2) AND erased_at IS NOT NULL",
        )
        .bind(from)
        .bind(into)
        .fetch_one(&mut *tx)
        .await?;
        if erased > 0 {
            return Err(StoreError::invalid(
                Input::MergeInto,
                Refusal::CustomerErased,
            ));
        }
        let case_ids: Vec<CaseId> = sqlx::query_scalar(
            "SELECT id FROM cases WHERE customer_id = $1 ORDER BY created_at, id",
        )
        .bind(from)
        .fetch_all(&mut *tx)
        .await?;
        let from_name: String = sqlx::query_scalar("SELECT name FROM customers WHERE id = $1")
            .bind(from)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE cases SET customer_id = $2, version = version + 1 WHERE customer_id = $1",
        )
        .bind(from)
        .bind(into)
        .execute(&mut *tx)
        .await?;
        // Their notes join the target's; the target keeps its name and addresses, and
        // takes an address it lacks.
        sqlx::query(
            "UPDATE customers SET \
             notes = CASE WHEN (SELECT notes FROM customers WHERE id = $2) = '' THEN notes \
             WHEN notes = '' THEN (SELECT notes FROM customers WHERE id = $2) \
             ELSE notes || $3 || (SELECT notes FROM customers WHERE id = $2) END, \
             email = COALESCE(email, (SELECT email FROM customers WHERE id = $2)), \
             phone = COALESCE(phone, (SELECT phone FROM customers WHERE id = $2)) \
             WHERE id = $1",
        )
        .bind(into)
        .bind(from)
        .bind("\n\n")
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE customers SET merged_into = $2, notes = '' WHERE id = $1 OR merged_into = $1",
        )
        .bind(from)
        .bind(into)
        .execute(&mut *tx)
        .await?;
        for case_id in &case_ids {
            log.timeline(
                *case_id,
                TimelineKind::CustomerMerged,
                Some(actor_id),
                None,
                None,
                serde_json::json!({ "from_name": from_name }),
            );
        }
        log.push(EventKind::CustomerMerged {
            customer_id: from,
            into_id: into,
            case_ids: case_ids.clone(),
            actor_id,
        });
        Self::commit(
            tx,
            log,
            Merge {
                customer_id: from,
                into_id: into,
                case_ids,
            },
        )
        .await
    }
}
