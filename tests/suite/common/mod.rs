//! Test harness: a real Baton server on port 0, on SQLite (a temp file) or on a fresh Postgres
//! database, plus an HTTP client per teammate.
//!
//! Postgres comes from `BATON_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! Redis from `BATON_TEST_REDIS` (default `redis://127.0.0.1:6379`). When one cannot be reached,
//! the tests that need it say so and skip, except under `CI=true`, where they fail.

#![allow(dead_code)]

mod app;
mod db;
mod deps;
mod encode;
mod metrics;
mod raw_ws;
pub mod skips;
mod throwaway;
mod traffic;
mod user;
mod ws;

pub use app::*;
pub use db::*;
pub use deps::*;
pub use encode::*;
pub use metrics::*;
pub use raw_ws::*;
pub use throwaway::*;
pub use traffic::*;
pub use user::*;
pub use ws::*;
