//! Email both ways against independent peers: aiosmtpd as the smart host, Python's `email`
//! package to build what customers send and to read what Baton sends.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{b64, free_port, reply, require, Db, TestApp, TestDb, User, Ws};
use crate::peers::{self, python_has, Peer};

const DOMAIN: &str = "baton.test";

/// aiosmtpd on a port, writing what it accepts to a folder; it refuses `reject…` recipients.
fn smtp_peer(port: u16, folder: &Path) -> Peer {
    Peer::start(
        "smtp_server.py",
        &[port.to_string(), folder.display().to_string()],
    )
}

/// A raw message built by Python's `email` package from `spec` (see `mail_tool.py`).
fn build_mail(spec: Value) -> Vec<u8> {
    let mut child = std::process::Command::new("python3")
        .arg(peers::dir().join("mail_tool.py"))
        .arg("build")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "mail_tool build failed for {spec}");
    out.stdout
}

/// What Python's parser reads in a received message.
fn inspect(path: &Path) -> Value {
    let out = std::process::Command::new("python3")
        .arg(peers::dir().join("mail_tool.py"))
        .arg("inspect")
        .arg(path)
        .output()
        .expect("python3");
    assert!(out.status.success(), "mail_tool inspect failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn received(folder: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

async fn received_until(folder: &Path, n: usize, wait: Duration) -> Vec<PathBuf> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let got = received(folder);
        if got.len() >= n || tokio::time::Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post_mail(app: &TestApp, token: &str, raw: Vec<u8>) -> reqwest::Response {
    app.post_mail(token, raw).await
}

async fn mail_in(app: &TestApp, token: &str, spec: Value) -> Value {
    let r = post_mail(app, token, build_mail(spec.clone())).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status} {body} for {spec}");
    body
}

async fn spawn(db: Db, tweak: impl FnOnce(&mut baton::Config)) -> (TestApp, TestDb) {
    let test_db = TestDb::new(db).await;
    let app = TestApp::spawn_with(db, test_db.url.clone(), |c| {
        c.mail_domain = Some(DOMAIN.into());
        c.retry_base = Duration::from_millis(100);
        tweak(c)
    })
    .await;
    (app, test_db)
}

async fn email_channel(owner: &User) {
    let r = owner
        .post(
            "/api/channels",
            json!({ "kind": "email", "name": "Support", "settings": { "from_name": "Sunny Side", "from_address": "help@sunny.test" } }),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
}

fn message<'a>(detail: &'a Value, id: &str) -> &'a Value {
    detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no message {id} in {detail}"))
}

/// Waits until the message's delivery state is `state`; answers the message.
async fn delivery_becomes(user: &User, case_id: &str, message_id: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let detail = user.json(&format!("/api/cases/{case_id}")).await;
        let m = message(&detail, message_id).clone();
        if m["delivery"]["state"] == state {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery never became {state}: {m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn count(db_url: &str, sql: &str) -> i64 {
    if db_url.starts_with("sqlite") {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(db_url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    } else {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(db_url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    }
}

on_both!(
    replies_go_out_threaded_and_answers_come_back,
    replies_threaded
);
async fn replies_threaded(db: Db) {
    if !require("python3 with aiosmtpd", python_has("aiosmtpd, email")) {
        return;
    }
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let _smtp = smtp_peer(port, dir.path());
    let (app, _db) = spawn(db, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))
    })
    .await;
    let owner = app.signup("Sunny Side", "Ana").await;
    email_channel(&owner).await;
    let token = owner.api_token().await;
    let mut ws = Ws::connect(&app.url, &token, None).await.unwrap();

    let first = mail_in(
        &app,
        &owner.ingest_token,
        json!({
            "from": "Carla Customer <carla@example.com>", "subject": "Re: Where is my order?",
            "message_id": "<c1@mail.example.com>", "text": "Hello,\nit is late."
        }),
    )
    .await;
    assert_eq!(first["created"], true);
    let case_id = first["case_id"].as_str().unwrap().to_string();

    let sent = reply(
        &owner,
        &case_id,
        "Sorry <Carla>!\nIt ships today & arrives Friday.",
    )
    .await;
    assert_eq!(sent["delivery"]["state"], "queued");
    assert_eq!(sent["channel"], "email");
    let reply_id = sent["id"].as_str().unwrap().to_string();
    let files = received_until(dir.path(), 1, Duration::from_secs(10)).await;
    assert_eq!(files.len(), 1);
    let m = inspect(&files[0]);
    assert!(m["defects"].as_array().unwrap().is_empty(), "{m}");
    let our_id = m["message_id"].as_str().unwrap().to_string();
    assert_eq!(
        our_id,
        format!(
            "<{}@{DOMAIN}>",
            uuid::Uuid::parse_str(&reply_id).unwrap().simple()
        )
    );
    assert_eq!(m["in_reply_to"], "<c1@mail.example.com>");
    assert_eq!(m["references"], json!(["<c1@mail.example.com>"]));
    assert_eq!(m["subject"], "Re: Where is my order?", "Re: once");
    assert_eq!(m["from"], "Ana at Sunny Side <help@sunny.test>");
    assert_eq!(m["to"], "Carla Customer <carla@example.com>");
    let reply_to = m["reply_to"].as_str().unwrap().to_string();
    assert!(
        reply_to.starts_with("reply+") && reply_to.ends_with(&format!("@{DOMAIN}")),
        "{reply_to}"
    );
    assert_eq!(m["content_type"], "multipart/alternative");
    assert_eq!(
        m["text"].as_str().unwrap().replace("\r\n", "\n"),
        "Sorry <Carla>!\nIt ships today & arrives Friday.\n"
    );
    let html = m["html"].as_str().unwrap();
    assert!(html.contains("Sorry &lt;Carla&gt;!<br>"), "{html}");
    assert!(html.contains("today &amp; arrives"), "{html}");

    let m = delivery_becomes(&owner, &case_id, &reply_id, "sent").await;
    assert!(m["delivery"]["error"].is_null());
    let event = ws.expect("message.delivery", Duration::from_secs(5)).await;
    assert_eq!(event["event"]["message_id"], reply_id.as_str());
    assert_eq!(event["event"]["state"], "sent");

    // The answer threads by In-Reply-To even from another address of the customer's.
    let by_header = mail_in(&app, &owner.ingest_token, json!({
        "from": "Carla on her phone <carla.phone@example.net>", "subject": "Re: Re: Where is my order?",
        "message_id": "<c2@mail.example.net>", "in_reply_to": our_id, "references": format!("<c1@mail.example.com> {our_id}"),
        "text": "Great, thanks!\n\nOn Mon, Ana at Sunny Side wrote:\n> Sorry <Carla>!\n> It ships today."
    }))
    .await;
    assert_eq!(by_header["case_id"], case_id.as_str());
    assert_eq!(by_header["created"], false);

    // By the reply address alone (a client that drops the headers), from a third address.
    let by_token = mail_in(&app, &owner.ingest_token, json!({
        "from": "Assistant <office@example.org>", "to": reply_to, "subject": "Order", "message_id": "<c3@example.org>",
        "text": "Carla asked me to confirm the address."
    }))
    .await;
    assert_eq!(by_token["case_id"], case_id.as_str());

    // An altered token lands nowhere near the case.
    let forged = reply_to.replacen("reply+", "reply+0", 1);
    let other = mail_in(&app, &owner.ingest_token, json!({
        "from": "Mallory <mallory@evil.example>", "to": forged, "subject": "Order", "message_id": "<m1@evil.example>", "text": "let me in"
    }))
    .await;
    assert_ne!(other["case_id"], case_id.as_str());
    assert_eq!(other["created"], true);
    // A token of this case sent to another workspace names nothing there.
    let rival = app.signup("Rival", "Rita").await;
    let elsewhere = mail_in(&app, &rival.ingest_token, json!({
        "from": "Carla Customer <carla@example.com>", "to": reply_to, "subject": "Order", "message_id": "<c4@mail.example.com>", "text": "hi"
    }))
    .await;
    assert_ne!(elsewhere["case_id"], case_id.as_str());

    let detail = owner.json(&format!("/api/cases/{case_id}")).await;
    let bodies: Vec<&str> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        vec![
            "Hello,\nit is late.",
            "Sorry <Carla>!\nIt ships today & arrives Friday.",
            "Great, thanks!",
            "Carla asked me to confirm the address."
        ]
    );
    let folded = &detail["messages"][2]["quoted"];
    assert!(
        folded
            .as_str()
            .unwrap()
            .starts_with("On Mon, Ana at Sunny Side wrote:"),
        "{folded}"
    );

    // A second reply: References carries the whole conversation, In-Reply-To the latest mail.
    reply(&owner, &case_id, "Address confirmed.").await;
    let files = received_until(dir.path(), 2, Duration::from_secs(10)).await;
    let m = inspect(&files[1]);
    assert_eq!(m["in_reply_to"], "<c3@example.org>");
    assert_eq!(
        m["references"],
        json!([
            "<c1@mail.example.com>",
            our_id,
            "<c2@mail.example.net>",
            "<c3@example.org>"
        ])
    );
    assert_eq!(m["subject"], "Re: Where is my order?");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        received(dir.path()).len(),
        2,
        "each reply arrives exactly once"
    );
}

on_both!(raw_mail_of_every_shape_becomes_clean_text, raw_shapes);
async fn raw_shapes(db: Db) {
    if !require("python3", python_has("aiosmtpd, email")) {
        return;
    }
    let (app, _db) = spawn(db, |_| {}).await;
    let owner = app.signup("Sunny Side", "Ana").await;
    let t = owner.ingest_token.clone();
    let cases = [
        (
            json!({ "from": "Pat <pat@example.com>", "subject": "Plain", "text": "just text", "cte": "8bit" }),
            "Pat",
            "Plain",
            "just text",
        ),
        (
            json!({ "from": "Alt <alt@example.com>", "subject": "Both", "text": "the text part", "html": "<p>the <b>html</b> part</p>" }),
            "Alt",
            "Both",
            "the text part",
        ),
        (
            json!({ "from": "André Müller <andre@example.com>", "subject": "Ärger mit der Lieferung", "text": "Grüße aus Köln\nZeile zwei", "charset": "iso-8859-1", "cte": "quoted-printable" }),
            "André Müller",
            "Ärger mit der Lieferung",
            "Grüße aus Köln\nZeile zwei",
        ),
        (
            json!({ "from": "Zoë 山田 <zoe@example.com>", "subject": "配送について ✓", "text": "こんにちは\n— Zoë", "charset": "utf-8", "cte": "base64" }),
            "Zoë 山田",
            "配送について ✓",
            "こんにちは\n— Zoë",
        ),
        (
            json!({ "from": "Html Only <html@example.com>", "subject": "HTML", "html": "<html><body><p>First &amp; foremost</p><p>second</p></body></html>" }),
            "Html Only",
            "HTML",
            "First & foremost",
        ),
    ];
    for (spec, name, subject, body) in cases {
        let out = mail_in(&app, &t, spec.clone()).await;
        assert_eq!(out["created"], true, "{spec}");
        let detail = owner
            .json(&format!("/api/cases/{}", out["case_id"].as_str().unwrap()))
            .await;
        assert_eq!(detail["case"]["customer"]["name"], name, "{spec}");
        assert_eq!(detail["case"]["subject"], subject, "{spec}");
        let got = detail["messages"][0]["body"].as_str().unwrap();
        assert!(got.starts_with(body), "{got:?} should start with {body:?}");
        assert_eq!(detail["messages"][0]["channel"], "email");
    }

    // The same Message-ID twice is one message.
    let spec = json!({ "from": "Dup <dup@example.com>", "subject": "Twice", "message_id": "<dup-1@example.com>", "text": "once" });
    let a = mail_in(&app, &t, spec.clone()).await;
    let b = mail_in(&app, &t, spec).await;
    assert_eq!(a["case_id"], b["case_id"]);
    let detail = owner
        .json(&format!("/api/cases/{}", a["case_id"].as_str().unwrap()))
        .await;
    assert_eq!(detail["messages"].as_array().unwrap().len(), 1);

    // Not mail, no token, the wrong token, JSON by mistake.
    assert_eq!(
        post_mail(&app, &t, b"hello".to_vec()).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        post_mail(
            &app,
            "wrong",
            build_mail(json!({ "from": "a@b.example", "text": "x" }))
        )
        .await
        .status(),
        StatusCode::UNAUTHORIZED
    );
    let json_body = reqwest::Client::new()
        .post(format!("{}/api/inbound/email", app.url))
        .bearer_auth(&t)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), StatusCode::BAD_REQUEST);
    // Bigger than the JSON webhook's limit, well within a mail server's.
    let big = build_mail(
        json!({ "from": "Big <big@example.com>", "subject": "Big", "text": "x".repeat(600 * 1024), "cte": "base64" }),
    );
    assert_eq!(post_mail(&app, &t, big).await.status(), StatusCode::CREATED);
}

on_both!(machines_never_notify_and_a_bounce_fails_its_reply, machines);
async fn machines(db: Db) {
    if !require("python3 with aiosmtpd", python_has("aiosmtpd, email")) {
        return;
    }
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let _smtp = smtp_peer(port, dir.path());
    let (app, _db) = spawn(db, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))
    })
    .await;
    let owner = app.signup("Sunny Side", "Ana").await;
    let t = owner.ingest_token.clone();
    let jobs = "SELECT COUNT(*) FROM notification_jobs WHERE channel IN ('push', 'email')";

    // A person's mail notifies the owner (who watches unassigned cases): one email job.
    let person = mail_in(&app, &t, json!({ "from": "Pia <pia@example.com>", "subject": "Help", "message_id": "<p1@example.com>", "text": "hi" })).await;
    assert_eq!(count(&app.db_url, jobs).await, 1);
    let case_id = person["case_id"].as_str().unwrap().to_string();

    let sent = reply(&owner, &case_id, "On it.").await;
    let reply_id = sent["id"].as_str().unwrap().to_string();
    delivery_becomes(&owner, &case_id, &reply_id, "sent").await;
    let our_id = inspect(&received_until(dir.path(), 1, Duration::from_secs(10)).await[0])
        ["message_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Auto-replies and list mail: stored on the case, nobody notified, the case not reopened.
    for (i, headers) in [
        json!({ "Auto-Submitted": "auto-replied" }),
        json!({ "Precedence": "bulk" }),
        json!({ "X-Autoreply": "yes" }),
        json!({ "List-Id": "<news.example.com>" }),
    ]
    .into_iter()
    .enumerate()
    {
        let out = mail_in(&app, &t, json!({ "from": "Pia <pia@example.com>", "subject": "Out of office", "message_id": format!("<auto{i}@example.com>"), "in_reply_to": our_id, "text": "I am away.", "headers": headers })).await;
        assert_eq!(out["case_id"], case_id.as_str());
    }
    let brand_new = mail_in(&app, &t, json!({ "from": "Newsletter <news@shop.example>", "subject": "Deals", "text": "50% off", "headers": { "Precedence": "list" } })).await;
    assert_eq!(brand_new["created"], true);
    assert_eq!(
        count(&app.db_url, jobs).await,
        1,
        "machines notified somebody"
    );
    let detail = owner.json(&format!("/api/cases/{case_id}")).await;
    assert_eq!(
        detail["case"]["status"], "awaiting_customer",
        "an auto-reply is no answer"
    );
    assert_eq!(
        detail["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] == "automated")
            .count(),
        4
    );

    // The customer's server bounces our reply later: the reply becomes failed, with the reason.
    let token = owner.api_token().await;
    let mut ws = Ws::connect(&app.url, &token, None).await.unwrap();
    let bounce = mail_in(&app, &t, json!({ "from": "Mail Delivery System <MAILER-DAEMON@mx.example.net>", "subject": "Undelivered Mail Returned to Sender", "bounce_of": our_id, "bounce_reason": "550 5.1.1 <pia@example.com>: user unknown" })).await;
    assert_eq!(bounce["case_id"], case_id.as_str());
    let m = delivery_becomes(&owner, &case_id, &reply_id, "failed").await;
    assert_eq!(
        m["delivery"]["error"],
        "bounced: 550 5.1.1 <pia@example.com>: user unknown"
    );
    let event = ws.expect("message.delivery", Duration::from_secs(5)).await;
    assert_eq!(event["event"]["state"], "failed");
    assert_eq!(
        count(&app.db_url, jobs).await,
        1,
        "a bounce notifies nobody"
    );
    assert_eq!(received(dir.path()).len(), 1, "nothing answered a machine");
}

on_both!(
    a_reply_survives_a_smtp_outage_and_a_refusal_is_final,
    outage
);
async fn outage(db: Db) {
    if !require("python3 with aiosmtpd", python_has("aiosmtpd, email")) {
        return;
    }
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let (app, _db) = spawn(db, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))
    })
    .await;
    let owner = app.signup("Sunny Side", "Ana").await;
    let t = owner.ingest_token.clone();
    let case = mail_in(
        &app,
        &t,
        json!({ "from": "Olga <olga@example.com>", "subject": "Down?", "text": "hello" }),
    )
    .await;
    let case_id = case["case_id"].as_str().unwrap().to_string();
    let sent = reply(&owner, &case_id, "We are on it.").await;
    let reply_id = sent["id"].as_str().unwrap().to_string();

    // Nobody listens: attempts fail and are retried, the reply stays queued with the reason.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let detail = owner.json(&format!("/api/cases/{case_id}")).await;
        let m = message(&detail, &reply_id);
        if m["delivery"]["error"].is_string() {
            assert_eq!(m["delivery"]["state"], "queued");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attempt failed: {m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _smtp = smtp_peer(port, dir.path());
    delivery_becomes(&owner, &case_id, &reply_id, "sent").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(received(dir.path()).len(), 1, "sent once");

    // A permanent refusal (550) is final at once, with the server's words; Retry queues it again.
    let refused = mail_in(
        &app,
        &t,
        json!({ "from": "Rex <reject-rex@example.com>", "subject": "Hi", "text": "hello" }),
    )
    .await;
    let refused_case = refused["case_id"].as_str().unwrap().to_string();
    let sent = reply(&owner, &refused_case, "Hello Rex").await;
    let id = sent["id"].as_str().unwrap().to_string();
    let m = delivery_becomes(&owner, &refused_case, &id, "failed").await;
    let error = m["delivery"]["error"].as_str().unwrap();
    assert!(
        error.contains("550") && error.contains("mailbox unavailable"),
        "{error}"
    );
    let r = owner
        .post(
            &format!("/api/cases/{refused_case}/messages/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["delivery"]["state"],
        "queued"
    );
    delivery_becomes(&owner, &refused_case, &id, "failed").await;
    // Only a failed reply can be retried; another workspace's is not found.
    let r = owner
        .post(
            &format!("/api/cases/{case_id}/messages/{reply_id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let rival = app.signup("Rival", "Rita").await;
    let r = rival
        .post(
            &format!("/api/cases/{refused_case}/messages/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(received(dir.path()).len(), 1);
}

on_both!(channels_are_admin_settings, channels);
async fn channels(db: Db) {
    let (app, _db) = spawn(db, |_| {}).await;
    let owner = app.signup("Sunny Side", "Ana").await;
    let agent = app.invite(&owner, "Dana", "agent").await;
    let body = json!({ "kind": "email", "name": "Support", "settings": { "from_name": "Sunny Side", "from_address": "Help@Sunny.test" } });
    assert_eq!(
        agent.post("/api/channels", body.clone()).await.status(),
        StatusCode::FORBIDDEN
    );
    let r = owner.post("/api/channels", body.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let channel = r.json::<Value>().await.unwrap()["channel"].clone();
    assert_eq!(channel["settings"]["from_address"], "help@sunny.test");
    let rival = app.signup("Rival", "Rita").await;
    assert_eq!(
        rival.post("/api/channels", body).await.status(),
        StatusCode::CONFLICT,
        "one address, one workspace"
    );
    let bad = json!({ "kind": "email", "name": "X", "settings": { "from_name": "X", "from_address": "not an address" } });
    assert_eq!(
        owner.post("/api/channels", bad).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let id = channel["id"].as_str().unwrap();
    let r = owner
        .patch(
            &format!("/api/channels/{id}"),
            json!({ "name": "Help desk" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let list = agent.json("/api/channels").await;
    assert_eq!(list["channels"][0]["name"], "Help desk");
    assert_eq!(rival.json("/api/channels").await["channels"], json!([]));
    assert_eq!(
        rival
            .delete(&format!("/api/channels/{id}"), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        owner
            .delete(&format!("/api/channels/{id}"), None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

on_both!(attachments_come_in_and_go_out, attachments);
async fn attachments(db: Db) {
    if !require("python3 with aiosmtpd", python_has("aiosmtpd, email")) {
        return;
    }
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let _smtp = smtp_peer(port, dir.path());
    let (app, _db) = spawn(db, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))
    })
    .await;
    let owner = app.signup("Sunny Side", "Ana").await;
    email_channel(&owner).await;

    // A customer's mail with a PDF and an HTML page: both kept, listed on the message.
    let pdf: Vec<u8> = b"%PDF-1.4\n"
        .iter()
        .copied()
        .chain((0..5000u32).map(|i| (i % 251) as u8))
        .collect();
    let page = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let outcome = mail_in(&app, &owner.ingest_token, json!({
        "from": "Zo\u{eb} <zoe@example.org>", "subject": "Invoice", "message_id": "<att-1@example.org>",
        "text": "Here is the invoice.",
        "attachments": [
            { "filename": "Rechnung März.pdf", "content_type": "application/pdf", "base64": b64(&pdf) },
            { "filename": "page.html", "content_type": "text/html", "base64": b64(&page) },
        ],
    }))
    .await;
    let case_id = outcome["case_id"].as_str().unwrap().to_string();
    let detail = owner.json(&format!("/api/cases/{case_id}")).await;
    let files = detail["messages"][0]["attachments"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(files.len(), 2, "{detail}");
    assert_eq!(files[0]["filename"], "Rechnung März.pdf");
    assert_eq!(files[0]["content_type"], "application/pdf");
    assert_eq!(files[0]["size"], pdf.len());
    assert_eq!(files[1]["filename"], "page.html");
    assert_eq!(detail["messages"][0]["body"], "Here is the invoice.");

    // Downloads: the bytes, the type, always as an attachment, never sniffed or rendered.
    let r = owner
        .get(&format!(
            "/api/attachments/{}",
            files[0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let disposition = h["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf"),
        "{disposition}"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), pdf.as_slice());
    let r = owner
        .get(&format!(
            "/api/attachments/{}",
            files[1]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.headers()["content-type"], "text/html");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));

    // Only this workspace's teammates: another workspace and no one signed in get nothing.
    let stranger = app.signup("Other Co", "Mo").await;
    let id = files[0]["id"].as_str().unwrap();
    assert_eq!(
        stranger
            .get(&format!("/api/attachments/{id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let anonymous = reqwest::get(format!("{}/api/attachments/{id}", app.url))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        owner.get("/api/attachments/not-a-uuid").await.status(),
        StatusCode::NOT_FOUND
    );

    // The composer: upload, then reply with it; the customer's mail carries the file.
    let notes: Vec<u8> = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"
        .iter()
        .copied()
        .chain((0..3000u32).map(|i| (i * 7 % 256) as u8))
        .collect();
    let r = owner.upload("label.png", "image/png", &notes).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let upload: Value = r.json().await.unwrap();
    assert_eq!(upload["filename"], "label.png");
    assert_eq!(upload["size"], notes.len());
    // Someone else's upload cannot ride on your reply.
    let r = stranger
        .post(
            &format!("/api/cases/{case_id}/messages"),
            json!({ "kind": "reply", "body": "x", "attachment_ids": [upload["id"]] }),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "another workspace's case"
    );
    let colleague = app.invite(&owner, "Bo", "agent").await;
    let r = colleague
        .post(
            &format!("/api/cases/{case_id}/messages"),
            json!({ "kind": "note", "body": "mine now", "attachment_ids": [upload["id"]] }),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a colleague's upload"
    );
    let r = owner
        .post(
            &format!("/api/cases/{case_id}/messages"),
            json!({ "kind": "reply", "body": "Attached, and the original back.", "attachment_ids": [upload["id"]] }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let sent: Value = r.json().await.unwrap();
    assert_eq!(sent["attachments"][0]["filename"], "label.png");
    let message_id = sent["id"].as_str().unwrap();
    // An upload goes with one message only.
    let again = owner
        .post(
            &format!("/api/cases/{case_id}/messages"),
            json!({ "kind": "reply", "body": "again", "attachment_ids": [upload["id"]] }),
        )
        .await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    delivery_becomes(&owner, &case_id, message_id, "sent").await;
    let got = received_until(dir.path(), 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "one reply, once");
    let mail = inspect(&got[0]);
    assert_eq!(
        mail["text"].as_str().unwrap().trim(),
        "Attached, and the original back."
    );
    assert!(mail["html"].is_string(), "{mail}");
    let carried = mail["attachments"].as_array().unwrap();
    assert_eq!(carried.len(), 1, "{mail}");
    assert_eq!(carried[0]["filename"], "label.png");
    assert_eq!(carried[0]["content_type"], "image/png");
    assert_eq!(carried[0]["base64"], b64(&notes));
    let detail = owner.json(&format!("/api/cases/{case_id}")).await;
    assert_eq!(
        message(&detail, message_id)["attachments"][0]["id"],
        upload["id"]
    );
}

/// Sends `raw` to Baton's SMTP listener with Python's smtplib; answers what smtplib reports.
fn smtp_send(port: u16, to: &[&str], raw: &[u8]) -> Value {
    let mut child = std::process::Command::new("python3")
        .arg(peers::dir().join("smtp_client.py"))
        .args([
            "127.0.0.1",
            &port.to_string(),
            "sender@example.org",
            &to.join(","),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(raw).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "smtp_client failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The open cases whose subject or text matches `q`.
async fn cases_matching(user: &User, q: &str) -> Vec<Value> {
    let page = user
        .json(&format!("/api/cases?view=all&filter=open&q={q}"))
        .await;
    page["cases"].as_array().unwrap().clone()
}

on_both!(the_smtp_listener_takes_mail_for_baton_only, smtp_listener);
async fn smtp_listener(db: Db) {
    if !require("python3", python_has("aiosmtpd, email")) {
        return;
    }
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_path_buf();
    let (app, _db) = spawn(db, |c| {
        c.smtp_listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
        c.data_dir = data_dir;
    })
    .await;
    let owner = app.signup("Sunny Side", "Ana").await;
    email_channel(&owner).await;
    let ok = json!({ "refused": {} });
    let send = |to: &[&str], spec: Value| smtp_send(port, to, &build_mail(spec));

    // Plain text, to the channel address (any letter case).
    assert_eq!(
        send(
            &["Help@Sunny.test"],
            json!({ "from": "Zoe <zoe@example.org>", "subject": "Plain one", "message_id": "<s-1@example.org>", "text": "Just text." })
        ),
        ok
    );
    let first = cases_matching(&owner, "Plain").await;
    assert_eq!(first.len(), 1, "{first:?}");
    let case_id = first[0]["id"].as_str().unwrap().to_string();
    // multipart/alternative, quoted-printable, ISO-8859-1 RFC 2047 headers.
    assert_eq!(
        send(
            &["help@sunny.test"],
            json!({ "from": "Jos\u{e9} Mu\u{f1}oz <jose@example.org>", "subject": "Caf\u{e9} froid", "message_id": "<s-2@example.org>",
        "text": "Le caf\u{e9} est arriv\u{e9} froid.", "html": "<p>Le caf\u{e9} est <b>arriv\u{e9}</b> froid.</p>", "charset": "iso-8859-1", "cte": "quoted-printable" })
        ),
        ok
    );
    let latin = cases_matching(&owner, "froid").await;
    assert_eq!(latin.len(), 1);
    assert_eq!(latin[0]["subject"], "Caf\u{e9} froid");
    assert_eq!(latin[0]["customer"]["name"], "Jos\u{e9} Mu\u{f1}oz");
    // base64, UTF-8 headers, and an attachment.
    assert_eq!(
        send(
            &["help@sunny.test"],
            json!({ "from": "\u{674e}\u{96f7} <lei@example.org>", "subject": "\u{8ba2}\u{5355} late \u{1f4e6}", "message_id": "<s-3@example.org>",
        "text": "\u{6211}\u{7684}\u{8ba2}\u{5355}\u{8fd8}\u{6ca1}\u{5230}\u{3002}", "charset": "utf-8", "cte": "base64",
        "attachments": [{ "filename": "photo.jpg", "content_type": "image/jpeg", "base64": b64(b"\xff\xd8\xff\xe0 not really a jpeg") }] })
        ),
        ok
    );
    let utf8 = cases_matching(&owner, "late").await;
    assert_eq!(utf8.len(), 1);
    let detail = owner
        .json(&format!("/api/cases/{}", utf8[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        detail["messages"][0]["body"],
        "\u{6211}\u{7684}\u{8ba2}\u{5355}\u{8fd8}\u{6ca1}\u{5230}\u{3002}"
    );
    assert_eq!(
        detail["messages"][0]["attachments"][0]["filename"],
        "photo.jpg"
    );

    // A reply that threads by In-Reply-To, from another address than the case's customer.
    assert_eq!(
        send(
            &["help@sunny.test"],
            json!({ "from": "Zoe Work <zoe@work.example>", "subject": "Re: Plain one", "message_id": "<s-4@example.org>",
        "in_reply_to": "<s-1@example.org>", "text": "More from work." })
        ),
        ok
    );
    let detail = owner.json(&format!("/api/cases/{case_id}")).await;
    assert_eq!(
        detail["messages"].as_array().unwrap().len(),
        2,
        "threaded by header: {detail}"
    );

    // A reply from us, then the customer's answer that threads by the reply token alone.
    let ours = reply(&owner, &case_id, "We are on it.").await;
    let sent = delivery_becomes(&owner, &case_id, ours["id"].as_str().unwrap(), "sent").await;
    assert_eq!(sent["delivery"]["state"], "sent");
    let outbox = received_until(&data.path().join("outbox"), 1, Duration::from_secs(10)).await;
    let reply_to = inspect(&outbox[0])["reply_to"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        send(
            &[reply_to.as_str()],
            json!({ "from": "Someone Else <other@example.net>", "to": reply_to, "subject": "totally new subject", "message_id": "<s-5@example.org>", "text": "Answer by token." })
        ),
        ok
    );
    let detail = owner.json(&format!("/api/cases/{case_id}")).await;
    assert_eq!(
        detail["messages"].as_array().unwrap().len(),
        4,
        "threaded by token: {detail}"
    );

    // An auto-reply joins quietly; a bounce of our reply marks it failed.
    assert_eq!(
        send(
            &["help@sunny.test"],
            json!({ "from": "Zoe <zoe@example.org>", "subject": "Out of office", "message_id": "<s-6@example.org>",
        "in_reply_to": "<s-1@example.org>", "text": "I am away.", "headers": { "Auto-Submitted": "auto-replied" } })
        ),
        ok
    );
    let detail = owner.json(&format!("/api/cases/{case_id}")).await;
    assert_eq!(
        detail["messages"].as_array().unwrap().last().unwrap()["kind"],
        "automated"
    );
    let our_id = inspect(&outbox[0])["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        send(
            &["help@sunny.test"],
            json!({ "from": "MAILER-DAEMON <mailer-daemon@mx.example.net>", "subject": "Undelivered", "bounce_of": our_id, "bounce_reason": "550 5.1.1 mailbox gone" })
        ),
        ok
    );
    delivery_becomes(&owner, &case_id, ours["id"].as_str().unwrap(), "failed").await;

    // Refused at RCPT: a forged token, an altered one, a stranger's address (no relaying).
    let forged = format!(
        "reply+{}-00000000000000000000@{DOMAIN}",
        case_id.replace('-', "")
    );
    let mut altered = reply_to.clone();
    let at = altered.find('@').unwrap();
    altered.replace_range(
        at - 1..at,
        if &reply_to[at - 1..at] == "0" {
            "1"
        } else {
            "0"
        },
    );
    for to in [
        forged.as_str(),
        altered.as_str(),
        "someone@gmail.com",
        "help@other.test",
    ] {
        let answer = send(
            &[to],
            json!({ "from": "x <x@example.org>", "subject": "nope", "text": "nope" }),
        );
        assert_eq!(answer["refused"][to][0], 550, "{to}: {answer}");
    }
    // Mixed: the good recipient gets it, the relay attempt is refused.
    let answer = send(
        &["help@sunny.test", "victim@example.com"],
        json!({ "from": "x <x@example.org>", "subject": "Mixed bag", "message_id": "<s-7@example.org>", "text": "hi" }),
    );
    assert_eq!(answer["refused"]["victim@example.com"][0], 550, "{answer}");
    assert_eq!(cases_matching(&owner, "Mixed").await.len(), 1);

    // Too large: refused with 552, at MAIL (SIZE declared) and after DATA (not declared).
    let big = build_mail(
        json!({ "from": "x <x@example.org>", "subject": "huge", "text": "x", "attachments": [{ "filename": "big.bin", "content_type": "application/octet-stream", "base64": b64(&vec![7u8; 19 * 1024 * 1024]) }] }),
    );
    assert!(big.len() > baton::smtp::MAX_SIZE);
    let answer = smtp_send(port, &["help@sunny.test"], &big);
    assert_eq!(answer["error"][0], 552, "{answer}");
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let script = "HELO me\r\nMAIL FROM:<x@example.org>\r\nRCPT TO:<help@sunny.test>\r\nDATA\r\n";
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(script.as_bytes()).await.unwrap();
    let chunk = vec![b'a'; 999]
        .into_iter()
        .chain(*b"\r\n")
        .collect::<Vec<u8>>();
    for _ in 0..(baton::smtp::MAX_SIZE / chunk.len() + 10) {
        stream.write_all(&chunk).await.unwrap();
    }
    stream.write_all(b".\r\nQUIT\r\n").await.unwrap();
    let mut answers = String::new();
    stream.read_to_string(&mut answers).await.unwrap();
    assert!(answers.contains("\r\n552 5.3.4"), "{answers}");
    assert!(answers.ends_with("221 2.0.0 bye\r\n"), "{answers}");
    // Nothing was filed for the refused ones.
    assert_eq!(cases_matching(&owner, "nope").await.len(), 0);
    assert_eq!(cases_matching(&owner, "huge").await.len(), 0);
}

on_both!(
    a_reply_leaves_from_the_address_the_customer_wrote_to,
    reply_from_case_channel
);
async fn reply_from_case_channel(db: Db) {
    if !require("python3 with aiosmtpd", python_has("aiosmtpd, email")) {
        return;
    }
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let _smtp = smtp_peer(port, dir.path());
    let (app, _db) = spawn(db, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))
    })
    .await;
    let owner = app.signup("Sunny Side", "Ana").await;
    email_channel(&owner).await;
    let r = owner
        .post(
            "/api/channels",
            json!({ "kind": "email", "name": "Billing", "settings": { "from_name": "Sunny Side Billing", "from_address": "billing@sunny.test" } }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let billing: Value = r.json().await.unwrap();

    let first = mail_in(
        &app,
        &owner.ingest_token,
        json!({
            "from": "Carla Customer <carla@example.com>", "to": "billing@sunny.test",
            "subject": "Invoice 12", "message_id": "<b1@mail.example.com>", "text": "It is wrong."
        }),
    )
    .await;
    let case_id = first["case_id"].as_str().unwrap().to_string();
    let case = owner.json(&format!("/api/cases/{case_id}")).await;
    assert_eq!(
        case["case"]["channel_id"], billing["channel"]["id"],
        "{case}"
    );

    reply(&owner, &case_id, "We will fix it.").await;
    let files = received_until(dir.path(), 1, Duration::from_secs(10)).await;
    assert_eq!(files.len(), 1);
    let m = inspect(&files[0]);
    assert_eq!(m["from"], "Ana at Sunny Side Billing <billing@sunny.test>");
    assert_eq!(m["to"], "Carla Customer <carla@example.com>");
    app.stop().await;
}
