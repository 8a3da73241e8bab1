//! Cases over HTTP: intake, threading, reopen, idempotency, statuses, lists, search, paging,
//! counts, read markers, replies and notes.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{error_of, Db, TestApp};

on_both!(
    inbound_creates_threads_and_reopens,
    inbound_creates_threads_and_reopens_on
);
async fn inbound_creates_threads_and_reopens_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let token = owner.ingest_token.clone();

    let first = app.inbound(&token, json!({ "channel": "email", "from": { "name": "Ann Lee", "email": "ann@example.com" }, "subject": "Quote", "body": "How much for a deep clean?" })).await;
    assert_eq!(first.status(), StatusCode::CREATED, "{db:?}");
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["number"], "BT-000001");
    assert_eq!(
        (first["created"].as_bool(), first["reopened"].as_bool()),
        (Some(true), Some(false))
    );
    let case_id = first["case_id"].as_str().unwrap().to_string();

    // The same customer writes again (matched by email, case-insensitively): same case.
    let again = app.inbound(&token, json!({ "channel": "email", "from": { "name": "Ann", "email": "ANN@example.com" }, "body": "Also windows?" })).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["case_id"], case_id.as_str());
    assert_eq!(again["created"], false);

    // Category detected from the workspace's default keywords.
    let detail = owner.json(&format!("/api/cases/{case_id}")).await;
    assert_eq!(detail["case"]["category"], "pricing");
    assert_eq!(detail["case"]["status"], "needs_reply");
    assert_eq!(
        detail["case"]["returning"], false,
        "a first-time customer is a new prospect"
    );
    assert_eq!(detail["messages"].as_array().unwrap().len(), 2);
    assert_eq!(detail["timeline"][0]["kind"], "created");

    // A reply sets awaiting_customer; the customer writing back sets needs_reply.
    let r = owner
        .post(
            &format!("/api/cases/{case_id}/messages"),
            json!({ "kind": "reply", "body": "It's $120." }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        owner.json(&format!("/api/cases/{case_id}")).await["case"]["status"],
        "awaiting_customer"
    );

    // Assign, close as won, then the customer writes: same case reopens, same assignee.
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    assert_eq!(
        owner.assign(&case_id, Some(&agent.id)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        owner
            .put(
                &format!("/api/cases/{case_id}/status"),
                json!({ "status": "won" })
            )
            .await
            .status(),
        StatusCode::OK
    );
    assert!(
        agent.list("mine", "open").await.is_empty(),
        "closing takes it out of mine + open"
    );
    assert_eq!(agent.list("mine", "closed").await, vec![case_id.clone()]);
    let back: Value = app.inbound(&token, json!({ "channel": "sms", "from": { "name": "Ann", "email": "ann@example.com", "phone": "+1 555 0100" }, "body": "Need you again!" })).await.json().await.unwrap();
    assert_eq!(
        (back["case_id"].as_str(), back["reopened"].as_bool()),
        (Some(case_id.as_str()), Some(true))
    );
    let reopened = owner.json(&format!("/api/cases/{case_id}")).await;
    assert_eq!(reopened["case"]["status"], "needs_reply");
    assert_eq!(
        reopened["case"]["assignee_id"],
        agent.id.as_str(),
        "reopen keeps the assignee"
    );
    assert_eq!(
        agent.list("mine", "open").await,
        vec![case_id.clone()],
        "back in the same assignee's queue"
    );

    // Matched by phone alone now that the customer record knows it.
    let by_phone: Value = app.inbound(&token, json!({ "channel": "sms", "from": { "name": "?", "phone": "+15550100" }, "body": "It's me" })).await.json().await.unwrap();
    assert_eq!(by_phone["case_id"], case_id.as_str());

    // Closed longer ago than the window: a new case for a returning customer.
    assert_eq!(
        owner
            .patch("/api/workspace", json!({ "reopen_days": 0 }))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        owner
            .put(
                &format!("/api/cases/{case_id}/status"),
                json!({ "status": "lost" })
            )
            .await
            .status(),
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let fresh: Value = app.inbound(&token, json!({ "channel": "email", "from": { "name": "Ann", "email": "ann@example.com" }, "body": "New project" })).await.json().await.unwrap();
    assert_eq!(fresh["created"], true);
    assert_ne!(fresh["case_id"], case_id.as_str());
    assert_eq!(fresh["number"], "BT-000002");
    let fresh_case = owner
        .json(&format!(
            "/api/cases/{}",
            fresh["case_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(fresh_case["case"]["returning"], true);
    assert_eq!(
        fresh_case["case"]["assignee_id"],
        Value::Null,
        "a new case is not the old assignee's"
    );
    app.stop().await;
}

on_both!(
    the_same_webhook_twice_makes_one_message,
    the_same_webhook_twice_makes_one_message_on
);
async fn the_same_webhook_twice_makes_one_message_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Owner").await;
    let body = json!({ "channel": "email", "from": { "name": "Ann", "email": "ann@example.com" }, "body": "hello", "external_id": "msg-<42@mail>" });
    // Delivered twice one after another, then eight times at once.
    let one: Value = app
        .inbound(&owner.ingest_token, body.clone())
        .await
        .json()
        .await
        .unwrap();
    let two: Value = app
        .inbound(&owner.ingest_token, body.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["case_id"], two["case_id"]);
    assert_eq!(two["duplicate"], true);
    let racing = json!({ "channel": "email", "from": { "name": "Bo", "email": "bo@example.com" }, "body": "hi", "external_id": "race-1" });
    let results = futures_util::future::join_all(
        (0..8).map(|_| app.inbound(&owner.ingest_token, racing.clone())),
    )
    .await;
    assert!(
        results.iter().all(|r| r.status().is_success()),
        "{db:?}: every delivery is acknowledged"
    );
    let all = owner.json("/api/cases?view=all&filter=open").await;
    assert_eq!(all["cases"].as_array().unwrap().len(), 2, "{db:?}");
    for case in all["cases"].as_array().unwrap() {
        let detail = owner
            .json(&format!("/api/cases/{}", case["id"].as_str().unwrap()))
            .await;
        assert_eq!(
            detail["messages"].as_array().unwrap().len(),
            1,
            "{db:?}: one message per external_id"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn inbound_refuses_bad_input_and_bad_tokens() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.signup("Acme", "Owner").await;
    let bad = [
        (
            json!({ "channel": "email", "from": { "name": "A" }, "body": "x" }),
            "from",
        ),
        (
            json!({ "channel": "email", "from": { "name": "A", "email": "nope" }, "body": "x" }),
            "from.email",
        ),
        (
            json!({ "channel": "email", "from": { "name": "A", "email": "a@b.co" }, "body": "   " }),
            "body",
        ),
        (
            json!({ "channel": "e mail", "from": { "name": "A", "email": "a@b.co" }, "body": "x" }),
            "channel",
        ),
        (
            json!({ "channel": "email", "from": { "name": "A\r\nBcc: x@y.z", "email": "a@b.co" }, "body": "x" }),
            "from.name",
        ),
        (
            json!({ "channel": "email", "from": { "email": "a@b.co" }, "body": "x" }),
            "from.name",
        ),
        (
            json!({ "channel": "email", "from": { "name": "A", "email": "a@b.co" }, "body": 7 }),
            "body",
        ),
    ];
    for (body, field) in bad {
        let (status, _, got) = error_of(app.inbound(&owner.ingest_token, body.clone()).await).await;
        assert_eq!(
            (status, got.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}"
        );
    }
    assert_eq!(
        app.inbound(
            "bti_wrong",
            json!({ "channel": "email", "from": { "name": "A", "email": "a@b.co" }, "body": "x" })
        )
        .await
        .status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(
        owner.list("all", "open").await.is_empty(),
        "nothing was written"
    );
    // A rotated token stops working at once.
    let rotated: Value = owner
        .post("/api/workspace/ingest-token", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        app.inbound(
            &owner.ingest_token,
            json!({ "channel": "email", "from": { "name": "A", "email": "a@b.co" }, "body": "x" })
        )
        .await
        .status(),
        StatusCode::UNAUTHORIZED
    );
    let ok = app
        .inbound(
            rotated["ingest_token"].as_str().unwrap(),
            json!({ "channel": "email", "from": { "name": "A", "email": "a@b.co" }, "body": "x" }),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    // Oversized bodies get a clear 413.
    let huge = "x".repeat(400 * 1024);
    let r = app
        .inbound(
            rotated["ingest_token"].as_str().unwrap(),
            json!({ "channel": "email", "from": { "name": "A", "email": "a@b.co" }, "body": huge }),
        )
        .await;
    assert_eq!(error_of(r).await.0, StatusCode::PAYLOAD_TOO_LARGE);
}

/// A body over the limit is read to its end before the 413 is sent, so a client (or a proxy)
/// still sending it reads the answer instead of a reset, and the connection serves the next
/// request.
#[tokio::test]
async fn a_refused_body_is_read_so_the_connection_stays_usable() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.signup("Acme", "Owner").await;
    let body = json!({ "channel": "email", "from": { "name": "A", "email": "a@b.co" }, "body": "x".repeat(400 * 1024) }).to_string();
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/inbound HTTP/1.1\r\nHost: baton\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        owner.ingest_token,
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body.as_bytes()).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: baton\r\n\r\n")
        .await
        .unwrap();

    // Both answers arrive on the one connection, in order: the 413, then the health check.
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let read_both = async {
        while !String::from_utf8_lossy(&got).contains("\"status\"") {
            let n = conn.read(&mut buf).await.expect("read, not a reset");
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), read_both)
        .await
        .expect("both answers");
    let text = String::from_utf8_lossy(&got);
    let refused = text.find("HTTP/1.1 413").expect("a 413 first");
    assert!(text[refused..].contains("\"too_large\""), "{text}");
    let health = text
        .find("HTTP/1.1 200")
        .expect("then the health check's 200");
    assert!(refused < health, "{text}");
    assert!(
        owner.list("all", "open").await.is_empty(),
        "nothing was written"
    );
}

on_both!(
    views_filters_search_paging_and_counts,
    views_filters_search_paging_and_counts_on
);
async fn views_filters_search_paging_and_counts_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    assert_eq!(
        owner
            .patch("/api/workspace", json!({ "case_prefix": "ys" }))
            .await
            .status(),
        StatusCode::OK
    );
    let mut ids = Vec::new();
    for i in 0..7 {
        let v = app
            .customer_writes(
                &owner.ingest_token,
                &format!("c{i}@example.com"),
                &format!("message number {i} about gutters"),
            )
            .await;
        assert_eq!(v["number"], format!("YS-{:06}", i + 1));
        ids.push(v["case_id"].as_str().unwrap().to_string());
    }
    for id in &ids[..3] {
        assert_eq!(
            owner.assign(id, Some(&agent.id)).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        owner
            .put(
                &format!("/api/cases/{}/status", ids[6]),
                json!({ "status": "archived" })
            )
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        agent
            .post(&format!("/api/cases/{}/read", ids[0]), json!({}))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    let counts = agent.json("/api/cases/counts").await;
    assert_eq!(
        counts["mine"],
        json!({ "open": 3, "unread": 2, "closed": 0, "breached": 0 }),
        "{db:?}"
    );
    assert_eq!(
        counts["unassigned"],
        json!({ "open": 3, "unread": 3, "closed": 1, "breached": 0 })
    );
    assert_eq!(
        counts["all"],
        json!({ "open": 6, "unread": 5, "closed": 1, "breached": 0 })
    );
    assert_eq!(agent.list("mine", "unread").await.len(), 2);
    assert_eq!(
        agent.list("unassigned", "closed").await,
        vec![ids[6].clone()]
    );

    // Newest activity first, paged with a cursor, no case twice or missed.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/cases?view=all&filter=open&limit=4&cursor={c}"),
            None => "/api/cases?view=all&filter=open&limit=4".into(),
        };
        let page = owner.json(&path).await;
        seen.extend(
            page["cases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut expected: Vec<String> = ids[..6].to_vec();
    expected.reverse();
    assert_eq!(seen, expected, "{db:?}");

    // Search: full number, digits, customer email, message text; wildcards are literal.
    for (q, want) in [
        ("YS-000002", vec![1usize]),
        ("2", vec![1]),
        ("c4%40example", vec![4]),
        ("number%203", vec![3]),
        ("%25", vec![]),
    ] {
        let found: Vec<String> = owner
            .json(&format!("/api/cases?view=all&filter=open&q={q}"))
            .await["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        let want: Vec<String> = want.into_iter().map(|i| ids[i].clone()).collect();
        assert_eq!(found, want, "{db:?} q={q}");
    }
    let (status, _, field) = error_of(owner.get("/api/cases?view=everything").await).await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("view"))
    );
    let (status, _, field) = error_of(owner.get("/api/cases?cursor=garbage").await).await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("cursor"))
    );
    app.stop().await;
}

#[tokio::test]
async fn notes_mention_teammates_and_viewers_only_read() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Dana Kim", "agent").await;
    let viewer = app.invite(&owner, "Vic Viewer", "viewer").await;
    let case = app
        .customer_writes(&owner.ingest_token, "c@example.com", "help")
        .await;
    let id = case["case_id"].as_str().unwrap();
    let handle = agent.email.split('@').next().unwrap().to_string();
    let r = owner
        .post(
            &format!("/api/cases/{id}/messages"),
            json!({ "kind": "note", "body": format!("@{handle} can you take this?") }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let detail = viewer.json(&format!("/api/cases/{id}")).await;
    let note = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "note")
        .unwrap();
    assert!(note["body"].as_str().unwrap().contains(&handle));
    assert_eq!(
        detail["case"]["status"], "needs_reply",
        "a note does not answer the customer"
    );
    for (method, path, body) in [
        (
            "POST",
            format!("/api/cases/{id}/messages"),
            json!({ "kind": "reply", "body": "hi" }),
        ),
        (
            "PUT",
            format!("/api/cases/{id}/status"),
            json!({ "status": "won" }),
        ),
        (
            "PUT",
            format!("/api/cases/{id}/follow-up"),
            json!({ "due_at": null }),
        ),
    ] {
        let r = if method == "POST" {
            viewer.post(&path, body).await
        } else {
            viewer.put(&path, body).await
        };
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
    }
    let (status, _, field) = error_of(
        owner
            .put(
                &format!("/api/cases/{id}/status"),
                json!({ "status": "done" }),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("status"))
    );
    let (status, _, field) = error_of(
        owner
            .post(
                &format!("/api/cases/{id}/messages"),
                json!({ "kind": "reply", "body": "" }),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("body"))
    );
}
