//! Baton's integration suite: real servers on port 0, real databases, real sockets.

mod common;
mod oidc_provider;
mod peers;

/// Runs `$body(db)` once per database, as one test each (both failures show).
macro_rules! on_both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body(crate::common::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if crate::common::require("Postgres", crate::common::postgres_available().await) {
                    super::$body(crate::common::Db::Postgres).await
                }
            }
        }
    };
}

mod accounts;
mod api_fuzz;
mod assignment;
mod audit;
mod badges;
mod cases;
mod cluster;
mod conformance;
mod crash;
mod customers;
mod email;
mod export;
mod faults;
mod fuzz;
mod imap;
mod isolation;
mod nginx;
mod notifications;
mod operations;
mod power_cut;
mod realtime;
mod reports;
mod routing;
mod search;
mod seed_week;
mod sms;
mod sso;
mod totp;
mod two_processes;
mod web_content;
mod webhooks;
mod workday;
mod ws_abuse;
