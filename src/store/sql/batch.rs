//! Writes that go to the database in one request. Each statement in a transaction is a round
//! trip: to Postgres over the network, to SQLite through its connection's thread (a hand-off and
//! an answer back, two thread switches). Writes whose results nobody reads can go together:
//! on Postgres as data-modifying `WITH` clauses of one statement, on SQLite as statements
//! separated by `;`, run one after another in one call.
//!
//! On Postgres the clauses run on one snapshot, so no statement of a batch may depend on what
//! another one of it changed; only independent writes belong in one.

use super::*;

pub(super) struct Batch<'a> {
    qb: QueryBuilder<'a, Db>,
    statements: usize,
}

impl<'a> Batch<'a> {
    pub fn new() -> Self {
        Batch {
            qb: QueryBuilder::new(""),
            statements: 0,
        }
    }

    /// Starts the next statement; write it into the builder returned.
    pub fn statement(&mut self) -> &mut QueryBuilder<'a, Db> {
        let separator = match (BACKEND, self.statements) {
            (Backend::Postgres, 0) => "WITH s0 AS (".to_string(),
            (Backend::Postgres, n) => format!("), s{n} AS ("),
            (_, 0) => String::new(),
            _ => "; ".to_string(),
        };
        self.statements += 1;
        self.qb.push(separator);
        &mut self.qb
    }

    pub fn is_empty(&self) -> bool {
        self.statements == 0
    }

    /// Sends every statement at once. Nothing is sent for an empty batch.
    pub async fn execute(mut self, tx: &mut Tx) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        if BACKEND == Backend::Postgres {
            self.qb.push(") SELECT 1");
        }
        self.qb.build().execute(&mut **tx).await?;
        Ok(())
    }
}
