//! Export, erasure, backup and restore (DESIGN.md §7, Trust), through the HTTP API and the
//! `baton` command, on both databases where storage is involved.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{b64, error_of, Db, TestApp, TestDb, User, Ws};

const WAIT: Duration = Duration::from_secs(20);

/// A raw customer email with one attachment, as a mail server hands it over.
fn mail(from: &str, subject: &str, message_id: &str, text: &str, file: (&str, &[u8])) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: help@example.test\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n\
         --b0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\
         --b0\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"{}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b0--\r\n",
        file.0,
        b64(file.1)
    )
    .into_bytes()
}

/// A customer's email with one file; answers its case id.
async fn mail_case(app: &TestApp, token: &str, head: [&str; 4], file: (&str, &[u8])) -> String {
    let [from, subject, message_id, text] = head;
    let outcome = mail_in(app, token, mail(from, subject, message_id, text, file)).await;
    outcome["case_id"].as_str().unwrap().to_string()
}

async fn mail_in(app: &TestApp, token: &str, raw: Vec<u8>) -> Value {
    let r = app.post_mail(token, raw).await;
    assert!(r.status().is_success(), "inbound mail: {}", r.status());
    r.json().await.unwrap()
}

/// Uploads a file and sends it with a reply (or a note).
async fn post_with_file(user: &User, case_id: &str, kind: &str, body: &str, file: &[u8]) -> Value {
    let r = user.upload("notes.pdf", "application/pdf", file).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].clone();
    let r = user
        .post(
            &format!("/api/cases/{case_id}/messages"),
            json!({ "kind": kind, "body": body, "attachment_ids": [id] }),
        )
        .await;
    assert!(r.status().is_success(), "{kind}: {}", r.status());
    r.json().await.unwrap()
}

async fn post_text(user: &User, case_id: &str, kind: &str, body: &str) {
    let r = user
        .post(
            &format!("/api/cases/{case_id}/messages"),
            json!({ "kind": kind, "body": body }),
        )
        .await;
    assert!(r.status().is_success(), "{kind}: {}", r.status());
}

/// The entries of a `.tar.gz`, by path.
fn unpack(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries().expect("a tar archive") {
        let mut entry = entry.expect("a whole entry");
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        assert!(out.insert(path.clone(), bytes).is_none(), "{path} twice");
    }
    out
}

fn ndjson(files: &BTreeMap<String, Vec<u8>>, name: &str) -> Vec<Value> {
    let text = std::str::from_utf8(files.get(name).unwrap_or_else(|| panic!("no {name}"))).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON value per line"))
        .collect()
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

async fn download_export(user: &User) -> BTreeMap<String, Vec<u8>> {
    let r = user.get("/api/workspace/export").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/gzip");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    unpack(&r.bytes().await.unwrap())
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

on_both!(the_owner_exports_everything_and_no_secret, export_archive);
async fn export_archive(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Sunny Side", "Ana").await;
    let admin = app.invite(&owner, "Ben", "admin").await;
    let agent = app.invite(&owner, "Cy", "agent").await;
    let api_token = owner.api_token().await;
    let totp_secret = owner
        .post("/api/me/totp", json!({}))
        .await
        .json::<Value>()
        .await
        .unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let r = owner
        .post(
            "/api/channels",
            json!({ "kind": "api", "name": "Bot", "settings": { "webhook_url": "http://127.0.0.1:9/hook" } }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let channel_secret = r.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();

    let pdf: Vec<u8> = (0..3000u32).map(|i| (i % 253) as u8).collect();
    let first = mail_case(
        &app,
        &owner.ingest_token,
        [
            "Zoe <zoe@example.org>",
            "Invoice",
            "<x1@example.org>",
            "Here is the invoice.",
        ],
        ("invoice.pdf", &pdf),
    )
    .await;
    let case_a = first;
    let second = app
        .customer_writes(
            &owner.ingest_token,
            "max@example.org",
            "Where is my parcel?",
        )
        .await;
    let case_b = second["case_id"].as_str().unwrap().to_string();
    let notes_pdf = b"%PDF-1.4 the team's own file".to_vec();
    post_with_file(&owner, &case_a, "reply", "Thanks, Zoe.", &notes_pdf).await;
    post_text(&agent, &case_b, "note", "Checking with the carrier").await;

    let files = download_export(&owner).await;
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest["format"], "baton-export");
    assert_eq!(manifest["version"], 1);
    assert_eq!(manifest["workspace"]["id"], owner.workspace_id.as_str());

    // Every case, message, note and attachment the API shows is in the archive, with its bytes.
    let cases = ndjson(&files, "cases.ndjson");
    let messages = ndjson(&files, "messages.ndjson");
    let notes = ndjson(&files, "notes.ndjson");
    let attachments = ndjson(&files, "attachments.ndjson");
    let timeline = ndjson(&files, "timeline.ndjson");
    for (name, rows) in [
        ("cases", &cases),
        ("messages", &messages),
        ("notes", &notes),
        ("attachments", &attachments),
        ("timeline", &timeline),
    ] {
        assert_eq!(manifest["counts"][name], rows.len(), "{name}");
    }
    assert_eq!(ids(&cases).len(), 2);
    let mut shown_files = 0;
    for case_id in [&case_a, &case_b] {
        assert!(ids(&cases).contains(case_id));
        let detail = owner.json(&format!("/api/cases/{case_id}")).await;
        for m in detail["messages"].as_array().unwrap() {
            let id = m["id"].as_str().unwrap().to_string();
            let rows = if m["kind"] == "note" {
                &notes
            } else {
                &messages
            };
            let row = rows
                .iter()
                .find(|r| r["id"] == id.as_str())
                .unwrap_or_else(|| panic!("message {id} missing"));
            assert_eq!(row["body"], m["body"]);
            assert_eq!(row["case_id"], case_id.as_str());
            for a in m["attachments"].as_array().unwrap() {
                shown_files += 1;
                let row = attachments
                    .iter()
                    .find(|r| r["id"] == a["id"])
                    .expect("attachment row");
                let path = row["path"].as_str().unwrap();
                let downloaded = owner
                    .get(&format!("/api/attachments/{}", a["id"].as_str().unwrap()))
                    .await
                    .bytes()
                    .await
                    .unwrap();
                assert_eq!(files[path].as_slice(), downloaded.as_ref(), "{path}");
            }
        }
        let kinds: Vec<&str> = timeline
            .iter()
            .filter(|t| t["case_id"] == case_id.as_str())
            .map(|t| t["kind"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&"created"), "{kinds:?}");
    }
    assert_eq!(shown_files, 2);
    assert_eq!(attachments.len(), 2);
    assert!(
        files.contains_key(&format!(
            "attachments/{}/invoice.pdf",
            attachments[0]["id"].as_str().unwrap()
        )) || files.contains_key(&format!(
            "attachments/{}/invoice.pdf",
            attachments[1]["id"].as_str().unwrap()
        ))
    );
    let customers = ndjson(&files, "customers.ndjson");
    assert!(customers
        .iter()
        .any(|c| c["email"] == "zoe@example.org" && c["name"] == "Zoe"));
    assert!(customers.iter().any(|c| c["email"] == "max@example.org"));
    let teammates = ndjson(&files, "teammates.ndjson");
    for user in [&owner, &admin, &agent] {
        assert!(ids(&teammates).contains(&user.id), "teammate {}", user.id);
    }
    let channels = ndjson(&files, "channels.ndjson");
    assert_eq!(channels.len(), 1);
    assert_eq!(
        channels[0]["settings"]["webhook_url"],
        "http://127.0.0.1:9/hook"
    );

    // No secret anywhere: password hashes, passwords, tokens, TOTP and channel secrets.
    for (path, bytes) in &files {
        for secret in [
            "$argon2",
            "correct horse battery",
            api_token.as_str(),
            owner.ingest_token.as_str(),
            totp_secret.as_str(),
            channel_secret.as_str(),
            "password_hash",
            "token_hash",
        ] {
            assert!(!contains(bytes, secret), "{path} holds a secret ({secret})");
        }
    }

    // Only the owner exports; another workspace's owner gets their own workspace, nothing of A.
    for user in [&admin, &agent] {
        let (status, code, _) = error_of(user.get("/api/workspace/export").await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "forbidden")
        );
    }
    let stranger = app.signup("Other Co", "Mo").await;
    let theirs = download_export(&stranger).await;
    assert!(ndjson(&theirs, "cases.ndjson").is_empty());
    for bytes in theirs.values() {
        for ours in [
            case_a.as_str(),
            case_b.as_str(),
            "zoe@example.org",
            "Here is the invoice",
            owner.id.as_str(),
        ] {
            assert!(
                !contains(bytes, ours),
                "another workspace's export holds {ours}"
            );
        }
    }
    let anonymous = reqwest::get(format!("{}/api/workspace/export", app.url))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// Every event the log replays from the start, up to the latest when the socket opened.
async fn replayed_events(app: &TestApp, token: &str) -> Vec<Value> {
    let mut ws = Ws::connect(&app.url, token, Some(0)).await.expect("socket");
    let hello = ws.expect("hello", WAIT).await;
    let latest = hello["seq"].as_i64().unwrap();
    let mut events = Vec::new();
    while events
        .last()
        .is_none_or(|e: &Value| e["seq"].as_i64().unwrap() < latest)
    {
        let frame = ws
            .next(WAIT)
            .await
            .expect("the log replays up to the latest seq");
        if frame["type"] == "event" {
            events.push(frame);
        }
    }
    events
}

on_both!(
    an_erased_customer_is_gone_and_their_cases_still_count,
    erasure
);
async fn erasure(db: Db) {
    let test_db = TestDb::new(db).await;
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_path_buf();
    let app = TestApp::spawn_with(db, test_db.url.clone(), |c| c.data_dir = data_dir).await;
    let owner = app.signup("Sunny Side", "Ana").await;
    let admin = app.invite(&owner, "Ben", "admin").await;
    let agent = app.invite(&owner, "Cy", "agent").await;
    let token = owner.api_token().await;
    // Replies go out by email (to the data dir's outbox, there being no SMTP server).
    let r = owner
        .post(
            "/api/channels",
            json!({ "kind": "email", "name": "Support", "settings": { "from_name": "Sunny Side", "from_address": "help@sunny.test" } }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let shared_pdf: Vec<u8> = (0..4000u32).map(|i| (i % 241) as u8).collect();
    let ada = mail_case(
        &app,
        &owner.ingest_token,
        [
            "Ada Lovelace <ada@example.org>",
            "Refund for order 4711",
            "<ada-1@example.org>",
            "My address is 12 Secret Lane.",
        ],
        ("receipt.pdf", &shared_pdf),
    )
    .await;
    let ada_case = ada;
    app.inbound(&owner.ingest_token, json!({ "channel": "email", "from": { "name": "Ada Lovelace", "email": "ada@example.org" }, "body": "Call me on 555-0199, Lovelace here." }))
        .await;
    post_with_file(
        &owner,
        &ada_case,
        "reply",
        "Dear Ada Lovelace, your refund is on its way.",
        b"%PDF refund form for Ada",
    )
    .await;
    post_text(
        &agent,
        &ada_case,
        "note",
        "Ada Lovelace lives at 12 Secret Lane",
    )
    .await;
    // Another customer sends the very same file: its bytes must stay.
    let bob = mail_case(
        &app,
        &owner.ingest_token,
        [
            "Bob <bob@example.org>",
            "Receipt",
            "<bob-1@example.org>",
            "Same receipt here.",
        ],
        ("receipt.pdf", &shared_pdf),
    )
    .await;
    let bob_case = bob;

    // The reply went out with the case's reply address, which leads Ada's answers back to it.
    let reply_address = sent_reply_address(data.path()).await;
    let before = owner.json(&format!("/api/cases/{ada_case}")).await;
    let customer_id = before["case"]["customer"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ada_files: Vec<String> = before["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| {
            m["attachments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(ada_files.len(), 2, "{before}");
    let bob_detail = owner.json(&format!("/api/cases/{bob_case}")).await;
    let bob_file = bob_detail["messages"][0]["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let counts_before = owner.json("/api/cases/counts").await;

    // Who may not: an agent (403), another workspace and unknown ids (404), changing nothing.
    let path = format!("/api/customers/{customer_id}/erase");
    let (status, code, _) = error_of(agent.post(&path, json!({})).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let stranger = app.signup("Other Co", "Mo").await;
    let (status, code, _) = error_of(stranger.post(&path, json!({})).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    for bad in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_string()] {
        let (status, code, _) = error_of(
            admin
                .post(&format!("/api/customers/{bad}/erase"), json!({}))
                .await,
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{bad}"
        );
    }
    assert_eq!(
        owner.json(&format!("/api/cases/{ada_case}")).await["case"]["customer"]["name"],
        "Ada Lovelace"
    );

    let r = admin.post(&path, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let erased: Value = r.json().await.unwrap();
    assert_eq!(erased["case_ids"], json!([ada_case]));
    // The audit trail names who erased whom, and keeps none of the erased text.
    let audit = owner.json("/api/audit?action=customer.erased").await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(
        entries[0]["target_id"].as_str(),
        Some(customer_id.as_str()),
        "{audit}"
    );
    assert!(!audit.to_string().contains("Ada"), "{audit}");

    // The case stays, with nothing of Ada in it.
    let after = owner.json(&format!("/api/cases/{ada_case}")).await;
    assert_eq!(after["case"]["customer"]["name"], "Erased customer");
    assert_eq!(after["case"]["customer"]["email"], Value::Null);
    assert_eq!(after["case"]["customer"]["phone"], Value::Null);
    assert_eq!(after["messages"].as_array().unwrap().len(), 4);
    let text = after.to_string();
    for personal in [
        "Ada",
        "Lovelace",
        "ada@example.org",
        "Secret Lane",
        "555-0199",
        "4711",
        "receipt.pdf",
        "refund",
    ] {
        assert!(
            !text.contains(personal),
            "the erased case still shows {personal}: {text}"
        );
    }
    for m in after["messages"].as_array().unwrap() {
        assert_eq!(m["attachments"], json!([]), "{m}");
    }
    assert!(after["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["kind"] == "erased"));

    // Not in the log clients replay on resume, nor in search, nor in downloads.
    let events = replayed_events(&app, &token).await;
    let log = Value::Array(events.clone()).to_string();
    for personal in [
        "Ada",
        "Lovelace",
        "ada@example.org",
        "Secret Lane",
        "555-0199",
        "refund",
    ] {
        assert!(
            !log.contains(personal),
            "the event log still holds {personal}"
        );
    }
    assert!(events
        .iter()
        .any(|e| e["event"]["kind"] == "customer.erased"
            && e["event"]["customer_id"] == customer_id.as_str()));
    for q in ["Lovelace", "ada%40example.org", "Secret", "555-0199"] {
        let found = owner
            .json(&format!("/api/cases?view=all&filter=open&q={q}"))
            .await;
        assert_eq!(found["cases"], json!([]), "search {q}");
    }
    let found = owner
        .json("/api/cases?view=all&filter=open&q=bob%40example.org")
        .await;
    assert_eq!(found["cases"].as_array().unwrap().len(), 1);
    for id in &ada_files {
        assert_eq!(
            owner.get(&format!("/api/attachments/{id}")).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    let r = owner.get(&format!("/api/attachments/{bob_file}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), shared_pdf.as_slice());

    // Still counted for statistics; still in the export, without her text.
    assert_eq!(owner.json("/api/cases/counts").await, counts_before);
    let archive = download_export(&owner).await;
    assert!(ids(&ndjson(&archive, "cases.ndjson")).contains(&ada_case));
    for bytes in archive.values() {
        for personal in ["Lovelace", "ada@example.org", "Secret Lane"] {
            assert!(
                !contains(bytes, personal),
                "the export still holds {personal}"
            );
        }
    }

    // The same address writing again, even in reply to the old thread, is a new customer.
    let raw = "From: Ada Lovelace <ada@example.org>\r\nTo: help@example.test\r\nSubject: Re: Refund\r\n\
         Message-ID: <ada-2@example.org>\r\nIn-Reply-To: <ada-1@example.org>\r\n\r\nHello again.\r\n";
    let again = mail_in(&app, &owner.ingest_token, raw.as_bytes().to_vec()).await;
    let new_case = again["case_id"].as_str().unwrap();
    assert_ne!(new_case, ada_case);
    let fresh = owner.json(&format!("/api/cases/{new_case}")).await;
    assert_ne!(fresh["case"]["customer"]["id"], customer_id.as_str());
    assert_eq!(fresh["case"]["customer"]["name"], "Ada Lovelace");
    assert_eq!(fresh["case"]["returning"], false);
    assert_eq!(fresh["messages"].as_array().unwrap().len(), 1);
    // Writing to the erased case's reply address starts afresh too.
    let raw = format!(
        "From: Ada Lovelace <ada@example.org>\r\nTo: {reply_address}\r\nSubject: Re: Refund\r\n\
         Message-ID: <ada-3@example.org>\r\n\r\nAnd once more.\r\n"
    );
    let third = mail_in(&app, &owner.ingest_token, raw.into_bytes()).await;
    assert_ne!(third["case_id"].as_str().unwrap(), ada_case);
    let old = owner.json(&format!("/api/cases/{ada_case}")).await;
    assert_eq!(old["case"]["customer"]["name"], "Erased customer");
    assert_eq!(old["messages"].as_array().unwrap().len(), 4);
}

/// The `Reply-To` of the reply in the outbox, once it has been sent.
async fn sent_reply_address(data_dir: &Path) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mails = std::fs::read_dir(data_dir.join("outbox"))
            .map(|d| {
                d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for mail in mails {
            if let Some(at) = mail.find("reply+") {
                let end = mail[at..]
                    .find(['>', '\r', '\n', ' '])
                    .unwrap_or(mail.len() - at);
                return mail[at..at + end].to_string();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reply was never sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn baton(args: &[&str], db_url: &str, data_dir: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .env("BATON_DATABASE_URL", db_url)
        .env("BATON_DATA_DIR", data_dir)
        .env("BATON_LOG", "warn")
        .env_remove("BATON_REDIS_URL")
        .output()
        .expect("run baton")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_of_a_live_server_restores_every_case() {
    let live = tempfile::tempdir().unwrap();
    let live_url = format!("sqlite://{}/baton.db", live.path().display());
    let dir = live.path().to_path_buf();
    let app = TestApp::spawn_with(Db::Sqlite, live_url.clone(), move |c| c.data_dir = dir).await;
    let owner = app.signup("Sunny Side", "Ana").await;
    let pdf: Vec<u8> = (0..2000u32).map(|i| (i % 199) as u8).collect();
    let with_file = mail_case(
        &app,
        &owner.ingest_token,
        [
            "Zoe <zoe@example.org>",
            "Invoice",
            "<z1@example.org>",
            "Here is the invoice.",
        ],
        ("invoice.pdf", &pdf),
    )
    .await;

    // A writer keeps adding customers while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (url, token, stop) = (app.url.clone(), owner.ingest_token.clone(), stop.clone());
        async move {
            let client = reqwest::Client::new();
            let mut acked = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) || acked.len() < 20 {
                n += 1;
                let r = client
                    .post(format!("{url}/api/inbound"))
                    .bearer_auth(&token)
                    .json(&json!({ "channel": "email", "from": { "name": format!("C{n}"), "email": format!("c{n}@example.org") }, "body": format!("message number {n}") }))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                let v: Value = r.json().await.unwrap();
                acked.push((
                    v["case_id"].as_str().unwrap().to_string(),
                    format!("message number {n}"),
                ));
            }
            acked
        }
    });
    // Once the writer is going, what was acknowledged so far must be in the backup.
    let before_backup: Vec<String> = loop {
        let page = owner
            .json("/api/cases?view=all&filter=open&limit=100")
            .await;
        let ids: Vec<String> = page["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        if ids.len() >= 10 {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("baton-backup.tar.gz");
    let out = tokio::task::spawn_blocking({
        let (url, dir, file) = (live_url.clone(), live.path().to_path_buf(), file.clone());
        move || baton(&["backup", file.to_str().unwrap()], &url, &dir)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "backup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stop.store(true, Ordering::SeqCst);
    let acked = writer.await.unwrap();

    // Restore into another data dir and start a server there.
    let restored = tempfile::tempdir().unwrap();
    let restored_url = format!("sqlite://{}/baton.db", restored.path().display());
    let out = baton(
        &["restore", file.to_str().unwrap()],
        &restored_url,
        restored.path(),
    );
    assert!(
        out.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = restored.path().to_path_buf();
    let copy =
        TestApp::spawn_with(Db::Sqlite, restored_url.clone(), move |c| c.data_dir = dir).await;
    let signed_in = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = signed_in
        .post(format!("{}/api/session", copy.url))
        .json(&json!({ "email": owner.email, "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the owner signs in to the restored copy"
    );
    let get = |path: String| {
        let (client, base) = (signed_in.clone(), copy.url.clone());
        async move {
            let r = client.get(format!("{base}{path}")).send().await.unwrap();
            (r.status(), r.bytes().await.unwrap())
        }
    };

    // Everything acknowledged before the backup began is there, with its messages and files.
    for case_id in &before_backup {
        let (status, _) = get(format!("/api/cases/{case_id}")).await;
        assert_eq!(status, StatusCode::OK, "case {case_id} lost");
    }
    // What was written during the backup is there whole or not at all.
    for (case_id, body) in &acked {
        let (status, bytes) = get(format!("/api/cases/{case_id}")).await;
        assert!(
            status == StatusCode::OK || !before_backup.contains(case_id),
            "case {case_id} lost"
        );
        if status == StatusCode::OK {
            let detail: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(
                detail["messages"][0]["body"],
                body.as_str(),
                "case {case_id} without its message"
            );
        }
    }
    let case_id = with_file.as_str();
    let (_, bytes) = get(format!("/api/cases/{case_id}")).await;
    let detail: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(detail["messages"][0]["body"], "Here is the invoice.");
    let file_id = detail["messages"][0]["attachments"][0]["id"]
        .as_str()
        .unwrap();
    let (status, bytes) = get(format!("/api/attachments/{file_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes.as_ref(), pdf.as_slice());

    // A restore refuses while a server runs on the data dir, even with --force.
    let out = baton(
        &["restore", "--force", file.to_str().unwrap()],
        &restored_url,
        restored.path(),
    );
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("server is running"), "{said}");
    let (status, _) = get(format!("/api/cases/{case_id}")).await;
    assert_eq!(status, StatusCode::OK);
    copy.stop().await;
    app.stop().await;

    // Stopped: without --force it still will not replace a database; with it, it does.
    let out = baton(
        &["restore", file.to_str().unwrap()],
        &restored_url,
        restored.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    let out = baton(
        &["restore", "--force", file.to_str().unwrap()],
        &restored_url,
        restored.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Postgres has its own tools: the command says so instead of guessing.
    let out = baton(
        &["backup", file.to_str().unwrap()],
        "postgres://postgres@127.0.0.1/baton",
        restored.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
}
