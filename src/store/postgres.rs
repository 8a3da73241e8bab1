//! Postgres: for several instances. Row locks on the workspace row order writers across
//! processes (see `sql.rs`); migrations take Postgres's advisory lock, so instances starting
//! together apply them once.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

pub struct PgStore {
    write: PgPool,
    read: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str, pool_size: u32) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PgStore {
            write: pool.clone(),
            read: pool,
        })
    }

    /// As the server applies them to Baton's sessions (a role or database setting counts).
    async fn read_durability(&self) -> crate::error::Result<crate::store::Durability> {
        let synchronous_commit: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&self.write)
            .await?;
        let fsync: String = sqlx::query_scalar("SHOW fsync")
            .fetch_one(&self.write)
            .await?;
        Ok(crate::store::Durability::Postgres {
            synchronous_commit,
            fsync,
        })
    }
}

super::sql::sql_store!(
    PgStore,
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    Backend::Postgres,
    skip_locked = " FOR UPDATE SKIP LOCKED"
);

super::email_sql::email_sql!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
super::totp_sql::totp_sql!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
super::audit_sql::audit_sql!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
super::customers_sql::customers_sql!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
super::reports_sql::reports_sql!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
super::sms_sql::sms_sql!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
super::webhooks_sql::webhooks_sql!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
super::routing_sql::routing_sql!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
super::export_sql::export_sql!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
super::workday_sql::workday_sql!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
super::search_sql::search_sql!(
    PgStore,
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    Backend::Postgres
);
super::imap_sql::imap_sql!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
super::sso_sql::sso_sql!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
