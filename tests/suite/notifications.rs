//! The offline fallback against independent peers: a push service that verifies VAPID and
//! decrypts like a browser (py_vapid, http_ece), and a real SMTP server (aiosmtpd).

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{free_port, require, Db, TestApp, TestDb, User, Ws};
use crate::peers::{python_has, Peer};

struct Fixture {
    smtp_port: u16,
    _push: Peer,
    _smtp: Peer,
    push_url: String,
    outbox: PathBuf,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn start() -> Option<Fixture> {
        if !require(
            "python3 with aiosmtpd, http_ece and py_vapid",
            python_has("aiosmtpd, http_ece, py_vapid"),
        ) {
            return None;
        }
        let push_port = free_port();
        let smtp_port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("received");
        let push = Peer::start("push_service.py", &[push_port.to_string()]);
        let smtp = Peer::start(
            "smtp_server.py",
            &[smtp_port.to_string(), outbox.display().to_string()],
        );
        Some(Fixture {
            smtp_port,
            _push: push,
            _smtp: smtp,
            push_url: format!("http://127.0.0.1:{push_port}"),
            outbox,
            _dir: dir,
        })
    }

    async fn subscription(&self, name: &str) -> Value {
        reqwest::get(format!("{}/new-subscription/{name}", self.push_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn script(&self, name: &str, responses: Value) {
        reqwest::Client::new()
            .post(format!("{}/script/{name}", self.push_url))
            .json(&json!({ "responses": responses }))
            .send()
            .await
            .unwrap();
    }

    async fn received(&self) -> Vec<Value> {
        reqwest::get(format!("{}/received", self.push_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until `pred` holds for the pushes received, or panics after `wait`.
    async fn pushes_until(&self, wait: Duration, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let got = self.received().await;
            if pred(&got) {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "pushes never matched: {got:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn emails(&self) -> Vec<String> {
        self.raw_emails()
            .iter()
            .map(|m| decode_quoted_printable(m))
            .collect()
    }

    /// The messages as received (headers are not quoted-printable; bodies are).
    fn raw_emails(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(&self.outbox)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    async fn emails_until(&self, wait: Duration, n: usize) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let got = self.emails();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Undoes quoted-printable soft breaks and `=XX` escapes, so assertions read plain text.
fn decode_quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            ) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn app_with_smtp(fx: &Fixture, db: &TestDb) -> TestApp {
    let port = fx.smtp_port;
    TestApp::spawn_with(Db::Sqlite, db.url.clone(), |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))
    })
    .await
}

async fn subscribe(fx: &Fixture, user: &User, name: &str) {
    let sub = fx.subscription(name).await;
    let r = user.post("/api/push/subscriptions", sub).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Push and email on, unassigned cases off, emails after `delay` seconds.
async fn set_prefs(user: &User, delay: i64) {
    put_prefs(user, true, false, delay).await
}

async fn put_prefs(user: &User, email: bool, unassigned: bool, delay: i64) {
    let r = user.put("/api/me/notifications", json!({ "web_push": true, "email": email, "chime": false, "unassigned": unassigned, "email_delay_secs": delay })).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_teammates_get_verified_encrypted_pushes_and_one_email() {
    let Some(fx) = Fixture::start() else { return };
    let db = TestDb::new(Db::Sqlite).await;
    let app = app_with_smtp(&fx, &db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Dana Kim", "agent").await;
    set_prefs(&agent, 1).await;
    subscribe(&fx, &agent, "dana-laptop").await;
    let key: Value = agent.json("/api/push/key").await;
    assert!(key["public_key"].as_str().unwrap().len() > 80);

    let case = app
        .customer_writes(&owner.ingest_token, "ann@example.com", "first")
        .await;
    let id = case["case_id"].as_str().unwrap().to_string();
    owner.assign(&id, Some(&agent.id)).await;
    // Two customer messages inside the email window while Dana has no socket anywhere.
    app.inbound(&owner.ingest_token, json!({ "channel": "email", "from": { "name": "Ann", "email": "ann@example.com" }, "body": "A first question" })).await;
    app.inbound(&owner.ingest_token, json!({ "channel": "email", "from": { "name": "Ann <b>Lee</b>", "email": "ann@example.com" }, "body": "Is <img src=x onerror=alert(1)> ok?" })).await;

    let pushes = fx
        .pushes_until(Duration::from_secs(10), |p| p.len() >= 3)
        .await;
    for p in &pushes {
        assert!(
            p["problems"].as_array().unwrap().is_empty(),
            "the push service found problems: {} (claims {})",
            p["problems"],
            p["claims"]
        );
        assert_eq!(p["claims"]["sub"], "mailto:admin@localhost");
        assert_eq!(p["payload"]["url"], format!("/cases/{id}"));
        assert_eq!(p["payload"]["number"], "BT-000001");
        assert_eq!(p["headers"]["ttl"], "86400");
    }
    let reasons: std::collections::BTreeMap<&str, usize> =
        pushes.iter().fold(Default::default(), |mut m, p| {
            *m.entry(p["payload"]["reason"].as_str().unwrap())
                .or_default() += 1;
            m
        });
    assert_eq!(
        reasons,
        [("assigned", 1), ("inbound", 2)].into_iter().collect(),
        "one push per message, plus the assignment"
    );
    let xss = pushes
        .iter()
        .find(|p| p["payload"]["preview"] == "Is <img src=x onerror=alert(1)> ok?")
        .expect("the plaintext is the payload");
    assert_eq!(
        xss["payload"]["title"], "BT-000001 · Customer",
        "number and customer, as first known"
    );
    assert_eq!(xss["headers"]["urgency"], "high");

    let emails = fx.emails_until(Duration::from_secs(10), 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let emails_after = fx.emails();
    assert_eq!(
        emails_after.len(),
        1,
        "several messages in the window make one email"
    );
    let mail = &emails[0];
    assert!(
        mail.contains(&format!("To: \"Dana Kim\" <{}>", agent.email))
            || mail.contains(&agent.email),
        "{mail}"
    );
    assert!(
        mail.contains("Subject: [BT-000001] New message from Customer"),
        "{mail}"
    );
    assert!(
        mail.contains(&format!("{}/cases/{id}", app.url)),
        "deep link: {mail}"
    );
    assert!(
        mail.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{mail}"
    );
    assert!(
        mail.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "customer text escaped in HTML: {mail}"
    );
    let html = mail
        .split("Content-Type: text/html")
        .nth(1)
        .expect("an HTML part");
    assert!(
        !html.contains("<img src=x"),
        "the HTML part never carries customer markup: {html}"
    );
    assert!(
        mail.contains("Content-Type: text/plain") && mail.contains("Content-Type: text/html"),
        "{mail}"
    );

    // The one-click unsubscribe link turns email off without a login.
    let raw = &fx.raw_emails()[0];
    let link = raw
        .split("List-Unsubscribe: <")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap()
        .to_string();
    let r = reqwest::Client::new()
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(agent.json("/api/me/notifications").await["email"], false);
    let forged = link.replace("t=", "t=0");
    assert_eq!(
        reqwest::Client::new()
            .post(&forged)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_in_time_online_or_reassigned_means_no_fallback() {
    let Some(fx) = Fixture::start() else { return };
    let db = TestDb::new(Db::Sqlite).await;
    let app = app_with_smtp(&fx, &db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Dana Kim", "agent").await;
    set_prefs(&agent, 2).await;
    subscribe(&fx, &agent, "dana").await;
    let case = app
        .customer_writes(&owner.ingest_token, "ann@example.com", "first")
        .await;
    let id = case["case_id"].as_str().unwrap().to_string();
    owner.assign(&id, Some(&agent.id)).await;

    // Read in time: the push goes out, the email does not.
    app.customer_writes(&owner.ingest_token, "ann@example.com", "read me soon")
        .await;
    agent
        .post(&format!("/api/cases/{id}/read"), json!({}))
        .await;
    // Reassigned before the email is due: the previous assignee gets nothing more.
    let case2 = app
        .customer_writes(&owner.ingest_token, "bo@example.com", "other")
        .await;
    let id2 = case2["case_id"].as_str().unwrap().to_string();
    owner.assign(&id2, Some(&agent.id)).await;
    app.customer_writes(&owner.ingest_token, "bo@example.com", "hello?")
        .await;
    owner.assign(&id2, Some(&owner.id)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        fx.emails().is_empty(),
        "no email: one case read in time, the other reassigned"
    );

    // Online anywhere: no push at all.
    let before = fx.received().await.len();
    let token = agent.api_token().await;
    let mut ws = Ws::connect(&app.url, &token, None).await.unwrap();
    ws.next(Duration::from_secs(5)).await.unwrap();
    app.customer_writes(&owner.ingest_token, "ann@example.com", "while online")
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        fx.received().await.len(),
        before,
        "a teammate with a live socket gets no push"
    );
    assert!(fx.emails().is_empty());
    let metrics = reqwest::get(format!("{}/metrics", app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("baton_notification_jobs_total{channel=\"push\",outcome=\"skipped\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("baton_notification_jobs_total{channel=\"email\",outcome=\"cancelled\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("baton_notification_jobs{channel=\"push\",state=\"sent\"}"),
        "the queue by channel and state: {metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_throttled_and_failing_push_services() {
    let Some(fx) = Fixture::start() else { return };
    let db = TestDb::new(Db::Sqlite).await;
    let app = app_with_smtp(&fx, &db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Dana Kim", "agent").await;
    set_prefs(&agent, 3600).await;
    subscribe(&fx, &agent, "old-phone").await;
    subscribe(&fx, &agent, "laptop").await;
    subscribe(&fx, &agent, "tablet").await;
    fx.script("old-phone", json!([{ "status": 410 }])).await;
    fx.script("laptop", json!([{ "status": 429, "retry_after": 2 }]))
        .await;
    fx.script("tablet", json!([{ "status": 500 }])).await;
    let case = app
        .customer_writes(&owner.ingest_token, "ann@example.com", "first")
        .await;
    let id = case["case_id"].as_str().unwrap().to_string();
    owner.assign(&id, Some(&agent.id)).await;

    let got = fx
        .pushes_until(Duration::from_secs(15), |p| {
            p.iter()
                .filter(|r| r["name"] == "laptop" && r["answered"] == 201)
                .count()
                == 1
                && p.iter()
                    .filter(|r| r["name"] == "tablet" && r["answered"] == 201)
                    .count()
                    == 1
        })
        .await;
    let laptop: Vec<&Value> = got.iter().filter(|r| r["name"] == "laptop").collect();
    let waited = laptop[1]["at"].as_f64().unwrap() - laptop[0]["at"].as_f64().unwrap();
    assert!(
        waited >= 1.9,
        "Retry-After: 2 was honoured (waited {waited:.2} s)"
    );
    assert_eq!(
        got.iter().filter(|r| r["name"] == "old-phone").count(),
        1,
        "410: tried once"
    );

    // The gone subscription was deleted; the others still receive.
    app.customer_writes(&owner.ingest_token, "ann@example.com", "again")
        .await;
    let got = fx
        .pushes_until(Duration::from_secs(10), |p| {
            p.iter()
                .filter(|r| r["payload"]["preview"] == "again")
                .count()
                == 2
        })
        .await;
    let names: std::collections::BTreeSet<&str> = got
        .iter()
        .filter(|r| r["payload"]["preview"] == "again")
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["laptop", "tablet"].into_iter().collect());
    assert_eq!(got.iter().filter(|r| r["name"] == "old-phone").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_reach_the_watchers_the_mentioned_and_the_assignee_only() {
    let Some(fx) = Fixture::start() else { return };
    let db = TestDb::new(Db::Sqlite).await;
    let app = app_with_smtp(&fx, &db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let watcher = app.invite(&owner, "Wren Watcher", "agent").await;
    let agent = app.invite(&owner, "Dana Kim", "agent").await;
    let gone = app.invite(&owner, "Gil Gone", "agent").await;
    for (user, unassigned, name) in [
        (&watcher, true, "wren"),
        (&agent, false, "dana"),
        (&gone, true, "gil"),
    ] {
        put_prefs(user, false, unassigned, 0).await;
        subscribe(&fx, user, name).await;
    }
    let r = owner
        .delete(
            &format!("/api/teammates/{}", gone.id),
            Some(json!({ "reassign_to": null })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // A new case pings who watches unassigned cases; a note, whom it mentions; an
    // assignment, the new assignee. Nobody else, and never a removed teammate.
    let case = app
        .customer_writes(&owner.ingest_token, "ann@example.com", "first")
        .await;
    let id = case["case_id"].as_str().unwrap().to_string();
    // Its push is sent before the case is taken: a job checks again, when it runs, that the
    // case is still unassigned.
    fx.pushes_until(Duration::from_secs(10), |p| !p.is_empty())
        .await;
    let handle = agent.email.split('@').next().unwrap().to_string();
    let r = owner
        .post(
            &format!("/api/cases/{id}/messages"),
            json!({ "kind": "note", "body": format!("@{handle} can you take this?") }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    owner.assign(&id, Some(&agent.id)).await;

    fx.pushes_until(Duration::from_secs(10), |p| p.len() >= 3)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut got: Vec<(String, String)> = fx
        .received()
        .await
        .iter()
        .map(|p| {
            let reason = p["payload"]["reason"].as_str().unwrap_or_default();
            (p["name"].as_str().unwrap().to_string(), reason.to_string())
        })
        .collect();
    got.sort();
    let want = [
        ("dana", "assigned"),
        ("dana", "mention"),
        ("wren", "inbound"),
    ];
    assert_eq!(
        got,
        want.map(|(n, r)| (n.to_string(), r.to_string())),
        "who was pushed, and why"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_move_sends_one_summary() {
    let Some(fx) = Fixture::start() else { return };
    let db = TestDb::new(Db::Sqlite).await;
    let app = app_with_smtp(&fx, &db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let leaving = app.invite(&owner, "Lou", "agent").await;
    let taker = app.invite(&owner, "Tia", "agent").await;
    set_prefs(&taker, 3600).await;
    for i in 0..6 {
        let c = app
            .customer_writes(&owner.ingest_token, &format!("c{i}@example.com"), "hi")
            .await;
        owner
            .assign(c["case_id"].as_str().unwrap(), Some(&leaving.id))
            .await;
    }
    subscribe(&fx, &taker, "tia").await;
    let r = owner
        .post(
            "/api/cases/bulk-reassign",
            json!({ "from": leaving.id, "to": taker.id }),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["moved"], 6);
    let got = fx
        .pushes_until(Duration::from_secs(10), |p| !p.is_empty())
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got_after = fx.received().await;
    assert_eq!(got_after.len(), 1, "one summary, not six: {got:#?}");
    assert_eq!(got_after[0]["payload"]["reason"], "bulk");
    assert_eq!(got_after[0]["payload"]["body"], "6 cases were moved to you");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_emails_survive_a_restart_and_two_instances_send_each_once() {
    let Some(fx) = Fixture::start() else { return };
    if !require("Postgres", crate::common::postgres_available().await) {
        return;
    }
    let db = TestDb::new(Db::Postgres).await;
    let smtp = format!("smtp://127.0.0.1:{}", fx.smtp_port);
    let first = TestApp::spawn_with(Db::Postgres, db.url.clone(), |c| {
        c.smtp_url = Some(smtp.clone())
    })
    .await;
    let owner = first.signup("Acme", "Olivia Owner").await;
    let mut agents = Vec::new();
    for i in 0..4 {
        let a = first.invite(&owner, &format!("Agent {i}"), "agent").await;
        set_prefs(&a, 2).await;
        agents.push(a);
    }
    for (i, a) in agents.iter().enumerate() {
        for j in 0..3 {
            let c = first
                .customer_writes(&owner.ingest_token, &format!("c{i}-{j}@example.com"), "hi")
                .await;
            owner
                .assign(c["case_id"].as_str().unwrap(), Some(&a.id))
                .await;
            first
                .customer_writes(
                    &owner.ingest_token,
                    &format!("c{i}-{j}@example.com"),
                    "anyone there?",
                )
                .await;
        }
    }
    // The instance stops before the emails are due; two new ones share the work.
    first.stop().await;
    let a = TestApp::spawn_with(Db::Postgres, db.url.clone(), |c| {
        c.smtp_url = Some(smtp.clone())
    })
    .await;
    let b = TestApp::spawn_with(Db::Postgres, db.url.clone(), |c| {
        c.smtp_url = Some(smtp.clone())
    })
    .await;
    let emails = fx.emails_until(Duration::from_secs(15), 12).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let emails = if fx.emails().len() > emails.len() {
        fx.emails()
    } else {
        emails
    };
    assert_eq!(
        emails.len(),
        12,
        "4 teammates × 3 unread cases: each email once"
    );
    for agent in &agents {
        assert_eq!(
            emails.iter().filter(|m| m.contains(&agent.email)).count(),
            3
        );
    }
    drop((a, b));
}
