//! Postgres: for several instances. Row locks on the workspace row order writers across
//! processes (see `sql/mod.rs`); migrations take Postgres's advisory lock, so instances starting
//! together apply them once.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

#[derive(Clone)]
pub struct PgStore {
    write: PgPool,
    read: PgPool,
    /// The assignments this process makes, committed in groups (`store::combine`).
    assignments: std::sync::Arc<sql::Assignments>,
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
            assignments: std::sync::Arc::new(sql::assignments()),
        })
    }

    /// As the server applies them to Baton's sessions (a role or database setting counts).
    async fn read_durability(&self) -> super::error::Result<crate::store::Durability> {
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

/// What the store's SQL (`sql/mod.rs`, written once for every backend) is compiled with here.
type Db = sqlx::Postgres;
type DbRow = sqlx::postgres::PgRow;
type SqlStore = PgStore;
const BACKEND: super::Backend = super::Backend::Postgres;
/// Instances claiming jobs at the same time pass over the rows another one holds.
const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

#[allow(clippy::duplicate_mod)] // compiled once per backend, on purpose
#[path = "sql/mod.rs"]
mod sql;
