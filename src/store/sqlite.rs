//! SQLite: the zero-configuration default. One file in WAL mode; writes go through a single
//! connection (so write transactions never fight over the lock), reads through a small pool.
//!
//! Baton answers a write only after its commit returns, so what the commit has reached is what
//! an answer promises. With `synchronous = FULL` (the default) the WAL is synced at every commit;
//! with `NORMAL` only at checkpoints, which survives a crash of the process (the WAL is in the
//! kernel's page cache) but not a power cut or a kernel crash.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

#[derive(Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    /// The assignments this process makes, committed in groups (`store::combine`).
    assignments: std::sync::Arc<sql::Assignments>,
}

/// Bytes of the database file each read connection maps into memory: its reads then come from
/// the kernel's page cache, shared by every connection, rather than each connection's own 2 MB
/// cache through `read()` (a search of a big workspace touches thousands of index pages).
/// SQLite caps it at its compile-time limit (2 GB); the file's pages beyond are read as before.
const READ_MMAP_SIZE: u64 = 1 << 31;

impl SqliteStore {
    pub async fn connect(
        url: &str,
        synchronous: crate::config::SqliteSynchronous,
    ) -> anyhow::Result<Self> {
        let synchronous = match synchronous {
            crate::config::SqliteSynchronous::Full => SqliteSynchronous::Full,
            crate::config::SqliteSynchronous::Normal => SqliteSynchronous::Normal,
        };
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            if let Some(dir) = options
                .get_filename()
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)?;
            }
        }
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&write).await?;
        let read = if in_memory {
            write.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(
                    options
                        .read_only(true)
                        .pragma("mmap_size", READ_MMAP_SIZE.to_string()),
                )
                .await?
        };
        Ok(SqliteStore {
            write,
            read,
            assignments: std::sync::Arc::new(sql::assignments()),
        })
    }

    /// The writer's settings: the reads' connections never commit anything.
    async fn read_durability(&self) -> super::error::Result<crate::store::Durability> {
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&self.write)
            .await?;
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&self.write)
            .await?;
        Ok(crate::store::Durability::Sqlite {
            synchronous,
            journal_mode,
        })
    }
}

/// What the store's SQL (`sql/mod.rs`, written once for every backend) is compiled with here.
type Db = sqlx::Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;
type SqlStore = SqliteStore;
const BACKEND: super::Backend = super::Backend::Sqlite;
/// No row locks to skip: the single writer connection claims jobs one transaction at a time.
const SKIP_LOCKED: &str = "";

#[allow(clippy::duplicate_mod)] // compiled once per backend, on purpose
#[path = "sql/mod.rs"]
mod sql;
