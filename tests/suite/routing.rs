//! Routing through the HTTP API on both databases: no case stays with someone who cannot act
//! on it (removed, viewer, away), away with dates that start and end by themselves, and the
//! limit of open cases per teammate.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{error_of, Db, TestApp, User};

async fn set_status(user: &User, case_id: &str, status: &str) {
    let r = user
        .put(
            &format!("/api/cases/{case_id}/status"),
            json!({ "status": status }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "status {status}");
}

async fn rules(owner: &User, rules: Value) {
    let r = owner.put("/api/assign-rules", rules).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

async fn patch_teammate(user: &User, id: &str, body: Value) -> Value {
    let r = user.patch(&format!("/api/teammates/{id}"), body).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    r.json().await.unwrap()
}

async fn assignee(user: &User, case_id: &str) -> Value {
    user.json(&format!("/api/cases/{case_id}")).await["case"]["assignee_id"].clone()
}

/// The timeline's `assigned` entries of a case as (from, to, reason).
async fn moves(user: &User, case_id: &str) -> Vec<(Value, Value, Value)> {
    user.json(&format!("/api/cases/{case_id}")).await["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "assigned")
        .map(|t| {
            (
                t["from_id"].clone(),
                t["to_id"].clone(),
                t["detail"]["reason"].clone(),
            )
        })
        .collect()
}

fn rfc3339(from_now: chrono::Duration) -> String {
    (chrono::Utc::now() + from_now).to_rfc3339()
}

on_both!(
    a_removed_owners_reopened_case_goes_through_the_rules,
    a_removed_owners_reopened_case_goes_through_the_rules_on
);
/// The bug the routing work closes: a closed case of a teammate who has since left is
/// reopened by the customer's next message for someone who can act on it, never for them.
async fn a_removed_owners_reopened_case_goes_through_the_rules_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let leaving = app.invite(&owner, "Lee Leaving", "agent").await;
    let staying = app.invite(&owner, "Sam Staying", "agent").await;
    let store = baton::store::connect(&app.db_url).await.unwrap();
    let ws = owner.workspace_id.parse().unwrap();

    // Two customers: one case closed by the leaver, one open with them.
    let closed = app
        .customer_writes(&owner.ingest_token, "closed@example.com", "hello")
        .await["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    let pooled = app
        .customer_writes(&owner.ingest_token, "pooled@example.com", "hello")
        .await["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    for id in [&closed, &pooled] {
        assert_eq!(
            owner.assign(id, Some(&leaving.id)).await.status(),
            StatusCode::OK
        );
    }
    set_status(&leaving, &closed, "won").await;
    let r = owner
        .delete(
            &format!("/api/teammates/{}", leaving.id),
            Some(json!({ "reassign_to": null })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{db:?}");
    assert_eq!(
        assignee(&owner, &closed).await,
        json!(leaving.id),
        "{db:?}: the closed case keeps the name in history"
    );

    // Without rules the reopened case lands in Unassigned, with a timeline entry saying why.
    let seq = store.last_seq(ws).await.unwrap();
    let again = app
        .customer_writes(&owner.ingest_token, "closed@example.com", "it broke again")
        .await;
    assert_eq!(again["case_id"], json!(closed));
    assert_eq!(again["reopened"], json!(true), "{db:?}");
    assert_eq!(again["assignee_id"], Value::Null, "{db:?}");
    assert_eq!(assignee(&owner, &closed).await, Value::Null, "{db:?}");
    assert!(
        owner
            .list("unassigned", "open")
            .await
            .contains(&closed.to_string()),
        "{db:?}: in Unassigned, where people look"
    );
    assert_eq!(
        moves(&owner, &closed).await.last().unwrap(),
        &(json!(leaving.id), Value::Null, json!("owner_removed")),
        "{db:?}"
    );
    let events = store.events_since(ws, seq, 100).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.event.name()).collect();
    assert!(kinds.contains(&"case.assigned"), "{db:?}: {kinds:?}");
    // The message event carries no assignee: it pings the "unassigned" subscribers.
    assert!(
        events.iter().any(|e| matches!(
            &e.event,
            baton::events::EventKind::MessageCreated {
                assignee_id: None,
                ..
            }
        )),
        "{db:?}"
    );

    // With round-robin the case goes to someone who is here, and they are pinged.
    rules(
        &owner,
        json!({ "mode": "round_robin", "pool": [staying.id] }),
    )
    .await;
    set_status(&owner, &closed, "won").await;
    assert_eq!(owner.assign(&closed, None).await.status(), StatusCode::OK);
    // Closed again, still (in history) with nobody: a reopen runs no rule for nobody.
    let again = app
        .customer_writes(&owner.ingest_token, "closed@example.com", "hello?")
        .await;
    assert_eq!(again["assignee_id"], Value::Null, "{db:?}");

    // A second closed case of the leaver, reopened under round-robin.
    let other = app
        .customer_writes(&owner.ingest_token, "other@example.com", "hi")
        .await["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    let newcomer = app.invite(&owner, "Nia Newcomer", "agent").await;
    assert_eq!(
        owner.assign(&other, Some(&newcomer.id)).await.status(),
        StatusCode::OK
    );
    set_status(&newcomer, &other, "lost").await;
    let r = owner
        .delete(
            &format!("/api/teammates/{}", newcomer.id),
            Some(json!({ "reassign_to": null })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let seq = store.last_seq(ws).await.unwrap();
    let again = app
        .customer_writes(&owner.ingest_token, "other@example.com", "one more thing")
        .await;
    assert_eq!(again["assignee_id"], json!(staying.id), "{db:?}");
    assert_eq!(staying.list("mine", "open").await, vec![other.clone()]);
    assert_eq!(
        moves(&owner, &other).await.last().unwrap(),
        &(
            json!(newcomer.id),
            json!(staying.id),
            json!("owner_removed")
        )
    );
    let events = store.events_since(ws, seq, 100).await.unwrap();
    assert!(
        events.iter().any(|e| matches!(
            &e.event,
            baton::events::EventKind::CaseAssigned { assignee_id: Some(to), actor_id: None, .. }
                if to.to_string() == staying.id
        )),
        "{db:?}: the new owner is pinged (case.assigned by the rules)"
    );

    // The open case of the leaver went to the pool at removal (as before).
    assert_eq!(assignee(&owner, &pooled).await, Value::Null);
    app.stop().await;
}

on_both!(
    a_viewers_reopened_case_goes_through_the_rules,
    a_viewers_reopened_case_goes_through_the_rules_on
);
/// A closed case whose owner was made a viewer since is routed again when the customer writes;
/// the rules that named them no longer do.
async fn a_viewers_reopened_case_goes_through_the_rules_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let demoted = app.invite(&owner, "Dee Demoted", "agent").await;
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    rules(
        &owner,
        json!({ "mode": "round_robin", "pool": [demoted.id, agent.id],
                "categories": { "complaint": demoted.id }, "fallback": demoted.id }),
    )
    .await;
    let case = app
        .customer_writes(&owner.ingest_token, "c@example.com", "hi")
        .await["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    owner.assign(&case, Some(&demoted.id)).await;
    set_status(&demoted, &case, "won").await;
    patch_teammate(&owner, &demoted.id, json!({ "role": "viewer" })).await;
    let shown = owner.json("/api/assign-rules").await;
    assert_eq!(
        (&shown["pool"], &shown["categories"], &shown["fallback"]),
        (&json!([agent.id]), &json!({}), &Value::Null),
        "{db:?}: the rules forget the viewer"
    );
    rules(&owner, shown).await;
    let again = app
        .customer_writes(&owner.ingest_token, "c@example.com", "again")
        .await;
    assert_eq!(again["assignee_id"], json!(agent.id), "{db:?}");
    assert_eq!(
        moves(&owner, &case).await.last().unwrap(),
        &(json!(demoted.id), json!(agent.id), json!("owner_viewer"))
    );
    app.stop().await;
}

on_both!(
    away_behaviour_keep_pool_reassign,
    away_behaviour_keep_pool_reassign_on
);
/// An away owner's case when the customer writes: keep, return to the pool, or reassign.
async fn away_behaviour_keep_pool_reassign_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let away = app.invite(&owner, "Ava Away", "agent").await;
    let here = app.invite(&owner, "Hal Here", "agent").await;
    let pool = json!([away.id, here.id]);
    for (behaviour, want) in [
        ("keep", json!(away.id)),
        ("pool", Value::Null),
        ("reassign", json!(here.id)),
    ] {
        rules(
            &owner,
            json!({ "mode": "round_robin", "pool": pool, "away_behaviour": behaviour }),
        )
        .await;
        assert_eq!(
            owner.json("/api/assign-rules").await["away_behaviour"],
            behaviour
        );
        let customer = format!("{behaviour}@example.com");
        let case = app
            .customer_writes(&owner.ingest_token, &customer, "hi")
            .await["case_id"]
            .as_str()
            .unwrap()
            .to_string();
        owner.assign(&case, Some(&away.id)).await;
        set_status(&away, &case, "awaiting_customer").await;
        patch_teammate(&away, &away.id, json!({ "away": true })).await;
        let again = app
            .customer_writes(&owner.ingest_token, &customer, "still there?")
            .await;
        assert_eq!(again["assignee_id"], want, "{db:?} {behaviour}");
        if behaviour != "keep" {
            assert_eq!(
                moves(&owner, &case).await.last().unwrap().2,
                json!("owner_away")
            );
        }
        patch_teammate(&away, &away.id, json!({ "away": false })).await;
    }
    // Rules that name an unknown behaviour are refused.
    let r = owner
        .put(
            "/api/assign-rules",
            json!({ "mode": "unassigned", "away_behaviour": "vanish" }),
        )
        .await;
    assert!(r.status().is_client_error(), "{db:?}");
    app.stop().await;
}

on_both!(
    away_with_dates_starts_and_ends_by_itself,
    away_with_dates_starts_and_ends_by_itself_on
);
/// Away with dates: it starts and ends by itself, round-robin skips the teammate meanwhile,
/// and only admins set someone else's dates.
async fn away_with_dates_starts_and_ends_by_itself_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let holiday = app.invite(&owner, "Hol Holiday", "agent").await;
    let other = app.invite(&owner, "Oto Other", "agent").await;
    rules(
        &owner,
        json!({ "mode": "round_robin", "pool": [holiday.id, other.id] }),
    )
    .await;
    let (s, code, _) = error_of(
        other
            .patch(
                &format!("/api/teammates/{}", holiday.id),
                json!({ "away_from": rfc3339(chrono::Duration::seconds(1)) }),
            )
            .await,
    )
    .await;
    assert_eq!((s, code.as_str()), (StatusCode::FORBIDDEN, "forbidden"));
    let (s, _, field) = error_of(
        holiday
            .patch(
                &format!("/api/teammates/{}", holiday.id),
                json!({
                    "away_from": rfc3339(chrono::Duration::seconds(10)),
                    "away_until": rfc3339(chrono::Duration::seconds(5)),
                }),
            )
            .await,
    )
    .await;
    assert_eq!(
        (s, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("away_until"))
    );

    // Planned: away from in 2 s until in 5 s.
    let t = patch_teammate(
        &holiday,
        &holiday.id,
        json!({
            "away_from": rfc3339(chrono::Duration::seconds(2)),
            "away_until": rfc3339(chrono::Duration::seconds(5)),
        }),
    )
    .await;
    assert_eq!(t["away"], false, "{db:?}: not started yet");
    assert!(t["away_until"].is_string());
    let first = app
        .customer_writes(&owner.ingest_token, "a@example.com", "hi")
        .await;
    assert_eq!(first["assignee_id"], json!(holiday.id), "{db:?}");

    tokio::time::sleep(Duration::from_millis(2300)).await;
    let shown = owner.json("/api/teammates?q=Hol").await;
    assert_eq!(shown["teammates"][0]["away"], true, "{db:?}: started");
    for i in 0..2 {
        let c = app
            .customer_writes(&owner.ingest_token, &format!("b{i}@example.com"), "hi")
            .await;
        assert_eq!(
            c["assignee_id"],
            json!(other.id),
            "{db:?}: skipped while away"
        );
    }

    tokio::time::sleep(Duration::from_millis(3000)).await;
    let shown = owner.json("/api/teammates?q=Hol").await;
    assert_eq!(shown["teammates"][0]["away"], false, "{db:?}: ended");
    let c = app
        .customer_writes(&owner.ingest_token, "c@example.com", "hi")
        .await;
    assert_eq!(
        c["assignee_id"],
        json!(holiday.id),
        "{db:?}: back in rotation"
    );
    app.stop().await;
}

on_both!(
    capacity_skips_teammates_at_their_limit,
    capacity_skips_teammates_at_their_limit_on
);
/// A limit of open cases: auto-assignment skips a teammate at their limit (their own limit
/// wins over the workspace default), and when nobody has room the case waits in Unassigned.
async fn capacity_skips_teammates_at_their_limit_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let one = app.invite(&owner, "Una One", "agent").await;
    let two = app.invite(&owner, "Dos Two", "agent").await;
    rules(
        &owner,
        json!({ "mode": "round_robin", "pool": [one.id, two.id], "capacity": 1 }),
    )
    .await;
    assert_eq!(owner.json("/api/assign-rules").await["capacity"], 1);
    let (s, code, _) = error_of(
        one.patch(
            &format!("/api/teammates/{}", one.id),
            json!({ "max_open": 5 }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::FORBIDDEN, "forbidden"),
        "only admins set limits"
    );
    let t = patch_teammate(&owner, &two.id, json!({ "max_open": 2 })).await;
    assert_eq!(t["max_open"], 2);

    let mut got = vec![];
    for i in 0..5 {
        let c = app
            .customer_writes(&owner.ingest_token, &format!("c{i}@example.com"), "hi")
            .await;
        got.push(c["assignee_id"].clone());
    }
    assert_eq!(
        got,
        vec![
            json!(one.id),
            json!(two.id),
            json!(two.id),
            Value::Null,
            Value::Null
        ],
        "{db:?}"
    );
    assert_eq!(owner.list("unassigned", "open").await.len(), 2);

    // Clearing the own limit falls back to the workspace default.
    let t = patch_teammate(&owner, &two.id, json!({ "max_open": null })).await;
    assert_eq!(t["max_open"], Value::Null);
    let c = app
        .customer_writes(&owner.ingest_token, "c9@example.com", "hi")
        .await;
    assert_eq!(c["assignee_id"], Value::Null, "{db:?}");
    app.stop().await;
}

on_both!(
    the_queue_drains_oldest_first_when_room_appears,
    the_queue_drains_oldest_first_when_room_appears_on
);
/// Waiting cases are handed out oldest first the moment someone has room: a case closed, a
/// limit raised, a reassignment.
async fn the_queue_drains_oldest_first_when_room_appears_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    rules(
        &owner,
        json!({ "mode": "round_robin", "pool": [agent.id], "capacity": 1 }),
    )
    .await;
    let mut ids = vec![];
    for i in 0..4 {
        let c = app
            .customer_writes(&owner.ingest_token, &format!("q{i}@example.com"), "hi")
            .await;
        ids.push(c["case_id"].as_str().unwrap().to_string());
    }
    assert_eq!(assignee(&owner, &ids[0]).await, json!(agent.id));
    for id in &ids[1..] {
        assert_eq!(assignee(&owner, id).await, Value::Null, "{db:?}: waits");
    }
    // A case closed: the oldest waiting one goes out, the others keep waiting.
    set_status(&agent, &ids[0], "won").await;
    assert_eq!(assignee(&owner, &ids[1]).await, json!(agent.id), "{db:?}");
    assert_eq!(assignee(&owner, &ids[2]).await, Value::Null);
    assert_eq!(
        moves(&owner, &ids[1]).await,
        vec![(Value::Null, json!(agent.id), json!("queue"))]
    );
    // A reassignment frees room too.
    assert_eq!(
        owner.assign(&ids[1], Some(&owner.id)).await.status(),
        StatusCode::OK
    );
    assert_eq!(assignee(&owner, &ids[2]).await, json!(agent.id), "{db:?}");
    // A limit raised: the rest go out in order.
    patch_teammate(&owner, &agent.id, json!({ "max_open": 3 })).await;
    assert_eq!(assignee(&owner, &ids[3]).await, json!(agent.id), "{db:?}");
    // A case a manager returns to the pool stays there (it is not waiting for the rules).
    assert_eq!(owner.assign(&ids[3], None).await.status(), StatusCode::OK);
    set_status(&agent, &ids[2], "won").await;
    assert_eq!(assignee(&owner, &ids[3]).await, Value::Null, "{db:?}");
    app.stop().await;
}

on_both!(
    the_queue_goes_to_a_teammate_whose_away_ends_by_itself,
    the_queue_goes_to_a_teammate_whose_away_ends_by_itself_on
);
/// Cases that arrive while the only teammate is away wait, and go to them by themselves, in
/// order, when their away ends by its date.
async fn the_queue_goes_to_a_teammate_whose_away_ends_by_itself_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    rules(&owner, json!({ "mode": "round_robin", "pool": [agent.id] })).await;
    patch_teammate(
        &agent,
        &agent.id,
        json!({ "away": true, "away_until": rfc3339(chrono::Duration::seconds(2)) }),
    )
    .await;
    let mut ids = vec![];
    for i in 0..3 {
        let c = app
            .customer_writes(&owner.ingest_token, &format!("w{i}@example.com"), "hi")
            .await;
        assert_eq!(c["assignee_id"], Value::Null, "{db:?}");
        ids.push(c["case_id"].as_str().unwrap().to_string());
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mine = agent.list("mine", "open").await;
        if mine.len() == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{db:?}: the queue was not handed out after away ended: {mine:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Oldest first: the timeline's queue entries in event order are the cases in order.
    let store = baton::store::connect(&app.db_url).await.unwrap();
    let ws = owner.workspace_id.parse().unwrap();
    let order: Vec<String> = store
        .events_since(ws, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            baton::events::EventKind::CaseAssigned { case_id, .. } => Some(case_id.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(order, ids, "{db:?}");
    app.stop().await;
}

/// Two instances on one Postgres hand out a 200-case queue as room appears through both at
/// once: every case is assigned exactly once and nobody goes over the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_hand_out_a_200_case_queue_exactly_once() {
    use crate::common::{postgres_available, require, Db, Process, TestDb};
    if !require("Postgres", postgres_available().await) {
        return;
    }
    let db = TestDb::new(Db::Postgres).await;
    let one = Process::start(&db.url, None, "one").await;
    let two = Process::start(&db.url, None, "two").await;
    let app_one = one.as_app(Db::Postgres);
    let owner = app_one.signup("Acme", "Olivia Owner").await;
    let token = owner.api_token().await;
    let mut agents = Vec::new();
    for name in ["Ann", "Ben", "Cy", "Di"] {
        agents.push(app_one.invite(&owner, name, "agent").await.id);
    }
    rules(
        &owner,
        json!({ "mode": "round_robin", "pool": agents, "capacity": 0 }),
    )
    .await;
    let urls = [one.url.clone(), two.url.clone()];

    // 200 customers write through both instances; nobody has room, so all wait.
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let url = urls[worker % 2].clone();
        let ingest = owner.ingest_token.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in (worker..200).step_by(8) {
                let r = client
                    .post(format!("{url}/api/inbound"))
                    .bearer_auth(&ingest)
                    .json(&json!({ "channel": "web", "from": { "name": "C", "email": format!("c{i}@example.com") }, "body": "hello" }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let waiting = |owner: User| async move {
        owner.json("/api/cases/counts").await["unassigned"]["open"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(waiting(owner.clone()).await, 200);

    // Room appears through both instances at once: every agent's limit goes to 40 (160).
    let client = reqwest::Client::new();
    let raises = agents.iter().enumerate().map(|(i, id)| {
        let r = client
            .patch(format!("{}/api/teammates/{id}", urls[i % 2]))
            .bearer_auth(&token)
            .json(&json!({ "max_open": 40 }))
            .send();
        async move { r.await.unwrap().status() }
    });
    for s in futures_util::future::join_all(raises).await {
        assert_eq!(s, StatusCode::OK);
    }
    // Then 40 handed-out cases are closed through both instances at once: 40 more go out.
    let store = baton::store::connect(&db.url).await.unwrap();
    let ws = owner.workspace_id.parse().unwrap();
    let handed: Vec<String> = owner
        .json("/api/cases?view=all&filter=open&limit=200")
        .await["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["assignee_id"].is_null())
        .take(40)
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(handed.len(), 40);
    let closes = handed.iter().enumerate().map(|(i, id)| {
        let r = client
            .put(format!("{}/api/cases/{id}/status", urls[i % 2]))
            .bearer_auth(&token)
            .json(&json!({ "status": "won" }))
            .send();
        async move { r.await.unwrap().status() }
    });
    for s in futures_util::future::join_all(closes).await {
        assert_eq!(s, StatusCode::OK);
    }

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while waiting(owner.clone()).await != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Exactly once: one rules assignment per case, 200 in all.
    let mut per_case: std::collections::HashMap<baton::domain::ids::CaseId, usize> =
        Default::default();
    for e in store.events_since(ws, 0, 100_000).await.unwrap() {
        if let baton::events::EventKind::CaseAssigned {
            case_id,
            actor_id: None,
            ..
        } = e.event
        {
            *per_case.entry(case_id).or_default() += 1;
        }
    }
    assert_eq!(per_case.len(), 200, "every case handed out");
    assert!(per_case.values().all(|n| *n == 1), "each exactly once");
    // Nobody over the limit: each agent holds exactly 40 open cases.
    let cases = owner
        .json("/api/cases?view=all&filter=open&limit=200")
        .await;
    let mut open: std::collections::HashMap<String, usize> = Default::default();
    for c in cases["cases"].as_array().unwrap() {
        *open
            .entry(c["assignee_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(open.len(), 4, "{open:?}");
    assert!(open.values().all(|n| *n == 40), "{open:?}");
}

on_both!(
    a_breached_response_target_is_flagged_and_taken_back_once,
    a_breached_response_target_is_flagged_and_taken_back_once_on
);
/// A first-response target: the case shows its deadline; past it (the timer is driven with a
/// later clock) it is flagged once, listed under "Breached", taken back from its owner and
/// given to the next by the rules, once, even with two timers racing; a reply clears the flag.
async fn a_breached_response_target_is_flagged_and_taken_back_once_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let slow = app.invite(&owner, "Sly Slow", "agent").await;
    let quick = app.invite(&owner, "Quin Quick", "agent").await;
    // Bad schedules are refused with the field named.
    for bad in [
        json!({ "time_zone": "Mars/Olympus", "days": {} }),
        json!({ "time_zone": "UTC", "days": { "mon": [["17:00", "09:00"]] } }),
    ] {
        let (s, _, field) = error_of(
            owner
                .put(
                    "/api/assign-rules",
                    json!({ "mode": "unassigned", "response_target_minutes": 5, "business_hours": bad }),
                )
                .await,
        )
        .await;
        assert_eq!(
            (s, field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("business_hours"))
        );
    }
    rules(
        &owner,
        json!({ "mode": "round_robin", "pool": [slow.id, quick.id],
                "response_target_minutes": 1, "take_back": true }),
    )
    .await;
    let got = owner.json("/api/assign-rules").await;
    assert_eq!(
        (&got["response_target_minutes"], &got["take_back"]),
        (&json!(1), &json!(true))
    );
    let c = app
        .customer_writes(&owner.ingest_token, "late@example.com", "anyone?")
        .await;
    let id = c["case_id"].as_str().unwrap().to_string();
    assert_eq!(c["assignee_id"], json!(slow.id));
    let case = owner.json(&format!("/api/cases/{id}")).await["case"].clone();
    let due: chrono::DateTime<chrono::Utc> = case["response_due_at"]
        .as_str()
        .expect("the deadline is shown")
        .parse()
        .unwrap();
    let left = due - chrono::Utc::now();
    assert!(
        left > chrono::Duration::seconds(50) && left <= chrono::Duration::seconds(60),
        "{db:?}: {left}"
    );
    assert!(owner.list("all", "breached").await.is_empty());

    // Two timers (two connections, as two instances) fire at once, two minutes later.
    let later = chrono::Utc::now() + chrono::Duration::minutes(2);
    let a = baton::store::connect(&app.db_url).await.unwrap();
    let b = baton::store::connect(&app.db_url).await.unwrap();
    let (x, y) = tokio::join!(a.fire_breaches(later), b.fire_breaches(later));
    let events: Vec<_> = x.unwrap().into_iter().chain(y.unwrap()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.event.name()).collect();
    assert_eq!(kinds, vec!["case.breached", "case.assigned"], "{db:?}");
    assert!(a.fire_breaches(later).await.unwrap().is_empty(), "once");

    assert_eq!(assignee(&owner, &id).await, json!(quick.id), "{db:?}");
    assert_eq!(
        moves(&owner, &id).await.last().unwrap(),
        &(json!(slow.id), json!(quick.id), json!("response_target"))
    );
    assert_eq!(owner.list("all", "breached").await, vec![id.clone()]);
    // The sidebar's count for managers: one case past its target, in All and in Quick's.
    let counts = owner.json("/api/cases/counts").await;
    assert_eq!(counts["all"]["breached"], 1, "{db:?}: {counts}");
    assert_eq!(counts["unassigned"]["breached"], 0, "{db:?}: {counts}");
    assert_eq!(quick.json("/api/cases/counts").await["mine"]["breached"], 1);
    let detail = owner.json(&format!("/api/cases/{id}")).await;
    assert!(detail["case"]["breached_at"].is_string());
    assert!(detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["kind"] == "breached"));

    // The reply clears the flag; the next customer message starts a new clock.
    let r = quick
        .post(
            &format!("/api/cases/{id}/messages"),
            json!({ "kind": "reply", "body": "Here!" }),
        )
        .await;
    assert!(r.status().is_success());
    assert!(owner.list("all", "breached").await.is_empty(), "{db:?}");
    assert_eq!(owner.json("/api/cases/counts").await["all"]["breached"], 0);
    let case = owner.json(&format!("/api/cases/{id}")).await["case"].clone();
    assert!(case["response_due_at"].is_null() && case["breached_at"].is_null());
    app.customer_writes(&owner.ingest_token, "late@example.com", "thanks, one more")
        .await;
    let case = owner.json(&format!("/api/cases/{id}")).await["case"].clone();
    assert!(case["response_due_at"].is_string(), "{db:?}");
    app.stop().await;
}

on_both!(
    online_only_assigns_to_connected_teammates_and_hands_out_on_connect,
    online_only_assigns_to_connected_teammates_and_hands_out_on_connect_on
);
/// Online only: cases go only to teammates with a live socket; the queue goes out to someone
/// the moment they connect.
async fn online_only_assigns_to_connected_teammates_and_hands_out_on_connect_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let on = app.invite(&owner, "Ona Online", "agent").await;
    let off = app.invite(&owner, "Ofa Offline", "agent").await;
    rules(
        &owner,
        json!({ "mode": "round_robin", "pool": [off.id, on.id], "online_only": true }),
    )
    .await;
    assert_eq!(owner.json("/api/assign-rules").await["online_only"], true);
    let mut ids = vec![];
    for i in 0..2 {
        let c = app
            .customer_writes(&owner.ingest_token, &format!("o{i}@example.com"), "hi")
            .await;
        assert_eq!(c["assignee_id"], Value::Null, "{db:?}: nobody is connected");
        ids.push(c["case_id"].as_str().unwrap().to_string());
    }
    let token = on.api_token().await;
    let _socket = crate::common::Ws::connect(&app.url, &token, None)
        .await
        .expect("socket");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while on.list("mine", "open").await.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "{db:?}: the queue was not handed out on connect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The one connected gets new cases; the one who is not, none.
    let c = app
        .customer_writes(&owner.ingest_token, "o9@example.com", "hi")
        .await;
    assert_eq!(c["assignee_id"], json!(on.id), "{db:?}");
    assert!(off.list("mine", "open").await.is_empty());
    app.stop().await;
}
