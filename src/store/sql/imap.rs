//! IMAP: which email channels read a mailbox, each one's cursor in it and the lease that lets
//! one instance at a time poll it.

use super::*;

impl SqlStore {
    pub(super) async fn all_email_channels(&self) -> Result<Vec<(WorkspaceId, Channel)>> {
        let rows = sqlx::query(
            "SELECT id, workspace_id, kind, name, settings, created_at FROM \
             channels WHERE kind = 'email' ORDER BY created_at, id",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("workspace_id")?, channel_from_row(r)?)))
            .collect()
    }

    pub(super) async fn lease_imap(
        &self,
        channel_id: ChannelId,
        holder: &str,
        lease: std::time::Duration,
    ) -> Result<bool> {
        let now = now_ms();
        // The condition is in the upsert's own WHERE: Postgres re-checks it on the
        // locked row, so two instances never both hold one channel.
        let done = sqlx::query(
            "INSERT INTO imap_cursors (channel_id, holder, locked_until) SELECT $1, $2, $3 WHERE \
             EXISTS (SELECT 1 FROM channels WHERE id = $1) \
             ON CONFLICT (channel_id) DO UPDATE SET holder = excluded.holder, locked_until = \
             excluded.locked_until \
             WHERE imap_cursors.holder = excluded.holder OR imap_cursors.holder IS NULL OR \
             imap_cursors.locked_until IS NULL OR imap_cursors.locked_until < $4",
        )
        .bind(channel_id)
        .bind(holder)
        .bind(now + lease.as_millis() as i64)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn release_imap(&self, channel_id: ChannelId, holder: &str) -> Result<()> {
        sqlx::query(
            "UPDATE imap_cursors SET holder = NULL, locked_until = NULL WHERE channel_id \
             = $1 AND holder = $2",
        )
        .bind(channel_id)
        .bind(holder)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub(super) async fn imap_cursor(
        &self,
        channel_id: ChannelId,
    ) -> Result<crate::store::ImapCursor> {
        let row = sqlx::query(
            "SELECT mailbox, uid_validity, last_uid FROM imap_cursors WHERE channel_id = $1",
        )
        .bind(channel_id)
        .fetch_optional(&self.write)
        .await?;
        row.map(|r| {
            Ok(crate::store::ImapCursor {
                mailbox: r.try_get("mailbox")?,
                uid_validity: r.try_get("uid_validity")?,
                last_uid: r.try_get("last_uid")?,
            })
        })
        .transpose()
        .map(Option::unwrap_or_default)
    }

    pub(super) async fn reset_imap_cursor(
        &self,
        channel_id: ChannelId,
        mailbox: &str,
        uid_validity: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE imap_cursors SET mailbox = $2, uid_validity = $3, last_uid = 0 WHERE \
             channel_id = $1",
        )
        .bind(channel_id)
        .bind(mailbox)
        .bind(uid_validity)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub(super) async fn advance_imap_cursor(
        &self,
        channel_id: ChannelId,
        mailbox: &str,
        uid_validity: i64,
        uid: i64,
    ) -> Result<()> {
        // Never backwards, and only within the mailbox and UIDVALIDITY it was read in.
        sqlx::query(
            "UPDATE imap_cursors SET last_uid = $4 WHERE channel_id = $1 AND mailbox = \
             $2 AND uid_validity = $3 AND last_uid < $4",
        )
        .bind(channel_id)
        .bind(mailbox)
        .bind(uid_validity)
        .bind(uid)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}
