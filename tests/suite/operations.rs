//! Operating Baton: graceful shutdown, readiness that follows its dependencies, `baton doctor`,
//! `baton migrate`, metrics.

use std::time::{Duration, Instant};

use crate::common::{
    free_port, get_json, redis_available, require, Db, OwnPostgres, OwnRedis, Process, TestDb, Ws,
};

fn baton(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_baton"));
    cmd.args(args)
        .current_dir(dir.path())
        .env("BATON_DATA_DIR", dir.path())
        .env_remove("BATON_REDIS_URL")
        .env_remove("BATON_DATABASE_URL");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run baton")
}

#[tokio::test]
async fn sigterm_sends_clients_elsewhere_and_exits_in_time() {
    let db = TestDb::new(Db::Sqlite).await;
    let mut server = Process::start(&db.url, None, "leaving").await;
    let owner = server.as_app(Db::Sqlite).signup("Acme", "Olivia").await;
    let token = owner.api_token().await;
    let mut ws = Ws::connect(&server.url, &token, None).await.unwrap();
    assert_eq!(
        ws.next(Duration::from_secs(5)).await.unwrap()["type"],
        "hello"
    );
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        let s = server.terminate();
        (s, server)
    });
    assert_eq!(
        ws.close_code(Duration::from_secs(5)).await,
        Some(1001),
        "clients are told to reconnect elsewhere"
    );
    let (status, _server) = status.await.unwrap();
    assert!(status.success(), "a clean exit: {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "within the grace period ({:?})",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_redis_without_a_restart() {
    if !require("redis-server", redis_available().await) {
        return;
    }
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let db = TestDb::new(Db::Sqlite).await;
    let server = Process::start(&db.url, Some(&format!("redis://127.0.0.1:{port}")), "ready").await;
    let ready = |url: String| async move {
        reqwest::get(format!("{url}/readyz"))
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ready(server.url.clone()).await, 200);
    redis.stop();
    let mut seen = 0;
    for _ in 0..50 {
        seen = ready(server.url.clone()).await;
        if seen == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(seen, 503, "not ready while Redis is down");
    let _redis = OwnRedis::start(port);
    for _ in 0..100 {
        seen = ready(server.url.clone()).await;
        if seen == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        seen, 200,
        "ready again once Redis is back, without a restart"
    );
}

#[tokio::test]
async fn doctor_says_what_is_wrong_in_plain_words() {
    let db = TestDb::new(Db::Sqlite).await;
    let good = baton(&["doctor"], &[("BATON_DATABASE_URL", &db.url)]);
    let text = String::from_utf8_lossy(&good.stdout).to_string();
    assert!(good.status.success(), "{text}");
    assert!(text.contains("ok      database"), "{text}");
    assert!(
        text.contains("Everything Baton needs is in place."),
        "{text}"
    );

    let port = free_port();
    let bad = baton(
        &["doctor"],
        &[
            ("BATON_DATABASE_URL", "mysql://root@localhost/baton"),
            (
                "BATON_REDIS_URL",
                &format!("redis://:hunter2@127.0.0.1:{port}"),
            ),
            ("BATON_PUBLIC_URL", "inbox.example.com/app"),
            ("BATON_VAPID_CONTACT", "admin@example.com"),
        ],
    );
    let text = String::from_utf8_lossy(&bad.stdout).to_string();
    assert_eq!(bad.status.code(), Some(1), "{text}");
    for expected in [
        "PROBLEM database",
        "unsupported database URL",
        "PROBLEM redis",
        "PROBLEM public url",
        "PROBLEM vapid contact",
        "4 problem(s) found.",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        !text.contains("hunter2"),
        "secrets are never printed:\n{text}"
    );
}

/// `baton doctor` reads the durability settings back from the database, not from the flags.
#[tokio::test]
async fn doctor_says_which_durability_is_in_force() {
    let line = |out: &std::process::Output| {
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let errors = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}{errors}");
        text.lines()
            .find(|l| l.contains("durability:"))
            .unwrap_or_else(|| panic!("no durability line in:\n{text}"))
            .to_string()
    };
    let db = TestDb::new(Db::Sqlite).await;
    let full = line(&baton(&["doctor"], &[("BATON_DATABASE_URL", &db.url)]));
    assert!(
        full.starts_with("  ok") && full.contains("synchronous = FULL"),
        "{full}"
    );
    let normal = baton(
        &["--sqlite-synchronous", "normal", "doctor"],
        &[("BATON_DATABASE_URL", &db.url)],
    );
    let normal = line(&normal);
    assert!(
        normal.starts_with("  note")
            && normal.contains("synchronous = NORMAL")
            && normal.contains("power cut"),
        "{normal}"
    );

    if !require("Postgres", crate::common::postgres_available().await) {
        return;
    }
    let pg = TestDb::new(Db::Postgres).await;
    // The SQLite setting has no say over Postgres.
    let on = line(&baton(
        &["doctor"],
        &[
            ("BATON_DATABASE_URL", &pg.url),
            ("BATON_SQLITE_SYNCHRONOUS", "normal"),
        ],
    ));
    assert!(
        on.starts_with("  ok") && on.contains("synchronous_commit = on"),
        "{on}"
    );
    {
        use sqlx::{Connection, Executor};
        let name = url::Url::parse(&pg.url)
            .unwrap()
            .path()
            .trim_start_matches('/')
            .to_string();
        let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
        conn.execute(format!("ALTER DATABASE {name} SET synchronous_commit = off").as_str())
            .await
            .unwrap();
    }
    let off = line(&baton(&["doctor"], &[("BATON_DATABASE_URL", &pg.url)]));
    assert!(
        off.starts_with("  note") && off.contains("synchronous_commit = off"),
        "{off}"
    );
}

#[tokio::test]
async fn migrate_applies_migrations_and_an_unclear_url_is_refused() {
    let db = TestDb::new(Db::Sqlite).await;
    let out = baton(&["migrate"], &[("BATON_DATABASE_URL", &db.url)]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    let out = baton(&["migrate"], &[("BATON_DATABASE_URL", "data/baton.db")]);
    assert!(!out.status.success(), "a bare path is not guessed at");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_means_clean_503s_and_back_without_a_restart() {
    if !require(
        "Postgres server binaries (initdb, pg_ctl)",
        OwnPostgres::find_bin().is_some(),
    ) {
        return;
    }
    let Some(pg) = OwnPostgres::start_new() else {
        panic!("could not start a Postgres of the test's own")
    };
    let server = Process::start(&pg.url(), None, "pg-fault").await;
    let app = server.as_app(Db::Postgres);
    let owner = app.signup("Acme", "Olivia").await;
    let before = app
        .customer_writes(&owner.ingest_token, "c@example.com", "before the outage")
        .await;

    pg.stop();
    // While the database is down: clean 503s with a retry hint, never a 500, nothing half-written.
    for _ in 0..3 {
        let r = owner.get("/api/cases").await;
        assert_eq!(
            r.status().as_u16(),
            503,
            "reads: {}",
            r.text().await.unwrap_or_default()
        );
        let r = app.inbound(&owner.ingest_token, serde_json::json!({ "channel": "web", "from": { "name": "C", "email": "d@example.com" }, "body": "during" })).await;
        assert_eq!(r.status().as_u16(), 503);
        assert!(r.headers().get("retry-after").is_some(), "a retry hint");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unavailable");
    }
    assert_eq!(
        reqwest::get(format!("{}/readyz", server.url))
            .await
            .unwrap()
            .status()
            .as_u16(),
        503
    );

    pg.start();
    let mut back = 0;
    for _ in 0..60 {
        back = owner.get("/api/cases").await.status().as_u16();
        if back == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        back, 200,
        "serving again once Postgres is back, without a restart"
    );
    let cases = owner.json("/api/cases?view=all&filter=open").await;
    let ids: Vec<&str> = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![before["case_id"].as_str().unwrap()],
        "what was written before is there; nothing from the outage"
    );
    assert_eq!(
        reqwest::get(format!("{}/readyz", server.url))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

/// `baton load-test-accounts` sets up many teammates without a password hash each: every token
/// it prints works for the API and a socket, in its own workspace, and no account it made can be
/// signed into with a password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_test_accounts_come_with_working_tokens_and_no_password() {
    let db = TestDb::new(Db::Sqlite).await;
    let args = [
        "load-test-accounts",
        "--workspaces",
        "2",
        "--teammates",
        "3",
    ];
    let out = baton(&args, &[("BATON_DATABASE_URL", &db.url)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let workspaces = listed.as_array().expect("a list");
    assert_eq!(workspaces.len(), 2);

    let server = Process::start(&db.url, None, "load-test").await;
    let http = reqwest::Client::new();
    for workspace in workspaces {
        let mates = workspace["mates"].as_array().expect("mates");
        assert_eq!(mates.len(), 3, "the owner and two more");
        for (i, mate) in mates.iter().enumerate() {
            let token = mate["token"].as_str().unwrap();
            let me = get_json(&format!("{}/api/me", server.url), Some(token)).await;
            assert_eq!(me["teammate"]["id"], mate["id"]);
            assert_eq!(me["workspace"]["id"], workspace["id"]);
            assert_eq!(
                me["teammate"]["role"],
                if i == 0 { "owner" } else { "agent" }
            );
            let email = me["teammate"]["email"].as_str().unwrap();
            for password in ["", "password", token] {
                let signed_in = http
                    .post(format!("{}/api/session", server.url))
                    .header("origin", &server.url)
                    .json(&serde_json::json!({ "email": email, "password": password }))
                    .send()
                    .await
                    .unwrap();
                assert!(
                    signed_in.status().is_client_error(),
                    "{email} signed in with {password:?}"
                );
            }
        }
        let owner_token = mates[0]["token"].as_str().unwrap();
        let mut ws = Ws::connect(&server.url, owner_token, None).await.unwrap();
        let hello = ws.next(Duration::from_secs(5)).await.unwrap();
        assert_eq!(hello["workspace_id"], workspace["id"]);
        let case = http
            .post(format!("{}/api/inbound", server.url))
            .bearer_auth(workspace["ingest"].as_str().unwrap())
            .json(&serde_json::json!({ "channel": "web", "from": { "name": "C", "email": "c@example.com" }, "body": "hello" }))
            .send()
            .await
            .unwrap();
        assert!(case.status().is_success(), "the ingest token works");
    }
}

/// What a stand-in collector was sent: each request's content type and body.
type Exports = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// A stand-in OpenTelemetry collector: records every OTLP/HTTP trace export it is sent.
async fn collector() -> (String, Exports) {
    use axum::{body::Bytes, http::HeaderMap, routing::post, Router};
    let seen: Exports = Default::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            async move {
                let kind = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                record.lock().unwrap().push((kind, body.to_vec()));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn traces_go_to_the_collector_the_environment_names() {
    let (endpoint, seen) = collector().await;
    let db = TestDb::new(Db::Sqlite).await;
    let traces = format!("{endpoint}/v1/traces");
    let mut server = Process::start_with(
        free_port(),
        &db.url,
        None,
        "traced",
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &traces),
            ("OTEL_SERVICE_NAME", "baton-under-test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("BATON_LOG", "info"),
        ],
    )
    .await;
    let answer = reqwest::get(format!("{}/api/cases?traced-path", server.url))
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::UNAUTHORIZED);
    // OTLP/HTTP protobuf holds strings as their bytes: the span's name, the path it carries and
    // the service name are readable in the body.
    let holds = |body: &[u8], text: &str| body.windows(text.len()).any(|w| w == text.as_bytes());
    let deadline = Instant::now() + Duration::from_secs(20);
    let found = loop {
        let found = seen.lock().unwrap().iter().any(|(kind, body)| {
            kind == "application/x-protobuf"
                && holds(body, "/api/cases")
                && holds(body, "request")
                && holds(body, "baton-under-test")
        });
        if found || Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    server.kill();
    assert!(
        found,
        "no OTLP export of the request's span reached the collector: {} requests seen",
        seen.lock().unwrap().len()
    );
}
