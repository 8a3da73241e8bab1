//! Assignment through the HTTP API: the role gate, races, rules, bulk moves, departures,
//! follow-ups, and the views staying exact as cases move.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{error_of, Db, TestApp};

on_both!(
    assign_reassign_unassign_and_the_role_gate,
    assign_reassign_unassign_and_the_role_gate_on
);
async fn assign_reassign_unassign_and_the_role_gate_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let manager = app.invite(&owner, "Maya Manager", "manager").await;
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    let viewer = app.invite(&owner, "Vic Viewer", "viewer").await;
    let case = app
        .customer_writes(&owner.ingest_token, "c@example.com", "hi")
        .await;
    let id = case["case_id"].as_str().unwrap();

    // An agent claims it; a manager reassigns without unassigning first; then unassigns.
    let r = agent.assign(id, Some(&agent.id)).await;
    assert_eq!(r.status(), StatusCode::OK, "{db:?}");
    assert_eq!(agent.list("mine", "open").await, vec![id.to_string()]);
    let r = manager.assign(id, Some(&manager.id)).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["assignee_id"], manager.id.as_str());
    assert!(
        agent.list("mine", "open").await.is_empty(),
        "the previous assignee's queue no longer has it"
    );
    assert_eq!(manager.assign(id, None).await.status(), StatusCode::OK);
    assert_eq!(owner.list("unassigned", "open").await, vec![id.to_string()]);

    // Viewers can neither assign nor be assigned.
    let (s, code, _) = error_of(viewer.assign(id, Some(&agent.id)).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::FORBIDDEN, "forbidden"));
    let (s, _, field) = error_of(owner.assign(id, Some(&viewer.id)).await).await;
    assert_eq!(
        (s, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("assignee_id"))
    );
    let (s, _, field) = error_of(
        owner
            .assign(id, Some("01900000-0000-7000-8000-000000000000"))
            .await,
    )
    .await;
    assert_eq!(
        (s, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("assignee_id"))
    );
    assert_eq!(
        owner
            .assign("01900000-0000-7000-8000-000000000000", Some(&agent.id))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // The timeline: one entry per change, with actor, from and to.
    let detail = owner.json(&format!("/api/cases/{id}")).await;
    let moves: Vec<(Value, Value, Value)> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "assigned")
        .map(|t| {
            (
                t["actor_id"].clone(),
                t["from_id"].clone(),
                t["to_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        vec![
            (json!(agent.id), Value::Null, json!(agent.id)),
            (json!(manager.id), json!(agent.id), json!(manager.id)),
            (json!(manager.id), json!(manager.id), Value::Null),
        ]
    );
    app.stop().await;
}

on_both!(
    thirty_two_racers_one_winner_a_hundred_times,
    thirty_two_racers_one_winner_a_hundred_times_on
);
async fn thirty_two_racers_one_winner_a_hundred_times_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let mut racers = Vec::new();
    for i in 0..4 {
        racers.push(app.invite(&owner, &format!("Agent {i}"), "agent").await);
    }
    let case = app
        .customer_writes(&owner.ingest_token, "c@example.com", "hi")
        .await;
    let id = case["case_id"].as_str().unwrap().to_string();
    let store = baton::store::connect(&app.db_url).await.unwrap();
    let ws = owner.workspace_id.parse().unwrap();
    for round in 0..100 {
        let current = owner.json(&format!("/api/cases/{id}")).await["case"].clone();
        let version = current["version"].as_i64().unwrap();
        // Every racer asks for a change (asking for the current owner is a no-op, not a race).
        let targets: Vec<String> = racers
            .iter()
            .map(|r| r.id.clone())
            .filter(|t| current["assignee_id"] != t.as_str())
            .collect();
        let seq_before = store.last_seq(ws).await.unwrap();
        let attempts = (0..32).map(|i| {
            let user = racers[i % racers.len()].clone();
            let target = targets[(i + round) % targets.len()].clone();
            let id = id.clone();
            async move {
                user.put(
                    &format!("/api/cases/{id}/assignee"),
                    json!({ "assignee_id": target, "if_version": version }),
                )
                .await
                .status()
            }
        });
        let statuses = futures_util::future::join_all(attempts).await;
        let wins = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let conflicts = statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count();
        assert_eq!(
            (wins, conflicts),
            (1, 31),
            "{db:?} round {round}: {statuses:?}"
        );
        let events = store.events_since(ws, seq_before, 100).await.unwrap();
        assert_eq!(events.len(), 1, "{db:?} round {round}: exactly one event");
    }
    let assigned = assigned_entries(&owner, &id).await;
    let events = store
        .events_since(ws, 0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.name() == "case.assigned")
        .count();
    assert_eq!(assigned, events, "{db:?}: one timeline entry per event");
    assert_eq!(assigned, 100, "{db:?}: one change per round");
    app.stop().await;
}

on_both!(
    a_crowd_of_assignments_in_two_workspaces_each_lands_once,
    a_crowd_of_assignments_in_two_workspaces_each_lands_once_on
);
/// Many assignments at once in two workspaces (they are committed in groups, across
/// workspaces): each is answered with its own case as asked, and each workspace's log gets
/// exactly one event per change of its own, numbered without a gap, with one timeline entry
/// each.
async fn a_crowd_of_assignments_in_two_workspaces_each_lands_once_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let store = baton::store::connect(&app.db_url).await.unwrap();
    // Per workspace: its owner, two agents and its cases with their versions.
    let mut teams = Vec::new();
    for name in ["Acme", "Globex"] {
        let owner = app.signup(name, "Olivia Owner").await;
        let agents = [
            app.invite(&owner, "Ada Agent", "agent").await.id,
            app.invite(&owner, "Ben Agent", "agent").await.id,
        ];
        let mut cases = Vec::new();
        for i in 0..32 {
            let c = app
                .customer_writes(&owner.ingest_token, &format!("c{i}@example.com"), "hi")
                .await;
            let id = c["case_id"].as_str().unwrap().to_string();
            let case = owner.json(&format!("/api/cases/{id}")).await["case"].clone();
            cases.push((id, case["version"].as_i64().unwrap()));
        }
        teams.push((owner, agents, cases));
    }
    for round in 0..3 {
        let mut before = Vec::new();
        let mut asked = Vec::new();
        for (t, (owner, agents, cases)) in teams.iter().enumerate() {
            before.push(
                store
                    .last_seq(owner.workspace_id.parse().unwrap())
                    .await
                    .unwrap(),
            );
            for (i, (id, _)) in cases.iter().enumerate() {
                asked.push((t, i, id.clone(), agents[(i + round) % 2].clone()));
            }
        }
        // The two workspaces' requests interleaved.
        asked.sort_by_key(|(t, i, _, _)| (*i, *t));
        let answers = futures_util::future::join_all(asked.iter().map(|(t, _, id, to)| {
            let owner = teams[*t].0.clone();
            async move {
                let r = owner.assign(id, Some(to)).await;
                (r.status(), r.json::<Value>().await.unwrap())
            }
        }))
        .await;
        for ((t, i, id, to), (status, case)) in asked.iter().zip(&answers) {
            assert_eq!(*status, StatusCode::OK, "{db:?} round {round}: {case}");
            assert_eq!(
                case["id"],
                id.as_str(),
                "{db:?} round {round}: its own case"
            );
            assert_eq!(case["assignee_id"], to.as_str(), "{db:?} round {round}");
            let version = &mut teams[*t].2[*i].1;
            *version += 1;
            assert_eq!(
                case["version"], *version,
                "{db:?} round {round}: one change"
            );
        }
        for ((owner, _, cases), seq_before) in teams.iter().zip(before) {
            let ws = owner.workspace_id.parse().unwrap();
            let events = store.events_since(ws, seq_before, 1000).await.unwrap();
            let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
            let expected: Vec<i64> = (seq_before + 1..=seq_before + 32).collect();
            assert_eq!(
                seqs, expected,
                "{db:?} round {round}: one event each, no gap"
            );
            let mut got: Vec<String> = events
                .iter()
                .filter(|e| e.event.name() == "case.assigned")
                .map(|e| e.event.case_id().unwrap().to_string())
                .collect();
            got.sort();
            let mut own: Vec<String> = cases.iter().map(|(id, _)| id.clone()).collect();
            own.sort();
            assert_eq!(got, own, "{db:?} round {round}: each of its cases once");
        }
    }
    for (owner, _, cases) in &teams {
        for (id, _) in cases {
            let assigned = assigned_entries(owner, id).await;
            assert_eq!(assigned, 3, "{db:?}: one timeline entry per change");
        }
    }
    app.stop().await;
}

/// A write that holds one workspace's lock for long holds up that workspace's assignments
/// only: the assignments of another workspace, made in the same moments (and grouped with the
/// waiting one), are all answered while the lock is still held.
#[tokio::test]
async fn a_long_write_in_one_workspace_holds_up_no_other() {
    use sqlx::Connection;
    let app = TestApp::spawn(Db::Postgres).await;
    let busy = app.signup("Busy", "Olivia Owner").await;
    let busy_agent = app.invite(&busy, "Ada Agent", "agent").await;
    let busy_case = app
        .customer_writes(&busy.ingest_token, "waits@example.com", "hi")
        .await["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    let free = app.signup("Free", "Fiona Owner").await;
    let free_agent = app.invite(&free, "Ben Agent", "agent").await;
    let mut free_cases = Vec::new();
    for i in 0..16 {
        let c = app
            .customer_writes(&free.ingest_token, &format!("c{i}@example.com"), "hi")
            .await;
        free_cases.push(c["case_id"].as_str().unwrap().to_string());
    }
    // Another process's long transaction holds the busy workspace's lock.
    let mut holder = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    let busy_id: uuid::Uuid = busy.workspace_id.parse().unwrap();
    sqlx::query("UPDATE workspaces SET last_seq = last_seq WHERE id = $1")
        .bind(busy_id)
        .execute(&mut holder)
        .await
        .unwrap();
    let waiting = tokio::spawn({
        let (busy, case, to) = (busy.clone(), busy_case.clone(), busy_agent.id.clone());
        async move { busy.assign(&case, Some(&to)).await.status() }
    });
    let free_answers = futures_util::future::join_all(free_cases.iter().map(|id| {
        let (free, to) = (free.clone(), free_agent.id.clone());
        async move { free.assign(id, Some(&to)).await.status() }
    }));
    let free_answers = tokio::time::timeout(Duration::from_secs(60), free_answers)
        .await
        .expect("the free workspace's assignments waited for the busy one's lock");
    assert!(
        free_answers.iter().all(|s| *s == StatusCode::OK),
        "{free_answers:?}"
    );
    assert!(
        !waiting.is_finished(),
        "the busy workspace's assignment waits for its lock"
    );
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    assert_eq!(waiting.await.unwrap(), StatusCode::OK);
    let case = busy.json(&format!("/api/cases/{busy_case}")).await["case"].clone();
    assert_eq!(case["assignee_id"], busy_agent.id.as_str());
    app.stop().await;
}

#[tokio::test]
async fn a_stale_version_gets_409_with_the_current_case() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    let case = app
        .customer_writes(&owner.ingest_token, "c@example.com", "hi")
        .await;
    let id = case["case_id"].as_str().unwrap();
    let seen = owner.json(&format!("/api/cases/{id}")).await["case"]["version"]
        .as_i64()
        .unwrap();
    assert_eq!(
        agent
            .put(
                &format!("/api/cases/{id}/assignee"),
                json!({ "assignee_id": agent.id, "if_version": seen })
            )
            .await
            .status(),
        StatusCode::OK
    );
    let r = owner
        .put(
            &format!("/api/cases/{id}/assignee"),
            json!({ "assignee_id": owner.id, "if_version": seen }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["current"]["assignee_id"],
        agent.id.as_str(),
        "the loser learns who won"
    );
    assert_eq!(body["error"]["current"]["version"], seen + 1);
}

on_both!(
    rules_by_category_and_round_robin_fire_once_never_on_reopen,
    rules_by_category_and_round_robin_fire_once_never_on_reopen_on
);
async fn rules_by_category_and_round_robin_fire_once_never_on_reopen_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let senior = app.invite(&owner, "Sena Senior", "manager").await;
    let lead = app.invite(&owner, "Lee Lead", "agent").await;
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    assert_eq!(
        agent.get("/api/assign-rules").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        agent
            .put("/api/assign-rules", json!({ "mode": "unassigned" }))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    let rules = json!({ "mode": "by_category", "categories": { "complaint": senior.id, "pricing": owner.id }, "fallback": lead.id });
    assert_eq!(
        owner.put("/api/assign-rules", rules.clone()).await.status(),
        StatusCode::OK
    );
    let got = owner.json("/api/assign-rules").await;
    assert_eq!(got["mode"], "by_category");
    let complaint = app
        .customer_writes(&owner.ingest_token, "a@example.com", "I want a REFUND now")
        .await;
    assert_eq!(
        complaint["assignee_id"],
        senior.id.as_str(),
        "{db:?}: detected from keywords"
    );
    let given = app.inbound(&owner.ingest_token, json!({ "channel": "web", "from": { "name": "B", "email": "b@example.com" }, "body": "hello", "category": "pricing" })).await;
    assert_eq!(
        given.json::<Value>().await.unwrap()["assignee_id"],
        owner.id.as_str(),
        "category given by the caller"
    );
    let other = app
        .customer_writes(
            &owner.ingest_token,
            "c@example.com",
            "are you open on sundays",
        )
        .await;
    assert_eq!(other["assignee_id"], lead.id.as_str(), "fallback");

    // Custom keywords per workspace.
    assert_eq!(
        owner
            .patch(
                "/api/workspace",
                json!({ "category_keywords": { "complaint": ["awful"] } })
            )
            .await
            .status(),
        StatusCode::OK
    );
    let custom = app
        .customer_writes(&owner.ingest_token, "d@example.com", "That was awful")
        .await;
    assert_eq!(custom["assignee_id"], senior.id.as_str());

    // Round-robin; rules never fire on reopen or on a message to an open case.
    let rr = json!({ "mode": "round_robin", "pool": [agent.id, lead.id] });
    assert_eq!(
        owner.put("/api/assign-rules", rr).await.status(),
        StatusCode::OK
    );
    let e1 = app
        .customer_writes(&owner.ingest_token, "e@example.com", "one")
        .await;
    let e2 = app
        .customer_writes(&owner.ingest_token, "f@example.com", "two")
        .await;
    assert_eq!(
        (e1["assignee_id"].as_str(), e2["assignee_id"].as_str()),
        (Some(agent.id.as_str()), Some(lead.id.as_str()))
    );
    let id = e1["case_id"].as_str().unwrap();
    assert_eq!(owner.assign(id, None).await.status(), StatusCode::OK);
    assert_eq!(
        owner
            .put(
                &format!("/api/cases/{id}/status"),
                json!({ "status": "archived" })
            )
            .await
            .status(),
        StatusCode::OK
    );
    let reopened = app
        .customer_writes(&owner.ingest_token, "e@example.com", "back again")
        .await;
    assert_eq!(
        (
            reopened["reopened"].as_bool(),
            reopened["assignee_id"].clone()
        ),
        (Some(true), Value::Null),
        "no rule on reopen"
    );

    // Invalid rules change nothing.
    let (s, _, field) = error_of(
        owner
            .put(
                "/api/assign-rules",
                json!({ "mode": "round_robin", "pool": [agent.id, agent.id] }),
            )
            .await,
    )
    .await;
    assert_eq!(
        (s, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("pool"))
    );
    let (s, _, field) = error_of(
        owner
            .put("/api/assign-rules", json!({ "mode": "sometimes" }))
            .await,
    )
    .await;
    assert_eq!(
        (s, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("mode"))
    );
    assert_eq!(owner.json("/api/assign-rules").await["mode"], "round_robin");
    app.stop().await;
}

on_both!(
    bulk_reassign_and_departures_leave_no_gap,
    bulk_reassign_and_departures_leave_no_gap_on
);
async fn bulk_reassign_and_departures_leave_no_gap_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let leaving = app.invite(&owner, "Lou Leaving", "agent").await;
    let taker = app.invite(&owner, "Tia Taker", "agent").await;
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let c = app
            .customer_writes(&owner.ingest_token, &format!("c{i}@example.com"), "hi")
            .await;
        let id = c["case_id"].as_str().unwrap().to_string();
        assert_eq!(
            owner.assign(&id, Some(&leaving.id)).await.status(),
            StatusCode::OK
        );
        ids.push(id);
    }
    assert_eq!(
        owner
            .put(
                &format!("/api/cases/{}/status", ids[4]),
                json!({ "status": "won" })
            )
            .await
            .status(),
        StatusCode::OK
    );

    // Agents cannot move a whole queue; managers and up can.
    assert_eq!(
        agent
            .post(
                "/api/cases/bulk-reassign",
                json!({ "from": leaving.id, "to": taker.id })
            )
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let r = owner
        .post(
            "/api/cases/bulk-reassign",
            json!({ "from": leaving.id, "to": taker.id }),
        )
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["moved"],
        4,
        "{db:?}: open cases only"
    );
    assert_eq!(taker.list("mine", "open").await.len(), 4);
    assert_eq!(
        leaving.list("mine", "closed").await,
        vec![ids[4].clone()],
        "closed cases stay where they were"
    );
    for id in &ids[..4] {
        let t = owner.json(&format!("/api/cases/{id}")).await["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["kind"] == "assigned")
            .count();
        assert_eq!(t, 2, "one timeline entry per case per move");
    }

    // Removing a teammate needs a decision, applied in the same step.
    assert_eq!(
        owner
            .post(
                "/api/cases/bulk-reassign",
                json!({ "from": taker.id, "to": leaving.id })
            )
            .await
            .status(),
        StatusCode::OK
    );
    let r = owner
        .delete(&format!("/api/teammates/{}", leaving.id), None)
        .await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "no decision, no removal"
    );
    let (s, _, field) = error_of(
        owner
            .delete(
                &format!("/api/teammates/{}", leaving.id),
                Some(json!({ "reassign_to": leaving.id })),
            )
            .await,
    )
    .await;
    assert_eq!(
        (s, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reassign_to"))
    );
    let r = owner
        .delete(
            &format!("/api/teammates/{}", leaving.id),
            Some(json!({ "reassign_to": agent.id })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["moved"], 4);
    assert_eq!(agent.list("mine", "open").await.len(), 4);
    assert_eq!(
        leaving.get("/api/me").await.status(),
        StatusCode::UNAUTHORIZED,
        "the removed teammate's session ends"
    );
    let assignable = owner.json("/api/teammates?assignable=true").await;
    assert!(!assignable["teammates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == leaving.id.as_str()));
    // Gone from the team list, but still named on the cases and timelines they touched.
    let named = |list: Value| {
        list["teammates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == leaving.id.as_str())
            .map(|t| t["active"].clone())
    };
    assert_eq!(named(owner.json("/api/teammates").await), None);
    assert_eq!(
        named(owner.json("/api/teammates?removed=true").await),
        Some(json!(false))
    );
    let (s, _, _) = error_of(owner.assign(&ids[0], Some(&leaving.id)).await).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "removed teammates cannot be assigned"
    );

    // Back to the pool.
    let r = owner
        .delete(
            &format!("/api/teammates/{}", agent.id),
            Some(json!({ "reassign_to": null })),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["moved"], 4);
    assert_eq!(
        owner.json("/api/cases/counts").await["unassigned"]["open"],
        4
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn away_teammates_leave_the_rotation() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let a = app.invite(&owner, "Ann", "agent").await;
    let b = app.invite(&owner, "Ben", "agent").await;
    assert_eq!(
        owner
            .put(
                "/api/assign-rules",
                json!({ "mode": "round_robin", "pool": [a.id, b.id] })
            )
            .await
            .status(),
        StatusCode::OK
    );
    // A teammate marks themselves away; another agent may not do it for them.
    assert_eq!(
        a.patch(&format!("/api/teammates/{}", b.id), json!({ "away": true }))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.patch(&format!("/api/teammates/{}", b.id), json!({ "away": true }))
            .await
            .status(),
        StatusCode::OK
    );
    for i in 0..3 {
        let c = app
            .customer_writes(&owner.ingest_token, &format!("c{i}@example.com"), "hi")
            .await;
        assert_eq!(c["assignee_id"], a.id.as_str());
    }
    assert_eq!(
        owner
            .patch(
                &format!("/api/teammates/{}", b.id),
                json!({ "away": false })
            )
            .await
            .status(),
        StatusCode::OK
    );
    let c = app
        .customer_writes(&owner.ingest_token, "c9@example.com", "hi")
        .await;
    assert_eq!(c["assignee_id"], b.id.as_str());
}

on_both!(
    follow_ups_fall_due_and_survive_restarts,
    follow_ups_fall_due_and_survive_restarts_on
);
async fn follow_ups_fall_due_and_survive_restarts_on(db: Db) {
    let test_db = crate::common::TestDb::new(db).await;
    let app = TestApp::spawn_with(db, test_db.url.clone(), |_| {}).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let case = app
        .customer_writes(&owner.ingest_token, "c@example.com", "hi")
        .await;
    let id = case["case_id"].as_str().unwrap().to_string();
    assert_eq!(
        owner
            .post(
                &format!("/api/cases/{id}/messages"),
                json!({ "kind": "reply", "body": "We'll call you" })
            )
            .await
            .status(),
        StatusCode::CREATED
    );
    let due = chrono::Utc::now() + chrono::Duration::seconds(3);
    let r = owner
        .put(
            &format!("/api/cases/{id}/follow-up"),
            json!({ "due_at": due }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<Value>().await.unwrap()["follow_up_at"].is_string());
    let (s, _, field) = error_of(
        owner
            .put(
                &format!("/api/cases/{id}/follow-up"),
                json!({ "due_at": "tomorrow" }),
            )
            .await,
    )
    .await;
    assert_eq!(
        (s, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("due_at"))
    );
    // The server stops before it is due; a new one fires it.
    app.stop().await;
    let app = TestApp::spawn_with(db, test_db.url.clone(), |_| {}).await;
    let mut status = Value::Null;
    for _ in 0..60 {
        status = owner_status(&app, &owner, &id).await;
        if status == "follow_up_due" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, "follow_up_due", "{db:?}");
    app.stop().await;
}

on_both!(
    assignments_racing_a_removal_leave_nothing_with_the_removed,
    assignments_racing_a_removal_leave_nothing_with_the_removed_on
);
/// An assignment reads the case and the assignee before it takes the workspace lock; a removal
/// that lands in between must still win: no open case ends with a removed teammate, and each
/// assignment either happened before the removal (and moved with it) or is refused.
async fn assignments_racing_a_removal_leave_nothing_with_the_removed_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let taker = app.invite(&owner, "Tia Taker", "agent").await;
    let mut ids = Vec::new();
    for i in 0..24 {
        let c = app
            .customer_writes(&owner.ingest_token, &format!("c{i}@example.com"), "hi")
            .await;
        ids.push(c["case_id"].as_str().unwrap().to_string());
    }
    for round in 0..3 {
        let leaving = app
            .invite(&owner, &format!("Lou Leaving {round}"), "agent")
            .await;
        let assignments = ids.iter().map(|id| {
            let (owner, to) = (owner.clone(), leaving.id.clone());
            async move { owner.assign(id, Some(&to)).await.status() }
        });
        let removal = async {
            tokio::time::sleep(Duration::from_millis(5 * round)).await;
            let path = format!("/api/teammates/{}", leaving.id);
            let body = json!({ "reassign_to": taker.id });
            owner.delete(&path, Some(body)).await.status()
        };
        let (statuses, removed) =
            tokio::join!(futures_util::future::join_all(assignments), removal);
        assert_eq!(removed, StatusCode::OK, "{db:?} round {round}");
        for status in &statuses {
            assert!(
                [StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY].contains(status),
                "{db:?} round {round}: {statuses:?}"
            );
        }
        for id in &ids {
            let case = owner.json(&format!("/api/cases/{id}")).await["case"].clone();
            assert_ne!(
                case["assignee_id"],
                leaving.id.as_str(),
                "{db:?} round {round}: a case stayed with the removed teammate"
            );
        }
    }
    app.stop().await;
}

/// How many times the case's timeline says it was assigned.
async fn assigned_entries(user: &crate::common::User, id: &str) -> usize {
    let detail = user.json(&format!("/api/cases/{id}")).await;
    detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "assigned")
        .count()
}

async fn owner_status(app: &TestApp, owner: &crate::common::User, id: &str) -> Value {
    let r = owner
        .client
        .get(format!("{}/api/cases/{id}", app.url))
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["case"]["status"].clone()
}
