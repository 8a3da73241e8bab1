//! Two instances behind the repository's own `deploy/nginx.conf`: HTTP and WebSockets pass
//! through, requests are spread over both instances, and when one is killed the clients whose
//! sockets close reconnect through nginx and miss nothing.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::common::{
    follow, free_port, get_json, postgres_available, redis_available, redis_url, require,
    write_traffic, Db, Process, TestDb, Ws,
};

const WAIT: Duration = Duration::from_secs(5);

/// The nginx binary: on PATH, or where Debian puts it (`/usr/sbin` is not on every PATH).
fn nginx_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
}

/// nginx running `deploy/nginx.conf`, rendered with this test's ports, unprivileged, with its
/// pid file, logs and temp files in a temp dir. Stopped (and the dir removed) on drop.
struct Nginx {
    child: std::process::Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(binary: &std::path::Path, upstreams: &[SocketAddr]) -> Nginx {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf"))
                .expect("deploy/nginx.conf");
        let port = free_port();
        let servers: Vec<String> = upstreams
            .iter()
            .map(|a| format!("server {a} max_fails=1 fail_timeout=5s;"))
            .collect();
        let rendered = template
            .replace("{{LISTEN}}", &format!("127.0.0.1:{port}"))
            .replace("{{UPSTREAMS}}", &servers.join(" "));
        assert!(
            !rendered.contains("{{"),
            "deploy/nginx.conf has a placeholder the test does not know"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, rendered).unwrap();
        let stdout = std::fs::File::create(dir.path().join("access.log")).unwrap();
        let stderr = std::fs::File::create(dir.path().join("error.log")).unwrap();
        let mut prefix = dir.path().as_os_str().to_owned();
        prefix.push("/");
        let mut child = std::process::Command::new(binary)
            .arg("-p")
            .arg(&prefix)
            .arg("-e")
            .arg("stderr")
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdin(std::process::Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn nginx");
        for _ in 0..200 {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                panic!("nginx exited at start ({status}):\n{log}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Nginx {
                    child,
                    url: format!("http://127.0.0.1:{port}"),
                    dir,
                };
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        panic!("nginx did not start listening on {port}");
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers too (SIGKILL would leave them running).
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_nginx_share_the_load_and_survive_a_kill() {
    let binary = nginx_binary();
    if !require("nginx", binary.is_some())
        || !require("Postgres", postgres_available().await)
        || !require("Redis", redis_available().await)
    {
        return;
    }
    let db = TestDb::new(Db::Postgres).await;
    let mut one = Process::start(&db.url, Some(&redis_url()), "one").await;
    let two = Process::start(&db.url, Some(&redis_url()), "two").await;
    let nginx = Nginx::start(binary.as_deref().unwrap(), &[one.addr, two.addr]);
    let http = reqwest::Client::new();

    // Round-robin without stickiness: consecutive requests reach both instances.
    let mut answered = BTreeSet::new();
    for _ in 0..6 {
        let health = get_json(&format!("{}/healthz", nginx.url), None).await;
        answered.insert(health["instance"].as_str().unwrap().to_string());
    }
    assert_eq!(
        answered,
        BTreeSet::from(["one".to_string(), "two".to_string()]),
        "requests through nginx are spread over both instances"
    );

    // Signup and invite through nginx only. The browser-like client sends nginx's origin, which
    // Baton accepts because nginx passes Host on unchanged.
    let mut app = one.as_app(Db::Postgres);
    app.url = nginx.url.clone();
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    let owner_token = owner.api_token().await;
    let agent_token = agent.api_token().await;

    // A body Baton refuses reaches Baton (its JSON error, not nginx's HTML page).
    let big = http
        .post(format!("{}/api/inbound", nginx.url))
        .bearer_auth(&owner.ingest_token)
        .json(&json!({ "channel": "web", "from": { "name": "C" }, "body": "x".repeat(300 * 1024) }))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        big.json::<Value>().await.unwrap()["error"]["code"],
        "too_large"
    );

    // WebSockets through nginx: an action made through nginx reaches both teammates' sockets.
    let mut owner_ws = Ws::connect(&nginx.url, &owner_token, None).await.unwrap();
    let mut agent_ws = Ws::connect(&nginx.url, &agent_token, None).await.unwrap();
    let mut socket_instances = BTreeSet::new();
    for ws in [&mut owner_ws, &mut agent_ws] {
        let hello = ws.expect("hello", WAIT).await;
        socket_instances.insert(hello["instance"].as_str().unwrap().to_string());
    }
    let case = app
        .customer_writes(&owner.ingest_token, "ann@example.com", "Quote please")
        .await;
    let case_id = case["case_id"].as_str().unwrap();
    for ws in [&mut owner_ws, &mut agent_ws] {
        assert_eq!(
            ws.expect("case.created", WAIT).await["event"]["case_id"],
            case_id
        );
    }
    assert_eq!(
        owner.assign(case_id, Some(&agent.id)).await.status(),
        reqwest::StatusCode::OK
    );
    for ws in [&mut owner_ws, &mut agent_ws] {
        assert_eq!(
            ws.expect("case.assigned", WAIT).await["event"]["assignee_id"],
            agent.id.as_str()
        );
    }
    drop((owner_ws, agent_ws));

    // Followers through nginx, until both instances hold some of them.
    let stop = Arc::new(AtomicBool::new(false));
    let mut followers = Vec::new();
    let mut on_one = 0;
    let mut on_two = 0;
    while followers.len() < 4 || on_one == 0 || on_two == 0 {
        assert!(
            followers.len() < 12,
            "nginx kept sending sockets to one instance"
        );
        // No other request in between: consecutive handshakes alternate between instances.
        let token = if followers.len() % 2 == 0 {
            owner_token.clone()
        } else {
            agent_token.clone()
        };
        let (tx, rx) = oneshot::channel();
        followers.push(tokio::spawn(follow(
            vec![nginx.url.clone()],
            token,
            stop.clone(),
            Some(tx),
        )));
        let instance = tokio::time::timeout(WAIT, rx).await.unwrap().unwrap();
        socket_instances.insert(instance.clone());
        match instance.as_str() {
            "one" => on_one += 1,
            "two" => on_two += 1,
            other => panic!("hello from an unknown instance {other:?}"),
        }
    }

    let store = baton::store::connect(&db.url).await.unwrap();
    let ws_id = owner.workspace_id.parse().unwrap();
    let before = store.last_seq(ws_id).await.unwrap();

    // Traffic through nginx; instance one dies in the middle of it.
    let writer = tokio::spawn(write_traffic(
        vec![nginx.url.clone()],
        owner.ingest_token.clone(),
        300,
        100,
    ));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    one.kill();
    let retries = writer.await.unwrap();
    stop.store(true, Ordering::SeqCst);

    let all: Vec<i64> = store
        .events_since(ws_id, 0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        store.last_seq(ws_id).await.unwrap(),
        before + 600,
        "300 new cases, two events each (retries made no duplicates)"
    );
    let mut moved = 0;
    for f in followers {
        let followed = f.await.unwrap();
        let first = *followed.seen.first().expect("events arrived");
        let expected: Vec<i64> = all.iter().copied().filter(|s| *s >= first).collect();
        assert_eq!(
            followed.seen, expected,
            "every event exactly once, in order, across the instance's death behind nginx"
        );
        assert!(
            *followed.seen.last().unwrap() == before + 600,
            "followers reach the end of the log"
        );
        if followed.instances.first().map(String::as_str) == Some("one") {
            assert!(
                followed.instances.len() >= 2 && followed.instances[1..].iter().all(|i| i == "two"),
                "a socket on the killed instance reconnects through nginx to the survivor: {:?}",
                followed.instances
            );
            moved += 1;
        }
    }
    assert!(moved > 0, "some sockets were on the killed instance");

    // After the kill nginx still answers, from the survivor only.
    for _ in 0..4 {
        let health = get_json(&format!("{}/healthz", nginx.url), None).await;
        assert_eq!(health["instance"], "two", "{}", nginx.error_log());
    }
    eprintln!(
        "nginx: sockets on {socket_instances:?}, {moved} moved after the kill, {retries} retried posts"
    );
    drop(two);
}
