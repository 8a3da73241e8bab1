//! A week of the seed documents' stories, played through the HTTP API as a new team would live
//! it: Maya runs the team (she signed the workspace up), Ada and Ben answer customers, Vic
//! watches. Monday's cases are spread fairly, Ada goes on holiday, a rush outgrows everyone's
//! limit and waits in Unassigned, and on Friday Ben leaves. At every step the test checks what
//! the team would look at: who owns what, what Unassigned shows, the timeline's reasons, and
//! that nobody holds more than their limit. The walkthrough is docs/walkthroughs/seed-week.md.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{error_of, Db, TestApp, User, Ws};

const LIMIT: usize = 3;
const WAIT: Duration = Duration::from_secs(10);

on_both!(a_week_of_the_seed_stories, week);

async fn ok(r: reqwest::Response) -> Value {
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    assert!(status.is_success(), "{status}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// A customer writes; answers the case id, with who the server says owns it now.
async fn writes(app: &TestApp, maya: &User, customer: &str, text: &str) -> (String, Value) {
    let email = format!("{customer}@example.com");
    let r = app.customer_writes(&maya.ingest_token, &email, text).await;
    (
        r["case_id"].as_str().unwrap().to_string(),
        r["assignee_id"].clone(),
    )
}

async fn case(user: &User, id: &str) -> Value {
    user.json(&format!("/api/cases/{id}")).await["case"].clone()
}

async fn owner_of(user: &User, id: &str) -> Value {
    case(user, id).await["assignee_id"].clone()
}

/// The last `assigned` entry of a case's timeline as (from, to, reason).
async fn last_move(user: &User, id: &str) -> (Value, Value, Value) {
    let detail = user.json(&format!("/api/cases/{id}")).await;
    let t = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|t| t["kind"] == "assigned")
        .cloned()
        .unwrap_or_else(|| panic!("no assignment on {id}: {detail}"));
    (
        t["from_id"].clone(),
        t["to_id"].clone(),
        t["detail"]["reason"].clone(),
    )
}

async fn set_status(user: &User, id: &str, status: &str) {
    ok(user
        .put(
            &format!("/api/cases/{id}/status"),
            json!({ "status": status }),
        )
        .await)
    .await;
}

async fn reply(user: &User, id: &str, text: &str) {
    ok(user
        .post(
            &format!("/api/cases/{id}/messages"),
            json!({ "kind": "reply", "body": text }),
        )
        .await)
    .await;
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn ids(cases: &[&String]) -> Vec<String> {
    sorted(cases.iter().map(|c| c.to_string()).collect())
}

/// Open cases per owner, as the All view shows them; asserts nobody is over `limit`.
async fn open_per_owner(maya: &User, limit: usize, when: &str) -> HashMap<String, usize> {
    let all = maya.json("/api/cases?view=all&filter=open&limit=200").await;
    let mut per: HashMap<String, usize> = HashMap::new();
    for c in all["cases"].as_array().unwrap() {
        if let Some(owner) = c["assignee_id"].as_str() {
            *per.entry(owner.to_string()).or_default() += 1;
        }
    }
    assert!(
        per.values().all(|n| *n <= limit),
        "{when}: someone is over the limit of {limit}: {per:?}"
    );
    per
}

async fn week(db: Db) {
    let app = TestApp::spawn(db).await;

    // Sunday: Maya sets the team up. Two agents share new cases in turn, three open cases
    // each at most, an away teammate's case goes on through the rules, a first reply within
    // 30 minutes. Vic, a viewer, only watches: the rules refuse to name him.
    let maya = app.signup("Sunny Plumbing", "Maya Manager").await;
    let ada = app.invite(&maya, "Ada Agent", "agent").await;
    let ben = app.invite(&maya, "Ben Agent", "agent").await;
    let vic = app.invite(&maya, "Vic Viewer", "viewer").await;
    let rules = json!({
        "mode": "round_robin",
        "pool": [ada.id, ben.id],
        "capacity": LIMIT,
        "away_behaviour": "reassign",
        "response_target_minutes": 30,
    });
    let (s, _, field) = error_of(
        maya.put(
            "/api/assign-rules",
            json!({ "mode": "round_robin", "pool": [ada.id, vic.id] }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("pool")),
        "{db:?}: a viewer is never in the rotation"
    );
    ok(maya.put("/api/assign-rules", rules.clone()).await).await;
    let shown = maya.json("/api/assign-rules").await;
    assert_eq!(shown["pool"], json!([ada.id, ben.id]), "{db:?}");
    let (s, _, _) = error_of(vic.put("/api/assign-rules", rules.clone()).await).await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "{db:?}: only admins set the rules"
    );

    // Monday: four customers write; the cases alternate between Ada and Ben, each with a
    // first-reply deadline.
    let mut monday = vec![];
    for (i, who) in ["rita", "sam", "tom", "uma"].iter().enumerate() {
        let (id, owner) = writes(&app, &maya, who, "My boiler is leaking").await;
        let want = if i % 2 == 0 { &ada.id } else { &ben.id };
        assert_eq!(owner, json!(want), "{db:?}: Monday case {i}");
        assert_eq!(
            last_move(&maya, &id).await,
            (Value::Null, json!(want), json!("auto_assign")),
            "{db:?}: assigned by the rules"
        );
        assert!(
            case(&maya, &id).await["response_due_at"].is_string(),
            "{db:?}: the deadline is shown"
        );
        monday.push(id);
    }
    let [rita, sam, tom, uma]: [String; 4] = monday.try_into().unwrap();
    assert_eq!(sorted(ada.list("mine", "open").await), ids(&[&rita, &tom]));
    assert_eq!(sorted(ben.list("mine", "open").await), ids(&[&sam, &uma]));
    assert!(maya.list("unassigned", "open").await.is_empty(), "{db:?}");

    // Ada answers both of hers, Ben only Sam. Past the target (the timer is driven with a
    // clock an hour on), Uma's case is flagged where Maya looks; Ben's reply clears it.
    reply(&ada, &rita, "A plumber comes at 10.").await;
    reply(&ada, &tom, "Can you send a photo?").await;
    reply(&ben, &sam, "On our way.").await;
    let store = baton::store::connect(&app.db_url).await.unwrap();
    let flagged = store
        .fire_breaches(chrono::Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    let kinds: Vec<&str> = flagged.iter().map(|e| e.event.name()).collect();
    assert_eq!(kinds, ["case.breached"], "{db:?}: only the unanswered case");
    assert_eq!(maya.list("all", "breached").await, vec![uma.clone()]);
    assert_eq!(maya.json("/api/cases/counts").await["all"]["breached"], 1);
    assert_eq!(ben.json("/api/cases/counts").await["mine"]["breached"], 1);
    assert_eq!(
        owner_of(&maya, &uma).await,
        json!(ben.id),
        "flagged, not moved"
    );
    reply(&ben, &uma, "Sorry for the wait, booked for tomorrow.").await;
    assert!(maya.list("all", "breached").await.is_empty(), "{db:?}");
    // Rita's and Sam's jobs are done.
    set_status(&ada, &rita, "won").await;
    set_status(&ben, &sam, "won").await;
    open_per_owner(&maya, LIMIT, "Monday").await;

    // Tuesday: Ada's holiday, booked with dates. Round-robin skips her, and a customer who
    // writes on one of her cases, open or closed, is served by the rules (Ben), with the
    // timeline saying why.
    let holiday = ok(ada
        .patch(
            &format!("/api/teammates/{}", ada.id),
            json!({
                "away_from": chrono::Utc::now().to_rfc3339(),
                "away_until": (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339(),
            }),
        )
        .await)
    .await;
    assert_eq!(holiday["away"], true, "{db:?}: the holiday has started");
    let (id, owner) = writes(&app, &maya, "tom", "Here is the photo").await;
    assert_eq!((&id, &owner), (&tom, &json!(ben.id)), "{db:?}");
    assert_eq!(
        last_move(&maya, &tom).await,
        (json!(ada.id), json!(ben.id), json!("owner_away"))
    );
    let back = app
        .customer_writes(&maya.ingest_token, "rita@example.com", "It drips again")
        .await;
    assert_eq!(back["reopened"], true, "{db:?}");
    assert_eq!(back["assignee_id"], json!(ben.id), "{db:?}");
    assert_eq!(
        last_move(&maya, &rita).await,
        (json!(ada.id), json!(ben.id), json!("owner_away"))
    );
    assert!(ada.list("mine", "open").await.is_empty(), "{db:?}");
    assert_eq!(
        sorted(ben.list("mine", "open").await),
        ids(&[&rita, &tom, &uma]),
        "{db:?}: Ben is at his limit"
    );

    // Wednesday: a rush. Ada is away and Ben full, so the four new cases wait in
    // Unassigned, in order of arrival; nobody goes over the limit.
    let mut rush = vec![];
    for who in ["vera", "walt", "xena", "yusuf"] {
        let (id, owner) = writes(&app, &maya, who, "No hot water").await;
        assert_eq!(owner, Value::Null, "{db:?}: {who} waits");
        assert!(
            case(&maya, &id).await["queued_at"].is_string(),
            "{db:?}: shown as waiting"
        );
        rush.push(id);
    }
    let waiting = sorted(rush.clone());
    assert_eq!(sorted(maya.list("unassigned", "open").await), waiting);
    assert_eq!(
        sorted(vic.list("unassigned", "open").await),
        waiting,
        "{db:?}: the viewer sees the queue"
    );
    assert_eq!(
        maya.json("/api/cases/counts").await["unassigned"]["open"],
        4
    );
    open_per_owner(&maya, LIMIT, "the rush").await;
    // Ben finishes Uma's job: the oldest waiting case is his at once, the others wait.
    set_status(&ben, &uma, "won").await;
    assert_eq!(owner_of(&maya, &rush[0]).await, json!(ben.id), "{db:?}");
    assert_eq!(
        last_move(&maya, &rush[0]).await,
        (Value::Null, json!(ben.id), json!("queue"))
    );
    assert_eq!(
        sorted(maya.list("unassigned", "open").await),
        sorted(rush[1..].to_vec())
    );
    open_per_owner(&maya, LIMIT, "Wednesday").await;

    // Thursday: Ada is back early. She moves the end of her holiday to a second from now and
    // the holiday ends by itself; the waiting cases come to her oldest first, up to her
    // limit, with nobody pressing anything.
    let seq = store
        .last_seq(ada.workspace_id.parse().unwrap())
        .await
        .unwrap();
    ok(ada
        .patch(
            &format!("/api/teammates/{}", ada.id),
            json!({ "away_until": (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339() }),
        )
        .await)
    .await;
    let deadline = Instant::now() + WAIT;
    while ada.list("mine", "open").await.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "{db:?}: the queue did not go to Ada when her holiday ended"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let shown = maya.json("/api/teammates?q=Ada").await;
    assert_eq!(shown["teammates"][0]["away"], false, "{db:?}: back");
    assert!(maya.list("unassigned", "open").await.is_empty(), "{db:?}");
    let handed: Vec<String> = store
        .events_since(ada.workspace_id.parse().unwrap(), seq, 100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            baton::events::EventKind::CaseAssigned {
                case_id,
                actor_id: None,
                ..
            } => Some(case_id.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(handed, rush[1..], "{db:?}: oldest first");
    for id in &rush[1..] {
        assert_eq!(
            last_move(&maya, id).await,
            (Value::Null, json!(ada.id), json!("queue"))
        );
    }
    open_per_owner(&maya, LIMIT, "Thursday").await;

    // Friday: Ben leaves. His open cases go back to Unassigned in the same step, the rules
    // stop naming him (every open settings page hears of it), and his closed cases keep his
    // name as history.
    let token = maya.api_token().await;
    let mut socket = Ws::connect(&app.url, &token, None).await.expect("socket");
    socket.expect("hello", WAIT).await;
    let moved = ok(maya
        .delete(
            &format!("/api/teammates/{}", ben.id),
            Some(json!({ "reassign_to": null })),
        )
        .await)
    .await;
    assert_eq!(moved["moved"], 3, "{db:?}");
    let ben_open = ids(&[&rita, &tom, &rush[0]]);
    assert_eq!(sorted(maya.list("unassigned", "open").await), ben_open);
    for id in &ben_open {
        assert_eq!(
            last_move(&maya, id).await,
            (json!(ben.id), Value::Null, json!("departure"))
        );
    }
    let changed = socket.expect("rules.changed", WAIT).await;
    assert_eq!(changed["event"]["actor_id"], json!(maya.id), "{db:?}");
    let shown = maya.json("/api/assign-rules").await;
    assert_eq!(
        shown["pool"],
        json!([ada.id]),
        "{db:?}: the rules forget Ben"
    );
    assert_eq!(owner_of(&maya, &sam).await, json!(ben.id), "history");
    let (s, _, _) = error_of(maya.assign(&rita, Some(&ben.id)).await).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{db:?}");

    // Sam writes again: his closed case reopens for the rules, not for Ben. Ada is full, so it
    // waits in Unassigned. A customer on one of Ben's open cases stays in Unassigned too.
    let back = app
        .customer_writes(&maya.ingest_token, "sam@example.com", "The tap drips now")
        .await;
    assert_eq!(
        (&back["reopened"], &back["assignee_id"]),
        (&json!(true), &Value::Null),
        "{db:?}"
    );
    assert_eq!(
        last_move(&maya, &sam).await,
        (json!(ben.id), Value::Null, json!("owner_removed"))
    );
    assert!(case(&maya, &sam).await["queued_at"].is_string(), "{db:?}");
    let (id, owner) = writes(&app, &maya, "tom", "Anyone there?").await;
    assert_eq!((&id, &owner), (&tom, &Value::Null), "{db:?}");

    // Maya gives Ada room for one more, saving the rules as she sees them (they name nobody
    // who left): the waiting case goes to Ada. She takes one of Ben's cases herself.
    let mut more = shown.clone();
    more["capacity"] = json!(LIMIT + 1);
    ok(maya.put("/api/assign-rules", more).await).await;
    assert_eq!(owner_of(&maya, &sam).await, json!(ada.id), "{db:?}");
    assert_eq!(
        last_move(&maya, &sam).await,
        (Value::Null, json!(ada.id), json!("queue"))
    );
    ok(maya.assign(&rita, Some(&maya.id)).await).await;
    assert_eq!(
        sorted(maya.list("unassigned", "open").await),
        ids(&[&tom, &rush[0]]),
        "{db:?}: what is left for the team to pick up"
    );
    open_per_owner(&maya, LIMIT + 1, "Friday").await;

    // The week as the team sees it: nothing with Ben or Vic, every case accounted for.
    let mut cases = vec![];
    for filter in ["open", "closed"] {
        let list = maya
            .json(&format!("/api/cases?view=all&filter={filter}&limit=200"))
            .await;
        cases.extend(list["cases"].as_array().unwrap().clone());
    }
    assert_eq!(cases.len(), 8, "{db:?}");
    for c in &cases {
        assert_ne!(
            c["assignee_id"],
            json!(vic.id),
            "{db:?}: a viewer owns nothing"
        );
        let open = !["won", "lost", "archived"].contains(&c["status"].as_str().unwrap());
        if open {
            assert_ne!(c["assignee_id"], json!(ben.id), "{db:?}: {c}");
        }
    }
    assert!(vic.list("mine", "open").await.is_empty(), "{db:?}");
    assert!(vic.list("mine", "closed").await.is_empty(), "{db:?}");
    assert_eq!(
        sorted(ada.list("mine", "open").await),
        sorted(vec![
            rush[1].clone(),
            rush[2].clone(),
            rush[3].clone(),
            sam.clone()
        ])
    );
    assert_eq!(owner_of(&maya, &uma).await, json!(ben.id), "history");
    drop(socket);
    app.stop().await;
}
