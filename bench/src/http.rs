//! HTTP to the server: the client, reading an answer, and a customer's inbound message.

use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::{json, Value};

/// One client for a run: no proxy (loopback only), a large idle pool, a 30 s timeout.
pub fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// The session cookie(s) a response sets, as a `Cookie` header value.
pub fn cookie_of(r: &reqwest::Response) -> String {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The JSON body of a successful answer (`null` if it has none); an error names `what`.
pub async fn ok_json(r: reqwest::Response, what: &str) -> Result<Value> {
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{what}: {status}: {body}");
    }
    Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A customer message through the web channel: a new case, or a follow-up on the customer's.
pub async fn inbound(
    http: &reqwest::Client,
    url: &str,
    ingest: &str,
    email: &str,
) -> Result<Value> {
    let r = http
        .post(format!("{url}/api/inbound"))
        .bearer_auth(ingest)
        .json(&json!({
            "channel": "web",
            "from": {"name": "Bench Customer", "email": email},
            "body": "Hello, is the quote for the deep clean still valid next week?",
        }))
        .send()
        .await?;
    ok_json(r, "POST /api/inbound").await
}
