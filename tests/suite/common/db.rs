//! A fresh database per test, on SQLite or Postgres, and direct SQL on it.

use super::{admin_url, skips};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A database for one test: dropped when the guard goes.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(db: Db) -> TestDb {
        skips::report_at_exit();
        match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/baton.db", dir.path().display());
                TestDb {
                    url,
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Db::Postgres => {
                use sqlx::{Connection, Executor};
                let name = format!("baton_t_{}", uuid::Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(&admin_url())
                    .await
                    .expect("postgres admin connection");
                admin
                    .execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create test database");
                let mut url = url::Url::parse(&admin_url()).expect("postgres url");
                url.set_path(&name);
                TestDb {
                    url: url.to_string(),
                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Dropped from a plain thread: the test's runtime may be shutting down.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    use sqlx::{Connection, Executor};
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url()).await {
                        let _ = admin
                            .execute(
                                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                            )
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Runs one statement straight on a test database (to age rows as if written long ago);
/// answers the rows it changed.
pub async fn sql_exec(db: Db, url: &str, sql: &str) -> u64 {
    use sqlx::Connection;
    match db {
        Db::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .unwrap()
                .rows_affected()
        }
        Db::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .unwrap()
                .rows_affected()
        }
    }
}
