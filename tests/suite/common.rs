//! Test harness: a real Baton server on port 0, on SQLite (a temp file) or on a fresh Postgres
//! database, plus an HTTP client per teammate.
//!
//! Postgres comes from `BATON_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! Redis from `BATON_TEST_REDIS` (default `redis://127.0.0.1:6379`). When one cannot be reached,
//! the tests that need it say so and skip, except under `CI=true`, where they fail.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn admin_url() -> String {
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

/// Tests that passed without testing everything. libtest captures what tests print (their
/// output shows only on failure), so a skip would otherwise pass unseen: each binary writes the
/// skips of the whole `cargo test` run so far to the real stderr when it exits, after its own
/// `test result` line. The binaries of one run share a file in cargo's temporary directory, so
/// the last summary (the suite's) also names the browser test's skips.
pub mod skips {
    use std::collections::BTreeMap;
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::{Mutex, Once};

    /// `(what, test)` pairs of this process, when it does not run under cargo.
    static OWN: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    static AT_EXIT: Once = Once::new();

    extern "C" {
        fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
    }

    /// One file per `cargo test` run: named after the cargo process and its start time.
    fn shared_file() -> Option<PathBuf> {
        let parent = std::os::unix::process::parent_id();
        let comm = std::fs::read_to_string(format!("/proc/{parent}/comm")).ok()?;
        if comm.trim() != "cargo" {
            return None;
        }
        let stat = std::fs::read_to_string(format!("/proc/{parent}/stat")).ok()?;
        let started = stat
            .rsplit(')')
            .next()?
            .split_whitespace()
            .nth(19)?
            .to_string();
        Some(
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("skipped-{parent}-{started}.tsv")),
        )
    }

    pub fn record(what: &str) {
        let test = std::thread::current()
            .name()
            .unwrap_or("(unnamed test)")
            .to_string();
        match shared_file() {
            Some(path) => {
                // One short append per line: lines from parallel tests never interleave.
                let line = format!("{}\t{test}\n", what.replace(['\t', '\n'], " "));
                let _ = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .and_then(|mut f| f.write_all(line.as_bytes()));
            }
            None => OWN.lock().unwrap().push((what.to_string(), test)),
        }
    }

    /// Makes this binary print the run's skips when it exits, its own and those of the test
    /// binaries before it (the browser test's, for the suite). Called by `require` and by the
    /// helpers every test starts with, so a binary whose tests skipped nothing still says what
    /// the earlier ones skipped.
    pub fn report_at_exit() {
        AT_EXIT.call_once(|| {
            forget_old_runs();
            // SAFETY: registers a plain function with no captured state, once.
            unsafe { atexit(report) };
        });
    }

    /// Files of runs that ended a day ago or more.
    fn forget_old_runs() {
        let day = std::time::Duration::from_secs(24 * 3600);
        let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
            return;
        };
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > day));
            let ours = entry.file_name().to_string_lossy().starts_with("skipped-");
            if ours && old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn recorded() -> Vec<(String, String)> {
        match shared_file() {
            Some(path) => std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_once('\t'))
                .map(|(w, t)| (w.to_string(), t.to_string()))
                .collect(),
            None => OWN.lock().map(|o| o.clone()).unwrap_or_default(),
        }
    }

    /// The summary, as a person reads it at the end of the output.
    pub fn summary(recorded: &[(String, String)]) -> String {
        let mut by_what: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (what, test) in recorded {
            let tests = by_what.entry(what).or_default();
            if !tests.contains(&test.as_str()) {
                tests.push(test);
            }
        }
        let mut all: Vec<&str> = by_what.values().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        let mut out = format!(
            "\nNOT EVERYTHING WAS TESTED: {} test(s) passed without running the parts that need a dependency missing here.\n",
            all.len()
        );
        for (what, tests) in &by_what {
            let shown: Vec<&str> = tests.iter().take(3).copied().collect();
            let more = match tests.len() - shown.len() {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            out.push_str(&format!(
                "  {what}: {} test(s): {}{more}\n    to enable: {}\n",
                tests.len(),
                shown.join(", "),
                super::how_to_enable(what)
            ));
        }
        out.push_str(
            "To install and start all of them (Debian, as root): bash .ci/run; it then runs the suite \
             with CI=true, where a missing dependency fails instead of skipping.\n",
        );
        out
    }

    extern "C" fn report() {
        let recorded = recorded();
        if !recorded.is_empty() {
            let _ = std::io::stderr().write_all(summary(&recorded).as_bytes());
        }
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

pub struct TestApp {
    pub addr: SocketAddr,
    pub url: String,
    pub db: Db,
    pub db_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _db: Option<TestDb>,
}

impl TestApp {
    pub async fn spawn(db: Db) -> TestApp {
        let test_db = TestDb::new(db).await;
        let mut app = Self::spawn_with(db, test_db.url.clone(), |_| {}).await;
        app._db = Some(test_db);
        app
    }

    /// A server on an existing database, with the config adjusted by `tweak`.
    pub async fn spawn_with(
        db: Db,
        db_url: String,
        tweak: impl FnOnce(&mut baton::Config),
    ) -> TestApp {
        skips::report_at_exit();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let dir = tempfile::tempdir().expect("data dir").keep();
        let mut config = baton::Config {
            listen: addr,
            database_url: db_url.clone(),
            data_dir: dir,
            shutdown_grace: Duration::from_secs(2),
            ..baton::Config::default()
        };
        tweak(&mut config);
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(baton::serve(config, listener, async move {
            let _ = rx.await;
        }));
        let mut app = TestApp {
            addr,
            url: format!("http://{addr}"),
            db,
            db_url,
            shutdown: Some(tx),
            handle: Some(handle),
            _db: None,
        };
        app.wait_ready().await;
        app
    }

    async fn wait_ready(&mut self) {
        let client = Client::new();
        for _ in 0..200 {
            if self.handle.as_ref().is_some_and(|h| h.is_finished()) {
                let result = self.handle.take().unwrap().await;
                panic!("server at {} stopped during start: {result:?}", self.url);
            }
            if let Ok(r) = client.get(format!("{}/healthz", self.url)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server at {} never became healthy", self.url);
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
        }
    }

    /// A new workspace with its owner signed in.
    pub async fn signup(&self, workspace: &str, name: &str) -> User {
        let email = format!(
            "{}-{}@example.com",
            name.to_lowercase().replace(' ', "."),
            uuid::Uuid::new_v4().simple()
        );
        let user = User::new(self);
        let r = user.post("/api/signup", json!({ "workspace_name": workspace, "name": name, "email": email, "password": "correct horse battery" })).await;
        assert_eq!(r.status(), StatusCode::OK, "signup failed");
        let body: Value = r.json().await.unwrap();
        user.with_identity(body, email)
    }

    /// Invites and signs in a teammate with `role` into `admin`'s workspace.
    pub async fn invite(&self, admin: &User, name: &str, role: &str) -> User {
        let email = format!(
            "{}-{}@example.com",
            name.to_lowercase().replace(' ', "."),
            uuid::Uuid::new_v4().simple()
        );
        let r = admin
            .post(
                "/api/invites",
                json!({ "email": email, "name": name, "role": role }),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "invite failed: {}",
            r.text().await.unwrap_or_default()
        );
        let token = r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();
        let user = User::new(self);
        let r = user
            .post(
                &format!("/api/invites/{token}/accept"),
                json!({ "password": "correct horse battery" }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "accept failed");
        let body: Value = r.json().await.unwrap();
        user.with_identity(body, email)
    }

    /// A customer message through the ingest webhook.
    pub async fn inbound(&self, ingest_token: &str, body: Value) -> Response {
        Client::new()
            .post(format!("{}/api/inbound", self.url))
            .bearer_auth(ingest_token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A raw email (`message/rfc822`) through `POST /api/inbound/email`.
    pub async fn post_mail(&self, ingest_token: &str, raw: Vec<u8>) -> Response {
        Client::new()
            .post(format!("{}/api/inbound/email", self.url))
            .bearer_auth(ingest_token)
            .header("content-type", "message/rfc822")
            .body(raw)
            .send()
            .await
            .unwrap()
    }

    pub async fn customer_writes(&self, ingest_token: &str, email: &str, text: &str) -> Value {
        let r = self.inbound(ingest_token, json!({ "channel": "email", "from": { "name": "Customer", "email": email }, "body": text })).await;
        assert!(r.status().is_success(), "inbound failed: {}", r.status());
        r.json().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A signed-in teammate: a cookie-keeping client that sends the server's own Origin, as a
/// browser would.
#[derive(Clone)]
pub struct User {
    pub client: Client,
    pub base: String,
    pub id: String,
    pub workspace_id: String,
    pub email: String,
    pub ingest_token: String,
}

impl User {
    pub fn new(app: &TestApp) -> User {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("origin", app.url.parse().unwrap());
        let client = Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .build()
            .unwrap();
        User {
            client,
            base: app.url.clone(),
            id: String::new(),
            workspace_id: String::new(),
            email: String::new(),
            ingest_token: String::new(),
        }
    }

    fn with_identity(mut self, body: Value, email: String) -> User {
        self.id = body["teammate"]["id"].as_str().unwrap().to_string();
        self.workspace_id = body["workspace"]["id"].as_str().unwrap().to_string();
        self.ingest_token = body["workspace"]["ingest_token"]
            .as_str()
            .unwrap_or("")
            .to_string();
        self.email = email;
        self
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.client
            .put(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.client
            .patch(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, body: Option<Value>) -> Response {
        let req = self.client.delete(format!("{}{path}", self.base));
        match body {
            Some(b) => req.json(&b),
            None => req,
        }
        .send()
        .await
        .unwrap()
    }

    /// `POST /api/attachments`: a file for this teammate's next reply or note.
    pub async fn upload(&self, filename: &str, content_type: &str, bytes: &[u8]) -> Response {
        self.client
            .post(format!("{}/api/attachments?filename={filename}", self.base))
            .header("content-type", content_type)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap()
    }

    pub async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.unwrap()
    }

    pub async fn assign(&self, case_id: &str, assignee: Option<&str>) -> Response {
        self.put(
            &format!("/api/cases/{case_id}/assignee"),
            json!({ "assignee_id": assignee }),
        )
        .await
    }

    /// Case ids in a view × filter.
    pub async fn list(&self, view: &str, filter: &str) -> Vec<String> {
        let v = self
            .json(&format!("/api/cases?view={view}&filter={filter}"))
            .await;
        v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    }

    pub async fn api_token(&self) -> String {
        let r = self.post("/api/tokens", json!({})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// `{"error": {"code", "field"?}}` of an error response, with its status.
pub async fn error_of(r: Response) -> (StatusCode, String, Option<String>) {
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        v["error"]["code"].as_str().unwrap_or("").to_string(),
        v["error"]["field"].as_str().map(str::to_string),
    )
}

/// A `baton` server in its own process (for multi-instance and kill tests).
pub struct Process {
    pub child: std::process::Child,
    pub url: String,
    pub addr: SocketAddr,
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Process {
    pub async fn start(db_url: &str, redis_url: Option<&str>, name: &str) -> Process {
        Self::start_on(free_port(), db_url, redis_url, name).await
    }

    pub async fn start_on(port: u16, db_url: &str, redis_url: Option<&str>, name: &str) -> Process {
        Self::start_with(port, db_url, redis_url, name, &[]).await
    }

    pub async fn start_with(
        port: u16,
        db_url: &str,
        redis_url: Option<&str>,
        name: &str,
        extra_env: &[(&str, &str)],
    ) -> Process {
        skips::report_at_exit();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let dir = tempfile::tempdir().unwrap().keep();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_baton"));
        cmd.env("BATON_LISTEN", addr.to_string())
            .env("BATON_DATABASE_URL", db_url)
            .env("BATON_DATA_DIR", &dir)
            .env("BATON_INSTANCE_NAME", name)
            .env("BATON_LOG", "warn")
            .env_remove("BATON_REDIS_URL")
            .current_dir(&dir)
            .stdout(std::process::Stdio::null());
        if let Some(r) = redis_url {
            cmd.env("BATON_REDIS_URL", r);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn baton");
        let process = Process {
            child,
            url: format!("http://{addr}"),
            addr,
        };
        let client = Client::new();
        for _ in 0..400 {
            if let Ok(r) = client.get(format!("{}/readyz", process.url)).send().await {
                if r.status().is_success() {
                    return process;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("baton process {name} did not become ready");
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("wait")
    }

    /// A `TestApp`-like handle for the helpers that take one.
    pub fn as_app(&self, db: Db) -> TestApp {
        TestApp {
            addr: self.addr,
            url: self.url.clone(),
            db,
            db_url: String::new(),
            shutdown: None,
            handle: None,
            _db: None,
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A WebSocket client as a browser tab or the load generator would hold one.
pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ws {
    /// Connects with a bearer token; `since` resumes atomically at the handshake.
    pub async fn connect(base: &str, token: &str, since: Option<i64>) -> Result<Ws, u16> {
        let mut url = format!("{}/ws?token={token}", base.replace("http://", "ws://"));
        if let Some(s) = since {
            url.push_str(&format!("&since={s}"));
        }
        Self::connect_request(url.as_str(), &[]).await
    }

    pub async fn connect_request(url: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request().unwrap();
        for (k, v) in headers {
            request.headers_mut().insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(Ws { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    /// The next JSON frame, or None after `wait` (or when the socket closed).
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            match tokio::time::timeout(wait, self.stream.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Some(serde_json::from_str(t.as_str()).expect("server frames are JSON"))
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                    return None
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Waits for the close frame and returns its code.
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }

    /// The next frame of `kind` (`event`s are matched on their `event.kind`), skipping others.
    pub async fn expect(&mut self, kind: &str, wait: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self
                .next(left)
                .await
                .unwrap_or_else(|| panic!("no {kind} frame within {wait:?}"));
            let matches = frame["type"] == kind
                || (frame["type"] == "event" && frame["event"]["kind"] == kind);
            if matches {
                return frame;
            }
        }
    }

    /// All event frames until `wait` passes with nothing new.
    pub async fn drain_events(&mut self, wait: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(frame) = self.next(wait).await {
            if frame["type"] == "event" {
                out.push(frame);
            }
        }
        out
    }

    pub async fn send(&mut self, v: Value) {
        use futures_util::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::Text(
                v.to_string().into(),
            ))
            .await
            .unwrap();
    }
}

/// A throwaway Redis server on its own port, for tests that stop and start it.
pub struct OwnRedis {
    pub port: u16,
    child: std::process::Child,
}

impl OwnRedis {
    pub fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis { port, child }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What one client saw: the instance of each socket it held, and every event `seq` in the
/// order received.
pub struct Followed {
    pub seen: Vec<i64>,
    pub instances: Vec<String>,
}

/// Follows a workspace's events through `urls` (taken in turn after each disconnect), resuming
/// with `?since=` every time, until `stop` is set and nothing new arrives. `first` learns the
/// instance of the first socket.
pub async fn follow(
    urls: Vec<String>,
    token: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    first: Option<oneshot::Sender<String>>,
) -> Followed {
    let mut first = first;
    let mut seen: Vec<i64> = Vec::new();
    let mut instances = Vec::new();
    let mut since: Option<i64> = None;
    let mut attempt = 0usize;
    loop {
        let url = &urls[attempt % urls.len()];
        attempt += 1;
        let mut ws =
            match tokio::time::timeout(Duration::from_secs(2), Ws::connect(url, &token, since))
                .await
            {
                Ok(Ok(ws)) => ws,
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
        loop {
            match ws.next(Duration::from_millis(1500)).await {
                Some(frame) if frame["type"] == "hello" => {
                    let instance = frame["instance"].as_str().unwrap_or("").to_string();
                    if let Some(tx) = first.take() {
                        let _ = tx.send(instance.clone());
                    }
                    instances.push(instance);
                    if since.is_none() {
                        since = frame["seq"].as_i64();
                    }
                }
                Some(frame) if frame["type"] == "event" => {
                    let seq = frame["seq"].as_i64().unwrap();
                    seen.push(seq);
                    since = Some(seq);
                }
                Some(_) => {}
                None if stop.load(std::sync::atomic::Ordering::SeqCst) => {
                    return Followed { seen, instances }
                }
                None => break,
            }
        }
    }
}

/// Posts `count` customer messages at about `rate` per second to whichever of `urls` answers,
/// retrying what fails (each has an `external_id`, so a retry never makes a second case).
/// Returns how many retries it took.
pub async fn write_traffic(urls: Vec<String>, ingest: String, count: usize, rate: u64) -> usize {
    let client = Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let mut ticker = tokio::time::interval(Duration::from_millis(1000 / rate));
    let mut retries = 0;
    for i in 0..count {
        ticker.tick().await;
        let mut done = false;
        for attempt in 0..20 {
            let url = &urls[(i + attempt) % urls.len()];
            let r = client
                .post(format!("{url}/api/inbound"))
                .bearer_auth(&ingest)
                .json(&json!({ "channel": "web", "from": { "name": "C", "email": format!("c{i}@example.com") }, "body": "hi", "external_id": format!("m{i}") }))
                .send()
                .await;
            if r.is_ok_and(|r| r.status().is_success()) {
                done = true;
                break;
            }
            retries += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(done, "message {i} never got through");
    }
    retries
}

/// A throwaway Postgres cluster of the test's own (`initdb` + `pg_ctl`, run as the `postgres`
/// user when the test runs as root), so stopping it disturbs nothing else.
pub struct OwnPostgres {
    bin: std::path::PathBuf,
    data: std::path::PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl OwnPostgres {
    pub fn find_bin() -> Option<std::path::PathBuf> {
        let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .collect();
        versions.sort();
        versions.pop()
    }

    pub fn as_postgres(&self, program: &str, args: &[&str]) -> std::process::Output {
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let program = self.bin.join(program);
        let mut cmd = if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            std::process::Command::new(&program)
        };
        cmd.args(args).output().expect("run a postgres tool")
    }

    pub fn start_new() -> Option<OwnPostgres> {
        let bin = Self::find_bin()?;
        let dir = tempfile::tempdir().ok()?;
        let _ = std::process::Command::new("chown")
            .args(["-R", "postgres", &dir.path().display().to_string()])
            .status();
        let pg = OwnPostgres {
            bin,
            data: dir.path().join("data"),
            port: free_port(),
            _dir: dir,
        };
        let init = pg.as_postgres(
            "initdb",
            &[
                "-D",
                &pg.data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
        );
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        pg.start();
        Some(pg)
    }

    pub fn start(&self) {
        let socket_dir = self.data.parent().unwrap().display().to_string();
        let opts = format!(
            "-p {} -k {socket_dir} -c listen_addresses=127.0.0.1",
            self.port
        );
        let out = self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-o",
                &opts,
                "-l",
                &format!("{socket_dir}/log"),
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn stop(&self) {
        let _ = self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A WebSocket spoken byte by byte over TCP, for what no well-behaved client library sends:
/// absurd frame headers, storms of fragments, or a handshake and then never reading again.
pub struct RawWs {
    pub tcp: tokio::net::TcpStream,
    /// Bytes read after the handshake that no frame has consumed yet.
    buffered: Vec<u8>,
}

impl RawWs {
    /// Connects and sends the upgrade request. With `recv_buffer`, the kernel's receive buffer
    /// is that small, so a client that never reads stops the server's writes early.
    pub async fn open(addr: SocketAddr, token: &str, recv_buffer: Option<u32>) -> RawWs {
        use tokio::io::AsyncWriteExt;
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let mut tcp = socket.connect(addr).await.unwrap();
        let handshake = format!(
            "GET /ws?token={token} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(handshake.as_bytes()).await.unwrap();
        RawWs {
            tcp,
            buffered: Vec::new(),
        }
    }

    /// Reads the handshake's answer; panics unless it is `101 Switching Protocols`.
    pub async fn upgraded(&mut self) {
        while !self.buffered.windows(4).any(|w| w == b"\r\n\r\n") {
            self.fill(Duration::from_secs(5))
                .await
                .expect("handshake answer");
        }
        let end = self
            .buffered
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap()
            + 4;
        let head = String::from_utf8_lossy(&self.buffered[..end]).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "not upgraded: {head}");
        self.buffered.drain(..end);
    }

    /// One text message as one-byte fragments (a text frame, then continuation frames).
    pub fn fragmented(text: &[u8]) -> Vec<u8> {
        let last = text.len() - 1;
        text.iter()
            .enumerate()
            .flat_map(|(i, b)| Self::frame(i == last, if i == 0 { 0x1 } else { 0x0 }, &[*b]))
            .collect()
    }

    /// The code a close frame's payload carries.
    pub fn close_code_of(payload: &[u8]) -> Option<u16> {
        payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]))
    }

    /// One client frame's bytes: masked, as RFC 6455 §5.3 requires of clients.
    pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Self::header(fin, opcode, payload.len() as u64);
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    /// A frame header (with its masking key) announcing `len` payload bytes, without them.
    pub fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match len {
            0..=125 => out.push(0x80 | len as u8),
            126..=65535 => {
                out.push(0x80 | 126);
                out.extend((len as u16).to_be_bytes());
            }
            _ => {
                out.push(0x80 | 127);
                out.extend(len.to_be_bytes());
            }
        }
        out.extend([0x37, 0xfa, 0x21, 0x3d]);
        out
    }

    /// Writes bytes; false once the server has closed the connection.
    pub async fn send(&mut self, bytes: &[u8]) -> bool {
        use tokio::io::AsyncWriteExt;
        self.tcp.write_all(bytes).await.is_ok()
    }

    async fn fill(&mut self, wait: Duration) -> Option<()> {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout(wait, self.tcp.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buffered.extend_from_slice(&chunk[..n]);
                Some(())
            }
            _ => None,
        }
    }

    /// The next server frame (unmasked, unfragmented): its opcode and payload. None when the
    /// connection ends or nothing arrives within `wait`.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<(u8, Vec<u8>)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some((header, len)) = Self::parse_header(&self.buffered) {
                if self.buffered.len() >= header + len {
                    let payload = self.buffered[header..header + len].to_vec();
                    let opcode = self.buffered[0] & 0x0f;
                    self.buffered.drain(..header + len);
                    return Some((opcode, payload));
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.fill(left).await?;
        }
    }

    fn parse_header(b: &[u8]) -> Option<(usize, usize)> {
        let short = (*b.get(1)? & 0x7f) as usize;
        match short {
            126 => Some((4, u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize)),
            127 => Some((
                10,
                u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize,
            )),
            n => Some((2, n)),
        }
    }

    /// Reads until the server's close frame and returns its code (None if the connection ended
    /// without one, or nothing came within `wait`).
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (opcode, payload) = self.next_frame(left).await?;
            if opcode == 0x8 {
                return Self::close_code_of(&payload);
            }
        }
    }
}

/// A process's resident memory in bytes, from `/proc/<pid>/status`.
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// One unlabelled value from a server's `/metrics`.
pub async fn metric(url: &str, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Waits until the server counts `want` open sockets.
pub async fn sockets_open_becomes(url: &str, want: f64) -> f64 {
    let mut seen = f64::NAN;
    for _ in 0..300 {
        seen = metric(url, "baton_sockets_open").await.unwrap_or(f64::NAN);
        if seen == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}
