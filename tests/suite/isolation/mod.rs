//! Tenant isolation: a teammate of workspace A, whatever their role, who uses the ids of
//! workspace B gets what a made-up id gets (404 for an id in the path), never B's data, and
//! changes nothing in B.
//!
//! Two workspaces are built side by side, each with an owner, an admin, a manager, an agent and
//! a viewer, cases with messages, a note and a follow-up, a pending invite and a push
//! subscription. Every string of B (names, emails, subjects, message bodies, the push endpoint)
//! carries a marker, and every id of B is known; no answer to A may contain any of them unless A
//! sent it itself.
//!
//! The HTTP matrix takes every operation of the live `/api/openapi.json` plus the routes outside
//! it (`.route(…)` in `src/http/*.rs`, and the web app's deep links), calls each as every role of
//! A with A's ids ("same") and with B's ids ("other"), and compares the statuses with
//! `isolation.table`. A route without rows, or a row without a route, fails the test.
//!
//! `world` builds the two workspaces, `engine` turns a row of the table into a request and reads
//! its answer, `table` reads, writes and compares `isolation.table`; the tests are here.

mod engine;
mod table;
mod world;

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Client;
use serde_json::{json, Value};

use crate::common::{enc, get_json, Db, TestApp, Ws};
use engine::{atoms_of, leaks, Matrix, Side};
use table::{diff, parse_table, render, Rows, TABLE};
use world::{two_worlds, unsubscribe_links, Api, Member};

const ROLES: [&str; 5] = ["owner", "admin", "manager", "agent", "viewer"];
const OWNER: usize = 0;
const AGENT: usize = 3;
const VIEWER: usize = 4;
const WAIT: Duration = Duration::from_secs(10);
/// How long a socket must stay silent to count as having nothing more to say.
const QUIET: Duration = Duration::from_millis(400);

/// Routes that are not in the OpenAPI document: the document itself, the socket, the
/// unsubscribe page and the web app (any other GET serves it, `/cases/{id}` is its deep link).
const OUTSIDE_OPENAPI: [&str; 7] = [
    "GET /api/openapi.json",
    "POST /hooks/twilio/{channel_id}",
    "POST /hooks/twilio/{channel_id}/status",
    "GET /ws",
    "GET /unsubscribe",
    "POST /unsubscribe",
    "GET /cases/{id}",
];

/// The same route with B's id in the body instead of the path (A's own id in the path).
const BODY_VARIANTS: [&str; 4] = [
    "PUT /api/cases/{id}/assignee [B's teammate in body]",
    "POST /api/cases/{id}/messages [note @mentions B's teammate]",
    "DELETE /api/teammates/{id} [reassign_to B's teammate]",
    "POST /api/customers/{id}/merge [into B's customer]",
];

/// Paths given to `.route(…)` in `src/http/*.rs`: the routes the OpenAPI document does not list
/// must be in `OUTSIDE_OPENAPI`.
fn routes_in_source() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for piece in text.split(".route(").skip(1) {
            if let Some(path) = piece
                .trim_start()
                .strip_prefix('"')
                .and_then(|p| p.split('"').next())
            {
                out.insert(path.to_string());
            }
        }
    }
    out
}

async fn spec_operations(app: &TestApp) -> Vec<String> {
    let spec = get_json(&format!("{}/api/openapi.json", app.url), None).await;
    let mut out = vec![];
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            if ops.get(method).is_some() {
                out.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    out
}

on_both!(
    every_route_for_every_role_matches_the_isolation_table,
    every_route_for_every_role_matches_the_isolation_table_on
);
async fn every_route_for_every_role_matches_the_isolation_table_on(db: Db) {
    let expected = parse_table(TABLE);
    let started = std::time::Instant::now();
    let app = TestApp::spawn(db).await;
    let (a, b) = two_worlds(&app).await;
    // B's own emailed reply settles (queued -> sent) in the background: wait for it, so
    // that the only changes to B left to see are A's doing.
    let mut before = b.snapshot(&app).await;
    for _ in 0..100 {
        if !before.to_string().contains("\"queued\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        before = b.snapshot(&app).await;
    }
    let secrets = b.secrets(&before, &a);

    let ops = spec_operations(&app).await;
    let mut problems = vec![];
    for path in routes_in_source() {
        if !OUTSIDE_OPENAPI
            .iter()
            .any(|k| k.ends_with(&format!(" {path}")))
        {
            problems.push(format!(
                "route {path} (src/http) is neither in the OpenAPI document nor in \
                 OUTSIDE_OPENAPI"
            ));
        }
    }
    let mut keys: Vec<(String, Vec<Side>)> = ops
        .iter()
        .map(|k| k.as_str())
        .chain(OUTSIDE_OPENAPI)
        .map(|k| (k.to_string(), vec![Side::A, Side::B]))
        .collect();
    keys.extend(BODY_VARIANTS.iter().map(|k| (k.to_string(), vec![Side::B])));

    let mut m = Matrix {
        app: &app,
        http: Client::new(),
        api: Api::new(&app),
        a: &a,
        b: &b,
        a_ingest: a.ingest.clone(),
        b_seq: before["members"][0]["seq"].as_i64().unwrap(),
        unsubscribe: unsubscribe_links(&app, a.members.iter().map(|m| m.id.clone())).await,
        secrets: secrets.clone(),
        problems: vec![],
        own_reads: vec![],
    };
    let mut actual: Rows = vec![];
    for (key, sides) in &keys {
        for (role, name) in ROLES.iter().enumerate() {
            for side in sides {
                let status = m.row(key, role, *side).await;
                let scope = if *side == Side::A { "same" } else { "other" };
                actual.push((key.clone(), (*name).into(), scope.into(), status));
            }
        }
    }
    problems.append(&mut m.problems);

    // The marker check can see: A's own reads carry A's marker where they hold A's data.
    for key in [
        "GET /api/cases",
        "GET /api/cases/{id}",
        "GET /api/teammates",
        "GET /api/workspace",
    ] {
        let seen = m
            .own_reads
            .iter()
            .filter(|(k, body)| k == key && body.contains(&a.marker))
            .count();
        assert_eq!(
            seen,
            ROLES.len(),
            "{key}: every role reads A's own data, marker included"
        );
    }

    let table_diff = diff(&expected, &actual);
    if !table_diff.is_empty() {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("isolation.table.actual");
        std::fs::write(&path, render(&actual)).unwrap();
        problems.push(format!(
            "{db:?}: the answers differ from tests/suite/isolation.table (- expected, + actual):\n{}\nThe whole table as observed: {}",
            table_diff.join("\n"),
            path.display()
        ));
    }

    let after = b.snapshot(&app).await;
    let mut changed = vec![];
    differences("B", &before, &after, &mut changed);
    if !changed.is_empty() {
        problems.push(format!(
            "{db:?}: B changed under A's calls:\n{}",
            changed.join("\n")
        ));
    }
    // What the snapshot cannot show: B's subscription, pending invite and passwords are
    // still B's.
    let api = Api::new(&app);
    let (status, _) = api
        .call(
            &b.members[VIEWER].token,
            "DELETE /api/push/subscriptions",
            json!({ "endpoint": b.endpoint }),
        )
        .await;
    assert_eq!(status, 204, "B's viewer still holds its push subscription");
    let (status, v) = api
        .call(
            "-",
            &format!("POST /api/invites/{}/accept", b.pending_invite),
            json!({ "password": b.password }),
        )
        .await;
    assert_eq!(
        (status, v["workspace"]["name"].as_str()),
        (200, Some(b.name.as_str())),
        "B's pending invite still joins B"
    );
    for member in &b.members {
        let (status, _) = api
            .call(
                "-",
                "POST /api/session",
                json!({ "email": member.email, "password": b.password }),
            )
            .await;
        assert_eq!(status, 200, "{} still signs in", member.email);
    }

    assert!(
        problems.is_empty(),
        "{db:?}: {} problems:\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    eprintln!(
        "isolation table on {db:?}: {} rows in {:.1?}",
        actual.len(),
        started.elapsed()
    );
    app.stop().await;
}

/// The places where two JSON documents differ, as `path: before -> after`.
fn differences(path: &str, before: &Value, after: &Value, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()).collect::<BTreeSet<_>>() {
                let (p, q) = (x.get(k), y.get(k));
                differences(
                    &format!("{path}.{k}"),
                    p.unwrap_or(&Value::Null),
                    q.unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), p, q, out);
            }
        }
        _ if before != after => out.push(format!("{path}: {before} -> {after}")),
        _ => {}
    }
}
async fn online(app: &TestApp, member: &Member) -> Ws {
    let mut ws = Ws::connect(&app.url, &member.token, None)
        .await
        .expect("connect");
    ws.expect("hello", WAIT).await;
    ws
}

/// Every frame each socket receives until all of them have been quiet for `QUIET`.
async fn drain(sockets: &mut [Ws]) -> Vec<Vec<Value>> {
    futures_util::future::join_all(sockets.iter_mut().map(|ws| async move {
        let mut frames = vec![];
        while let Some(f) = ws.next(QUIET).await {
            frames.push(f);
        }
        frames
    }))
    .await
}

/// Frames up to and including the first one that `last` accepts.
async fn frames_until(ws: &mut Ws, what: &str, last: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut out = vec![];
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = ws
            .next(left)
            .await
            .unwrap_or_else(|| panic!("no {what} within {WAIT:?}; got {out:?}"));
        let done = last(&frame);
        out.push(frame);
        if done {
            return out;
        }
    }
}

fn kinds(frames: &[Value]) -> BTreeSet<String> {
    frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or("?").to_string())
        .collect()
}

on_both!(
    sockets_carry_nothing_from_one_workspace_to_the_other,
    sockets_carry_nothing_from_one_workspace_to_the_other_on
);
async fn sockets_carry_nothing_from_one_workspace_to_the_other_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let (a, b) = two_worlds(&app).await;
    let secrets = b.secrets(&b.snapshot(&app).await, &a);
    let api = Api::new(&app);
    let mut a_ws = vec![];
    for m in &a.members {
        a_ws.push(online(&app, m).await);
    }
    let mut b_ws = vec![
        online(&app, &b.members[OWNER]).await,
        online(&app, &b.members[AGENT]).await,
    ];
    drain(&mut a_ws).await;
    drain(&mut b_ws).await;

    // B at work: events, badges and presence, every kind of frame a socket can carry.
    let (bo, ba) = (&b.members[OWNER].token, &b.members[AGENT].token);
    let r = app
        .inbound(&b.ingest, json!({ "channel": "chat", "from": { "name": format!("Newcomer {}", b.marker), "email": format!("newcomer.{}@example.com", b.marker) }, "subject": format!("Refund {}", b.marker), "body": format!("I want a refund {}", b.marker) }))
        .await;
    assert_eq!(r.status(), 201);
    let fresh = r.json::<Value>().await.unwrap()["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    let case = |tail: &str| format!("/api/cases/{fresh}/{tail}");
    api.ok(
        ba,
        &format!("PUT {}", case("assignee")),
        json!({ "assignee_id": b.members[AGENT].id }),
    )
    .await;
    api.ok(
        bo,
        &format!("POST {}", case("messages")),
        json!({ "kind": "note", "body": format!("@zelda refund it {}", b.marker) }),
    )
    .await;
    api.ok(
        ba,
        &format!("POST {}", case("messages")),
        json!({ "kind": "reply", "body": format!("Refunded {}", b.marker) }),
    )
    .await;
    api.ok(
        ba,
        &format!("PUT {}", case("status")),
        json!({ "status": "on_hold" }),
    )
    .await;
    api.ok(
        ba,
        &format!("PUT {}", case("follow-up")),
        json!({ "due_at": "2099-01-01T00:00:00Z" }),
    )
    .await;
    api.ok(
        bo,
        "PATCH /api/workspace",
        json!({ "name": format!("B Renamed {}", b.marker) }),
    )
    .await;
    api.ok(
        bo,
        "PUT /api/assign-rules",
        json!({ "mode": "round_robin", "pool": [b.members[AGENT].id] }),
    )
    .await;
    api.ok(
        bo,
        "POST /api/cases/bulk-reassign",
        json!({ "from": b.members[AGENT].id, "to": null }),
    )
    .await;
    api.ok(
        bo,
        &format!("PATCH /api/teammates/{}", b.members[2].id),
        json!({ "away": true }),
    )
    .await;
    let email = format!("newbie.{}@example.com", b.marker);
    let invite = json!({ "email": email, "name": format!("Newbie {}", b.marker), "role": "agent" });
    let token = api.ok(bo, "POST /api/invites", invite).await["token"].clone();
    let accept = format!("POST /api/invites/{}/accept", token.as_str().unwrap());
    api.ok("-", &accept, json!({ "password": b.password }))
        .await;
    b_ws[0]
        .send(json!({ "type": "viewing", "case_id": fresh }))
        .await;
    b_ws[1]
        .send(json!({ "type": "typing", "case_id": fresh }))
        .await;
    let mut visit = Ws::connect(&app.url, &b.members[VIEWER].token, None)
        .await
        .unwrap();
    let b_head = visit.expect("hello", WAIT).await["seq"].as_i64().unwrap();
    drop(visit);

    // B's owner sees all of it, so it was all sent; A's sockets get none of it.
    let mut seen = frames_until(&mut b_ws[0], "B's latest event", |f| {
        f["seq"] == b_head && f["type"] == "event"
    })
    .await;
    seen.extend(drain(&mut b_ws).await.concat());
    assert!(
        ["event", "badge", "presence"]
            .iter()
            .all(|k| kinds(&seen).contains(*k)),
        "B's activity made events, badges and presence: {:?}",
        kinds(&seen)
    );
    let r = app
        .inbound(&a.ingest, json!({ "channel": "chat", "from": { "name": a.customer_name, "email": format!("sentinel.{}@example.com", a.marker) }, "body": format!("Hello {}", a.marker) }))
        .await;
    let sentinel = r.json::<Value>().await.unwrap()["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut a_frames = vec![];
    for (role, ws) in a_ws.iter_mut().enumerate() {
        let got = frames_until(ws, "A's own new case", |f| {
            f["type"] == "event" && f["event"]["case_id"] == sentinel.as_str()
        })
        .await;
        assert_eq!(
            got.len(),
            1,
            "A's {} received frames from B's activity before A's own next event: {got:#?}",
            ROLES[role]
        );
        a_frames.push(got);
    }
    for (role, frames) in drain(&mut a_ws).await.into_iter().enumerate() {
        a_frames[role].extend(frames);
    }
    let a_head = a_frames[0]
        .iter()
        .filter_map(|f| f["seq"].as_i64())
        .max()
        .unwrap();
    for (role, frames) in a_frames.iter().enumerate() {
        let text = Value::Array(frames.clone()).to_string();
        assert!(
            leaks(&secrets, &[], &text).is_empty(),
            "A's {} socket: B's data {:?} in {text}",
            ROLES[role],
            leaks(&secrets, &[], &text)
        );
    }

    // A's sockets name B's case and B's log; B's sockets hear nothing of it.
    assert!(
        b_head > a_head,
        "B's log ({b_head}) is ahead of A's ({a_head}), so B's seq means nothing to A"
    );
    let b_case = b.cases[0].clone();
    for ws in a_ws.iter_mut() {
        for frame in [
            json!({ "type": "viewing", "case_id": b_case }),
            json!({ "type": "typing", "case_id": b_case }),
            json!({ "type": "resume", "since": b_head }),
            json!({ "type": "resume", "since": 0 }),
            json!({ "type": "ping" }),
        ] {
            ws.send(frame).await;
        }
    }
    let a_member_ids = a.member_ids();
    let mut a_cases: BTreeSet<String> = a.cases.iter().cloned().collect();
    a_cases.insert(sentinel.clone());
    for (role, ws) in a_ws.iter_mut().enumerate() {
        let mut frames = frames_until(ws, "pong", |f| f["type"] == "pong").await;
        frames.extend(drain(std::slice::from_mut(ws)).await.concat());
        let who = ROLES[role];
        let text = Value::Array(frames.clone()).to_string();
        let found = leaks(&secrets, std::slice::from_ref(&b_case), &text);
        assert!(found.is_empty(), "A's {who}: B's data {found:?} in {text}");
        let resync = frames
            .iter()
            .position(|f| f["type"] == "resync")
            .expect("resuming from B's seq: resync");
        assert_eq!(frames[resync]["reason"], "unknown_seq", "{who}");
        let resumed = frames
            .iter()
            .position(|f| f["type"] == "resumed")
            .expect("resume from 0");
        assert_eq!(frames[resumed]["since"], 0);
        let replay: Vec<&Value> = frames[resumed..]
            .iter()
            .filter(|f| f["type"] == "event")
            .collect();
        let seqs: Vec<i64> = replay.iter().map(|f| f["seq"].as_i64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=a_head).collect::<Vec<_>>(),
            "{who}: A's whole log, A's only"
        );
        for f in &replay {
            if let Some(case) = f["event"]["case_id"].as_str() {
                assert!(a_cases.contains(case), "{who}: replay names case {case}");
            }
        }
        for f in frames.iter().filter(|f| f["type"] == "presence") {
            let teammate = f["teammate_id"].as_str().unwrap();
            assert!(
                a_member_ids.contains(teammate),
                "{who}: presence of {teammate} in A"
            );
        }
    }
    // B's own replies may finish sending while this runs: a `message.delivery` on a case
    // that B's owner can open is B's to hear; anything else is A's.
    let mut b_heard: Vec<Value> = Vec::new();
    for f in drain(&mut b_ws).await.concat() {
        if f["event"]["kind"] == "message.delivery" {
            let case = f["event"]["case_id"].as_str().unwrap_or("");
            let (status, _) = api
                .call(
                    &b.members[OWNER].token,
                    &format!("GET /api/cases/{case}"),
                    Value::Null,
                )
                .await;
            if status == 200 {
                continue;
            }
        }
        b_heard.push(f);
    }
    assert!(
        b_heard.is_empty(),
        "B's sockets heard A's frames: {b_heard:#?}"
    );
    let b_ids = b.member_ids();
    for (world, ids, other) in [(&b, &b_ids, &a_member_ids), (&a, &a_member_ids, &b_ids)] {
        let online = api
            .ok(
                &world.members[OWNER].token,
                "GET /api/presence",
                Value::Null,
            )
            .await;
        for p in online["online"].as_array().unwrap() {
            let teammate = p["teammate_id"].as_str().unwrap();
            assert!(
                ids.contains(teammate) && !other.contains(teammate),
                "presence lists {teammate}: {online}"
            );
        }
    }
    let b_online = api
        .ok(bo, "GET /api/presence", Value::Null)
        .await
        .to_string();
    assert!(
        !b_online.contains(&b_case),
        "nobody in B views B's first case: A's viewing did not land in B: {b_online}"
    );
    app.stop().await;
}

on_both!(
    lists_search_and_counts_stay_inside_their_workspace,
    lists_search_and_counts_stay_inside_their_workspace_on
);
async fn lists_search_and_counts_stay_inside_their_workspace_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let (a, b) = two_worlds(&app).await;
    let (a_secrets, b_secrets) = (
        a.secrets(&a.snapshot(&app).await, &b),
        b.secrets(&b.snapshot(&app).await, &a),
    );
    let api = Api::new(&app);
    for (me, other, secrets) in [(&a, &b, &b_secrets), (&b, &a, &a_secrets)] {
        let own: BTreeSet<String> = me.cases.iter().cloned().collect();
        let get = |token: String, path: String| {
            let api = api.clone();
            async move {
                let v = api.ok(&token, &format!("GET {path}"), Value::Null).await;
                let found = leaks(secrets, &atoms_of(&path, None), &v.to_string());
                assert!(
                    found.is_empty(),
                    "{path}: the other workspace's {found:?} in {v}"
                );
                v
            }
        };
        let ids = |v: &Value| -> BTreeSet<String> {
            v["cases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_string())
                .collect()
        };
        for (role, m) in me.members.iter().enumerate() {
            let who = format!("{} of {}", ROLES[role], me.name);
            let counts = get(m.token.clone(), "/api/cases/counts".into()).await;
            let mut all = BTreeSet::new();
            for view in ["mine", "unassigned", "all"] {
                for filter in ["open", "unread", "closed"] {
                    let list = ids(&get(
                        m.token.clone(),
                        format!("/api/cases?view={view}&filter={filter}"),
                    )
                    .await);
                    assert!(
                        list.is_subset(&own),
                        "{who}: {view}/{filter} lists {list:?}"
                    );
                    assert_eq!(
                        counts[view][filter],
                        list.len(),
                        "{who}: {view}/{filter} count"
                    );
                    if view == "all" && filter != "unread" {
                        all.extend(list);
                    }
                }
            }
            assert_eq!(
                all, own,
                "{who}: open and closed together are exactly the workspace's cases"
            );

            // Search finds one's own customer by every field, and the other's by none.
            let search = |q: &str| format!("/api/cases?view=all&filter=open&q={}", enc(q));
            for (mine, theirs) in [
                (&me.customer_email, &other.customer_email),
                (&me.customer_name, &other.customer_name),
                (&me.customer_phone, &other.customer_phone),
                (&me.subject, &other.subject),
                (&me.text, &other.text),
                (&me.numbers[0], &other.numbers[0]),
                (&me.marker, &other.marker),
            ] {
                let found = ids(&get(m.token.clone(), search(mine)).await);
                assert!(
                    found.contains(&me.cases[0]),
                    "{who}: searching {mine} finds the own case"
                );
                let found = ids(&get(m.token.clone(), search(theirs)).await);
                assert!(
                    found.is_empty(),
                    "{who}: searching the other workspace's {theirs} finds {found:?}"
                );
            }
            // A cursor built on the other workspace's case pages through one's own cases only.
            use base64::Engine;
            let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
                "{}:{}",
                chrono::Utc::now().timestamp_millis() + 60_000,
                other.cases[0]
            ));
            let page = ids(&get(
                m.token.clone(),
                format!("/api/cases?view=all&filter=open&cursor={cursor}"),
            )
            .await);
            assert!(page.is_subset(&own) && !page.is_empty(), "{who}: {page:?}");

            let mates = get(
                m.token.clone(),
                format!("/api/teammates?q={}", enc(&other.marker)),
            )
            .await;
            assert_eq!(
                mates["teammates"],
                json!([]),
                "{who}: the other workspace's teammates"
            );
            let mates = get(m.token.clone(), "/api/teammates?assignable=true".into()).await;
            let own_team = me.member_ids();
            for t in mates["teammates"].as_array().unwrap() {
                assert!(own_team.contains(t["id"].as_str().unwrap()), "{who}: {t}");
            }
        }
    }
    app.stop().await;
}
