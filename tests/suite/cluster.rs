//! Several instances on one Postgres and one Redis: events cross instances, and nothing is lost
//! when an instance dies or Redis restarts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{
    assert_every_event_once_in_order, follow, free_port, postgres_available, redis_available,
    redis_url, require, write_traffic, Db, OwnRedis, Process, TestDb, Ws,
};

const WAIT: Duration = Duration::from_secs(5);

async fn cluster_ready() -> bool {
    require("Postgres", postgres_available().await) && require("Redis", redis_available().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_on_one_instance_sees_what_happens_on_the_other() {
    if !cluster_ready().await {
        return;
    }
    let db = TestDb::new(Db::Postgres).await;
    let one = Process::start(&db.url, Some(&redis_url()), "one").await;
    let two = Process::start(&db.url, Some(&redis_url()), "two").await;
    let owner = one
        .as_app(Db::Postgres)
        .signup("Acme", "Olivia Owner")
        .await;
    let agent_app = two.as_app(Db::Postgres);
    let agent = agent_app.invite(&owner, "Alex Agent", "agent").await;
    let token = agent.api_token().await;
    let mut ws = Ws::connect(&one.url, &token, None).await.unwrap();
    assert_eq!(ws.next(WAIT).await.unwrap()["instance"], "one");

    // Acted on instance two, seen on instance one.
    let case = agent_app
        .customer_writes(&owner.ingest_token, "c@example.com", "hello")
        .await;
    let id = case["case_id"].as_str().unwrap();
    let created = ws.expect("case.created", WAIT).await;
    assert_eq!(created["event"]["case_id"], id);
    let via_two = crate::common::User {
        base: two.url.clone(),
        ..agent.clone()
    };
    assert_eq!(
        via_two.assign(id, Some(&agent.id)).await.status(),
        reqwest::StatusCode::OK
    );
    assert_eq!(
        ws.expect("case.assigned", WAIT).await["event"]["assignee_id"],
        agent.id.as_str()
    );
    assert_eq!(ws.expect("badge", WAIT).await["mine"], 1);

    // Presence is cluster-wide: the owner online on two is listed when asked on one.
    let owner_token = owner.api_token().await;
    let _owner_ws = Ws::connect(&two.url, &owner_token, None).await.unwrap();
    let mut listed = Value::Null;
    for _ in 0..50 {
        listed = owner.json("/api/presence").await;
        if listed["online"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["teammate_id"] == owner.id.as_str() && p["instances"] == json!(["two"]))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        listed["online"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["teammate_id"] == owner.id.as_str()),
        "{listed}"
    );
    // Logging out on instance one closes the teammate's sockets on instance two within 5 s.
    let cookie = agent_cookie(&agent, &one.url).await;
    let ws_two = two.url.replace("http://", "ws://") + "/ws";
    let mut browser = Ws::connect_request(&ws_two, &[("cookie", &cookie), ("origin", &two.url)])
        .await
        .expect("cookie socket");
    assert_eq!(browser.next(WAIT).await.unwrap()["type"], "hello");
    let logout = reqwest::Client::new()
        .delete(format!("{}/api/session", one.url))
        .header("cookie", &cookie)
        .header("origin", &one.url)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), reqwest::StatusCode::NO_CONTENT);
    assert_eq!(browser.close_code(WAIT).await, Some(4001));
}

/// The session cookie a teammate's browser holds for `base`.
async fn agent_cookie(user: &crate::common::User, base: &str) -> String {
    use reqwest::cookie::CookieStore;
    // A fresh sign-in, so the cookie is known to the test (reqwest keeps it private otherwise).
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    let r = client
        .post(format!("{base}/api/session"))
        .header("origin", base)
        .json(&json!({ "email": user.email, "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    jar.cookies(&base.parse().unwrap())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_an_instance_mid_stream_loses_no_event() {
    if !cluster_ready().await {
        return;
    }
    let db = TestDb::new(Db::Postgres).await;
    let mut one = Process::start(&db.url, Some(&redis_url()), "one").await;
    let two = Process::start(&db.url, Some(&redis_url()), "two").await;
    let owner = one
        .as_app(Db::Postgres)
        .signup("Acme", "Olivia Owner")
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut followers = Vec::new();
    for i in 0..4 {
        let token = owner.api_token().await;
        // Half the clients start on the instance that will die.
        let urls = if i % 2 == 0 {
            vec![one.url.clone(), two.url.clone()]
        } else {
            vec![two.url.clone(), one.url.clone()]
        };
        followers.push(tokio::spawn(follow(urls, token, stop.clone(), None)));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writer = tokio::spawn(write_traffic(
        vec![one.url.clone(), two.url.clone()],
        owner.ingest_token.clone(),
        300,
        100,
    ));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    one.kill();
    writer.await.unwrap();
    stop.store(true, Ordering::SeqCst);
    let store = baton::store::connect(&db.url).await.unwrap();
    let ws = owner.workspace_id.parse().unwrap();
    assert_every_event_once_in_order(
        &store,
        ws,
        followers,
        "every event exactly once, in order, across the instance's death",
    )
    .await;
    assert_eq!(
        store.last_seq(ws).await.unwrap(),
        1 + 600,
        "300 new cases, two events each, after the owner joined"
    );
    drop(two);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_redis_mid_stream_loses_no_event() {
    if !cluster_ready().await {
        return;
    }
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let db = TestDb::new(Db::Postgres).await;
    let one = Process::start(&db.url, Some(&redis.url()), "one").await;
    let two = Process::start(&db.url, Some(&redis.url()), "two").await;
    let owner = one
        .as_app(Db::Postgres)
        .signup("Acme", "Olivia Owner")
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    // Clients on instance one; all writes go through instance two, so every event must cross Redis.
    let mut followers = Vec::new();
    for _ in 0..3 {
        let token = owner.api_token().await;
        followers.push(tokio::spawn(follow(
            vec![one.url.clone()],
            token,
            stop.clone(),
            None,
        )));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writer = tokio::spawn(write_traffic(
        vec![two.url.clone()],
        owner.ingest_token.clone(),
        300,
        100,
    ));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    redis.stop();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let _redis = OwnRedis::start(port);
    writer.await.unwrap();
    stop.store(true, Ordering::SeqCst);
    let store = baton::store::connect(&db.url).await.unwrap();
    let ws = owner.workspace_id.parse().unwrap();
    let head = store.last_seq(ws).await.unwrap();
    assert_eq!(head, 601);
    for f in followers {
        let seen = f.await.unwrap().seen;
        let first = *seen.first().unwrap();
        assert_eq!(
            seen,
            (first..=head).collect::<Vec<_>>(),
            "every event exactly once, in order, across the Redis restart"
        );
    }
    drop((one, two));
}

/// An instance hands its own events to its own sockets before it sends them to Redis: with
/// Redis down they still arrive there, while the other instance's sockets get them from the log
/// once Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_the_acting_instance_still_tells_its_own_sockets() {
    if !cluster_ready().await {
        return;
    }
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let db = TestDb::new(Db::Postgres).await;
    let one = Process::start(&db.url, Some(&redis.url()), "one").await;
    let two = Process::start(&db.url, Some(&redis.url()), "two").await;
    let app = one.as_app(Db::Postgres);
    let owner = app.signup("Acme", "Olivia Owner").await;
    let mut here = Ws::connect(&one.url, &owner.api_token().await, None)
        .await
        .unwrap();
    let mut there = Ws::connect(&two.url, &owner.api_token().await, None)
        .await
        .unwrap();
    assert_eq!(here.next(WAIT).await.unwrap()["instance"], "one");
    assert_eq!(there.next(WAIT).await.unwrap()["instance"], "two");
    redis.stop();

    let case = app
        .customer_writes(&owner.ingest_token, "c@example.com", "hello")
        .await;
    let created = here.expect("case.created", WAIT).await;
    assert_eq!(created["event"]["case_id"], case["case_id"]);
    assert_eq!(
        there.drain_events(Duration::from_millis(500)).await,
        Vec::<Value>::new(),
        "instance two hears of it through Redis only"
    );

    let _redis = OwnRedis::start(port);
    let caught_up = there.expect("case.created", Duration::from_secs(20)).await;
    assert_eq!(caught_up["event"]["case_id"], case["case_id"]);
    drop((one, two));
}

/// A three-node Redis Cluster of throwaway servers.
struct RedisCluster {
    ports: Vec<u16>,
    nodes: Vec<OwnRedisNode>,
    _dir: tempfile::TempDir,
}

struct OwnRedisNode(std::process::Child);

impl Drop for OwnRedisNode {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl RedisCluster {
    fn start() -> RedisCluster {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut nodes = Vec::new();
        for port in &ports {
            let child = std::process::Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .args([
                    "--cluster-config-file",
                    &dir.path()
                        .join(format!("nodes-{port}.conf"))
                        .display()
                        .to_string(),
                ])
                .args(["--dir", &dir.path().display().to_string()])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server");
            nodes.push(OwnRedisNode(child));
            for _ in 0..100 {
                if std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = std::process::Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli");
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stdout)
        );
        for _ in 0..100 {
            let info = std::process::Command::new("redis-cli")
                .args(["-p", &ports[0].to_string(), "cluster", "info"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        RedisCluster {
            ports,
            nodes,
            _dir: dir,
        }
    }

    fn seeds(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node ports that have subscribers on a sharded channel.
    fn shards_with(&self, channel: &str) -> Vec<u16> {
        self.ports
            .iter()
            .copied()
            .filter(|p| {
                let out = std::process::Command::new("redis-cli")
                    .args(["-p", &p.to_string(), "pubsub", "shardnumsub", channel])
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                text.lines()
                    .nth(1)
                    .and_then(|n| n.trim().parse::<u32>().ok())
                    .unwrap_or(0)
                    > 0
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_with_sharded_pub_sub_carries_events_and_presence() {
    if !cluster_ready().await {
        return;
    }
    let redis = RedisCluster::start();
    assert_eq!(redis.nodes.len(), 3);
    let db = TestDb::new(Db::Postgres).await;
    let seeds = redis.seeds();
    let env = [("BATON_REDIS_CLUSTER", "true")];
    let one = Process::start_with(free_port(), &db.url, Some(&seeds), "one", &env).await;
    let two = Process::start_with(free_port(), &db.url, Some(&seeds), "two", &env).await;
    let owner = one
        .as_app(Db::Postgres)
        .signup("Acme", "Olivia Owner")
        .await;
    let token = owner.api_token().await;
    let mut ws = Ws::connect(&one.url, &token, None).await.unwrap();
    assert_eq!(ws.next(WAIT).await.unwrap()["instance"], "one");

    // The workspace's channel is a sharded channel on exactly one node of the cluster.
    let channel = format!("baton:ws:{}", owner.workspace_id);
    assert_eq!(
        redis.shards_with(&channel).len(),
        1,
        "subscribed on the shard that owns the slot"
    );

    let app_two = two.as_app(Db::Postgres);
    let case = app_two
        .customer_writes(&owner.ingest_token, "c@example.com", "through the cluster")
        .await;
    let created = ws.expect("case.created", WAIT).await;
    assert_eq!(created["event"]["case_id"], case["case_id"]);
    let msg = ws.expect("message.created", WAIT).await;
    assert_eq!(msg["event"]["preview"], "through the cluster");

    // Presence goes through the cluster too: a socket on two is listed when asked on one.
    let _on_two = Ws::connect(&two.url, &token, None).await.unwrap();
    let mut listed = Value::Null;
    for _ in 0..50 {
        listed = owner.json("/api/presence").await;
        let instances = listed["online"][0]["instances"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0);
        if instances == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut instances: Vec<String> = listed["online"][0]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect();
    instances.sort();
    assert_eq!(instances, ["one", "two"], "{listed}");
    let ready: Value = reqwest::get(format!("{}/readyz", two.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["bus"], true);
}
