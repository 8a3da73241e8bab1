//! Hostile web content: customer text full of markup, header-injection attempts in names and
//! subjects, invalid UTF-8, oversized bodies; and the headers every page and answer carries.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{error_of, Db, TestApp, TestDb};

const HOSTILE: &str =
    r#"<script>alert(1)</script><img src=x onerror=alert(2)> <a href="javascript:alert(3)">x</a>"#;

/// The `.eml` files in `outbox`.
fn emails(outbox: &Path) -> Vec<String> {
    std::fs::read_dir(outbox)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_markup_stays_text_and_names_cannot_inject_headers() {
    let db = TestDb::new(Db::Sqlite).await;
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_path_buf();
    let app = TestApp::spawn_with(Db::Sqlite, db.url.clone(), |c| c.data_dir = data_dir).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Andy Agent", "agent").await;
    let r = agent
        .put(
            "/api/me/notifications",
            json!({ "web_push": false, "email": true, "chime": false, "unassigned": false, "email_delay_secs": 0 }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = owner
        .put(
            "/api/assign-rules",
            json!({ "mode": "round_robin", "pool": [agent.id] }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Control characters in a name or subject (the raw material of header injection) are refused,
    // naming the field, and make no case.
    let injections = [
        (
            "from.name",
            json!({ "name": "Eve\r\nBcc: victim@example.com", "email": "eve@example.com" }),
            json!(null),
        ),
        (
            "from.name",
            json!({ "name": "Eve\nX-Spam: no", "email": "eve@example.com" }),
            json!(null),
        ),
        (
            "subject",
            json!({ "name": "Eve", "email": "eve@example.com" }),
            json!("Hi\r\nBcc: victim@example.com"),
        ),
        (
            "subject",
            json!({ "name": "Eve", "email": "eve@example.com" }),
            json!("Hi\u{0}there"),
        ),
        (
            "from.email",
            json!({ "name": "Eve", "email": "eve@example.com\r\nBcc: victim@example.com" }),
            json!(null),
        ),
    ];
    for (field, from, subject) in injections {
        let r = app
            .inbound(
                &owner.ingest_token,
                json!({ "channel": "email", "from": from, "subject": subject, "body": "hello" }),
            )
            .await;
        let (status, code, named) = error_of(r).await;
        assert_eq!(
            (status, code.as_str(), named.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some(field)),
            "{from} / {subject}"
        );
    }
    assert_eq!(
        owner.list("all", "open").await.len(),
        0,
        "no case from refused input"
    );

    // Markup in the text, the name and the subject is accepted and kept as it was written.
    let r = app
        .inbound(
            &owner.ingest_token,
            json!({ "channel": "email", "from": { "name": "<b>Mallory</b>\u{2028}Bcc: victim@example.com", "email": "mallory@example.com" },
                    "subject": "<i>Urgent</i> \"quoted\" =?utf-8?q?Bcc=3A?=", "body": HOSTILE }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let case_id = created["case_id"].as_str().unwrap();
    let r = owner.get(&format!("/api/cases/{case_id}")).await;
    assert!(r
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("application/json")));
    let detail: Value = r.json().await.unwrap();
    assert_eq!(
        detail["messages"][0]["body"], HOSTILE,
        "stored verbatim, as data"
    );

    // The email to the offline assignee: the markup is escaped in the HTML part, and no header
    // was added by anything the customer wrote.
    let outbox = data.path().join("outbox");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while emails(&outbox).is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mails = emails(&outbox);
    assert_eq!(mails.len(), 1, "one email for the one case");
    let mail = mails[0].replace("=\r\n", "").replace("=\n", "");
    let (headers, body) = mail.split_once("\r\n\r\n").expect("headers, then a body");
    for line in headers.lines() {
        assert!(
            !line.to_ascii_lowercase().starts_with("bcc:")
                && !line.to_ascii_lowercase().starts_with("x-spam"),
            "an injected header: {line}\n{headers}"
        );
    }
    assert_eq!(
        headers.lines().filter(|l| l.starts_with("To:")).count(),
        1,
        "{headers}"
    );
    assert!(headers.contains(&agent.email), "{headers}");
    // The plain-text part shows the text as written; the HTML part must escape it.
    let html = body
        .split("Content-Type: text/html")
        .nth(1)
        .expect("an HTML part");
    for raw in [
        "<script>",
        "<img src=3Dx",
        "<img src=x",
        "<b>Mallory",
        "href=3D\"javascript:",
    ] {
        assert!(
            !html.contains(raw),
            "raw markup {raw:?} in the HTML part:\n{html}"
        );
    }
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the HTML part shows the markup as text:\n{html}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_and_oversized_bodies_get_clear_errors_and_change_nothing() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let case = app
        .customer_writes(&owner.ingest_token, "c@example.com", "hello")
        .await;
    let case_id = case["case_id"].as_str().unwrap().to_string();
    let token = owner.api_token().await;
    let client = reqwest::Client::new();
    let post = |path: String, bearer: String, body: Vec<u8>| {
        let client = client.clone();
        let url = format!("{}{path}", app.url);
        async move {
            client
                .post(url)
                .bearer_auth(bearer)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let mut invalid_utf8 = br#"{"channel":"web","from":{"name":"Eve "#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8.extend_from_slice(br#"","email":"eve@example.com"},"body":"hi"}"#);
    let mut bad_note = br#"{"kind":"note","body":"x"#.to_vec();
    bad_note.extend_from_slice(&[0xed, 0xa0, 0x80]); // an encoded surrogate: never valid UTF-8
    bad_note.extend_from_slice(br#""}"#);
    let huge = json!({ "channel": "web", "from": { "name": "Eve", "email": "eve@example.com" }, "body": "x".repeat(300 * 1024) });
    let huge_note = json!({ "kind": "note", "body": "x".repeat(300 * 1024) });
    let messages = format!("/api/cases/{case_id}/messages");
    let attempts = [
        (
            "/api/inbound".to_string(),
            owner.ingest_token.clone(),
            invalid_utf8,
            StatusCode::BAD_REQUEST,
        ),
        (
            messages.clone(),
            token.clone(),
            bad_note,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/inbound".to_string(),
            owner.ingest_token.clone(),
            huge.to_string().into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            messages.clone(),
            token.clone(),
            huge_note.to_string().into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (path, bearer, body, expected) in attempts {
        let r = post(path.clone(), bearer, body).await;
        assert!(
            r.headers()
                .get("content-type")
                .is_some_and(|v| v.to_str().unwrap().starts_with("application/json")),
            "{path}: a JSON error"
        );
        let (status, code, _) = error_of(r).await;
        assert_eq!(status, expected, "{path}: {code}");
    }
    // Percent-encoded invalid UTF-8 in a query or a path: a client error, never a 500.
    for path in [
        "/api/cases?q=%FF%FE",
        "/api/cases/%FF%FE",
        "/api/teammates?q=%C3",
    ] {
        let status = owner.get(path).await.status();
        assert!(
            status.is_success() || status.is_client_error(),
            "{path}: {status}"
        );
    }
    // Nothing changed: one case, with its one message, and no event beyond it.
    assert_eq!(owner.list("all", "open").await, vec![case_id.clone()]);
    let detail = owner.json(&format!("/api/cases/{case_id}")).await;
    assert_eq!(detail["messages"].as_array().unwrap().len(), 1, "{detail}");
    app.stop().await;
}

/// `(name, value)` of every security header an answer must carry, checked on `r`.
fn assert_security_headers(what: &str, r: &reqwest::Response) {
    let h = r.headers();
    let get = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_string()
    };
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    let csp = get("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("object-src 'none'"), "{what}: {csp}");
    let script_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .unwrap_or_else(|| panic!("{what}: no script-src in {csp}"));
    assert!(
        !script_src.contains("'unsafe-inline'") && !script_src.contains("'unsafe-eval'"),
        "{what}: {script_src}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_and_answer_carries_the_security_headers() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let client = reqwest::Client::new();
    let signup = client
        .post(format!("{}/api/signup", app.url))
        .json(&json!({ "workspace_name": "Acme", "name": "Olivia", "email": "o@example.com", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_security_headers("signup", &signup);
    let cookie = signup
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let login = client
        .post(format!("{}/api/session", app.url))
        .json(&json!({ "email": "o@example.com", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    let cookie = login.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let pages = [
        ("/", StatusCode::OK),
        (
            "/cases/0190a000-0000-7000-8000-000000000000",
            StatusCode::OK,
        ),
        ("/login", StatusCode::OK),
        ("/app.js", StatusCode::OK),
        ("/styles.css", StatusCode::OK),
        ("/sw.js", StatusCode::OK),
        ("/manifest.webmanifest", StatusCode::OK),
        ("/favicon.svg", StatusCode::OK),
        ("/unsubscribe?t=forged", StatusCode::NOT_FOUND),
        ("/api/openapi.json", StatusCode::OK),
        ("/api/me", StatusCode::UNAUTHORIZED),
        ("/api/nothing-here", StatusCode::NOT_FOUND),
        ("/healthz", StatusCode::OK),
        ("/readyz", StatusCode::OK),
        ("/metrics", StatusCode::OK),
        ("/ws", StatusCode::UNAUTHORIZED),
    ];
    for (path, expected) in pages {
        let r = client
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "{path}");
        assert_security_headers(path, &r);
        let html = r
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/html"));
        if html {
            // CSP forbids inline script; the pages do not rely on it either.
            let text = r.text().await.unwrap().to_lowercase();
            for tag in text.split("<script").skip(1) {
                let open = tag.split('>').next().unwrap_or("");
                assert!(open.contains("src="), "{path}: an inline <script>");
            }
            assert!(
                !text.contains(" onclick=")
                    && !text.contains(" onload=")
                    && !text.contains(" onerror="),
                "{path}: an inline event handler"
            );
        }
    }
    // Error answers produced before any handler (wrong method, oversized body) carry them too.
    let r = client
        .put(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_security_headers("405", &r);
    let r = client
        .post(format!("{}/api/signup", app.url))
        .header("content-type", "application/json")
        .body(vec![b' '; 400 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_security_headers("413", &r);
    app.stop().await;
}
