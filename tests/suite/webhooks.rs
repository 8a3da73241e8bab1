//! Outgoing webhooks against a receiver that verifies every delivery with the
//! `standardwebhooks` package: order by `seq`, nothing lost while the receiver is down, one
//! delivery per event with two instances, the delivery log and "send again".

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{error_of, free_port, require, Db, TestApp, TestDb};
use crate::peers::{json_lines, python_has, Peer};

/// The Standard Webhooks receiver: verifies each delivery with the `standardwebhooks` package
/// against the secret in `secret` and logs it to `log`.
fn start_receiver(port: u16, secret: &Path, log: &Path) -> Peer {
    Peer::start(
        "webhook_receiver.py",
        &[
            port.to_string(),
            secret.display().to_string(),
            log.display().to_string(),
        ],
    )
}

fn verified(log: &Path) -> Vec<Value> {
    json_lines(log)
        .into_iter()
        .filter(|l| l["verified"] == true)
        .collect()
}

/// The verified deliveries once there are `n`, or all there are after a minute (a retry after a
/// 30 s outage may be that far off: the backoff doubles up to it).
async fn wait_for(log: &Path, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = verified(log);
        if got.len() >= n || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn seqs(got: &[Value]) -> Vec<i64> {
    got.iter()
        .map(|g| g["payload"]["seq"].as_i64().unwrap())
        .collect()
}

on_both!(webhooks_arrive_in_order_after_an_outage, in_order);
async fn in_order(db: Db) {
    if !require(
        "python3 with standardwebhooks",
        python_has("standardwebhooks"),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let secret_file: PathBuf = dir.path().join("secret");
    let log = dir.path().join("log.jsonl");
    let port = free_port();
    let test_db = TestDb::new(db).await;
    let app = TestApp::spawn_with(db, test_db.url.clone(), |c| {
        c.retry_base = Duration::from_millis(100)
    })
    .await;
    let owner = app.signup("Sunny Side", "Ana").await;
    let agent = app.invite(&owner, "Bo", "agent").await;

    let url = format!("http://127.0.0.1:{port}/hook");
    let events = json!(["case.created", "message.created", "case.status_changed"]);
    assert_eq!(
        agent
            .post("/api/webhooks", json!({ "url": url, "events": events }))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    for (bad_url, bad_events) in [
        ("http://169.254.169.254/latest", events.clone()),
        ("https://[fe80::1]/hook", events.clone()),
        (url.as_str(), json!(["case.exploded"])),
        (url.as_str(), json!([])),
    ] {
        let (status, _, _) = error_of(
            owner
                .post(
                    "/api/webhooks",
                    json!({ "url": bad_url, "events": bad_events }),
                )
                .await,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad_url} {bad_events}"
        );
    }
    let r = owner
        .post("/api/webhooks", json!({ "url": url, "events": events }))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    let hook_id = created["webhook"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["webhook"]["active"], true);
    std::fs::write(&secret_file, secret).unwrap();
    assert!(
        !owner
            .json("/api/webhooks")
            .await
            .to_string()
            .contains(secret),
        "the secret is shown once"
    );

    let receiver = start_receiver(port, &secret_file, &log);
    app.customer_writes(&owner.ingest_token, "a@example.com", "first")
        .await;
    let got = wait_for(&log, 2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["payload"]["type"], "case.created");
    assert_eq!(got[1]["payload"]["type"], "message.created");
    assert_eq!(got[0]["payload"]["data"]["kind"], "case.created");
    assert!(got[0]["id"].as_str().unwrap().starts_with("evt_"));

    // The receiver is down for 30 s, and the instance restarts meanwhile: every event arrives
    // afterwards, in order, once.
    let outage = tokio::time::Instant::now();
    drop(receiver);
    for i in 0..4 {
        app.customer_writes(
            &owner.ingest_token,
            &format!("c{i}@example.com"),
            "while down",
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let failing = owner.json("/api/webhooks").await;
    assert!(
        failing["webhooks"][0]["next_retry_at"].is_string(),
        "a failing endpoint shows its next retry: {failing}"
    );
    app.stop().await;
    let app = TestApp::spawn_with(db, test_db.url.clone(), |c| {
        c.retry_base = Duration::from_millis(100)
    })
    .await;
    let owner = owner.on(&app);
    tokio::time::sleep_until(outage + Duration::from_secs(30)).await;
    let _receiver = start_receiver(port, &secret_file, &log);

    // A second instance on the same database changes nothing: one delivery per event.
    let second = TestApp::spawn_with(db, test_db.url.clone(), |c| {
        c.retry_base = Duration::from_millis(100)
    })
    .await;
    for i in 0..3 {
        app.customer_writes(
            &owner.ingest_token,
            &format!("d{i}@example.com"),
            "two instances",
        )
        .await;
    }
    let got = wait_for(&log, 2 + 8 + 6).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got_all = verified(&log);
    assert_eq!(
        got_all.len(),
        got.len(),
        "no more than one delivery per event: {got_all:?}"
    );
    assert_eq!(got.len(), 16, "{got:?}");
    let s = seqs(&got);
    assert!(s.windows(2).all(|w| w[0] < w[1]), "in seq order: {s:?}");
    let mut ids: Vec<&str> = got.iter().map(|g| g["id"].as_str().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 16);

    // The delivery log: the ones sent during the outage took more than one attempt.
    let log_page = owner
        .json(&format!("/api/webhooks/{hook_id}/deliveries"))
        .await;
    let deliveries = log_page["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 16, "{log_page}");
    assert!(deliveries
        .iter()
        .all(|d| d["state"] == "delivered" && d["response_ms"].is_number()));
    assert!(
        deliveries
            .iter()
            .any(|d| d["attempts"].as_i64().unwrap() > 1),
        "{log_page}"
    );
    assert_eq!(
        owner.json("/api/webhooks").await["webhooks"][0]["next_retry_at"],
        Value::Null
    );

    // Send again: the same event, with the same webhook-id.
    let first = deliveries.last().unwrap();
    let r = owner
        .post(
            &format!(
                "/api/webhooks/{hook_id}/deliveries/{}/retry",
                first["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let again = wait_for(&log, 17).await;
    assert_eq!(again.len(), 17);
    assert_eq!(again[16]["id"], got[0]["id"]);
    assert_eq!(again[16]["payload"]["seq"], got[0]["payload"]["seq"]);

    // Removed: nothing more is sent.
    assert_eq!(
        owner
            .delete(&format!("/api/webhooks/{hook_id}"), None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    app.customer_writes(&owner.ingest_token, "z@example.com", "after")
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(verified(&log).len(), 17);
    second.stop().await;
}

on_both!(
    an_endpoint_failing_for_a_day_is_switched_off_and_admins_are_told,
    switched_off
);
async fn switched_off(db: Db) {
    let data_dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::new(db).await;
    let app = TestApp::spawn_with(db, test_db.url.clone(), |c| {
        c.retry_base = Duration::from_millis(100);
        c.data_dir = data_dir.path().to_path_buf();
    })
    .await;
    let owner = app.signup("Sunny Side", "Ana").await;
    app.invite(&owner, "Ada", "admin").await;
    let agent = app.invite(&owner, "Bo", "agent").await;
    let mut ws = crate::common::Ws::connect(&app.url, &owner.api_token().await, None)
        .await
        .unwrap();

    // Nobody listens on this port: every delivery fails.
    let url = format!("http://127.0.0.1:{}/hook", free_port());
    let created: Value = owner
        .post(
            "/api/webhooks",
            json!({ "url": url, "events": ["case.created"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let hook_id = created["webhook"]["id"].as_str().unwrap().to_string();
    app.customer_writes(&owner.ingest_token, "a@example.com", "hello")
        .await;

    // Once it has failed, it has been failing for a day.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let day_ago = chrono::Utc::now().timestamp_millis() - 25 * 3600 * 1000;
    let aged = format!(
        "UPDATE webhooks SET failing_since = {day_ago}, next_at = 0 WHERE failing_since IS NOT NULL"
    );
    while crate::common::sql_exec(db, &test_db.url, &aged).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the delivery never failed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let frame = ws
        .expect("webhook.switched_off", Duration::from_secs(20))
        .await;
    let event = &frame["event"];
    assert_eq!(event["webhook_id"], hook_id.as_str());
    assert_eq!(event["url"], url.as_str());
    let hooks = owner.json("/api/webhooks").await;
    assert_eq!(hooks["webhooks"][0]["active"], false, "{hooks}");

    // The owner and the admin get one email each; the agent none.
    let outbox = data_dir.path().join("outbox");
    let mails = |outbox: &Path| -> Vec<String> {
        std::fs::read_dir(outbox)
            .map(|dir| {
                dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .filter(|m| m.contains("A webhook endpoint was switched off"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while mails(&outbox).len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = mails(&outbox);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().any(|m| m.contains(&owner.email)));
    assert!(!sent.iter().any(|m| m.contains(&agent.email)));
    for raw in &sent {
        let mail = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        let text = mail.body_text(0).unwrap();
        assert!(text.contains(&url) && text.contains("/settings"), "{text}");
    }

    // "Send again" switches it back on.
    let deliveries = owner
        .json(&format!("/api/webhooks/{hook_id}/deliveries"))
        .await;
    let delivery = deliveries["deliveries"][0]["id"].as_str().unwrap();
    let r = owner
        .post(
            &format!("/api/webhooks/{hook_id}/deliveries/{delivery}/retry"),
            json!({}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        owner.json("/api/webhooks").await["webhooks"][0]["active"],
        true
    );
    app.stop().await;
}
