//! Sessions and the audit log, through the API: what a teammate sees of their own sessions and
//! what revoking one does to its sockets; what owners and admins read in the audit log.

use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::CookieStore;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{enc, error_of, Db, TestApp, TestDb, User, Ws};

const PASSWORD: &str = "correct horse battery";
const WAIT: Duration = Duration::from_secs(10);

/// A browser of its own (`user_agent`) signing in as `email`; answers its client, the sign-in's
/// status and its session secret (read from the cookie jar, as a browser holds it).
async fn browser(
    app: &TestApp,
    email: &str,
    password: &str,
    user_agent: &str,
) -> (reqwest::Client, StatusCode, Option<String>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", app.url.parse().unwrap());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .default_headers(headers)
        .user_agent(user_agent)
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/api/session", app.url))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let token = jar.cookies(&app.url.parse().unwrap()).and_then(|c| {
        c.to_str()
            .ok()?
            .split("; ")
            .find_map(|kv| kv.strip_prefix("baton_session="))
            .map(str::to_string)
    });
    (client, status, token)
}

async fn get(client: &reqwest::Client, app: &TestApp, path: &str) -> reqwest::Response {
    client
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .unwrap()
}

/// Every entry `GET /api/audit{query}` answers, in one page.
async fn entries(user: &User, query: &str) -> Vec<Value> {
    let sep = if query.is_empty() { "?" } else { "&" };
    let v = user.json(&format!("/api/audit{query}{sep}limit=200")).await;
    assert!(v["next_cursor"].is_null(), "one page holds them all: {v}");
    v["entries"].as_array().unwrap().clone()
}

async fn sign_ins_are_recorded_with_the_address_and_the_email_tried(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Sunny Side", "Olivia Owner").await;
    let (_, status, _) = browser(&app, &owner.email, "not the password", "Firefox/1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, status, _) = browser(&app, &owner.email, PASSWORD, "Firefox/1").await;
    assert_eq!(status, StatusCode::OK);

    let failed = entries(&owner, "?action=sign_in.failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["email"], owner.email.as_str());
    assert_eq!(failed[0]["ip"], "127.0.0.1");
    assert_eq!(failed[0]["user_agent"], "Firefox/1");
    assert_eq!(failed[0]["target_id"], owner.id.as_str());
    assert!(failed[0]["actor_id"].is_null(), "nobody signed in");
    assert_eq!(failed[0]["changes"]["reason"], "wrong password");

    let ok = entries(&owner, "?action=sign_in.succeeded").await;
    assert_eq!(ok.len(), 1, "{ok:?}");
    assert_eq!(ok[0]["actor_id"], owner.id.as_str());
    assert_eq!(ok[0]["actor_name"], "Olivia Owner");
    assert_eq!(ok[0]["ip"], "127.0.0.1");
    assert!(
        ok[0]["at"].as_str().unwrap() >= failed[0]["at"].as_str().unwrap(),
        "the failure came first"
    );
    assert!(ok[0]["id"].as_i64() > failed[0]["id"].as_i64());
}
on_both!(
    sign_ins,
    sign_ins_are_recorded_with_the_address_and_the_email_tried
);

async fn admin_actions_are_recorded_with_actor_and_change_for_admins_only(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Sunny Side", "Olivia Owner").await;
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    let admin = app.invite(&owner, "Ada Admin", "admin").await;

    let r = owner
        .patch(
            &format!("/api/teammates/{}", agent.id),
            json!({ "role": "manager" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = admin
        .post(
            "/api/channels",
            json!({ "kind": "email", "name": "Support", "settings": { "from_name": "Sunny Side", "from_address": "help@sunny.test" } }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let channel: Value = r.json().await.unwrap();
    let mut rules = owner.json("/api/assign-rules").await;
    let before = rules["online_only"].clone();
    rules["online_only"] = json!(before != json!(true));
    let r = owner.put("/api/assign-rules", rules.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);

    // The role change: who, to whom, what it was and what it became.
    let updated = entries(&admin, "?action=teammate.updated").await;
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert_eq!(updated[0]["actor_id"], owner.id.as_str());
    assert_eq!(updated[0]["email"], owner.email.as_str());
    assert_eq!(updated[0]["target_id"], agent.id.as_str());
    assert_eq!(
        updated[0]["changes"]["role"],
        json!({ "before": "agent", "after": "manager" })
    );
    assert_eq!(updated[0]["ip"], "127.0.0.1");

    let created = entries(&owner, "?action=channel.created").await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["actor_id"], admin.id.as_str());
    assert_eq!(created[0]["target_id"], channel["channel"]["id"]);
    assert_eq!(created[0]["changes"]["name"], "Support");
    assert_eq!(
        created[0]["changes"]["settings"]["from_address"],
        "help@sunny.test"
    );

    let changed = entries(&owner, "?action=rules.changed").await;
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["actor_id"], owner.id.as_str());
    assert_eq!(
        changed[0]["changes"],
        json!({ "online_only": { "before": before, "after": rules["online_only"] } }),
        "only the field that changed"
    );

    // Filters: by actor, and by time.
    let by_admin = entries(&owner, &format!("?actor={}", admin.id)).await;
    assert!(!by_admin.is_empty());
    assert!(
        by_admin.iter().all(|e| e["actor_id"] == admin.id.as_str()),
        "{by_admin:?}"
    );
    assert!(by_admin.iter().any(|e| e["action"] == "channel.created"));
    // The invites came before the role change (each took a password hash in between).
    let at = updated[0]["at"].as_str().unwrap();
    let since = entries(&owner, &format!("?since={}", enc(at))).await;
    assert!(since.iter().any(|e| e["action"] == "teammate.updated"));
    assert!(
        since.iter().all(|e| e["action"] != "teammate.invited"),
        "{since:?}"
    );
    let until = entries(&owner, &format!("?until={}", enc(at))).await;
    assert_eq!(until.len(), 2, "the two invites: {until:?}");
    assert!(until.iter().all(|e| e["action"] == "teammate.invited"));
    assert_eq!(
        error_of(owner.get("/api/audit?action=nonsense").await).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid".into(),
            Some("action".into())
        )
    );

    // Agents and managers are refused; another workspace's admin sees nothing of this one.
    assert_eq!(
        agent.get("/api/audit").await.status(),
        StatusCode::FORBIDDEN
    );
    let viewer = app.invite(&owner, "Vic Viewer", "viewer").await;
    assert_eq!(
        viewer.get("/api/audit").await.status(),
        StatusCode::FORBIDDEN
    );
    let stranger = app.signup("Elsewhere", "Sam Stranger").await;
    let theirs = entries(&stranger, "").await;
    let text = serde_json::to_string(&theirs).unwrap();
    for ours in [&owner.id, &admin.id, &agent.id, &owner.email] {
        assert!(!text.contains(ours.as_str()), "{ours} in {text}");
    }
    assert!(!text.contains("help@sunny.test"), "{text}");
}
on_both!(
    admin_actions,
    admin_actions_are_recorded_with_actor_and_change_for_admins_only
);

async fn paging_returns_every_entry_once_newest_first(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Sunny Side", "Olivia Owner").await;
    for n in 0..23 {
        let r = owner
            .patch(
                "/api/workspace",
                json!({ "name": format!("Sunny Side {n}") }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let mut seen: Vec<Value> = vec![];
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/audit?limit=5&before={c}"),
            None => "/api/audit?limit=5".to_string(),
        };
        let page = owner.json(&path).await;
        let batch = page["entries"].as_array().unwrap();
        assert!(batch.len() <= 5);
        seen.extend(batch.iter().cloned());
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 20, "paging never ends");
    }
    let all = entries(&owner, "").await;
    assert_eq!(seen, all, "the pages together are the whole log, once each");
    assert_eq!(seen.len(), 23);
    let ids: Vec<i64> = seen.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    // The last rename is the newest entry, the first one the oldest.
    assert_eq!(
        seen[0]["changes"]["name"],
        json!({ "before": "Sunny Side 21", "after": "Sunny Side 22" })
    );
    assert_eq!(
        seen[22]["changes"]["name"],
        json!({ "before": "Sunny Side", "after": "Sunny Side 0" })
    );
    for bad in ["/api/audit?limit=0", "/api/audit?limit=201"] {
        assert_eq!(
            error_of(owner.get(bad).await).await.2.as_deref(),
            Some("limit")
        );
    }
    assert_eq!(
        error_of(owner.get("/api/audit?before=abc").await)
            .await
            .2
            .as_deref(),
        Some("before")
    );
}
on_both!(paging, paging_returns_every_entry_once_newest_first);

/// Moves the entries of `action` `days` into the past, as if they had been written then.
async fn age(db: Db, url: &str, action: &str, days: i64) {
    let ms = days * 24 * 3600 * 1000;
    let sql = format!("UPDATE audit_log SET at = at - {ms} WHERE action = '{action}'");
    assert!(crate::common::sql_exec(db, url, &sql).await > 0);
}

async fn retention_removes_entries_older_than_configured(db: Db) {
    let test_db = TestDb::new(db).await;
    let app = TestApp::spawn_with(db, test_db.url.clone(), |_| {}).await;
    let owner = app.signup("Sunny Side", "Olivia Owner").await;
    owner
        .patch("/api/workspace", json!({ "name": "Renamed" }))
        .await;
    let (_, status, _) = browser(&app, &owner.email, PASSWORD, "Firefox/1").await;
    assert_eq!(status, StatusCode::OK);
    owner.post("/api/workspace/ingest-token", json!({})).await;
    assert_eq!(entries(&owner, "").await.len(), 3);
    app.stop().await;

    age(db, &test_db.url, "workspace.updated", 400).await;
    age(db, &test_db.url, "sign_in.succeeded", 200).await;
    // 300 days kept: the rename (400 days old) goes, the sign-in (200) and the rotation stay.
    let app = TestApp::spawn_with(db, test_db.url.clone(), |c| {
        c.audit_retention = Duration::from_secs(300 * 24 * 3600);
    })
    .await;
    let (client, status, _) = browser(&app, &owner.email, PASSWORD, "Firefox/1").await;
    assert_eq!(status, StatusCode::OK);
    let deadline = tokio::time::Instant::now() + WAIT;
    let left = loop {
        let v: Value = get(&client, &app, "/api/audit?limit=200")
            .await
            .json()
            .await
            .unwrap();
        let left: Vec<String> = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect();
        if !left.contains(&"workspace.updated".to_string())
            || tokio::time::Instant::now() > deadline
        {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        left,
        [
            "sign_in.succeeded",
            "workspace.ingest_token_rotated",
            "sign_in.succeeded"
        ],
        "the new sign-in, then what is younger than 300 days"
    );
}
on_both!(retention, retention_removes_entries_older_than_configured);

async fn sessions_are_listed_and_a_revoked_one_closes_its_socket(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Sunny Side", "Olivia Owner").await;
    let (laptop, status, laptop_token) =
        browser(&app, &owner.email, PASSWORD, "Laptop Firefox/128").await;
    assert_eq!(status, StatusCode::OK);
    let (phone, status, phone_token) =
        browser(&app, &owner.email, PASSWORD, "Phone Safari/17").await;
    assert_eq!(status, StatusCode::OK);
    let (laptop_token, phone_token) = (laptop_token.unwrap(), phone_token.unwrap());

    let r = get(&laptop, &app, "/api/me/sessions").await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains(&laptop_token) && !text.contains(&phone_token),
        "no secret: {text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    let sessions = v["sessions"].as_array().unwrap();
    let by_agent = |ua: &str| {
        sessions
            .iter()
            .find(|s| s["user_agent"] == ua)
            .unwrap_or_else(|| panic!("no session of {ua}: {sessions:?}"))
            .clone()
    };
    let (on_laptop, on_phone) = (by_agent("Laptop Firefox/128"), by_agent("Phone Safari/17"));
    for s in [&on_laptop, &on_phone] {
        assert_eq!(s["kind"], "session");
        assert_eq!(s["ip"], "127.0.0.1");
        assert!(s["created_at"].is_string() && s["expires_at"].is_string());
    }
    assert_eq!(on_laptop["current"], true);
    assert!(
        on_laptop["last_used_at"].is_string(),
        "this request used it"
    );
    assert_eq!(on_phone["current"], false);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);

    // A socket on each; revoking the phone's session closes the phone's socket only.
    let mut phone_ws = Ws::connect(&app.url, &phone_token, None)
        .await
        .expect("phone socket");
    assert_eq!(phone_ws.next(WAIT).await.unwrap()["type"], "hello");
    let mut laptop_ws = Ws::connect(&app.url, &laptop_token, None)
        .await
        .expect("laptop socket");
    assert_eq!(laptop_ws.next(WAIT).await.unwrap()["type"], "hello");

    // Nobody else can revoke it: another teammate's session is unknown to them.
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    let path = format!("/api/me/sessions/{}", on_phone["id"].as_str().unwrap());
    assert_eq!(
        agent.delete(&path, None).await.status(),
        StatusCode::NOT_FOUND
    );

    let r = laptop
        .delete(format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(phone_ws.close_code(WAIT).await, Some(4001));
    assert_eq!(
        get(&phone, &app, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        Ws::connect(&app.url, &phone_token, None).await.err(),
        Some(401)
    );
    assert_eq!(get(&laptop, &app, "/api/me").await.status(), StatusCode::OK);
    laptop_ws.send(json!({ "type": "ping" })).await;
    assert_eq!(laptop_ws.expect("pong", WAIT).await["type"], "pong");
    let v: Value = get(&laptop, &app, "/api/me/sessions")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"] != on_phone["id"]),
        "{v}"
    );
    assert_eq!(
        laptop
            .delete(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // The revocation is in the audit log, and an API token is listed like a session.
    let revoked = entries(&owner, "?action=session.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["target_id"], on_phone["id"]);
    assert_eq!(revoked[0]["user_agent"], "Laptop Firefox/128");
    let r = owner.post("/api/tokens", json!({})).await;
    let token: Value = r.json().await.unwrap();
    let v = owner.json("/api/me/sessions").await;
    let api = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == token["id"])
        .expect("the new token is listed")
        .clone();
    assert_eq!(api["kind"], "api");
    assert!(api["expires_at"].is_null());
}
on_both!(
    sessions,
    sessions_are_listed_and_a_revoked_one_closes_its_socket
);
