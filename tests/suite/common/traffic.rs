//! Load for the multi-instance tests: a writer posting customer messages and followers that
//! record every event they are sent.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Client;
use serde_json::json;
use tokio::sync::oneshot;

use super::Ws;

/// What one client saw: the instance of each socket it held, and every event `seq` in the
/// order received.
pub struct Followed {
    pub seen: Vec<i64>,
    pub instances: Vec<String>,
}

/// Follows a workspace's events through `urls` (taken in turn after each disconnect), resuming
/// with `?since=` every time, until `stop` is set and nothing new arrives. `first` learns the
/// instance of the first socket.
pub async fn follow(
    urls: Vec<String>,
    token: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    first: Option<oneshot::Sender<String>>,
) -> Followed {
    let mut first = first;
    let mut seen: Vec<i64> = Vec::new();
    let mut instances = Vec::new();
    let mut since: Option<i64> = None;
    let mut attempt = 0usize;
    loop {
        let url = &urls[attempt % urls.len()];
        attempt += 1;
        let mut ws =
            match tokio::time::timeout(Duration::from_secs(2), Ws::connect(url, &token, since))
                .await
            {
                Ok(Ok(ws)) => ws,
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
        loop {
            match ws.next(Duration::from_millis(1500)).await {
                Some(frame) if frame["type"] == "hello" => {
                    let instance = frame["instance"].as_str().unwrap_or("").to_string();
                    if let Some(tx) = first.take() {
                        let _ = tx.send(instance.clone());
                    }
                    instances.push(instance);
                    if since.is_none() {
                        since = frame["seq"].as_i64();
                    }
                }
                Some(frame) if frame["type"] == "event" => {
                    let seq = frame["seq"].as_i64().unwrap();
                    seen.push(seq);
                    since = Some(seq);
                }
                Some(_) => {}
                None if stop.load(std::sync::atomic::Ordering::SeqCst) => {
                    return Followed { seen, instances }
                }
                None => break,
            }
        }
    }
}

/// Posts `count` customer messages at about `rate` per second to whichever of `urls` answers,
/// retrying what fails (each has an `external_id`, so a retry never makes a second case).
/// Returns how many retries it took.
pub async fn write_traffic(urls: Vec<String>, ingest: String, count: usize, rate: u64) -> usize {
    let client = Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let mut ticker = tokio::time::interval(Duration::from_millis(1000 / rate));
    let mut retries = 0;
    for i in 0..count {
        ticker.tick().await;
        let mut done = false;
        for attempt in 0..20 {
            let url = &urls[(i + attempt) % urls.len()];
            let r = client
                .post(format!("{url}/api/inbound"))
                .bearer_auth(&ingest)
                .json(&json!({ "channel": "web", "from": { "name": "C", "email": format!("c{i}@example.com") }, "body": "hi", "external_id": format!("m{i}") }))
                .send()
                .await;
            if r.is_ok_and(|r| r.status().is_success()) {
                done = true;
                break;
            }
            retries += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(done, "message {i} never got through");
    }
    retries
}

/// Asserts that each follower got every event of the workspace from its first one on, exactly
/// once and in the order the store has them.
pub async fn assert_every_event_once_in_order(
    store: &Arc<dyn baton::store::Store>,
    workspace: baton::domain::ids::WorkspaceId,
    followers: Vec<tokio::task::JoinHandle<Followed>>,
    what: &str,
) {
    let all: Vec<i64> = store
        .events_since(workspace, 0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    for f in followers {
        let seen = f.await.unwrap().seen;
        let first = *seen.first().expect("events arrived");
        let expected: Vec<i64> = all.iter().copied().filter(|s| *s >= first).collect();
        assert_eq!(seen, expected, "{what}");
    }
}
