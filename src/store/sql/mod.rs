//! The `Store` implementation, written once for every backend and compiled for each:
//! `sqlite.rs` and `postgres.rs` name their database types (`Db`, `DbRow`), their store
//! (`SqlStore`) and what differs (`BACKEND`, `SKIP_LOCKED`), then include this module. Its files
//! are plain Rust, one per aggregate or feature, so rustfmt and every other tool read them as
//! they are; `dispatch.rs` maps the `Store` trait onto them.
//!
//! The SQL is portable (`$N` parameters, `RETURNING`, `ON CONFLICT`, times as integer
//! milliseconds); the few backend-specific bits live in `sqlite.rs` and `postgres.rs`, except
//! search's (`search.rs`), which chooses by `BACKEND`.
//!
//! Every write transaction touches its workspace row before it writes
//! (`UPDATE workspaces SET last_seq = last_seq … RETURNING`). On Postgres that takes the row lock,
//! so writers of one workspace run one after another, across every process: `seq` and case
//! numbers have no gaps and no duplicates, round-robin advances once per case, and a stale
//! `if_version` is always seen. On SQLite the single writer connection gives the same order.
//! Most writes take it first. An assignment reads and checks before it (`assignment.rs`), so
//! that the workspace's other writers wait only for the ordered part, and makes its change
//! conditional on what it read.

mod accounts;
mod assignment;
mod audit;
mod badges;
mod batch;
mod cases;
mod customers;
mod dispatch;
mod email;
mod export;
mod imap;
mod inbound;
mod jobs;
mod log;
mod messages;
mod queue;
mod reports;
mod search;
mod sms;
mod sso;
mod status;
mod tokens;
mod totp;
mod webhooks;
mod workday;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use super::{Db, DbRow, SqlStore, BACKEND, SKIP_LOCKED};
use crate::domain::ids::*;
use crate::domain::{numbers, routing, routing::Rules, status::OPEN_SQL, Role, Status};
use crate::events::{DeliveryState, Event, EventKind, MessageKind, TeammateChange};
use crate::notify::plan::{plan_for, Plan};
use crate::store::error::{is_unique_violation, Conflict, Input, Refusal, Result, StoreError};
use crate::store::*;
use accounts::{teammate_from_row, workspace_from_row, TEAMMATE_COLUMNS};
pub(super) use assignment::{assignments, Assignments};
use badges::push_ids;
use batch::Batch;
use cases::{
    case_from_row, case_state_from_row, case_with_tags, one_case_sql, push_after,
    push_case_filters, CaseState, CASE_SELECT,
};
use email::channel_from_row;
use jobs::NewJob;
use log::Log;
use messages::{message_from_row, MESSAGE_COLUMNS};

type Tx = sqlx::Transaction<'static, Db>;
/// One connection, in a transaction or not: what reads that need no transaction of their own take.
type DbConn = <Db as sqlx::Database>::Connection;

fn parse_status(s: &str) -> Result<Status> {
    Status::parse(s).ok_or_else(|| {
        StoreError::Internal(anyhow::anyhow!("unknown status {s:?} in the database"))
    })
}

fn parse_role(s: &str) -> Result<Role> {
    Role::parse(s)
        .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("unknown role {s:?} in the database")))
}

fn parse_message_kind(s: &str) -> Result<MessageKind> {
    MessageKind::parse(s).ok_or_else(|| {
        StoreError::Internal(anyhow::anyhow!(
            "unknown message kind {s:?} in the database"
        ))
    })
}

fn parse_token_kind(s: &str) -> Result<TokenKind> {
    TokenKind::parse(s).ok_or_else(|| {
        StoreError::Internal(anyhow::anyhow!("unknown token kind {s:?} in the database"))
    })
}

fn parse_timeline_kind(s: &str) -> Result<TimelineKind> {
    TimelineKind::parse(s).ok_or_else(|| {
        StoreError::Internal(anyhow::anyhow!(
            "unknown timeline kind {s:?} in the database"
        ))
    })
}

fn parse_channel_kind(s: &str) -> Result<ChannelKind> {
    ChannelKind::parse(s).ok_or_else(|| {
        StoreError::Internal(anyhow::anyhow!(
            "unknown channel kind {s:?} in the database"
        ))
    })
}

/// A message's `delivery_state` (none for what was not sent: customer messages, notes).
fn delivery_state(r: &DbRow) -> Result<Option<DeliveryState>> {
    let Some(s) = r.try_get::<Option<String>, _>("delivery_state")? else {
        return Ok(None);
    };
    DeliveryState::parse(&s).map(Some).ok_or_else(|| {
        StoreError::Internal(anyhow::anyhow!(
            "unknown delivery state {s:?} in the database"
        ))
    })
}

/// `%term%` for `LIKE … ESCAPE '\'`, lower-cased, with the wildcards in `term` escaped.
fn like_pattern(term: &str) -> String {
    let mut p = String::from("%");
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn opt_ms(v: Option<i64>) -> Option<DateTime<Utc>> {
    v.map(from_ms)
}

fn now_ms() -> i64 {
    ms(Utc::now())
}

fn format_number(prefix: &str, n: i64) -> String {
    numbers::format(prefix, n)
}
