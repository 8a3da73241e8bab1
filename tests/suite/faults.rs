//! Faults that the other modules do not already cover: Postgres unreachable for thirty seconds
//! under live traffic, and a Redis connection that silently stops forwarding. In each, API calls
//! either succeed or fail cleanly (503 with a retry hint), and afterwards every client has every
//! event exactly once and every notification went out exactly once. (SIGKILL of an instance and
//! a Redis restart are in `cluster.rs`; a short Postgres stop is in `operations.rs`.)

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{
    assert_every_event_once_in_order, follow, free_port, postgres_available, redis_available,
    redis_url, require, Db, OwnPostgres, Process, TestDb, Ws,
};

/// What a writer saw while posting customer messages through a fault.
#[derive(Debug, Default)]
struct Writes {
    accepted: usize,
    /// 503 answers with a `Retry-After` hint and the `unavailable` code.
    clean_refusals: usize,
    /// Anything else: other statuses, or no answer at all.
    unclean: Vec<String>,
}

/// Posts `count` customer messages (each from a new customer, so each makes a case) at about
/// `per_sec`, to `urls` in turn, retrying each until it is accepted; a refusal's `Retry-After`
/// is honoured. `done` counts accepted messages as they go.
async fn write_through(
    urls: Vec<String>,
    ingest: String,
    count: usize,
    per_sec: u64,
    done: Arc<AtomicUsize>,
) -> Writes {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut writes = Writes::default();
    let mut ticker = tokio::time::interval(Duration::from_millis(1000 / per_sec));
    for i in 0..count {
        ticker.tick().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "message {i} never got through: {writes:?}"
            );
            let url = &urls[(i + writes.clean_refusals) % urls.len()];
            let sent = client
                .post(format!("{url}/api/inbound"))
                .bearer_auth(&ingest)
                .json(&json!({ "channel": "web", "from": { "name": format!("Customer {i}"), "email": format!("c{i}@example.com") }, "body": format!("message {i}"), "external_id": format!("m{i}") }))
                .send()
                .await;
            let r = match sent {
                Ok(r) => r,
                Err(e) => {
                    writes.unclean.push(format!("message {i}: no answer: {e}"));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if r.status().is_success() {
                writes.accepted += 1;
                done.fetch_add(1, Ordering::SeqCst);
                break;
            }
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let body: Value = r.json().await.unwrap_or(Value::Null);
            match (status, retry_after) {
                (503, Some(secs)) if body["error"]["code"] == "unavailable" => {
                    writes.clean_refusals += 1;
                    tokio::time::sleep(Duration::from_secs(secs.min(5))).await;
                }
                _ => {
                    writes
                        .unclean
                        .push(format!("message {i}: {status} {retry_after:?} {body}"));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
    writes
}

/// The case number in each `.eml` file's subject, counted.
fn emails_per_case(outbox: &Path) -> BTreeMap<String, usize> {
    let mut per_case = BTreeMap::new();
    for entry in std::fs::read_dir(outbox).into_iter().flatten().flatten() {
        if entry.path().extension().is_none_or(|x| x != "eml") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let number = text
            .lines()
            .find_map(|l| l.strip_prefix("Subject: ["))
            .and_then(|rest| rest.split(']').next())
            .unwrap_or("?")
            .to_string();
        *per_case.entry(number).or_insert(0) += 1;
    }
    per_case
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_for_thirty_seconds_loses_nothing_and_sends_each_email_once() {
    if !require(
        "Postgres server binaries (initdb, pg_ctl)",
        OwnPostgres::find_bin().is_some(),
    ) || !require("Redis", redis_available().await)
    {
        return;
    }
    let pg = OwnPostgres::start_new().expect("a Postgres of the test's own");
    // Both instances write their email into one outbox folder, so a second send of the same
    // notification, by either of them, would show.
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let env = [("BATON_DATA_DIR", data_dir.as_str())];
    let redis = redis_url();
    let one = Process::start_with(free_port(), &pg.url(), Some(&redis), "one", &env).await;
    let two = Process::start_with(free_port(), &pg.url(), Some(&redis), "two", &env).await;
    let app = one.as_app(Db::Postgres);
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Andy Agent", "agent").await;
    // Andy is offline (no socket) and wants an email at once for each unread message; every new
    // case is his.
    let r = agent
        .put(
            "/api/me/notifications",
            json!({ "web_push": false, "email": true, "chime": false, "unassigned": false, "email_delay_secs": 0 }),
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let r = owner
        .put(
            "/api/assign-rules",
            json!({ "mode": "round_robin", "pool": [agent.id] }),
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);

    let urls = vec![one.url.clone(), two.url.clone()];
    let stop = Arc::new(AtomicBool::new(false));
    let mut followers = Vec::new();
    for i in 0..2 {
        let mut urls = urls.clone();
        urls.rotate_left(i);
        let token = owner.api_token().await;
        followers.push(tokio::spawn(follow(urls, token, stop.clone(), None)));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    const MESSAGES: usize = 40;
    let done = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn(write_through(
        urls.clone(),
        owner.ingest_token.clone(),
        MESSAGES,
        5,
        done.clone(),
    ));
    while done.load(Ordering::SeqCst) < 12 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pg.stop();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let during = done.load(Ordering::SeqCst);
    pg.start();
    let writes = writer.await.unwrap();
    stop.store(true, Ordering::SeqCst);
    eprintln!("writes through the outage: {writes:?}; {during} accepted by its end (12 before it)");
    assert!(
        writes.unclean.is_empty(),
        "only 2xx or a clean 503: {writes:?}"
    );
    assert!(writes.clean_refusals > 0, "the outage was felt: {writes:?}");
    assert_eq!(writes.accepted, MESSAGES);

    // Nothing half-written, nothing twice: one case per message, each with its one message.
    let cases = owner
        .json("/api/cases?view=all&filter=open&limit=200")
        .await;
    let cases = cases["cases"].as_array().unwrap();
    assert_eq!(cases.len(), MESSAGES, "one case per accepted message");
    for c in cases {
        let id = c["id"].as_str().unwrap();
        let detail = owner.json(&format!("/api/cases/{id}")).await;
        let customer_messages = detail["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] == "inbound")
            .count();
        assert_eq!(customer_messages, 1, "case {id}: {detail}");
    }

    // Every client has every event exactly once, in order.
    let store = baton::store::connect(&pg.url()).await.unwrap();
    let ws = owner.workspace_id.parse().unwrap();
    assert_every_event_once_in_order(&store, ws, followers, "every event exactly once, in order")
        .await;

    // Every email exactly once: one per case, by one of the two instances.
    let outbox = data.path().join("outbox");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while emails_per_case(&outbox).len() < MESSAGES && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A duplicate would come from a job run again after its lease: give it time to show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let per_case = emails_per_case(&outbox);
    assert_eq!(
        per_case.len(),
        MESSAGES,
        "an email for every case: {per_case:?}"
    );
    assert!(
        per_case.values().all(|n| *n == 1),
        "no case emailed twice: {per_case:?}"
    );
    drop((one, two));
}

/// A loopback TCP proxy in front of Redis. `black_hole()` makes every connection open at that
/// moment silently stop forwarding (bytes are read and dropped, nothing is closed), as a
/// stateful firewall or NAT that forgot the connection would; connections made later pass.
struct Proxy {
    port: u16,
    /// Connections numbered below this are black-holed.
    cutoff: Arc<AtomicU64>,
    next: Arc<AtomicU64>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cutoff = Arc::new(AtomicU64::new(0));
        let next = Arc::new(AtomicU64::new(0));
        let (c, n) = (cutoff.clone(), next.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let id = n.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, id, c.clone()));
                tokio::spawn(pump(sr, cw, id, c.clone()));
            }
        });
        Proxy { port, cutoff, next }
    }

    fn black_hole(&self) {
        self.cutoff
            .store(self.next.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    id: u64,
    cutoff: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if id < cutoff.load(Ordering::SeqCst) {
            continue; // black-holed: dropped on the floor, the connection stays open
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Event `seq`s one socket receives until `stop` is set and it has been quiet for 2 s, and
/// whether it is still open then (it answers a ping).
async fn collect(mut ws: Ws, stop: Arc<AtomicBool>) -> (Vec<i64>, bool) {
    let mut seen = Vec::new();
    loop {
        let asked = tokio::time::Instant::now();
        match ws.next(Duration::from_secs(2)).await {
            Some(frame) if frame["type"] == "event" => seen.push(frame["seq"].as_i64().unwrap()),
            Some(_) => {}
            // `None` before the wait is up: the server closed the socket.
            None if asked.elapsed() < Duration::from_secs(1) => return (seen, false),
            None if stop.load(Ordering::SeqCst) => break,
            None => {}
        }
    }
    ws.send(json!({ "type": "ping" })).await;
    let open = ws
        .next(Duration::from_secs(10))
        .await
        .is_some_and(|f| f["type"] == "pong");
    (seen, open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_redis_connection_is_noticed_and_no_event_is_lost() {
    if !require("Postgres", postgres_available().await)
        || !require("Redis", redis_available().await)
    {
        return;
    }
    let upstream = redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_string();
    let proxy = Proxy::start(upstream).await;
    let db = TestDb::new(Db::Postgres).await;
    // Instance one reaches Redis only through the proxy; all writes go through instance two, so
    // every event reaches one's sockets through its subscriber connection.
    let through_proxy = format!("redis://127.0.0.1:{}", proxy.port);
    let one = Process::start(&db.url, Some(&through_proxy), "one").await;
    let two = Process::start(&db.url, Some(&redis_url()), "two").await;
    let owner = one
        .as_app(Db::Postgres)
        .signup("Acme", "Olivia Owner")
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..3 {
        let token = owner.api_token().await;
        let ws = Ws::connect(&one.url, &token, None).await.expect("socket");
        clients.push(tokio::spawn(collect(ws, stop.clone())));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 25 s of traffic; after 2 s, instance one's Redis connections go silent.
    let done = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn(write_through(
        vec![two.url.clone()],
        owner.ingest_token.clone(),
        125,
        5,
        done.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.black_hole();
    let writes = writer.await.unwrap();
    assert!(writes.unclean.is_empty(), "{writes:?}");

    let store = baton::store::connect(&db.url).await.unwrap();
    let ws_id = owner.workspace_id.parse().unwrap();
    let head = store.last_seq(ws_id).await.unwrap();
    // Give instance one time to notice (its probes stop arriving) and catch its sockets up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        let (seen, open) = c.await.unwrap();
        assert!(open, "the socket itself was never dropped");
        let first = *seen.first().expect("events arrived");
        assert_eq!(
            seen,
            (first..=head).collect::<Vec<_>>(),
            "every event exactly once, in order, on the same socket, after the silent link"
        );
    }
    let (cutoff, opened) = (
        proxy.cutoff.load(Ordering::SeqCst),
        proxy.next.load(Ordering::SeqCst),
    );
    assert!(
        cutoff > 0 && opened > cutoff,
        "instance one noticed the silence and connected to Redis again ({cutoff} connections black-holed, {opened} made)"
    );
    drop((one, two));
}
