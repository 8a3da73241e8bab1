//! The WebSocket: handshake rules, one frame per event kind, badges, presence, resume without
//! loss, slow clients, session ends.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{metric, sockets_open_becomes, Db, TestApp, User, Ws};

const WAIT: Duration = Duration::from_secs(5);

async fn socket(app: &TestApp, user: &User) -> (Ws, Value) {
    let token = user.api_token().await;
    let mut ws = Ws::connect(&app.url, &token, None).await.expect("connect");
    let hello = ws.next(WAIT).await.expect("hello");
    assert_eq!(hello["type"], "hello");
    (ws, hello)
}

#[tokio::test]
async fn handshake_needs_credentials_and_our_origin() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.signup("Acme", "Olivia").await;
    let token = owner.api_token().await;
    let ws_url = app.url.replace("http://", "ws://");
    assert_eq!(
        Ws::connect_request(&format!("{ws_url}/ws"), &[])
            .await
            .err(),
        Some(401)
    );
    assert_eq!(
        Ws::connect(&app.url, "btk_wrong", None).await.err(),
        Some(401)
    );
    for evil in [
        "https://evil.example",
        &format!("{}.evil.com", app.url),
        "null",
    ] {
        let refused =
            Ws::connect_request(&format!("{ws_url}/ws?token={token}"), &[("origin", evil)])
                .await
                .err();
        assert_eq!(refused, Some(403), "origin {evil}");
    }
    // A cookie alone, without Origin, is refused: browsers always send one.
    let cookie = format!("baton_session={}", "whatever");
    assert_eq!(
        Ws::connect_request(&format!("{ws_url}/ws"), &[("cookie", &cookie)])
            .await
            .err(),
        Some(403)
    );
    let own_origin = app.url.clone();
    let mut ws = Ws::connect_request(
        &format!("{ws_url}/ws?token={token}"),
        &[("origin", &own_origin)],
    )
    .await
    .expect("own origin is fine");
    let hello = ws.next(WAIT).await.unwrap();
    assert_eq!(
        (
            hello["teammate_id"].as_str(),
            hello["workspace_id"].as_str()
        ),
        (Some(owner.id.as_str()), Some(owner.workspace_id.as_str()))
    );
    assert_eq!(hello["seq"], 1);
}

#[tokio::test]
async fn oversized_and_junk_frames_close_the_socket() {
    use futures_util::SinkExt;
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.signup("Acme", "Olivia").await;
    let (mut ws, _) = socket(&app, &owner).await;
    let big = "x".repeat(70 * 1024);
    let _ = ws
        .stream
        .send(tokio_tungstenite::tungstenite::Message::Text(big.into()))
        .await;
    assert_eq!(ws.close_code(WAIT).await, Some(1009));
    let (mut ws, _) = socket(&app, &owner).await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.expect("pong", WAIT).await["type"], "pong");
    ws.send(json!({ "type": "take_over_the_world" })).await;
    assert_eq!(ws.close_code(WAIT).await, Some(1008));
    // A flood of client messages is rate-limited, then closed with 1008.
    let (mut ws, _) = socket(&app, &owner).await;
    for _ in 0..200 {
        if ws
            .stream
            .send(tokio_tungstenite::tungstenite::Message::Text(
                r#"{"type":"viewing","case_id":null}"#.into(),
            ))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(ws.close_code(WAIT).await, Some(1008));
}

on_both!(
    every_event_kind_reaches_the_other_teammate_with_badges,
    every_event_kind_reaches_the_other_teammate_with_badges_on
);
async fn every_event_kind_reaches_the_other_teammate_with_badges_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let a = app.signup("Acme", "Olivia Owner").await;
    let b = app.invite(&a, "Bea Agent", "agent").await;
    let (mut bws, hello) = socket(&app, &b).await;
    assert_eq!(hello["badge"], json!({ "mine": 0, "unassigned": 0 }));

    let case = app
        .customer_writes(&a.ingest_token, "c@example.com", "hello there")
        .await;
    let id = case["case_id"].as_str().unwrap().to_string();
    let created = bws.expect("case.created", WAIT).await;
    assert_eq!(created["event"]["case_id"], id.as_str(), "{db:?}");
    let msg = bws.expect("message.created", WAIT).await;
    assert_eq!(
        (
            msg["event"]["message_kind"].as_str(),
            msg["event"]["preview"].as_str()
        ),
        (Some("inbound"), Some("hello there"))
    );
    assert_eq!(
        msg["seq"].as_i64().unwrap(),
        created["seq"].as_i64().unwrap() + 1
    );

    assert_eq!(a.assign(&id, Some(&b.id)).await.status(), StatusCode::OK);
    let assigned = bws.expect("case.assigned", WAIT).await;
    assert_eq!(assigned["event"]["assignee_id"], b.id.as_str());
    assert_eq!(assigned["event"]["previous_assignee_id"], Value::Null);
    assert_eq!(assigned["event"]["actor_id"], a.id.as_str());
    badge_becomes(
        &mut bws,
        json!({ "mine": 1, "unassigned": 0 }),
        "the case is B's now, unread",
    )
    .await;

    assert_eq!(
        b.post(&format!("/api/cases/{id}/read"), json!({}))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    badge_becomes(&mut bws, json!({ "mine": 0, "unassigned": 0 }), "read").await;

    let handle = b.email.split('@').next().unwrap().to_string();
    a.post(
        &format!("/api/cases/{id}/messages"),
        json!({ "kind": "note", "body": format!("@{handle} see this") }),
    )
    .await;
    let note = bws.expect("note.created", WAIT).await;
    assert_eq!(note["event"]["mentions"], json!([b.id]));
    a.post(
        &format!("/api/cases/{id}/messages"),
        json!({ "kind": "reply", "body": "Thanks!" }),
    )
    .await;
    assert_eq!(
        bws.expect("message.created", WAIT).await["event"]["message_kind"],
        "reply"
    );
    assert_eq!(
        bws.expect("case.status_changed", WAIT).await["event"]["status"],
        "awaiting_customer"
    );
    a.put(
        "/api/assign-rules",
        json!({ "mode": "round_robin", "pool": [b.id] }),
    )
    .await;
    bws.expect("rules.changed", WAIT).await;
    a.post(
        "/api/cases/bulk-reassign",
        json!({ "from": b.id, "to": null }),
    )
    .await;
    let bulk = bws.expect("cases.bulk_reassigned", WAIT).await;
    assert_eq!(bulk["event"]["case_ids"], json!([id]));
    let c = app.invite(&a, "Cy New", "agent").await;
    assert_eq!(
        bws.expect("teammate.changed", WAIT).await["event"]["teammate_id"],
        c.id.as_str()
    );
    // The customer writes on the now unassigned case: B no longer owns it, no badge for B.
    app.customer_writes(&a.ingest_token, "c@example.com", "anyone?")
        .await;
    bws.expect("message.created", WAIT).await;
    app.stop().await;
}

#[tokio::test]
async fn reassign_moves_the_badge_from_old_to_new_owner() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let a = app.signup("Acme", "Olivia Owner").await;
    let b = app.invite(&a, "Bea", "agent").await;
    let c = app.invite(&a, "Cy", "agent").await;
    let case = app
        .customer_writes(&a.ingest_token, "x@example.com", "hi")
        .await;
    let id = case["case_id"].as_str().unwrap();
    a.assign(id, Some(&b.id)).await;
    let (mut bws, hello_b) = socket(&app, &b).await;
    let (mut cws, _) = socket(&app, &c).await;
    assert_eq!(hello_b["badge"]["mine"], 1);
    a.assign(id, Some(&c.id)).await;
    badge_becomes(
        &mut bws,
        json!({ "mine": 0, "unassigned": 0 }),
        "the previous assignee stops at once",
    )
    .await;
    badge_becomes(
        &mut cws,
        json!({ "mine": 1, "unassigned": 0 }),
        "the new one starts at once",
    )
    .await;
}

on_both!(
    resume_replays_exactly_once_in_order_then_goes_live,
    resume_replays_exactly_once_in_order_then_goes_live_on
);
async fn resume_replays_exactly_once_in_order_then_goes_live_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let a = app.signup("Acme", "Olivia Owner").await;
    let token = a.api_token().await;
    let mut ws = Ws::connect(&app.url, &token, None).await.unwrap();
    let start = ws.next(WAIT).await.unwrap()["seq"].as_i64().unwrap();
    drop(ws);
    // Events happen while the tab is closed.
    for i in 0..30 {
        app.customer_writes(&a.ingest_token, &format!("c{i}@example.com"), "hi")
            .await;
    }
    // Resume at the handshake, then keep writing during and after the replay.
    let writer = {
        let app_url = app.url.clone();
        let token = a.ingest_token.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..20 {
                client
                    .post(format!("{app_url}/api/inbound"))
                    .bearer_auth(&token)
                    .json(&json!({ "channel": "web", "from": { "name": "L", "email": format!("live{i}@example.com") }, "body": "live" }))
                    .send()
                    .await
                    .unwrap();
            }
        })
    };
    let mut ws = Ws::connect(&app.url, &token, Some(start)).await.unwrap();
    writer.await.unwrap();
    let frames = ws.drain_events(Duration::from_millis(1500)).await;
    let seqs: Vec<i64> = frames.iter().map(|f| f["seq"].as_i64().unwrap()).collect();
    let store = baton::store::connect(&app.db_url).await.unwrap();
    let head = store
        .last_seq(a.workspace_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        seqs,
        ((start + 1)..=head).collect::<Vec<_>>(),
        "{db:?}: every event once, in order, no gap at the seam"
    );
    assert_eq!(head - start, 100, "30 + 20 customers, two events each");

    // The resume message: a marker, then everything after `since` again, once.
    ws.send(json!({ "type": "resume", "since": head - 5 }))
        .await;
    assert_eq!(
        ws.next(WAIT).await.unwrap(),
        json!({ "type": "resumed", "since": head - 5 })
    );
    let again: Vec<i64> = ws
        .drain_events(Duration::from_millis(500))
        .await
        .iter()
        .map(|f| f["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(again, ((head - 4)..=head).collect::<Vec<_>>());
    // A `since` beyond the log, or from pruned history, gets resync.
    ws.send(json!({ "type": "resume", "since": head + 100 }))
        .await;
    assert_eq!(ws.expect("resync", WAIT).await["reason"], "unknown_seq");
    store
        .prune_events(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    ws.send(json!({ "type": "resume", "since": 3 })).await;
    assert_eq!(ws.expect("resync", WAIT).await["reason"], "history_expired");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off_and_others_keep_going() {
    let db = crate::common::TestDb::new(Db::Sqlite).await;
    let app = TestApp::spawn_with(Db::Sqlite, db.url.clone(), |c| c.socket_queue = 16).await;
    let a = app.signup("Acme", "Olivia Owner").await;
    let token = a.api_token().await;
    // A raw TCP socket that completes the handshake and then never reads.
    let _stuck = crate::common::RawWs::open(app.addr, &token, Some(2048)).await;
    let (mut healthy, _) = socket(&app, &a).await;
    // Enough traffic to fill the stuck socket's kernel buffers and then its queue, while the
    // healthy client reads along.
    let reader = tokio::spawn(async move {
        // Every event, however slow a busy machine makes the 600 messages below.
        let mut got = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while got < 1200 && tokio::time::Instant::now() < deadline {
            match healthy.next(Duration::from_secs(10)).await {
                Some(frame) if frame["type"] == "event" => got += 1,
                Some(_) => {}
                None => break,
            }
        }
        (got, healthy)
    });
    let long = "y".repeat(200);
    let name = "N".repeat(100);
    for i in 0..600 {
        app.inbound(&a.ingest_token, json!({ "channel": "web", "from": { "name": name, "email": format!("c{i}@example.com") }, "body": long })).await;
    }
    let (got, mut healthy) = reader.await.unwrap();
    assert_eq!(got, 1200, "the healthy client got everything");
    let overflows = metric(&app.url, "baton_socket_queue_overflows_total").await;
    assert!(
        overflows.is_some_and(|n| n >= 1.0),
        "the stuck socket was cut off: {overflows:?}"
    );
    // The stuck socket's task lets go as soon as its queue overflows, blocked write or not.
    assert_eq!(
        sockets_open_becomes(&app.url, 1.0).await,
        1.0,
        "only the healthy socket is left"
    );
    healthy.send(json!({ "type": "ping" })).await;
    assert_eq!(healthy.expect("pong", WAIT).await["type"], "pong");
}

#[tokio::test]
async fn logout_and_removal_close_that_teammates_sockets() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let a = app.signup("Acme", "Olivia Owner").await;
    let b = app.invite(&a, "Bea", "agent").await;
    let (mut bws, _) = socket(&app, &b).await;
    let (mut aws, _) = socket(&app, &a).await;
    assert_eq!(
        b.delete("/api/session", None).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(bws.close_code(WAIT).await, Some(4001));
    // Role change and removal end sessions too; others stay connected.
    let c = app.invite(&a, "Cy", "agent").await;
    let (mut cws, _) = socket(&app, &c).await;
    a.patch(
        &format!("/api/teammates/{}", c.id),
        json!({ "role": "manager" }),
    )
    .await;
    assert_eq!(cws.close_code(WAIT).await, Some(4001));
    let (mut cws, _) = socket(&app, &c).await;
    a.delete(
        &format!("/api/teammates/{}", c.id),
        Some(json!({ "reassign_to": null })),
    )
    .await;
    assert_eq!(cws.close_code(WAIT).await, Some(4001));
    aws.send(json!({ "type": "ping" })).await;
    assert_eq!(aws.expect("pong", WAIT).await["type"], "pong");
}

#[tokio::test]
async fn presence_shows_who_is_online_viewing_and_typing() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let a = app.signup("Acme", "Olivia Owner").await;
    let b = app.invite(&a, "Bea", "agent").await;
    let case = app
        .customer_writes(&a.ingest_token, "x@example.com", "hi")
        .await;
    let id = case["case_id"].as_str().unwrap();
    let (mut aws, _) = socket(&app, &a).await;
    let (mut bws, _) = socket(&app, &b).await;
    let online = presence_of(&mut aws, &b.id).await;
    assert_eq!(online["online"], true);
    bws.send(json!({ "type": "viewing", "case_id": id })).await;
    assert_eq!(presence_of(&mut aws, &b.id).await["viewing"], id);
    bws.send(json!({ "type": "typing", "case_id": id })).await;
    assert_eq!(presence_of(&mut aws, &b.id).await["typing"], id);
    let listed = a.json("/api/presence").await;
    let bea = listed["online"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["teammate_id"] == b.id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(bea["viewing"], id);
    drop(bws);
    assert_eq!(presence_of(&mut aws, &b.id).await["online"], false);
}

#[tokio::test]
async fn a_burst_of_presence_changes_ends_on_each_teammates_latest_state() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let a = app.signup("Acme", "Olivia Owner").await;
    let (mut aws, _) = socket(&app, &a).await;
    let mut team = Vec::new();
    for i in 0..10 {
        team.push(app.invite(&a, &format!("Agent {i}"), "agent").await);
    }
    // All come online at once; the first half leaves again straight away, the others open a
    // case and start typing in it.
    let case = app
        .customer_writes(&a.ingest_token, "x@example.com", "hi")
        .await;
    let id = case["case_id"].as_str().unwrap();
    let mut sockets = Vec::new();
    for user in &team {
        sockets.push(socket(&app, user).await.0);
    }
    let staying = sockets.split_off(team.len() / 2);
    drop(sockets);
    let mut staying = staying;
    for ws in &mut staying {
        ws.send(json!({ "type": "viewing", "case_id": id })).await;
        ws.send(json!({ "type": "typing", "case_id": id })).await;
    }
    let want: std::collections::HashMap<String, Value> = team
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let here = i >= team.len() / 2;
            let state = if here {
                json!({ "online": true, "viewing": id, "typing": id })
            } else {
                json!({ "online": false, "viewing": null, "typing": null })
            };
            (user.id.clone(), state)
        })
        .collect();
    let mut seen = std::collections::HashMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "presence never settled: {seen:#?}"
        );
        let Some(frame) = aws.next(Duration::from_millis(200)).await else {
            continue;
        };
        if frame["type"] == "presence" && frame["teammate_id"] != a.id.as_str() {
            let state = json!({ "online": frame["online"], "viewing": frame["viewing"], "typing": frame["typing"] });
            seen.insert(frame["teammate_id"].as_str().unwrap().to_string(), state);
        }
    }
    drop(staying);
}

/// The next presence frame about `teammate` (skipping those about others, e.g. oneself).
async fn presence_of(ws: &mut Ws, teammate: &str) -> Value {
    loop {
        let p = ws.expect("presence", WAIT).await;
        if p["teammate_id"] == teammate {
            return p;
        }
    }
}

/// Waits for a badge frame showing `want`: badge frames say "your counts are now…", and an
/// earlier refresh may still be on its way when a later change happens; the last one wins.
async fn badge_becomes(ws: &mut Ws, want: Value, why: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    while tokio::time::Instant::now() < deadline {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.next(left).await {
            Some(frame) if frame["type"] == "badge" => {
                let badge = json!({ "mine": frame["mine"], "unassigned": frame["unassigned"] });
                if badge == want {
                    return;
                }
                seen.push(badge);
            }
            Some(_) => {}
            None => break,
        }
    }
    panic!("{why}: no badge frame showing {want} (saw {seen:?})");
}
