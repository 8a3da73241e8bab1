//! Two-factor sign-in: TOTP enrolments and recovery codes.

use super::*;

impl SqlStore {
    pub(super) async fn totp(&self, teammate_id: TeammateId) -> Result<Option<Totp>> {
        let row = sqlx::query("SELECT secret, confirmed_at FROM totp WHERE teammate_id = $1")
            .bind(teammate_id)
            .fetch_optional(&self.write)
            .await?;
        row.map(|r| {
            Ok(Totp {
                secret: r.try_get("secret")?,
                confirmed: r.try_get::<Option<i64>, _>("confirmed_at")?.is_some(),
            })
        })
        .transpose()
    }

    pub(super) async fn begin_totp(&self, teammate_id: TeammateId, secret: &str) -> Result<()> {
        // A confirmed enrolment is never replaced here: turning it off needs a code.
        let done = sqlx::query(
            "INSERT INTO totp (teammate_id, secret) VALUES ($1, $2) \
             ON CONFLICT (teammate_id) DO UPDATE SET secret = excluded.secret WHERE \
             totp.confirmed_at IS NULL",
        )
        .bind(teammate_id)
        .bind(secret)
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::TotpOn));
        }
        Ok(())
    }

    pub(super) async fn confirm_totp(
        &self,
        teammate_id: TeammateId,
        step: i64,
        recovery_hashes: &[String],
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE totp SET confirmed_at = $2, last_step = $3 WHERE \
             teammate_id = $1 AND confirmed_at IS NULL",
        )
        .bind(teammate_id)
        .bind(now_ms())
        .bind(step)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::TotpOn));
        }
        sqlx::query("DELETE FROM recovery_codes WHERE teammate_id = $1")
            .bind(teammate_id)
            .execute(&mut *tx)
            .await?;
        for hash in recovery_hashes {
            sqlx::query("INSERT INTO recovery_codes (teammate_id, code_hash) VALUES ($1, $2)")
                .bind(teammate_id)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn use_totp_step(&self, teammate_id: TeammateId, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE totp SET last_step = $2 WHERE teammate_id = $1 AND confirmed_at IS NOT NULL \
             AND (last_step IS NULL OR last_step < $2)",
        )
        .bind(teammate_id)
        .bind(step)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn use_recovery_code(
        &self,
        teammate_id: TeammateId,
        code_hash: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 WHERE teammate_id = $1 \
             AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(teammate_id)
        .bind(code_hash)
        .bind(now_ms())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn delete_totp(&self, teammate_id: TeammateId) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE teammate_id = $1")
            .bind(teammate_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM totp WHERE teammate_id = $1")
            .bind(teammate_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
