//! Reading customer mail from IMAP mailboxes, against a real Dovecot started for each test and
//! Python's `imaplib` as the independent client that puts mail in the mailbox.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{error_of, free_port, require, Db, TestApp, TestDb, User, Ws};

const USER: &str = "help@sunny.test";
const PASSWORD: &str = "imap-pw-7f3a9c";
const WRONG_PASSWORD: &str = "wrong-pw-51d0e2";
/// How long mail may take to show up: IDLE delivers at once, the poll fallback after a minute.
const ARRIVES: Duration = Duration::from_secs(20);

fn dovecot_bin() -> Option<PathBuf> {
    ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A throwaway Dovecot: its own config, passwd file and maildirs in a temp dir, plain IMAP on
/// its own port of 127.0.0.1; killed when dropped.
struct Dovecot {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Dovecot {
    fn start() -> Option<Dovecot> {
        let bin = dovecot_bin()?;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        use std::os::unix::fs::PermissionsExt;
        // The mail processes run as `nobody` and must reach their maildirs.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["run", "state", "mail", "home"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        for sub in ["mail", "home"] {
            std::os::unix::fs::chown(root.join(sub), Some(65534), Some(65534)).unwrap();
        }
        std::fs::write(root.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).unwrap();
        let port = free_port();
        let r = root.display();
        let config = format!(
            "base_dir = {r}/run\nstate_dir = {r}/state\nlog_path = {r}/dovecot.log\n\
             protocols = imap\nlisten = 127.0.0.1\nssl = no\ndisable_plaintext_auth = no\n\
             auth_mechanisms = plain login\nmail_location = maildir:{r}/mail/%u\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {r}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid=65534 gid=65534 home={r}/home/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service pop3-login {{\n  inet_listener pop3 {{\n    port = 0\n  }}\n}}\n"
        );
        std::fs::write(root.join("dovecot.conf"), config).unwrap();
        let child = std::process::Command::new(bin)
            .arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("dovecot");
        let dovecot = Dovecot { child, port, dir };
        for _ in 0..200 {
            if dovecot.imap(&[]).is_ok() {
                return Some(dovecot);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "dovecot did not start: {}",
            std::fs::read_to_string(dovecot.dir.path().join("dovecot.log")).unwrap_or_default()
        );
    }

    /// Runs `imap_tool.py` as the mailbox's user: `append` (stdin is the message) or `flags`.
    fn imap(&self, args: &[&str]) -> Result<Value, String> {
        self.imap_with(args, b"")
    }

    fn imap_with(&self, args: &[&str], stdin: &[u8]) -> Result<Value, String> {
        let mut child = std::process::Command::new("python3")
            .arg(crate::peers::dir().join("imap_tool.py"))
            .arg(self.port.to_string())
            .arg(USER)
            .arg(PASSWORD)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(serde_json::from_slice(&out.stdout).unwrap_or(Value::Null))
    }

    /// Puts a message in the INBOX, unread, as a mail server delivering it would.
    fn deliver(&self, raw: &str) {
        self.imap_with(&["append"], raw.as_bytes())
            .expect("append to the mailbox");
    }

    /// Each message in the INBOX: its flags.
    fn flags(&self) -> Vec<String> {
        let v = self.imap(&["flags"]).expect("read flags");
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dovecot() -> Option<Dovecot> {
    let have = dovecot_bin().is_some() && crate::peers::python_has("imaplib");
    if !require("dovecot (apt-get install dovecot-imapd) and python3", have) {
        return None;
    }
    Dovecot::start()
}

/// A customer's email. `id` names its Message-ID (`None`: it has none).
fn mail(from: &str, subject: &str, id: Option<&str>, extra: &str, body: &str) -> String {
    let id = id
        .map(|i| format!("Message-ID: <{i}@customer.test>\r\n"))
        .unwrap_or_default();
    format!(
        "From: {from}\r\nTo: Sunny Side <{USER}>\r\nSubject: {subject}\r\n{id}{extra}\
         Date: Mon, 1 Dec 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

fn imap_settings(port: u16, password: &str) -> Value {
    json!({ "host": "127.0.0.1", "port": port, "tls": false, "username": USER, "password": password })
}

async fn create_channel(owner: &User, port: u16, password: &str) -> Value {
    let r = owner
        .post(
            "/api/channels",
            json!({ "kind": "email", "name": "Support", "settings": {
                "from_name": "Sunny Side", "from_address": USER, "imap": imap_settings(port, password) } }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let text = r.text().await.unwrap();
    assert!(!text.contains(password), "the password came back: {text}");
    serde_json::from_str::<Value>(&text).unwrap()["channel"].clone()
}

async fn spawn(db: Db, dir: &Path) -> (TestApp, TestDb) {
    let test_db = TestDb::new(db).await;
    let app = spawn_on(db, &test_db, dir).await;
    (app, test_db)
}

async fn spawn_on(db: Db, test_db: &TestDb, dir: &Path) -> TestApp {
    let dir = dir.to_path_buf();
    TestApp::spawn_with(db, test_db.url.clone(), move |c| {
        c.mail_domain = Some("baton.test".into());
        c.data_dir = dir;
    })
    .await
}

/// Every case of the workspace (open or not): (id, subject).
async fn cases(user: &User) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for filter in ["open", "closed"] {
        let v = user
            .json(&format!("/api/cases?view=all&filter={filter}"))
            .await;
        for c in v["cases"].as_array().unwrap() {
            out.push((
                c["id"].as_str().unwrap().to_string(),
                c["subject"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}

/// Waits for the case with `subject`: already there (a poller that just started may take the
/// mail before `ws` was connected), or its `case.created` event on `ws`. Answers its id.
async fn created(ws: &mut Ws, user: &User, subject: &str) -> String {
    if let Some((id, _)) = cases(user).await.into_iter().find(|c| c.1 == subject) {
        return id;
    }
    let deadline = tokio::time::Instant::now() + ARRIVES;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        // A socket's keep-alive pings restart `expect`'s own wait: bound it here.
        let frame = tokio::time::timeout(left, ws.expect("case.created", left))
            .await
            .unwrap_or_else(|_| panic!("{subject:?} never became a case"));
        let id = frame["event"]["case_id"].as_str().unwrap().to_string();
        let detail = user.json(&format!("/api/cases/{id}")).await;
        if detail["case"]["subject"] == subject {
            return id;
        }
    }
}

on_both!(mail_in_the_mailbox_becomes_cases_once, mailbox_cases);
async fn mailbox_cases(db: Db) {
    let Some(dovecot) = dovecot() else { return };
    dovecot.deliver(&mail(
        "Ann <ann@customer.test>",
        "Broken kettle",
        Some("a1"),
        "",
        "It leaks.",
    ));
    dovecot.deliver(&mail(
        "Bob <bob@customer.test>",
        "No receipt",
        None,
        "",
        "Where is it?",
    ));
    let data = tempfile::tempdir().unwrap();
    let (app, test_db) = spawn(db, data.path()).await;
    let owner = app.signup("Sunny", "Olivia").await;
    let token = owner.api_token().await;

    // Bad settings are refused by field, and nothing is made.
    for (imap, field) in [
        (
            json!({"host": "127.0.0.1", "port": 0, "tls": false, "username": USER, "password": "x"}),
            "settings.imap.port",
        ),
        (
            json!({"host": "127.0.0.1", "port": 70000, "tls": false, "username": USER, "password": "x"}),
            "settings.imap.port",
        ),
        (
            json!({"host": "127.0.0.1", "port": 143, "tls": "no", "username": USER, "password": "x"}),
            "settings.imap.tls",
        ),
        (
            json!({"host": "imap.example.com", "port": 143, "tls": false, "username": USER, "password": "x"}),
            "settings.imap.tls",
        ),
        (
            json!({"host": "", "port": 993, "username": USER, "password": "x"}),
            "settings.imap.host",
        ),
        (
            json!({"host": "127.0.0.1", "port": 993, "password": "x"}),
            "settings.imap.username",
        ),
        (
            json!({"host": "127.0.0.1", "port": 993, "username": USER}),
            "settings.imap.password",
        ),
    ] {
        let r = owner
            .post(
                "/api/channels",
                json!({ "kind": "email", "name": "Support", "settings": {
                "from_name": "Sunny Side", "from_address": USER, "imap": imap } }),
            )
            .await;
        let (status, _, got) = error_of(r).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(got.as_deref(), Some(field));
    }
    assert_eq!(owner.json("/api/channels").await["channels"], json!([]));

    let mut ws = Ws::connect(&app.url, &token, None).await.unwrap();
    let channel = create_channel(&owner, dovecot.port, PASSWORD).await;
    assert_eq!(channel["settings"]["imap"]["folder"], "INBOX");
    assert!(channel["settings"]["imap"].get("password").is_none());
    let first = created(&mut ws, &owner, "Broken kettle").await;
    created(&mut ws, &owner, "No receipt").await;
    let detail = owner.json(&format!("/api/cases/{first}")).await;
    assert_eq!(detail["case"]["channel_id"], channel["id"], "{detail}");

    // Mail that arrives while Baton waits on the mailbox comes in at once.
    dovecot.deliver(&mail(
        "Cy <cy@customer.test>",
        "Late parcel",
        Some("c1"),
        "",
        "Still waiting.",
    ));
    created(&mut ws, &owner, "Late parcel").await;
    let listed = owner.json("/api/channels").await.to_string();
    assert!(
        !listed.contains(PASSWORD),
        "GET /api/channels shows the password"
    );

    // Taken mail stays in the mailbox, flagged read.
    let flags = dovecot.flags();
    assert_eq!(flags.len(), 3, "{flags:?}");
    assert!(flags.iter().all(|f| f.contains("\\Seen")), "{flags:?}");

    // A restart takes none of it again; mail that came meanwhile arrives.
    drop(ws);
    app.stop().await;
    dovecot.deliver(&mail(
        "Di <di@customer.test>",
        "Wrong size",
        Some("d1"),
        "",
        "Too small.",
    ));
    let app = spawn_on(db, &test_db, data.path()).await;
    let mut ws = Ws::connect(&app.url, &token, None).await.unwrap();
    created(&mut ws, &owner.on(&app), "Wrong size").await;
    let mut subjects: Vec<String> = cases(&owner.on(&app))
        .await
        .into_iter()
        .map(|c| c.1)
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        ["Broken kettle", "Late parcel", "No receipt", "Wrong size"]
    );
    app.stop().await;
}

on_both!(a_reply_to_our_email_threads_into_its_case, replies_thread);
async fn replies_thread(db: Db) {
    let Some(dovecot) = dovecot() else { return };
    let data = tempfile::tempdir().unwrap();
    let (app, _test_db) = spawn(db, data.path()).await;
    let owner = app.signup("Sunny", "Olivia").await;
    let token = owner.api_token().await;
    let mut ws = Ws::connect(&app.url, &token, None).await.unwrap();
    create_channel(&owner, dovecot.port, PASSWORD).await;
    dovecot.deliver(&mail(
        "Ann <ann@customer.test>",
        "Broken kettle",
        Some("k1"),
        "",
        "It leaks.",
    ));
    let case_id = created(&mut ws, &owner, "Broken kettle").await;

    let r = owner
        .post(
            &format!("/api/cases/{case_id}/messages"),
            json!({ "kind": "reply", "body": "We send a new one." }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Without a smart host the reply is written to the outbox: read its Message-ID there.
    let outbox = data.path().join("outbox");
    let deadline = tokio::time::Instant::now() + ARRIVES;
    let sent = loop {
        let found = std::fs::read_dir(&outbox).ok().and_then(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "eml"))
        });
        if let Some(path) = found {
            break std::fs::read_to_string(path).unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reply was never written to the outbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let our_id = sent
        .lines()
        .find_map(|l| {
            l.strip_prefix("Message-ID: ")
                .or_else(|| l.strip_prefix("Message-Id: "))
        })
        .expect("our reply has a Message-ID")
        .trim()
        .to_string();

    // Someone else at the customer answers our email from their own mail client, to the
    // channel's address: In-Reply-To alone names the case.
    let answer = mail(
        "Ben <ben@customer.test>",
        "Re: Broken kettle",
        Some("k2"),
        &format!("In-Reply-To: {our_id}\r\nReferences: {our_id}\r\n"),
        "Thanks, it arrived.",
    );
    dovecot.deliver(&answer);
    // The customer's message is filed, on our case and not on a new one.
    let deadline = tokio::time::Instant::now() + ARRIVES;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = tokio::time::timeout(left, ws.next(left))
            .await
            .ok()
            .flatten()
            .expect("the answer never arrived");
        let event = &frame["event"];
        assert_ne!(
            event["kind"], "case.created",
            "the answer opened a new case: {event}"
        );
        if event["kind"] == "message.created" && event["message_kind"] == "inbound" {
            let on = event["case_id"].as_str().unwrap();
            let detail = owner.json(&format!("/api/cases/{on}")).await;
            let bodies: Vec<&str> = detail["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|m| m["body"].as_str())
                .collect();
            if bodies.contains(&"Thanks, it arrived.") {
                assert_eq!(on, case_id, "{bodies:?}");
                break;
            }
        }
    }
    assert_eq!(cases(&owner).await.len(), 1);
    app.stop().await;
}

on_both!(
    a_wrong_password_is_a_clear_doctor_problem_and_never_logged,
    wrong_password
);
async fn wrong_password(db: Db) {
    let Some(dovecot) = dovecot() else { return };
    let test_db = TestDb::new(db).await;
    let data = tempfile::tempdir().unwrap();
    let log_path = data.path().join("baton.log");
    let port = free_port();
    let server = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .env("BATON_LISTEN", format!("127.0.0.1:{port}"))
        .env("BATON_DATABASE_URL", &test_db.url)
        .env("BATON_DATA_DIR", data.path())
        .env("BATON_LOG", "debug")
        .env_remove("BATON_REDIS_URL")
        .stdout(std::fs::File::create(&log_path).unwrap())
        .stderr(std::fs::File::create(data.path().join("baton.err")).unwrap())
        .spawn()
        .unwrap();
    let mut app = crate::common::Process {
        child: server,
        url: format!("http://127.0.0.1:{port}"),
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
    };
    let ready = async {
        for _ in 0..400 {
            let r = reqwest::get(format!("{}/readyz", app.url)).await;
            if r.is_ok_and(|r| r.status().is_success()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    };
    assert!(ready.await, "baton did not start");
    let owner = app.as_app(db).signup("Sunny", "Olivia").await;
    let token = owner.api_token().await;
    let channel = create_channel(&owner, dovecot.port, WRONG_PASSWORD).await;
    let id = channel["id"].as_str().unwrap();

    let doctor = |db_url: String| async move {
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
                .arg("doctor")
                .env("BATON_DATABASE_URL", db_url)
                .env_remove("BATON_REDIS_URL")
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        })
        .await
        .unwrap()
    };
    let (healthy, report) = doctor(test_db.url.clone()).await;
    assert!(!healthy, "{report}");
    let line = report
        .lines()
        .find(|l| l.contains("imap (Support)"))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains("PROBLEM"), "{line}");
    assert!(
        line.contains(&format!("127.0.0.1:{}", dovecot.port)) && line.contains("refused the login"),
        "{line}"
    );
    assert!(!report.contains(WRONG_PASSWORD));

    // The poller keeps trying (and says why in the log); once the password is right, mail flows.
    let deadline = tokio::time::Instant::now() + ARRIVES;
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("reading the mailbox failed")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failed login was never logged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ws = Ws::connect(&app.url, &token, None).await.unwrap();
    let r = owner
        .patch(&format!("/api/channels/{id}"), json!({ "settings": {
            "from_name": "Sunny Side", "from_address": USER, "imap": imap_settings(dovecot.port, PASSWORD) } }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!r.text().await.unwrap().contains(PASSWORD));
    dovecot.deliver(&mail(
        "Ann <ann@customer.test>",
        "Broken kettle",
        Some("w1"),
        "",
        "It leaks.",
    ));
    created(&mut ws, &owner, "Broken kettle").await;
    let (healthy, report) = doctor(test_db.url.clone()).await;
    let line = report
        .lines()
        .find(|l| l.contains("imap (Support)"))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        line.trim_start().starts_with("ok") && line.contains("IDLE"),
        "{line}"
    );
    assert!(healthy, "{report}");
    let listed = owner.json("/api/channels").await.to_string();
    assert!(!listed.contains(PASSWORD) && !listed.contains(WRONG_PASSWORD));

    app.kill();
    let log = std::fs::read_to_string(&log_path).unwrap()
        + &std::fs::read_to_string(data.path().join("baton.err")).unwrap();
    assert!(
        log.contains("refused the login"),
        "the log does not say why"
    );
    for secret in [PASSWORD, WRONG_PASSWORD] {
        assert!(!log.contains(secret), "the log holds an IMAP password");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_take_each_message_once() {
    use crate::common::{postgres_available, redis_available, redis_url};
    if !(require("Postgres", postgres_available().await)
        && require("Redis", redis_available().await))
    {
        return;
    }
    let Some(dovecot) = dovecot() else { return };
    let test_db = TestDb::new(Db::Postgres).await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut apps = Vec::new();
    for (name, dir) in ["first", "second"].iter().zip(&dirs) {
        let dir = dir.path().to_path_buf();
        let name = name.to_string();
        apps.push(
            TestApp::spawn_with(Db::Postgres, test_db.url.clone(), move |c| {
                c.mail_domain = Some("baton.test".into());
                c.data_dir = dir;
                c.instance_name = Some(name);
                c.redis_url = Some(redis_url());
            })
            .await,
        );
    }
    let owner = apps[0].signup("Sunny", "Olivia").await;
    let token = owner.api_token().await;
    let mut ws = Ws::connect(&apps[1].url, &token, None).await.unwrap();
    for i in 0..5 {
        let id = format!("t{i}");
        let from = format!("C{i} <c{i}@customer.test>");
        let id = (i % 2 == 0).then_some(id.as_str());
        dovecot.deliver(&mail(&from, &format!("Question {i}"), id, "", "?"));
    }
    create_channel(&owner, dovecot.port, PASSWORD).await;
    for i in 0..5 {
        created(&mut ws, &owner, &format!("Question {i}")).await;
    }
    // The holder stops; the other instance takes the mailbox over and reads on from its cursor.
    let holder: String = {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&test_db.url).await.unwrap();
        sqlx::query_scalar("SELECT holder FROM imap_cursors")
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    let held_by = usize::from(holder.starts_with("second/"));
    let survivor = apps.remove(1 - held_by);
    apps.pop().unwrap().stop().await;
    let on_survivor = owner.on(&survivor);
    let mut ws = Ws::connect(&survivor.url, &token, None).await.unwrap();
    for i in 5..8 {
        let from = format!("C{i} <c{i}@customer.test>");
        dovecot.deliver(&mail(&from, &format!("Question {i}"), None, "", "?"));
    }
    for i in 5..8 {
        created(&mut ws, &on_survivor, &format!("Question {i}")).await;
    }
    let mut subjects: Vec<String> = cases(&on_survivor).await.into_iter().map(|c| c.1).collect();
    subjects.sort();
    let expected: Vec<String> = (0..8).map(|i| format!("Question {i}")).collect();
    assert_eq!(subjects, expected);
    survivor.stop().await;
}
