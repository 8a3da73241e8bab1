//! Two server processes on one Postgres: `seq` stays gap-free and round-robin stays fair.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{postgres_available, require, Db, Process, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_gap_free_log_and_a_fair_rotation() {
    if !require("Postgres", postgres_available().await) {
        return;
    }
    let db = TestDb::new(Db::Postgres).await;
    let one = Process::start(&db.url, None, "one").await;
    let two = Process::start(&db.url, None, "two").await;
    let app_one = one.as_app(Db::Postgres);
    let app_two = two.as_app(Db::Postgres);

    let owner = app_one.signup("Acme", "Olivia Owner").await;
    let mut pool = Vec::new();
    for name in ["Ann", "Ben", "Cy", "Di"] {
        pool.push(app_one.invite(&owner, name, "agent").await.id);
    }
    let r = owner
        .put(
            "/api/assign-rules",
            json!({ "mode": "round_robin", "pool": pool }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // 1,000 new customers, written half through each process, 16 at a time.
    let token = owner.ingest_token.clone();
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let url = if worker % 2 == 0 {
            app_one.url.clone()
        } else {
            app_two.url.clone()
        };
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut assignees = Vec::new();
            for i in (worker..1000).step_by(16) {
                let r = client
                    .post(format!("{url}/api/inbound"))
                    .bearer_auth(&token)
                    .json(&json!({ "channel": "web", "from": { "name": "C", "email": format!("c{i}@example.com") }, "body": "hello" }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                let v: Value = r.json().await.unwrap();
                assignees.push(v["assignee_id"].as_str().unwrap().to_string());
            }
            assignees
        }));
    }
    let mut per_member: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        for a in t.await.unwrap() {
            *per_member.entry(a).or_default() += 1;
        }
    }
    assert_eq!(per_member.len(), 4);
    assert!(
        per_member.values().all(|n| *n == 250),
        "each pool member gets exactly 250: {per_member:?}"
    );

    // The log: 1..N, no gap, no duplicate, though two processes wrote it.
    let store = baton::store::connect(&db.url).await.unwrap();
    let ws = owner.workspace_id.parse().unwrap();
    let head = store.last_seq(ws).await.unwrap();
    let events = store.events_since(ws, 0, 100_000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=head).collect::<Vec<_>>());
    let created = events
        .iter()
        .filter(|e| e.event.name() == "case.created")
        .count();
    assert_eq!(created, 1000);
    // And case numbers 1..1000 without a hole.
    let counts = owner.json("/api/cases/counts").await;
    assert_eq!(counts["all"]["open"], 1000);
    let newest = owner.json("/api/cases?view=all&filter=open&limit=1").await;
    assert_eq!(newest["cases"][0]["number"], "BT-001000");
}
