//! The services the suite talks to besides Baton (Postgres, Redis, the peers), and what a test
//! does when one is missing: skip and say so, or fail under CI.

use std::time::Duration;

use super::skips;

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

pub(super) fn admin_url() -> String {
    std::env::var("BATON_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("BATON_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Whether a dependency is there; under CI a missing one fails the test instead of skipping it.
/// A skip is recorded, and said at the end of the run where a person sees it (`skips`).
pub fn require(what: &str, available: bool) -> bool {
    skips::report_at_exit();
    if available {
        return true;
    }
    if in_ci() {
        panic!("{what} is required under CI=true but could not be reached");
    }
    eprintln!("SKIPPED: {what} not reachable (set CI=true to make this a failure)");
    skips::record(what);
    false
}

/// The one command that makes a dependency `require` names available, for the summary.
pub fn how_to_enable(what: &str) -> &'static str {
    match what {
        "Postgres" => {
            "start Postgres on 127.0.0.1:5432 with trust auth for user postgres (Debian: \
             apt-get install postgresql), or point BATON_TEST_POSTGRES at one"
        }
        "Redis" | "redis-server" => "apt-get install redis-server (it listens on 127.0.0.1:6379)",
        "nginx" => "apt-get install nginx",
        w if w.starts_with("Postgres server binaries") => "apt-get install postgresql",
        w if w.starts_with("python3 with") => "python3 -m pip install aiosmtpd http_ece py_vapid pyotp",
        w if w.starts_with("schemathesis") => "python3 -m pip install schemathesis",
        w if w.starts_with("cargo-fuzz") => {
            "rustup toolchain install nightly --profile minimal && cargo install cargo-fuzz --locked"
        }
        w if w.starts_with("Chromium") => {
            "apt-get install chromium (or set CHROMIUM_PATH to a Chromium or Chrome binary)"
        }
        w if w.starts_with("node") => "apt-get install nodejs npm",
        w if w.starts_with("the browser test's npm packages") => "cd tests/e2e && npm ci",
        w if w.starts_with("oidc-provider") => "cd tests/peers/oidc && npm ci",
        _ => "see \"Run the tests\" in README.md",
    }
}

pub async fn postgres_available() -> bool {
    use sqlx::Connection;
    matches!(
        tokio::time::timeout(
            Duration::from_secs(3),
            sqlx::PgConnection::connect(&admin_url())
        )
        .await,
        Ok(Ok(_))
    )
}

pub async fn redis_available() -> bool {
    let Ok(client) = redis::Client::open(redis_url()) else {
        return false;
    };
    matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            client.get_multiplexed_async_connection()
        )
        .await,
        Ok(Ok(_))
    )
}
