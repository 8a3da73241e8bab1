//! Accounts made through the API, as a team would: a workspace signs up, invites its
//! teammates, and each of them mints an API token for its sockets and requests.

use anyhow::{anyhow, Result};
use futures_util::{stream, StreamExt};
use serde_json::json;

use crate::host::mono_ns;
use crate::http::{cookie_of, ok_json};

const PASSWORD: &str = "bench-password-0123456789";

/// A teammate: its id and API token.
#[derive(Debug, Clone)]
pub struct Mate {
    pub id: String,
    pub token: String,
}

/// A workspace: its id, its inbound token, and its teammates (the owner first).
#[derive(Debug)]
pub struct Workspace {
    pub id: String,
    pub ingest: String,
    pub mates: Vec<Mate>,
}

async fn mint_token(http: &reqwest::Client, url: &str, cookie: &str) -> Result<String> {
    let r = http
        .post(format!("{url}/api/tokens"))
        .header("Cookie", cookie)
        .header("Origin", url)
        .json(&json!({}))
        .send()
        .await?;
    let v = ok_json(r, "POST /api/tokens").await?;
    Ok(v["token"].as_str().unwrap_or_default().to_string())
}

/// Signs up workspace `index` (its owner's email carries `tag`, unique to the run) and invites
/// `teammates - 1` agents, four at a time.
pub async fn create_workspace(
    http: &reqwest::Client,
    url: &str,
    tag: &str,
    index: usize,
    teammates: usize,
) -> Result<Workspace> {
    let r = http
        .post(format!("{url}/api/signup"))
        .header("Origin", url)
        .json(&json!({
            "workspace_name": format!("Bench {index}"),
            "name": format!("Owner {index}"),
            "email": format!("owner-{tag}-{index}@bench.invalid"),
            "password": PASSWORD,
        }))
        .send()
        .await?;
    let cookie = cookie_of(&r);
    let v = ok_json(r, "POST /api/signup").await?;
    let owner = Mate {
        id: v["teammate"]["id"].as_str().unwrap_or_default().to_string(),
        token: mint_token(http, url, &cookie).await?,
    };
    let ws = Workspace {
        id: v["workspace"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        ingest: v["workspace"]["ingest_token"]
            .as_str()
            .ok_or_else(|| anyhow!("signup answered no ingest_token"))?
            .to_string(),
        mates: vec![owner.clone()],
    };
    let _ = &ws.id;
    let mut mates = vec![owner.clone()];
    let invited: Vec<Result<Mate>> = stream::iter(1..teammates.max(1))
        .map(|j| {
            let owner = owner.clone();
            async move {
                let r = http
                    .post(format!("{url}/api/invites"))
                    .bearer_auth(&owner.token)
                    .json(&json!({
                        "email": format!("agent-{tag}-{index}-{j}@bench.invalid"),
                        "name": format!("Agent {index}.{j}"),
                        "role": "agent",
                    }))
                    .send()
                    .await?;
                let inv = ok_json(r, "POST /api/invites").await?;
                let t = inv["token"].as_str().unwrap_or_default();
                let r = http
                    .post(format!("{url}/api/invites/{t}/accept"))
                    .header("Origin", url)
                    .json(&json!({ "password": PASSWORD }))
                    .send()
                    .await?;
                let cookie = cookie_of(&r);
                let v = ok_json(r, "accept invite").await?;
                Ok::<Mate, anyhow::Error>(Mate {
                    id: v["teammate"]["id"].as_str().unwrap_or_default().to_string(),
                    token: mint_token(http, url, &cookie).await?,
                })
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for m in invited {
        mates.push(m?);
    }
    Ok(Workspace { mates, ..ws })
}

/// `count` workspaces of `teammates` each, in order of their index.
pub async fn create_workspaces(
    http: &reqwest::Client,
    url: &str,
    count: usize,
    teammates: usize,
) -> Result<Vec<Workspace>> {
    let tag_id = uuid::Uuid::new_v4().simple().to_string();
    let tag = &tag_id[..8];
    let started = mono_ns();
    let per = if count == 1 { 1 } else { 4 };
    let mut out: Vec<(usize, Workspace)> = stream::iter(0..count)
        .map(|i| async move {
            create_workspace(http, url, tag, i, teammates)
                .await
                .map(|w| (i, w))
        })
        .buffer_unordered(per)
        .collect::<Vec<Result<_>>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    out.sort_by_key(|(i, _)| *i);
    eprintln!(
        "setup: {count} workspace(s) x {teammates} teammate(s) in {:.1} s",
        (mono_ns() - started) as f64 / 1e9
    );
    Ok(out.into_iter().map(|(_, w)| w).collect())
}

/// `count` workspaces of `teammates` each, written into the spawned servers' database by
/// `baton load-test-accounts`: seconds for thousands of teammates, where the API spends a
/// password hash on each.
pub async fn bulk_workspaces(
    bin: &std::path::Path,
    db_url: &str,
    count: usize,
    teammates: usize,
) -> Result<Vec<Workspace>> {
    let started = mono_ns();
    let out = tokio::process::Command::new(bin)
        .arg("load-test-accounts")
        .arg("--workspaces")
        .arg(count.to_string())
        .arg("--teammates")
        .arg(teammates.to_string())
        .env("BATON_DATABASE_URL", db_url)
        .env("BATON_LOG", "warn")
        .output()
        .await?;
    if !out.status.success() {
        return Err(anyhow!(
            "baton load-test-accounts failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let list = workspaces_from(serde_json::from_slice(&out.stdout)?)?;
    eprintln!(
        "setup (bulk): {count} workspace(s) x {teammates} teammate(s) in {:.1} s",
        (mono_ns() - started) as f64 / 1e9
    );
    Ok(list)
}

/// `count` workspaces of `teammates` each on a peer (`--server socketio` or `bare`), which
/// creates them and their tokens in one request: the peers have no sign-up to measure.
pub async fn peer_workspaces(
    http: &reqwest::Client,
    url: &str,
    count: usize,
    teammates: usize,
) -> Result<Vec<Workspace>> {
    let r = http
        .post(format!("{url}/bench/setup"))
        .json(&json!({ "workspaces": count, "teammates": teammates }))
        .send()
        .await?;
    workspaces_from(ok_json(r, "POST /bench/setup").await?)
}

/// Workspaces as `load-test-accounts` and the peers' setup answer them:
/// `[{id, ingest, mates: [{id, token}]}]`.
fn workspaces_from(v: serde_json::Value) -> Result<Vec<Workspace>> {
    #[derive(serde::Deserialize)]
    struct ListedMate {
        id: String,
        token: String,
    }
    #[derive(serde::Deserialize)]
    struct ListedWorkspace {
        id: String,
        ingest: String,
        mates: Vec<ListedMate>,
    }
    let list: Vec<ListedWorkspace> = serde_json::from_value(v)?;
    Ok(list
        .into_iter()
        .map(|w| Workspace {
            id: w.id,
            ingest: w.ingest,
            mates: w
                .mates
                .into_iter()
                .map(|m| Mate {
                    id: m.id,
                    token: m.token,
                })
                .collect(),
        })
        .collect())
}
