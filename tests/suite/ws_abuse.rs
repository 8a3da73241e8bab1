//! Hostile WebSocket clients: look-alike origins, stale credentials, absurd frame headers,
//! storms of fragments and a crowd of clients that never read. Each is refused before the
//! upgrade or cut off, the server's memory stays within a fixed budget, and the healthy clients
//! beside them get every event. (The flood of client messages, rate-limited and then closed with
//! 1008, is in `realtime::oversized_and_junk_frames_close_the_socket`.)

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::json;

use crate::common::{
    metric, rss_of, sockets_open_becomes, Db, Process, RawWs, TestApp, TestDb, User, Ws,
};

const WAIT: Duration = Duration::from_secs(10);
const MIB: u64 = 1024 * 1024;

/// Signs in with a fresh client and returns the session cookie (`baton_session=…`).
async fn session_cookie(app: &TestApp, email: &str) -> String {
    let r = Client::new()
        .post(format!("{}/api/session", app.url))
        .header("origin", &app.url)
        .json(&json!({ "email": email, "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "login");
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("baton_session="))
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string()
}

/// The handshake's status with a cookie and the server's own Origin, as a browser tab sends it.
async fn handshake_with_cookie(app: &TestApp, cookie: &str) -> Result<Ws, u16> {
    let ws_url = format!("{}/ws", app.url.replace("http://", "ws://"));
    Ws::connect_request(&ws_url, &[("cookie", cookie), ("origin", &app.url)]).await
}

#[tokio::test]
async fn look_alike_origins_and_stale_credentials_are_refused_before_the_upgrade() {
    let db = TestDb::new(Db::Sqlite).await;
    let app = TestApp::spawn_with(Db::Sqlite, db.url.clone(), |_| {}).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let token = owner.api_token().await;
    let host = app.addr.to_string();
    let ws_url = format!("ws://{host}/ws?token={token}");

    // Origins that contain ours, or look like it, are foreign. Valid credentials don't help.
    let cookie = session_cookie(&app, &owner.email).await;
    for evil in [
        format!("https://{host}.evil.com"),
        format!("http://{host}.evil.com"),
        format!("https://yourhost.evil.com/{host}"),
        format!("http://{host}@evil.com"),
        format!("http://evil.com#{host}"),
        format!("http://127.0.0.1:{}", app.addr.port() + 1),
        format!("ws://{host}"),
        format!("file://{host}"),
        "null".to_string(),
        String::new(),
    ] {
        let by_token = Ws::connect_request(&ws_url, &[("origin", &evil)])
            .await
            .err();
        assert_eq!(by_token, Some(403), "token, origin {evil:?}");
        let ws_plain = format!("ws://{host}/ws");
        let by_cookie = Ws::connect_request(&ws_plain, &[("cookie", &cookie), ("origin", &evil)])
            .await
            .err();
        assert_eq!(by_cookie, Some(403), "cookie, origin {evil:?}");
    }
    assert!(
        handshake_with_cookie(&app, &cookie).await.is_ok(),
        "the same cookie from our own origin is fine"
    );

    // No credentials, or made-up ones.
    for url in [
        format!("ws://{host}/ws"),
        format!("ws://{host}/ws?token="),
        format!("ws://{host}/ws?token=btk_{}", "0".repeat(43)),
    ] {
        assert_eq!(
            Ws::connect_request(&url, &[]).await.err(),
            Some(401),
            "{url}"
        );
    }
    assert_eq!(
        handshake_with_cookie(&app, "baton_session=forged")
            .await
            .err(),
        Some(401)
    );

    // A session that was signed out.
    let signed_out = session_cookie(&app, &owner.email).await;
    let r = Client::new()
        .delete(format!("{}/api/session", app.url))
        .header("origin", &app.url)
        .header("cookie", &signed_out)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        handshake_with_cookie(&app, &signed_out).await.err(),
        Some(401)
    );

    // The API token of a teammate who was removed.
    let agent = app.invite(&owner, "Adam Agent", "agent").await;
    let agent_token = agent.api_token().await;
    assert!(Ws::connect(&app.url, &agent_token, None).await.is_ok());
    let r = owner
        .delete(
            &format!("/api/teammates/{}", agent.id),
            Some(json!({ "reassign_to": null })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        Ws::connect(&app.url, &agent_token, None).await.err(),
        Some(401)
    );

    // A session past its expiry (as if its 30 days had gone by); API tokens have none.
    let expiring = session_cookie(&app, &owner.email).await;
    assert!(handshake_with_cookie(&app, &expiring).await.is_ok());
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    sqlx::query("UPDATE tokens SET expires_at = 1 WHERE expires_at IS NOT NULL")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        handshake_with_cookie(&app, &expiring).await.err(),
        Some(401)
    );

    // A socket open when its session runs out is closed then, as sign-out would close it.
    let ending = session_cookie(&app, &owner.email).await;
    let soon = chrono::Utc::now().timestamp_millis() + 1_500;
    sqlx::query("UPDATE tokens SET expires_at = $1 WHERE expires_at > 1")
        .bind(soon)
        .execute(&pool)
        .await
        .unwrap();
    let mut ws = handshake_with_cookie(&app, &ending)
        .await
        .expect("still valid");
    assert_eq!(ws.next(WAIT).await.expect("hello")["type"], "hello");
    assert_eq!(ws.close_code(WAIT).await, Some(4001), "closed at expiry");
    assert_eq!(handshake_with_cookie(&app, &ending).await.err(), Some(401));

    // The owner's token still works: refusals changed nothing for anyone else.
    let mut ws = Ws::connect(&app.url, &token, None).await.expect("owner");
    assert_eq!(ws.next(WAIT).await.expect("hello")["type"], "hello");
}

/// A `baton` process of its own, so that its memory can be read from `/proc`.
async fn own_server() -> (TestDb, Process, User, String) {
    let db = TestDb::new(Db::Sqlite).await;
    let server = Process::start(&db.url, None, "abuse").await;
    let owner = server
        .as_app(Db::Sqlite)
        .signup("Acme", "Olivia Owner")
        .await;
    let token = owner.api_token().await;
    (db, server, owner, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_frame_headers_and_fragment_storms_close_the_socket_and_cost_nothing() {
    let (_db, server, _owner, token) = own_server().await;
    let pid = server.child.id();
    let mut healthy = Ws::connect(&server.url, &token, None).await.unwrap();
    healthy.next(WAIT).await.expect("hello");
    let before = rss_of(pid);

    // Frame headers announcing 2^60 bytes, and the largest length a header can carry: refused
    // from the header alone (1009), nothing allocated for them.
    for len in [1u64 << 60, u64::MAX >> 1] {
        let mut raw = RawWs::open(server.addr, &token, None).await;
        raw.upgraded().await;
        assert!(raw.send(&RawWs::header(true, 0x1, len)).await);
        assert_eq!(
            raw.close_code(WAIT).await,
            Some(1009),
            "header of {len} bytes"
        );
    }

    // 100,000 one-byte fragments of one message: once they add up past the 64 KiB limit, 1009.
    let mut raw = RawWs::open(server.addr, &token, None).await;
    raw.upgraded().await;
    let (hello, _) = raw.next_frame(WAIT).await.expect("hello");
    assert_eq!(hello, 0x1);
    let storm = RawWs::fragmented(&[b' '; 100_000]);
    let mut sent = 0;
    let mut code = None;
    // A thousand fragments at a time, looking for the server's answer in between.
    for chunk in storm.chunks(storm.len() / 100) {
        if code.is_some() || !raw.send(chunk).await {
            break;
        }
        sent += 1000;
        if let Some((0x8, payload)) = raw.next_frame(Duration::from_millis(5)).await {
            code = RawWs::close_code_of(&payload);
        }
    }
    let code = match code {
        Some(code) => Some(code),
        None => raw.close_code(WAIT).await,
    };
    assert_eq!(code, Some(1009), "after {sent} fragments");
    assert!(sent < 100_000, "closed before the storm was over");

    // Fragments are not the problem: a ping in 60,000 one-byte fragments is a ping.
    let mut raw = RawWs::open(server.addr, &token, None).await;
    raw.upgraded().await;
    raw.next_frame(WAIT).await.expect("hello");
    let text = format!("{{{}\"type\":\"ping\"}}", " ".repeat(60_000 - 15));
    assert!(raw.send(&RawWs::fragmented(text.as_bytes())).await);
    let (opcode, payload) = raw.next_frame(WAIT).await.expect("an answer");
    assert_eq!(
        (opcode, String::from_utf8_lossy(&payload).to_string()),
        (0x1, r#"{"type":"pong"}"#.to_string())
    );

    // The healthy socket never noticed; the server's memory did not grow by more than noise.
    healthy.send(json!({ "type": "ping" })).await;
    assert_eq!(healthy.expect("pong", WAIT).await["type"], "pong");
    let after = rss_of(pid);
    println!(
        "server RSS {:.1} MiB before, {:.1} MiB after",
        before as f64 / MIB as f64,
        after as f64 / MIB as f64
    );
    assert!(
        after < before + 16 * MIB,
        "RSS grew from {before} to {after} bytes"
    );
}

/// What 200 clients that never read may cost the server, at most, beyond what it used before
/// they came: each holds at most its write buffer (256 KiB, 50 MiB for 200) until its queue
/// overflows and it is let go; the frames queued for it are shared with every other socket.
const STUCK: usize = 200;
const STUCK_BUDGET: u64 = 64 * MIB;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_that_never_read_cost_bounded_memory_and_others_get_every_event() {
    let (_db, server, owner, token) = own_server().await;
    let app = server.as_app(Db::Sqlite);
    let pid = server.child.id();

    // Three healthy teammates' tabs, reading everything.
    let mut readers = Vec::new();
    let mut starts = Vec::new();
    for name in ["Ana", "Ben", "Cleo"] {
        let teammate = app.invite(&owner, name, "agent").await;
        let mut ws = Ws::connect(&server.url, &teammate.api_token().await, None)
            .await
            .unwrap();
        let hello = ws.next(WAIT).await.expect("hello");
        starts.push(hello["seq"].as_i64().unwrap());
        readers.push(ws);
    }
    let before = rss_of(pid);

    // The crowd: handshake done, then never another byte read, with small kernel buffers.
    let mut stuck = Vec::new();
    for _ in 0..STUCK {
        let mut raw = RawWs::open(server.addr, &token, Some(2048)).await;
        raw.upgraded().await;
        stuck.push(raw);
    }
    assert_eq!(
        sockets_open_becomes(&server.url, (STUCK + 3) as f64).await,
        (STUCK + 3) as f64
    );

    // Peak memory, sampled while customers write in.
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        loop {
            peak = peak.max(rss_of(pid));
            tokio::select! {
                _ = &mut stop_rx => return peak,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    });
    // Each reads until the log's head, known once the writes are done.
    let (head_tx, head_rx) = tokio::sync::watch::channel(i64::MAX);
    let listeners: Vec<_> = readers
        .into_iter()
        .zip(starts.clone())
        .map(|(mut ws, start)| {
            let mut head = head_rx.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                while seqs.last().copied().unwrap_or(start) < *head.borrow() {
                    tokio::select! {
                        frame = ws.next(Duration::from_secs(30)) => match frame {
                            Some(frame) if frame["type"] == "event" => {
                                seqs.push(frame["seq"].as_i64().unwrap())
                            }
                            Some(_) => {}
                            None => break,
                        },
                        _ = head.changed() => {}
                    }
                }
                seqs
            })
        })
        .collect();
    let text = "The parcel never arrived and the tracking page says delivered. ".repeat(16);
    for i in 0..400 {
        let r = app
            .inbound(
                &owner.ingest_token,
                json!({ "channel": "email", "from": { "name": format!("Customer {i}"), "email": format!("c{i}@example.com") }, "subject": format!("Order {i}"), "body": text }),
            )
            .await;
        assert!(r.status().is_success());
    }
    let head = Ws::connect(&server.url, &token, None)
        .await
        .unwrap()
        .next(WAIT)
        .await
        .unwrap()["seq"]
        .as_i64()
        .unwrap();
    head_tx.send(head).unwrap();

    // Every healthy tab has every event once, in order.
    for (listener, start) in listeners.into_iter().zip(starts) {
        let seqs = listener.await.unwrap();
        let want: Vec<i64> = (start + 1..=head).collect();
        assert_eq!(seqs, want, "a healthy reader's events");
    }
    // The crowd was let go; memory stayed within the budget.
    let open = sockets_open_becomes(&server.url, 0.0).await;
    let _ = stop_tx.send(());
    let peak = sampler.await.unwrap();
    let overflows = metric(&server.url, "baton_socket_queue_overflows_total")
        .await
        .unwrap_or(0.0);
    println!(
        "server RSS {:.1} MiB before the crowd, peak {:.1} MiB ({:.0} KiB per stuck socket); {overflows} queue overflows",
        before as f64 / MIB as f64,
        peak as f64 / MIB as f64,
        peak.saturating_sub(before) as f64 / 1024.0 / STUCK as f64
    );
    assert_eq!(open, 0.0, "every stuck socket was closed");
    assert!(
        peak < before + STUCK_BUDGET,
        "peak RSS {peak} bytes, {before} before the crowd"
    );
    drop(stuck);
}
