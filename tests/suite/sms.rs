//! SMS through Twilio and API channels, against independent peers: the `twilio` package's own
//! RequestValidator signs what "Twilio" sends us, a stand-in for Twilio's Messages API checks
//! what we send it (`tests/peers/twilio_api.py`), and the `standardwebhooks` package verifies
//! what API channels receive (`tests/peers/webhook_receiver.py`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{error_of, free_port, reply, require, Db, TestApp, TestDb, User, Ws};
use crate::peers::{self, json_lines, python_has, Peer};

const CUSTOMER: &str = "+14155550100";
const NUMBER: &str = "+14155559999";

/// `X-Twilio-Signature` as the `twilio` package computes it.
fn twilio_sign(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let map: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    let mut child = std::process::Command::new("python3")
        .arg(peers::dir().join("twilio_sign.py"))
        .args([token, url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::Object(map).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "twilio_sign failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn post_form(
    url: &str,
    params: &[(&str, &str)],
    signature: Option<&str>,
) -> reqwest::Response {
    let mut r = reqwest::Client::new().post(url).form(params);
    if let Some(sig) = signature {
        r = r.header("X-Twilio-Signature", sig);
    }
    r.send().await.unwrap()
}

struct Sms {
    app: TestApp,
    _db: TestDb,
    owner: User,
    channel_id: String,
    inbound_url: String,
    token: String,
    sid: String,
    /// Where the stand-in for Twilio's API listens (it serves media too).
    peer_url: String,
    log: PathBuf,
    _twilio: Peer,
    _dir: tempfile::TempDir,
}

/// A server with an `sms_twilio` channel whose API is the stand-in, scripted with `script`.
async fn setup(db: Db, script: &str) -> Option<Sms> {
    if !require("python3 with twilio", python_has("twilio")) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("twilio.jsonl");
    let sid = format!("AC{}", uuid::Uuid::new_v4().simple());
    let token = uuid::Uuid::new_v4().simple().to_string();
    let port = free_port();
    let twilio = Peer::start(
        "twilio_api.py",
        &[
            port.to_string(),
            sid.clone(),
            token.clone(),
            log.display().to_string(),
            script.into(),
        ],
    );
    let test_db = TestDb::new(db).await;
    let app = TestApp::spawn_with(db, test_db.url.clone(), |c| {
        c.retry_base = Duration::from_millis(100);
    })
    .await;
    let owner = app.signup("Sunny Side", "Ana").await;
    let r = owner
        .post(
            "/api/channels",
            json!({ "kind": "sms_twilio", "name": "Texts", "settings": {
                "account_sid": sid, "auth_token": token, "from_number": "+1 (415) 555-9999",
                "api_base_url": format!("http://127.0.0.1:{port}") } }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    let channel = &body["channel"];
    assert_eq!(channel["settings"]["from_number"], NUMBER);
    assert!(
        channel["settings"].get("auth_token").is_none(),
        "the token is never shown: {channel}"
    );
    let channel_id = channel["id"].as_str().unwrap().to_string();
    let inbound_url = channel["inbound_url"].as_str().unwrap().to_string();
    assert_eq!(
        inbound_url,
        format!("{}/hooks/twilio/{channel_id}", app.url)
    );
    Some(Sms {
        app,
        _db: test_db,
        owner,
        channel_id,
        inbound_url,
        token,
        sid,
        peer_url: format!("http://127.0.0.1:{port}"),
        log,
        _twilio: twilio,
        _dir: dir,
    })
}

impl Sms {
    /// A text from `from`, signed by the `twilio` package: the answer's status.
    async fn text(&self, from: &str, body: &str, message_sid: &str) -> StatusCode {
        let params = [
            ("AccountSid", self.sid.as_str()),
            ("From", from),
            ("To", NUMBER),
            ("Body", body),
            ("MessageSid", message_sid),
            ("NumMedia", "0"),
            ("SmsStatus", "received"),
        ];
        let sig = twilio_sign(&self.token, &self.inbound_url, &params);
        let r = post_form(&self.inbound_url, &params, Some(&sig)).await;
        let status = r.status();
        if status == StatusCode::OK {
            let text = r.text().await.unwrap();
            assert!(text.contains("<Response/>"), "empty TwiML expected: {text}");
        }
        status
    }

    async fn status_callback(&self, message_sid: &str, status: &str, token: &str) -> StatusCode {
        let url = format!("{}/status", self.inbound_url);
        let params = [
            ("AccountSid", self.sid.as_str()),
            ("MessageSid", message_sid),
            ("MessageStatus", status),
            ("To", CUSTOMER),
            ("From", NUMBER),
        ];
        let sig = twilio_sign(token, &url, &params);
        post_form(&url, &params, Some(&sig)).await.status()
    }

    async fn cases(&self) -> Vec<Value> {
        self.owner.json("/api/cases?view=all").await["cases"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

fn new_sid() -> String {
    format!("SM{}", uuid::Uuid::new_v4().simple())
}

async fn delivery_becomes(user: &User, case_id: &str, message_id: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let detail = user.json(&format!("/api/cases/{case_id}")).await;
        let m = detail["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == message_id)
            .cloned()
            .unwrap();
        if m["delivery"]["state"] == state {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery never became {state}: {m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

on_both!(inbound_texts_are_signed_and_deduplicated, inbound_texts);
async fn inbound_texts(db: Db) {
    let Some(s) = setup(db, "").await else { return };
    let sid = new_sid();
    let params = [
        ("AccountSid", s.sid.as_str()),
        ("From", CUSTOMER),
        ("To", NUMBER),
        ("Body", "Is my order on its way?"),
        ("MessageSid", sid.as_str()),
        ("NumMedia", "0"),
    ];
    let good = twilio_sign(&s.token, &s.inbound_url, &params);
    // Missing header, a wrong token, and a replay with one parameter changed: 403, nothing filed.
    assert_eq!(
        post_form(&s.inbound_url, &params, None).await.status(),
        StatusCode::FORBIDDEN
    );
    let wrong = twilio_sign("not-the-token", &s.inbound_url, &params);
    assert_eq!(
        post_form(&s.inbound_url, &params, Some(&wrong))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let mut changed = params;
    changed[3] = ("Body", "Send it to another address");
    assert_eq!(
        post_form(&s.inbound_url, &changed, Some(&good))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let elsewhere = format!("{}/hooks/twilio/{}", s.app.url, uuid::Uuid::new_v4());
    assert_eq!(
        post_form(&elsewhere, &params, Some(&good)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(
        s.cases().await.is_empty(),
        "a refused request changes nothing"
    );

    // Signed: one case; the same MessageSid again is the same message.
    assert_eq!(
        post_form(&s.inbound_url, &params, Some(&good))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        post_form(&s.inbound_url, &params, Some(&good))
            .await
            .status(),
        StatusCode::OK
    );
    let cases = s.cases().await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    let case_id = cases[0]["id"].as_str().unwrap().to_string();
    // Written another way, the number finds the same customer and case.
    assert_eq!(
        s.text("+1 415-555-0100", "Second text", &new_sid()).await,
        StatusCode::OK
    );
    assert_eq!(s.cases().await.len(), 1);
    let detail = s.owner.json(&format!("/api/cases/{case_id}")).await;
    let bodies: Vec<&str> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        ["Is my order on its way?", "Second text"],
        "{detail}"
    );
    assert_eq!(detail["case"]["customer"]["phone"], CUSTOMER, "{detail}");
    assert_eq!(
        detail["case"]["channel_id"],
        s.channel_id.as_str(),
        "{detail}"
    );

    // The channel list never shows the token either; a PATCH without it keeps it.
    let list = s.owner.json("/api/channels").await;
    assert!(!list.to_string().contains(&s.token));
    let r = s
        .owner
        .patch(
            &format!("/api/channels/{}", s.channel_id),
            json!({ "settings": { "account_sid": s.sid, "from_number": NUMBER } }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.text(CUSTOMER, "Third text", &new_sid()).await,
        StatusCode::OK,
        "the kept token still verifies"
    );
}

on_both!(sms_replies_go_out_once_with_retries_and_status, sms_replies);
async fn sms_replies(db: Db) {
    // The first reply meets 429 and 500 before it is accepted; the second meets a 400.
    let Some(s) = setup(db, "429,500,201,400").await else {
        return;
    };
    assert_eq!(s.text(CUSTOMER, "Hello?", &new_sid()).await, StatusCode::OK);
    let case_id = s.cases().await[0]["id"].as_str().unwrap().to_string();
    let token = s.owner.api_token().await;
    let mut ws = Ws::connect(&s.app.url, &token, None).await.unwrap();

    let first = reply(&s.owner, &case_id, "Your order ships today.").await;
    assert_eq!(first["channel"], "sms");
    assert_eq!(first["delivery"]["state"], "queued");
    let first_id = first["id"].as_str().unwrap();
    delivery_becomes(&s.owner, &case_id, first_id, "sent").await;
    let log = json_lines(&s.log);
    let statuses: Vec<i64> = log.iter().map(|l| l["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [429, 500, 201], "{log:?}");
    assert!(
        log.iter()
            .all(|l| l["problems"].as_array().unwrap().is_empty()),
        "{log:?}"
    );
    let accepted = &log[2];
    assert_eq!(accepted["fields"]["To"], CUSTOMER);
    assert_eq!(accepted["fields"]["From"], NUMBER);
    assert_eq!(accepted["fields"]["Body"], "Your order ships today.");
    assert_eq!(
        accepted["fields"]["StatusCallback"],
        format!("{}/status", s.inbound_url)
    );
    let message_sid = accepted["sid"].as_str().unwrap().to_string();

    // Status callbacks, signed like inbound, move the state live; a forged one is refused.
    assert_eq!(
        s.status_callback(&message_sid, "delivered", &s.token).await,
        StatusCode::OK
    );
    delivery_becomes(&s.owner, &case_id, first_id, "delivered").await;
    // Live: `message.delivery` events carry each step.
    let mut states = Vec::new();
    while states.last().map(String::as_str) != Some("delivered") {
        let event = ws.expect("message.delivery", Duration::from_secs(5)).await;
        assert_eq!(event["event"]["message_id"], first_id);
        states.push(event["event"]["state"].as_str().unwrap().to_string());
    }
    // Each retry (after the 429 and the 500) says so, still queued, with the reason.
    assert_eq!(states, ["queued", "queued", "sent", "delivered"]);
    assert_eq!(
        s.status_callback(&message_sid, "failed", "forged").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.status_callback(&message_sid, "sent", &s.token).await,
        StatusCode::OK
    );
    delivery_becomes(&s.owner, &case_id, first_id, "delivered").await;

    // A 400 is final, with Twilio's code and message on the reply.
    let second = reply(&s.owner, &case_id, "Anything else?").await;
    let failed =
        delivery_becomes(&s.owner, &case_id, second["id"].as_str().unwrap(), "failed").await;
    let error = failed["delivery"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("21211") && error.contains("Invalid 'To' Phone Number"),
        "{failed}"
    );

    // Exactly once: nothing more reaches Twilio.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = json_lines(&s.log);
    assert_eq!(
        log.iter().filter(|l| l["status"] == 201).count(),
        1,
        "{log:?}"
    );
    assert_eq!(log.len(), 4, "{log:?}");
}

// The seed's SMS story: a text creates a case for the round-robin owner; the owner replies;
// the case is closed; a new text reopens it for the same owner, who is pinged.
on_both!(seed_sms_story, seed_story);
async fn seed_story(db: Db) {
    let Some(s) = setup(db, "").await else { return };
    let bo = s.app.invite(&s.owner, "Bo", "agent").await;
    let cy = s.app.invite(&s.owner, "Cy", "agent").await;
    let rr = json!({ "mode": "round_robin", "pool": [bo.id, cy.id] });
    assert_eq!(
        s.owner.put("/api/assign-rules", rr).await.status(),
        StatusCode::OK
    );

    assert_eq!(
        s.text(CUSTOMER, "Hi, my delivery is late", &new_sid())
            .await,
        StatusCode::OK
    );
    let case = s.cases().await[0].clone();
    let case_id = case["id"].as_str().unwrap().to_string();
    assert_eq!(
        case["assignee_id"],
        bo.id.as_str(),
        "round-robin picks the first of the pool"
    );

    let sent = reply(&bo, &case_id, "On its way, arriving tomorrow.").await;
    delivery_becomes(&bo, &case_id, sent["id"].as_str().unwrap(), "sent").await;
    assert_eq!(
        bo.put(
            &format!("/api/cases/{case_id}/status"),
            json!({ "status": "won" })
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert!(bo.list("mine", "open").await.is_empty());

    let bo_token = bo.api_token().await;
    let mut ws = Ws::connect(&s.app.url, &bo_token, None).await.unwrap();
    assert_eq!(
        s.text("+1 (415) 555-0100", "It arrived, thanks!", &new_sid())
            .await,
        StatusCode::OK
    );
    let cases = s.cases().await;
    assert_eq!(cases.len(), 1, "the same case, reopened");
    assert_eq!(
        cases[0]["assignee_id"],
        bo.id.as_str(),
        "for the same owner"
    );
    assert_eq!(cases[0]["status"], "needs_reply");
    assert_eq!(bo.list("mine", "open").await, [case_id.as_str()]);
    let created = ws.expect("message.created", Duration::from_secs(5)).await;
    assert_eq!(created["event"]["case_id"], case_id.as_str());
    assert_eq!(
        created["event"]["assignee_id"],
        bo.id.as_str(),
        "the owner is pinged: {created}"
    );
    let _ = cy;
}

on_both!(api_channel_replies_are_signed_webhooks, api_channel);
async fn api_channel(db: Db) {
    if !require(
        "python3 with standardwebhooks",
        python_has("standardwebhooks"),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    let log = dir.path().join("hooks.jsonl");
    let port = free_port();
    let _receiver = Peer::start(
        "webhook_receiver.py",
        &[
            port.to_string(),
            secret_file.display().to_string(),
            log.display().to_string(),
        ],
    );
    let test_db = TestDb::new(db).await;
    let app = TestApp::spawn_with(db, test_db.url.clone(), |c| {
        c.retry_base = Duration::from_millis(100)
    })
    .await;
    let owner = app.signup("Sunny Side", "Ana").await;

    // The URL policy: no link-local or metadata addresses, no plain http off loopback.
    for bad in [
        "http://169.254.169.254/latest/meta-data",
        "https://[fe80::1]/x",
        "ftp://example.com/x",
    ] {
        let (status, _, field) = error_of(
            owner
                .post(
                    "/api/channels",
                    json!({ "kind": "api", "name": "App", "settings": { "webhook_url": bad } }),
                )
                .await,
        )
        .await;
        assert_eq!(
            (status, field.as_deref()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("settings.webhook_url")
            ),
            "{bad}"
        );
    }
    let r = owner
        .post(
            "/api/channels",
            json!({ "kind": "api", "name": "App", "settings": { "webhook_url": format!("http://127.0.0.1:{port}/hook") } }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    std::fs::write(&secret_file, secret).unwrap();
    let channel_id = created["channel"]["id"].as_str().unwrap();
    assert!(
        !owner
            .json("/api/channels")
            .await
            .to_string()
            .contains(secret),
        "shown once"
    );

    // A channel of another workspace, or none at all, is refused.
    let r = app
        .inbound(&owner.ingest_token, json!({ "channel": "app", "channel_id": uuid::Uuid::new_v4(), "from": { "name": "Dee", "phone": CUSTOMER }, "body": "hi" }))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .inbound(&owner.ingest_token, json!({ "channel": "app", "channel_id": channel_id, "from": { "name": "Dee", "phone": CUSTOMER }, "body": "Hello from the app", "external_id": "app-1" }))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let case_id = r.json::<Value>().await.unwrap()["case_id"]
        .as_str()
        .unwrap()
        .to_string();

    let sent = reply(&owner, &case_id, "Hello Dee, how can we help?").await;
    assert_eq!(sent["channel"], "api");
    delivery_becomes(&owner, &case_id, sent["id"].as_str().unwrap(), "sent").await;
    let got = json_lines(&log);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["verified"], true, "{got:?}");
    assert_eq!(
        got[0]["payload"]["data"]["body"],
        "Hello Dee, how can we help?"
    );
    assert_eq!(got[0]["payload"]["data"]["case_id"], case_id.as_str());
    assert_eq!(got[0]["payload"]["data"]["to"]["phone"], CUSTOMER);

    // A receiver that refuses (wrong secret) gets the same delivery again, same webhook-id.
    std::fs::write(&secret_file, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let second = reply(&owner, &case_id, "Still there?").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while json_lines(&log).len() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::write(&secret_file, secret).unwrap();
    delivery_becomes(&owner, &case_id, second["id"].as_str().unwrap(), "sent").await;
    let got = json_lines(&log);
    let tries: Vec<&Value> = got[1..].iter().collect();
    assert!(tries.len() >= 3, "{got:?}");
    assert!(
        tries.iter().all(|t| t["id"] == tries[0]["id"]),
        "a stable webhook-id: {got:?}"
    );
    assert_eq!(tries.last().unwrap()["verified"], true);
    assert_eq!(tries.iter().filter(|t| t["verified"] == true).count(), 1);
}

/// The image the stand-in serves as `ME...image` (a 1x1 PNG).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x02, 0x01, 0xa5, 0xf3, 0xa1, 0xb3, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

on_both!(mms_media_become_attachments, mms_media);
async fn mms_media(db: Db) {
    let Some(s) = setup(db, "").await else { return };
    let sid = format!("MM{}", uuid::Uuid::new_v4().simple());
    let media = |name: &str| {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages/{sid}/Media/ME{name}",
            s.peer_url, s.sid
        )
    };
    let (image, text, big) = (media("image"), media("text"), media("big"));
    let params = [
        ("AccountSid", s.sid.as_str()),
        ("From", CUSTOMER),
        ("To", NUMBER),
        ("Body", ""),
        ("MessageSid", sid.as_str()),
        ("NumMedia", "3"),
        ("MediaUrl0", image.as_str()),
        ("MediaContentType0", "image/png"),
        ("MediaUrl1", text.as_str()),
        ("MediaContentType1", "text/plain"),
        ("MediaUrl2", big.as_str()),
        ("MediaContentType2", "image/jpeg"),
    ];
    let sig = twilio_sign(&s.token, &s.inbound_url, &params);
    let r = post_form(&s.inbound_url, &params, Some(&sig)).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Baton fetched each medium with the account's basic auth (the stand-in redirects only
    // then); without it the stand-in serves nothing.
    let fetched: Vec<Value> = json_lines(&s.log)
        .into_iter()
        .filter(|l| l["media"].as_str().is_some_and(|p| p.contains("/Media/")))
        .collect();
    assert_eq!(fetched.len(), 3, "{fetched:?}");
    assert!(fetched.iter().all(|l| l["status"] == 307), "{fetched:?}");
    let anonymous = reqwest::get(&image).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let cases = s.cases().await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    let case_id = cases[0]["id"].as_str().unwrap().to_string();
    let detail = s.owner.json(&format!("/api/cases/{case_id}")).await;
    let messages = detail["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{detail}");
    let files = messages[0]["attachments"].as_array().unwrap().clone();
    assert_eq!(files.len(), 2, "the oversize medium is skipped: {detail}");
    let body = messages[0]["body"].as_str().unwrap();
    assert!(
        body.contains("media file 3 (image/jpeg) not kept: larger than 20 MiB"),
        "{body}"
    );

    // A teammate downloads each with its bytes and type.
    let teammate = s.app.invite(&s.owner, "Bo", "agent").await;
    let expected = [
        ("image/png", PNG.to_vec()),
        ("text/plain", b"Order #1042, as promised.\n".to_vec()),
    ];
    for (file, (kind, bytes)) in files.iter().zip(expected) {
        assert_eq!(file["content_type"], kind, "{file}");
        assert_eq!(file["size"], bytes.len(), "{file}");
        let r = teammate
            .get(&format!(
                "/api/attachments/{}",
                file["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], kind);
        assert_eq!(r.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }

    // Twilio delivering the same MessageSid again adds nothing.
    let r = post_form(&s.inbound_url, &params, Some(&sig)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let detail = s.owner.json(&format!("/api/cases/{case_id}")).await;
    let messages = detail["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{detail}");
    assert_eq!(messages[0]["attachments"].as_array().unwrap().len(), 2);
    assert_eq!(s.cases().await.len(), 1);
}
