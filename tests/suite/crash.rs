//! Acknowledged means stored: every write a `baton` process answered is there after the process
//! is killed with SIGKILL right after an answer, while other writes are still in flight, and
//! started again on the same database.
//!
//! This is death of the process, not of the machine: the kernel still holds what the process had
//! written. What `--sqlite-synchronous full` adds (surviving a power cut or a kernel crash) cannot
//! be produced by a test on this machine; `docs/reliability.md` says what covers it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::common::{postgres_available, require, Db, Process, TestDb};

/// Writers running at once, each a customer story of its own (so each case has one writer).
const WRITERS: usize = 24;
/// Answers to count before the kill.
const ANSWERS_BEFORE_KILL: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_every_answered_write_through_a_sigkill() {
    every_answered_write_survives_a_sigkill(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_every_answered_write_through_a_sigkill() {
    if !require("Postgres", postgres_available().await) {
        return;
    }
    every_answered_write_survives_a_sigkill(Db::Postgres).await;
}

/// One write a writer sent; `answered` says whether its answer came back.
#[derive(Debug, Clone)]
pub enum Write {
    Inbound { body: String },
    Reply { id: Option<String>, body: String },
    Assign { to: String },
    Status { to: String },
}

/// What one case went through, as its writer saw it.
#[derive(Debug, Default)]
pub struct Story {
    case_id: String,
    answered: Vec<Write>,
    /// The write that was sent and not answered (the process died first): it may or may not be
    /// there.
    unanswered: Option<Write>,
    /// The case's version in the last answer that carried one.
    version: i64,
}

/// The answer to one request, or None if the process is gone.
async fn send(request: reqwest::RequestBuilder, expect: StatusCode) -> Option<Value> {
    let r = request.send().await.ok()?;
    assert!(
        r.status() == expect || r.status().is_server_error(),
        "unexpected {}",
        r.status()
    );
    if r.status() != expect {
        return None;
    }
    r.json().await.ok()
}

/// Customers write in; the owner replies, assigns, reassigns and changes the status, one write
/// after another on each case, until the process dies.
async fn writer(
    n: usize,
    base: String,
    ingest: String,
    owner_token: String,
    agents: Vec<String>,
    answers: Arc<AtomicUsize>,
    reached: Arc<tokio::sync::Notify>,
) -> Vec<Story> {
    let client = Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let answered = || {
        if answers.fetch_add(1, Ordering::SeqCst) + 1 == ANSWERS_BEFORE_KILL {
            reached.notify_one();
        }
    };
    let mut stories = Vec::new();
    for round in 0.. {
        let body = format!("writer {n}, customer {round}: is Tuesday fine?");
        let inbound = client
            .post(format!("{base}/api/inbound"))
            .bearer_auth(&ingest)
            .json(&json!({ "channel": "web", "from": { "name": "C", "email": format!("c{n}-{round}@example.com") }, "body": body, "external_id": format!("m{n}-{round}") }));
        let Some(v) = send(inbound, StatusCode::CREATED).await else {
            return stories;
        };
        answered();
        let mut story = Story {
            case_id: v["case_id"].as_str().unwrap().to_string(),
            answered: vec![Write::Inbound { body }],
            ..Story::default()
        };
        let plan = [
            Write::Reply {
                id: None,
                body: format!("reply {n}-{round}"),
            },
            Write::Assign {
                to: agents[n % agents.len()].clone(),
            },
            Write::Status {
                to: "awaiting_customer".into(),
            },
            Write::Assign {
                to: agents[(n + 1) % agents.len()].clone(),
            },
            Write::Status { to: "won".into() },
        ];
        for write in plan {
            let case = format!("{base}/api/cases/{}", story.case_id);
            let (request, expect) = match &write {
                Write::Reply { body, .. } => (
                    client
                        .post(format!("{case}/messages"))
                        .json(&json!({ "kind": "reply", "body": body })),
                    StatusCode::CREATED,
                ),
                Write::Assign { to } => (
                    client
                        .put(format!("{case}/assignee"))
                        .json(&json!({ "assignee_id": to })),
                    StatusCode::OK,
                ),
                Write::Status { to } => (
                    client
                        .put(format!("{case}/status"))
                        .json(&json!({ "status": to })),
                    StatusCode::OK,
                ),
                Write::Inbound { .. } => unreachable!(),
            };
            let Some(v) = send(request.bearer_auth(&owner_token), expect).await else {
                story.unanswered = Some(write);
                stories.push(story);
                return stories;
            };
            answered();
            let write = match write {
                Write::Reply { body, .. } => Write::Reply {
                    id: v["id"].as_str().map(str::to_string),
                    body,
                },
                other => {
                    story.version = v["version"].as_i64().unwrap();
                    other
                }
            };
            story.answered.push(write);
        }
        stories.push(story);
    }
    unreachable!()
}

/// A workspace to write into: its ingest token, the owner's API token and three agents.
pub struct Team {
    pub ingest: String,
    pub token: String,
    pub agents: Vec<String>,
}

pub async fn set_up_team(app: &crate::common::TestApp) -> Team {
    let owner = app.signup("Acme", "Olivia Owner").await;
    let mut agents = Vec::new();
    for name in ["Ann", "Ben", "Cy"] {
        agents.push(app.invite(&owner, name, "agent").await.id);
    }
    Team {
        ingest: owner.ingest_token.clone(),
        token: owner.api_token().await,
        agents,
    }
}

/// Runs the writers against `base` and calls `kill` as soon as `ANSWERS_BEFORE_KILL` answers
/// have come back; returns what every writer saw once all of them have stopped.
pub async fn write_until_killed(base: &str, team: &Team, kill: impl FnOnce()) -> Vec<Story> {
    let answers = Arc::new(AtomicUsize::new(0));
    let reached = Arc::new(tokio::sync::Notify::new());
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| {
            tokio::spawn(writer(
                n,
                base.to_string(),
                team.ingest.clone(),
                team.token.clone(),
                team.agents.clone(),
                answers.clone(),
                reached.clone(),
            ))
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(120), reached.notified())
        .await
        .expect("the writers got their answers");
    kill();
    let mut stories = Vec::new();
    for w in writers {
        stories.extend(w.await.unwrap());
    }
    let in_flight = stories.iter().filter(|s| s.unanswered.is_some()).count();
    let total: usize = stories.iter().map(|s| s.answered.len()).sum();
    println!(
        "killed after answer {ANSWERS_BEFORE_KILL}: {total} answered in all, {in_flight} writes in flight"
    );
    assert!(total >= ANSWERS_BEFORE_KILL);
    assert!(
        in_flight > 0,
        "the process died with writes in flight (otherwise this shows less)"
    );
    stories
}

/// Reads every case back from `base` and returns how many answered writes it checked and a
/// description of each one that is not there.
pub async fn missing_writes(base: &str, token: &str, stories: &[Story]) -> (usize, Vec<String>) {
    let client = Client::new();
    let mut checked = 0;
    let mut missing = Vec::new();
    for story in stories {
        let r = client
            .get(format!("{base}/api/cases/{}", story.case_id))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::NOT_FOUND {
            checked += story.answered.len();
            missing.push(format!(
                "case {} and its {} answered writes",
                story.case_id,
                story.answered.len()
            ));
            continue;
        }
        assert_eq!(r.status(), StatusCode::OK, "case {}", story.case_id);
        let detail: Value = r.json().await.unwrap();
        let case = &detail["case"];
        let messages = detail["messages"].as_array().unwrap();
        let has_message = |kind: &str, body: &str| {
            messages
                .iter()
                .any(|m| m["kind"] == kind && m["body"] == body)
        };
        // The latest answered assignment and status, unless the one write in flight after them
        // made it (either is right: it was never answered). Before the first answered one,
        // anything goes (a reply moves the status on by itself).
        let mut assignee: Vec<String> = Vec::new();
        let mut status: Vec<String> = Vec::new();
        for write in &story.answered {
            checked += 1;
            match write {
                Write::Inbound { body } if !has_message("inbound", body) => {
                    missing.push(format!("inbound message {body:?}"))
                }
                Write::Reply { id, body }
                    if !has_message("reply", body)
                        || id
                            .as_ref()
                            .is_some_and(|id| !messages.iter().any(|m| m["id"] == id.as_str())) =>
                {
                    missing.push(format!("reply {body:?}"))
                }
                Write::Assign { to } => assignee = vec![to.clone()],
                Write::Status { to } => status = vec![to.clone()],
                _ => {}
            }
        }
        match &story.unanswered {
            Some(Write::Assign { to }) if !assignee.is_empty() => assignee.push(to.clone()),
            Some(Write::Status { to }) if !status.is_empty() => status.push(to.clone()),
            _ => {}
        }
        let now = case["assignee_id"].as_str().unwrap_or("none").to_string();
        if !assignee.is_empty() && !assignee.contains(&now) {
            missing.push(format!(
                "assignment of case {} to {assignee:?} (it is {now})",
                story.case_id
            ));
        }
        let now = case["status"].as_str().unwrap_or("").to_string();
        if !status.is_empty() && !status.contains(&now) {
            missing.push(format!(
                "status {status:?} of case {} (it is {now})",
                story.case_id
            ));
        }
        if case["version"].as_i64().unwrap() < story.version {
            missing.push(format!(
                "case {} went back from version {} to {}",
                story.case_id, story.version, case["version"]
            ));
        }
    }
    (checked, missing)
}

async fn every_answered_write_survives_a_sigkill(db: Db) {
    let test_db = TestDb::new(db).await;
    let mut server = Process::start(&test_db.url, None, "first").await;
    let team = set_up_team(&server.as_app(db)).await;
    let url = server.url.clone();
    let stories = write_until_killed(&url, &team, || server.kill()).await;

    let server = Process::start(&test_db.url, None, "second").await;
    let (checked, missing) = missing_writes(&server.url, &team.token, &stories).await;
    assert!(
        missing.is_empty(),
        "{db:?}: {} of {checked} answered writes are missing after the restart:\n{}",
        missing.len(),
        missing.join("\n")
    );
    println!(
        "{db:?}: all {checked} answered writes found after the restart, on {} cases",
        stories.len()
    );
}
