//! The working day: saved replies with variables, tags (live, filtered, counted, lockable) and
//! snooze (hidden, listed, woken by the clock once across instances, or by the customer).

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{error_of, postgres_available, require, Db, TestApp, TestDb, User, Ws};

const WAIT: Duration = Duration::from_secs(20);

async fn ok(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

async fn socket(app_url: &str, user: &User) -> Ws {
    let mut ws = Ws::connect(app_url, &user.api_token().await, None)
        .await
        .expect("socket");
    ws.expect("hello", WAIT).await;
    ws
}

/// The `case.X` event for this case, skipping everything else on the socket.
async fn event_for(ws: &mut Ws, kind: &str, case_id: &str) -> Value {
    loop {
        let frame = ws.expect(kind, WAIT).await;
        if frame["event"]["case_id"] == case_id {
            return frame["event"].clone();
        }
    }
}

async fn saved_replies_render_for_a_case_and_personal_ones_stay_private(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Sam Support", "agent").await;
    let other = app.invite(&owner, "Pat Peer", "agent").await;
    let r = app
        .inbound(
            &owner.ingest_token,
            json!({ "channel": "email", "from": { "name": "Ana María López", "email": "ana@example.com" }, "body": "Where is my parcel?" }),
        )
        .await;
    let case = ok(r).await;
    let (case_id, number) = (
        case["case_id"].as_str().unwrap(),
        case["number"].as_str().unwrap(),
    );

    let team = ok(owner
        .post(
            "/api/saved-replies",
            json!({ "name": "Greeting", "scope": "workspace", "body": "Hi {{customer.first_name}}, {{ teammate.name }} here about {{case.number}} for {{customer.name}}." }),
        )
        .await)
    .await;
    assert_eq!(team["scope"], "workspace");
    let own = ok(agent
        .post(
            "/api/saved-replies",
            json!({ "name": "Sam's sign-off", "body": "Cheers, {{teammate.name}}" }),
        )
        .await)
    .await;
    assert_eq!(
        (own["scope"].as_str(), own["owner_id"].as_str()),
        (Some("personal"), Some(agent.id.as_str()))
    );

    // Rendered by the server for this case, with the caller's name.
    let rendered = ok(agent
        .post(
            &format!(
                "/api/cases/{case_id}/saved-replies/{}/render",
                team["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await)
    .await;
    assert_eq!(
        rendered["body"],
        format!("Hi Ana, Sam Support here about {number} for Ana María López.")
    );
    let rendered = ok(agent
        .post(
            &format!(
                "/api/cases/{case_id}/saved-replies/{}/render",
                own["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await)
    .await;
    assert_eq!(rendered["body"], "Cheers, Sam Support");

    // A personal reply is its author's alone.
    let mine = ok(agent.get("/api/saved-replies").await).await;
    assert_eq!(
        names(&mine, "saved_replies"),
        ["Greeting", "Sam's sign-off"]
    );
    let theirs = ok(other.get("/api/saved-replies").await).await;
    assert_eq!(names(&theirs, "saved_replies"), ["Greeting"]);
    let own_id = own["id"].as_str().unwrap();
    let render_path = format!("/api/cases/{case_id}/saved-replies/{own_id}/render");
    assert_eq!(
        other.post(&render_path, json!({})).await.status(),
        StatusCode::NOT_FOUND
    );
    let path = format!("/api/saved-replies/{own_id}");
    assert_eq!(
        other
            .patch(&path, json!({ "name": "Mine now" }))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other.delete(&path, None).await.status(),
        StatusCode::NOT_FOUND
    );
    // Agents do not change the workspace's replies.
    let (status, code, _) = error_of(
        agent
            .post(
                "/api/saved-replies",
                json!({ "name": "Team", "scope": "workspace", "body": "Hello" }),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );

    // An unknown variable is refused, naming the field, and nothing is saved or changed.
    let (status, code, field) = error_of(
        agent
            .post(
                "/api/saved-replies",
                json!({ "name": "Age", "body": "You are {{customer.age}}" }),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str(), field.as_deref()),
        (StatusCode::BAD_REQUEST, "unknown_variable", Some("body"))
    );
    let (status, code, _) = error_of(
        agent
            .patch(&path, json!({ "body": "Bye {{customer.first_name" }))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "unknown_variable")
    );
    let after = ok(agent.get("/api/saved-replies").await).await;
    assert_eq!(
        names(&after, "saved_replies"),
        ["Greeting", "Sam's sign-off"]
    );
    assert_eq!(
        after["saved_replies"][1]["body"],
        "Cheers, {{teammate.name}}"
    );

    // Its author edits and deletes it.
    let edited = ok(agent
        .patch(&path, json!({ "body": "Best, {{teammate.name}}" }))
        .await)
    .await;
    assert_eq!(edited["body"], "Best, {{teammate.name}}");
    assert_eq!(
        agent.delete(&path, None).await.status(),
        StatusCode::NO_CONTENT
    );
    let after = ok(agent.get("/api/saved-replies").await).await;
    assert_eq!(names(&after, "saved_replies"), ["Greeting"]);
    app.stop().await;
}
on_both!(
    saved_replies_render_and_stay_private,
    saved_replies_render_for_a_case_and_personal_ones_stay_private
);

fn tag_named<'a>(tags: &'a Value, name: &str) -> Option<&'a Value> {
    tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
}

async fn tags_change_live_filter_count_and_lock(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Sam Support", "agent").await;
    let watcher = app.invite(&owner, "Pat Peer", "agent").await;
    let c1 = app
        .customer_writes(&owner.ingest_token, "one@example.com", "First")
        .await;
    let c2 = app
        .customer_writes(&owner.ingest_token, "two@example.com", "Second")
        .await;
    let (c1, c2) = (
        c1["case_id"].as_str().unwrap(),
        c2["case_id"].as_str().unwrap(),
    );
    assert_eq!(
        owner.assign(c1, Some(&agent.id)).await.status(),
        StatusCode::OK
    );
    let mut ws = socket(&app.url, &watcher).await;

    // An agent makes a tag on the fly; the other teammate's screen hears of it.
    let case = ok(agent
        .post(
            &format!("/api/cases/{c1}/tags"),
            json!({ "name": "VIP", "color": "#AA0000" }),
        )
        .await)
    .await;
    assert_eq!(case["tags"][0]["name"], "VIP");
    assert_eq!(case["tags"][0]["color"], "#aa0000");
    let vip = case["tags"][0]["id"].as_str().unwrap().to_string();
    let event = event_for(&mut ws, "case.tagged", c1).await;
    assert_eq!(
        (event["tag_id"].as_str(), event["name"].as_str()),
        (Some(vip.as_str()), Some("VIP"))
    );
    // The same name in another case is the same tag.
    let case = ok(owner
        .post(&format!("/api/cases/{c2}/tags"), json!({ "name": "vip" }))
        .await)
    .await;
    assert_eq!(case["tags"][0]["id"], vip.as_str());
    ok(owner
        .post(
            &format!("/api/cases/{c2}/tags"),
            json!({ "name": "Refund" }),
        )
        .await)
    .await;

    // Filtered and counted per view.
    let listed = |v: Value| -> Vec<String> {
        v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = ok(agent.get(&format!("/api/cases?view=all&tag={vip}")).await).await;
    let mut ids = listed(all.clone());
    ids.sort();
    let mut want = vec![c1.to_string(), c2.to_string()];
    want.sort();
    assert_eq!(ids, want);
    assert!(all["cases"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "VIP"));
    let mine = ok(agent.get(&format!("/api/cases?view=mine&tag={vip}")).await).await;
    assert_eq!(listed(mine), [c1]);
    let refund = tag_named(&ok(agent.get("/api/tags").await).await, "Refund").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let un = ok(agent
        .get(&format!("/api/cases?view=unassigned&tag={refund}"))
        .await)
    .await;
    assert_eq!(listed(un), [c2]);
    let tags = ok(agent.get("/api/tags").await).await;
    assert_eq!(names(&tags, "tags"), ["Refund", "VIP"]);
    assert_eq!(
        tag_named(&tags, "VIP").unwrap()["counts"],
        json!({ "mine": 1, "unassigned": 1, "all": 2, "snoozed": 0 })
    );
    assert_eq!(
        tag_named(&tags, "Refund").unwrap()["counts"],
        json!({ "mine": 0, "unassigned": 1, "all": 1, "snoozed": 0 })
    );
    let detail = ok(agent.get(&format!("/api/cases/{c1}")).await).await;
    assert_eq!(detail["case"]["tags"][0]["name"], "VIP");
    assert!(detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["kind"] == "tagged" && t["detail"]["name"] == "VIP"));

    // Taken off, live, and the filter and counts follow.
    let case = ok(agent
        .delete(&format!("/api/cases/{c1}/tags/{vip}"), None)
        .await)
    .await;
    assert_eq!(case["tags"], json!([]));
    let event = event_for(&mut ws, "case.untagged", c1).await;
    assert_eq!(event["tag_id"], vip.as_str());
    let mine = ok(agent.get(&format!("/api/cases?view=mine&tag={vip}")).await).await;
    assert!(listed(mine).is_empty());
    let tags = ok(agent.get("/api/tags").await).await;
    assert_eq!(tag_named(&tags, "VIP").unwrap()["counts"]["all"], 1);
    let detail = ok(agent.get(&format!("/api/cases/{c1}")).await).await;
    assert!(detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["kind"] == "untagged"));

    // Locked: agents use the list as it is; admins still add to it.
    ok(owner
        .patch("/api/workspace", json!({ "tags_locked": true }))
        .await)
    .await;
    let (status, code, _) = error_of(
        agent
            .post(
                &format!("/api/cases/{c1}/tags"),
                json!({ "name": "Urgent" }),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let (status, _, _) = error_of(agent.post("/api/tags", json!({ "name": "Urgent" })).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let tags = ok(agent.get("/api/tags").await).await;
    assert_eq!(
        (names(&tags, "tags"), tags["locked"].as_bool()),
        (vec!["Refund".to_string(), "VIP".to_string()], Some(true))
    );
    let detail = ok(agent.get(&format!("/api/cases/{c1}")).await).await;
    assert_eq!(detail["case"]["tags"], json!([]));
    let case = ok(agent
        .post(&format!("/api/cases/{c1}/tags"), json!({ "name": "VIP" }))
        .await)
    .await;
    assert_eq!(case["tags"][0]["id"], vip.as_str());
    let case = ok(owner
        .post(
            &format!("/api/cases/{c1}/tags"),
            json!({ "name": "Urgent" }),
        )
        .await)
    .await;
    assert_eq!(case["tags"].as_array().unwrap().len(), 2);
    app.stop().await;
}
on_both!(
    tags_live_filtered_counted_lockable,
    tags_change_live_filter_count_and_lock
);

/// A server whose outbox (emails without SMTP) is a folder the test can read.
async fn app_with_outbox(db: Db) -> (TestApp, TestDb, PathBuf) {
    let test_db = TestDb::new(db).await;
    let dir = tempfile::tempdir().unwrap().keep();
    let data = dir.clone();
    let app = TestApp::spawn_with(db, test_db.url.clone(), move |c| c.data_dir = data).await;
    (app, test_db, dir.join("outbox"))
}

/// Emails at once, so a ping shows up in the outbox without waiting.
async fn emails_at_once(user: &User) {
    let prefs = json!({ "web_push": false, "email": true, "chime": false, "unassigned": false, "email_delay_secs": 0 });
    assert_eq!(
        user.put("/api/me/notifications", prefs).await.status(),
        StatusCode::OK
    );
}

/// Waits for an email in `outbox` that contains every one of `needles`.
async fn email_with(outbox: &Path, needles: &[&str]) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        for entry in std::fs::read_dir(outbox).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if needles.iter().all(|n| text.contains(n)) {
                return text;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no email with {needles:?} in {outbox:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn woke_entries(detail: &Value) -> Vec<Value> {
    detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "woke")
        .cloned()
        .collect()
}

async fn snooze_hides_lists_and_wakes_by_itself(db: Db) {
    let (app, _db, outbox) = app_with_outbox(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Sam Support", "agent").await;
    emails_at_once(&agent).await;
    let case = app
        .customer_writes(&owner.ingest_token, "c@example.com", "Call me next week")
        .await;
    let (id, number) = (
        case["case_id"].as_str().unwrap(),
        case["number"].as_str().unwrap(),
    );
    assert_eq!(
        owner.assign(id, Some(&agent.id)).await.status(),
        StatusCode::OK
    );
    let mut ws = socket(&app.url, &owner).await;

    let path = format!("/api/cases/{id}/snooze");
    let (status, _, field) = error_of(
        agent
            .post(&path, json!({ "until": "2001-01-01T00:00:00Z" }))
            .await,
    )
    .await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("until"))
    );
    let until = chrono::Utc::now() + chrono::Duration::seconds(1);
    let snoozed = ok(agent.post(&path, json!({ "until": until })).await).await;
    assert!(snoozed["snoozed_until"].is_string());
    let snoozed_event = event_for(&mut ws, "case.snoozed", id).await;
    assert_eq!(snoozed_event["actor_id"], agent.id.as_str());

    let woke = event_for(&mut ws, "case.woke", id).await;
    assert_eq!(
        (woke["reason"].as_str(), woke["assignee_id"].as_str()),
        (Some("time"), Some(agent.id.as_str()))
    );
    assert!(agent.list("mine", "open").await.contains(&id.to_string()));
    assert!(agent.list("snoozed", "open").await.is_empty());
    let detail = ok(agent.get(&format!("/api/cases/{id}")).await).await;
    assert_eq!(detail["case"]["snoozed_until"], Value::Null);
    let woke = woke_entries(&detail);
    assert_eq!(woke.len(), 1);
    assert_eq!(woke[0]["detail"]["reason"], "time");
    // Its owner, who is not online, is pinged.
    email_with(&outbox, &["Back from snooze", number, &agent.email]).await;
    app.stop().await;
}
on_both!(
    snooze_wakes_by_itself,
    snooze_hides_lists_and_wakes_by_itself
);

async fn snooze_lists_in_snoozed_and_wakes_when_the_customer_writes(db: Db) {
    let (app, _db, outbox) = app_with_outbox(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Sam Support", "agent").await;
    emails_at_once(&agent).await;
    let case = app
        .customer_writes(&owner.ingest_token, "c@example.com", "Call me next week")
        .await;
    let (id, number) = (
        case["case_id"].as_str().unwrap(),
        case["number"].as_str().unwrap(),
    );
    assert_eq!(
        owner.assign(id, Some(&agent.id)).await.status(),
        StatusCode::OK
    );
    ok(agent
        .post(&format!("/api/cases/{id}/read"), json!({}))
        .await)
    .await;
    let mut ws = socket(&app.url, &owner).await;
    let until = chrono::Utc::now() + chrono::Duration::hours(3);
    ok(agent
        .post(
            &format!("/api/cases/{id}/snooze"),
            json!({ "until": until }),
        )
        .await)
    .await;
    for view in ["mine", "unassigned", "all"] {
        assert!(
            !agent.list(view, "open").await.contains(&id.to_string()),
            "{view}"
        );
    }
    assert_eq!(owner.list("snoozed", "open").await, [id]);
    let counts = ok(agent.get("/api/cases/counts").await).await;
    assert_eq!(
        (
            counts["snoozed"]["open"].as_i64(),
            counts["mine"]["open"].as_i64()
        ),
        (Some(1), Some(0))
    );

    // The customer writes: the case is back now, and its owner hears of the message.
    app.customer_writes(
        &owner.ingest_token,
        "c@example.com",
        "Actually, today please",
    )
    .await;
    let woke = event_for(&mut ws, "case.woke", id).await;
    assert_eq!(woke["reason"], "customer");
    assert!(agent.list("mine", "open").await.contains(&id.to_string()));
    assert!(owner.list("snoozed", "open").await.is_empty());
    let detail = ok(agent.get(&format!("/api/cases/{id}")).await).await;
    let woke = woke_entries(&detail);
    assert_eq!(
        (woke.len(), woke[0]["detail"]["reason"].as_str()),
        (1, Some("customer"))
    );
    email_with(&outbox, &["New message from", number, &agent.email]).await;

    // Woken by hand: snoozed again, then DELETE.
    let until = chrono::Utc::now() + chrono::Duration::hours(3);
    ok(agent
        .post(
            &format!("/api/cases/{id}/snooze"),
            json!({ "until": until }),
        )
        .await)
    .await;
    let case = ok(agent.delete(&format!("/api/cases/{id}/snooze"), None).await).await;
    assert_eq!(case["snoozed_until"], Value::Null);
    assert_eq!(
        event_for(&mut ws, "case.woke", id).await["reason"],
        "teammate"
    );
    app.stop().await;
}
on_both!(
    snooze_wakes_early_for_the_customer,
    snooze_lists_in_snoozed_and_wakes_when_the_customer_writes
);

/// Two instances on one Postgres, both running the snooze timer: every case wakes once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_wake_each_snoozed_case_once() {
    if !require("Postgres", postgres_available().await) {
        return;
    }
    let test_db = TestDb::new(Db::Postgres).await;
    let a = TestApp::spawn_with(Db::Postgres, test_db.url.clone(), |_| {}).await;
    let b = TestApp::spawn_with(Db::Postgres, test_db.url.clone(), |_| {}).await;
    let owner = a.signup("Acme", "Olivia Owner").await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let case = a
            .customer_writes(&owner.ingest_token, &format!("c{i}@example.com"), "Later")
            .await;
        ids.push(case["case_id"].as_str().unwrap().to_string());
    }
    let until = chrono::Utc::now() + chrono::Duration::seconds(1);
    for id in &ids {
        ok(owner
            .post(
                &format!("/api/cases/{id}/snooze"),
                json!({ "until": until }),
            )
            .await)
        .await;
    }
    // Each instance publishes the wakes it made to its own sockets (no Redis here), so the
    // shared event log is where both instances' wakes show.
    let store = baton::store::connect(&test_db.url).await.unwrap();
    let workspace = owner.workspace_id.parse().unwrap();
    let woke = || async {
        let mut woke = std::collections::BTreeMap::<String, usize>::new();
        for e in store.events_since(workspace, 0, 100_000).await.unwrap() {
            if e.event.name() == "case.woke" {
                let case = e.event.case_id().expect("a case").to_string();
                *woke.entry(case).or_default() += 1;
            }
        }
        woke
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while woke().await.len() < ids.len() {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", woke().await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Both timers have ticked several times more (every 2 s): still once each.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let woke = woke().await;
    assert_eq!(woke.len(), ids.len(), "{woke:?}");
    assert!(woke.values().all(|n| *n == 1), "{woke:?}");
    for id in &ids {
        let detail = ok(owner.get(&format!("/api/cases/{id}")).await).await;
        assert_eq!(woke_entries(&detail).len(), 1, "{id}");
    }
    a.stop().await;
    b.stop().await;
}
