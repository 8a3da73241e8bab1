//! Baton servers under test: one inside the test's runtime (`TestApp`), or one in a process of its
//! own (`Process`), with the requests that set a workspace up.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::{skips, Db, TestDb, User};

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

/// A `baton` server in its own process (for multi-instance and kill tests).
pub struct Process {
    pub child: std::process::Child,
    pub url: String,
    pub addr: SocketAddr,
}

/// `GET url` answered with JSON, as a script or a probe would read it: with a bearer token
/// (an API or a session token) or with none.
pub async fn get_json(url: &str, token: Option<&str>) -> Value {
    let mut request = Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    assert!(r.status().is_success(), "GET {url}: {}", r.status());
    r.json().await.unwrap()
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
