//! Sign-up, sign-in, sessions, tokens, invites, roles, CSRF and the error shapes.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::common::{error_of, get_json, Db, TestApp, User};

on_both!(
    signup_me_logout_login_on_every_backend,
    signup_me_logout_login_on_every_backend_on
);
async fn signup_me_logout_login_on_every_backend_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme Plumbing", "Olivia Owner").await;
    let me = owner.json("/api/me").await;
    assert_eq!(me["teammate"]["role"], "owner", "{db:?}");
    assert_eq!(me["workspace"]["name"], "Acme Plumbing");
    assert!(
        me["workspace"]["ingest_token"]
            .as_str()
            .unwrap()
            .starts_with("bti_"),
        "owners see the ingest token"
    );
    assert_eq!(
        me["notifications"]["unassigned"], true,
        "owners watch unassigned cases by default"
    );

    let r = owner.delete("/api/session", None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        owner.get("/api/me").await.status(),
        StatusCode::UNAUTHORIZED,
        "the session is gone after logout"
    );

    let wrong = owner
        .post(
            "/api/session",
            json!({ "email": owner.email, "password": "not the password" }),
        )
        .await;
    assert_eq!(error_of(wrong).await.0, StatusCode::UNAUTHORIZED);
    let r = owner
        .post(
            "/api/session",
            json!({ "email": owner.email.to_uppercase(), "password": "correct horse battery" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "email is case-insensitive");
    assert_eq!(
        owner.json("/api/me").await["teammate"]["id"],
        owner.id.as_str()
    );
    app.stop().await;
}

#[tokio::test]
async fn session_cookie_is_httponly_and_samesite_lax() {
    let app = TestApp::spawn(crate::common::Db::Sqlite).await;
    let client = Client::new();
    let r = client
        .post(format!("{}/api/signup", app.url))
        .json(&json!({ "workspace_name": "W", "name": "N", "email": "cookie@example.com", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("baton_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http: not Secure ({cookie})"
    );
    let r = client
        .post(format!("{}/api/session", app.url))
        .header("x-forwarded-proto", "https")
        .json(&json!({ "email": "cookie@example.com", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        cookie.contains("Secure"),
        "behind a TLS proxy the cookie is Secure: {cookie}"
    );
}

#[tokio::test]
async fn bad_signups_name_the_field_and_change_nothing() {
    let app = TestApp::spawn(crate::common::Db::Sqlite).await;
    let user = User::new(&app);
    let cases = [
        (
            json!({ "workspace_name": "W", "name": "N", "email": "not-an-email", "password": "correct horse" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "email",
        ),
        (
            json!({ "workspace_name": "W", "name": "N", "email": "a@b.co", "password": "short" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password",
        ),
        (
            json!({ "workspace_name": "", "name": "N", "email": "a@b.co", "password": "correct horse" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "workspace_name",
        ),
        (
            json!({ "workspace_name": "W", "email": "a@b.co", "password": "correct horse" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({ "workspace_name": "W", "name": 5, "email": "a@b.co", "password": "correct horse" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
    ];
    for (body, status, field) in cases {
        let (got, code, got_field) = error_of(user.post("/api/signup", body.clone()).await).await;
        assert_eq!((got, got_field.as_deref()), (status, Some(field)), "{body}");
        assert_eq!(code, "invalid");
    }
    let r = user
        .client
        .post(format!("{}/api/signup", app.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, StatusCode::BAD_REQUEST);
    // None of these created an account.
    let r = user
        .post(
            "/api/session",
            json!({ "email": "a@b.co", "password": "correct horse" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A duplicate email is a conflict.
    let owner = app.signup("W", "First").await;
    let (status, code, _) = error_of(user.post("/api/signup", json!({ "workspace_name": "X", "name": "Y", "email": owner.email, "password": "correct horse battery" })).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "duplicate"));
}

#[tokio::test]
async fn login_is_rate_limited_per_account() {
    let app = TestApp::spawn(crate::common::Db::Sqlite).await;
    let owner = app.signup("W", "Target").await;
    let guesser = User::new(&app);
    let mut limited = None;
    for i in 0..15 {
        let r = guesser
            .post(
                "/api/session",
                json!({ "email": owner.email, "password": format!("guess {i} guess") }),
            )
            .await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().get("retry-after").is_some());
            limited = Some(i);
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        limited,
        Some(10),
        "the 11th attempt on one account within the window is refused"
    );
    // Even the right password waits now: the limit protects the account, not the guess.
    let r = guesser
        .post(
            "/api/session",
            json!({ "email": owner.email, "password": "correct horse battery" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn foreign_origin_cannot_change_state_with_a_cookie() {
    let app = TestApp::spawn(crate::common::Db::Sqlite).await;
    let owner = app.signup("W", "Owner").await;
    let r = owner
        .client
        .post(format!("{}/api/tokens", app.url))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, StatusCode::FORBIDDEN);
    let r = owner
        .client
        .post(format!("{}/api/tokens", app.url))
        .header("origin", format!("{}.evil.com", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await.0,
        StatusCode::FORBIDDEN,
        "prefix of our origin is not our origin"
    );
    // Same origin works; a GET from anywhere only reads (and needs the cookie anyway).
    assert_eq!(
        owner.post("/api/tokens", json!({})).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn api_tokens_authenticate_scripts() {
    let app = TestApp::spawn(crate::common::Db::Sqlite).await;
    let owner = app.signup("W", "Owner").await;
    let token = owner.api_token().await;
    assert!(token.starts_with("btk_"));
    let me = get_json(&format!("{}/api/me", app.url), Some(&token)).await;
    assert_eq!(me["teammate"]["id"], owner.id.as_str());
    let r = Client::new()
        .get(format!("{}/api/me", app.url))
        .bearer_auth("btk_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".into(), None)
    );
}

on_both!(invites_roles_and_search, invites_roles_and_search_on);
async fn invites_roles_and_search_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("W", "Olivia Owner").await;
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    let viewer = app.invite(&owner, "Vic Viewer", "viewer").await;
    let me = agent.json("/api/me").await;
    assert_eq!(me["teammate"]["role"], "agent");
    assert!(
        me["workspace"].get("ingest_token").is_none(),
        "agents do not see the ingest token"
    );

    // Agents cannot invite; admins cannot mint owners.
    let (s, _, _) = error_of(
        agent
            .post(
                "/api/invites",
                json!({ "email": "x@example.com", "name": "X", "role": "agent" }),
            )
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let admin = app.invite(&owner, "Ada Admin", "admin").await;
    let (s, _, _) = error_of(
        admin
            .post(
                "/api/invites",
                json!({ "email": "y@example.com", "name": "Y", "role": "owner" }),
            )
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // An invite works once.
    let r = owner
        .post(
            "/api/invites",
            json!({ "email": "once@example.com", "name": "Once", "role": "agent" }),
        )
        .await;
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let fresh = User::new(&app);
    assert_eq!(
        fresh
            .post(
                &format!("/api/invites/{token}/accept"),
                json!({ "password": "correct horse battery" })
            )
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        User::new(&app)
            .post(
                &format!("/api/invites/{token}/accept"),
                json!({ "password": "correct horse battery" })
            )
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Search by name; the assign dropdown leaves viewers out.
    let found = owner.json("/api/teammates?q=alex").await;
    let names: Vec<&str> = found["teammates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alex Agent"]);
    let assignable = owner.json("/api/teammates?assignable=true").await;
    assert!(assignable["teammates"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["role"] != "viewer"));
    assert!(owner.json("/api/teammates").await["teammates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == viewer.id.as_str()));

    // Role change by an admin; an agent may not.
    assert_eq!(
        agent
            .patch(
                &format!("/api/teammates/{}", viewer.id),
                json!({ "role": "agent" })
            )
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let r = admin
        .patch(
            &format!("/api/teammates/{}", viewer.id),
            json!({ "role": "agent" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["role"], "agent");
    // The last owner stays an owner.
    let (s, _, field) = error_of(
        owner
            .patch(
                &format!("/api/teammates/{}", owner.id),
                json!({ "role": "admin" }),
            )
            .await,
    )
    .await;
    assert_eq!(
        (s, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("role"))
    );
    app.stop().await;
}

#[tokio::test]
async fn other_workspaces_ids_are_not_found() {
    let app = TestApp::spawn(crate::common::Db::Sqlite).await;
    let a = app.signup("A", "Ann").await;
    let b = app.signup("B", "Bob").await;
    let case = app
        .customer_writes(&b.ingest_token, "c@example.com", "hello")
        .await;
    let case_id = case["case_id"].as_str().unwrap();
    for path in [format!("/api/cases/{case_id}")] {
        assert_eq!(a.get(&path).await.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(
        a.assign(case_id, Some(&a.id)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        a.post(&format!("/api/cases/{case_id}/read"), json!({}))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        a.patch(&format!("/api/teammates/{}", b.id), json!({ "away": true }))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b.assign(case_id, Some(&a.id)).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a teammate of another workspace is no assignee"
    );
    assert!(a.list("all", "open").await.is_empty());
    assert_eq!(
        a.get("/api/cases/not-a-uuid").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn health_openapi_and_errors_without_internals() {
    let app = TestApp::spawn(crate::common::Db::Sqlite).await;
    let client = Client::new();
    assert_eq!(
        client
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let ready = get_json(&format!("{}/readyz", app.url), None).await;
    assert_eq!(ready["status"], "ready");
    let spec = get_json(&format!("{}/api/openapi.json", app.url), None).await;
    for path in [
        "/api/signup",
        "/api/cases",
        "/api/cases/{id}/assignee",
        "/api/inbound",
        "/api/assign-rules",
        "/api/cases/bulk-reassign",
    ] {
        assert!(spec["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }
    let schemas = &spec["components"]["schemas"];
    // A field that holds one of a fixed set of words names its enum, which lists them.
    for (schema, field, set, words) in [
        (
            "Message",
            "kind",
            "MessageKind",
            &["inbound", "automated", "reply", "note"][..],
        ),
        (
            "Delivery",
            "state",
            "DeliveryState",
            &["queued", "sent", "delivered", "failed"],
        ),
        (
            "WebhookDelivery",
            "state",
            "WebhookDeliveryState",
            &["pending", "delivered", "resend"],
        ),
        ("SessionInfo", "kind", "TokenKind", &["session", "api"]),
        ("Address", "kind", "AddressKind", &["email", "phone"]),
        (
            "TimelineEntry",
            "kind",
            "TimelineKind",
            &[
                "created",
                "assigned",
                "status",
                "follow_up_due",
                "customer_merged",
                "woke",
            ],
        ),
        (
            "Channel",
            "kind",
            "ChannelKind",
            &["email", "sms_twilio", "api"],
        ),
        ("SavedReply", "scope", "Scope", &["workspace", "personal"]),
        (
            "SearchMatch",
            "field",
            "SearchField",
            &[
                "message", "note", "subject", "customer", "email", "phone", "number",
            ],
        ),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["$ref"],
            format!("#/components/schemas/{set}"),
            "{schema}.{field}"
        );
        let listed = schemas[set].to_string();
        for word in words {
            assert!(listed.contains(&format!("\"{word}\"")), "{listed}");
        }
    }
    let r = client
        .get(format!("{}/api/cases", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers().get("x-content-type-options").unwrap(),
        "nosniff"
    );
    assert!(r.headers().get("x-request-id").is_some());
    assert_eq!(error_of(r).await.1, "unauthorized");
}

/// A burst of sign-ins (each an Argon2 hash of 19 MiB) must not leave the server bigger: the
/// hashes take turns, one per core, and their memory goes back to the system.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_sign_ins_leaves_no_memory_behind() {
    let db = crate::common::TestDb::new(crate::common::Db::Sqlite).await;
    let server = crate::common::Process::start(&db.url, None, "burst").await;
    let app = server.as_app(crate::common::Db::Sqlite);
    let owner = app.signup("W", "Olivia Owner").await;
    let pid = server.child.id();
    let before = crate::common::rss_of(pid);
    // 25 at once, under the per-address limit (30 a minute); half of them right.
    let attempts = (0..25).map(|i| {
        let user = User::new(&app);
        let email = if i % 2 == 0 {
            owner.email.clone()
        } else {
            format!("nobody-{i}@example.com")
        };
        tokio::spawn(async move {
            let r = user
                .post(
                    "/api/session",
                    json!({ "email": email, "password": "correct horse battery" }),
                )
                .await;
            r.status()
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts.collect::<Vec<_>>() {
        statuses.push(attempt.await.unwrap());
    }
    let signed_in = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert!(signed_in >= 10, "right passwords sign in: {statuses:?}");
    assert!(
        statuses.iter().all(|s| [
            StatusCode::OK,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
        .contains(s)),
        "{statuses:?}"
    );
    let after = crate::common::rss_of(pid);
    println!(
        "server RSS {:.1} MiB before 25 sign-ins, {:.1} MiB after",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0
    );
    assert!(
        after < before + 32 * 1024 * 1024,
        "RSS grew from {before} to {after} bytes"
    );
}
