//! `baton load-test-accounts`: many workspaces and teammates at once, for load tests.
//!
//! Through the API every teammate costs an Argon2 hash (tens of milliseconds of a core, by
//! design) and a few requests, so the 10,000 teammates of a big load test took minutes to set
//! up. Here they are written through the store directly: each workspace's owner has the hash of
//! one random password nobody is told, the other teammates have no password at all (as when a
//! workspace signs in through its identity provider only), and everyone gets an API token,
//! printed once. Sign-up and invitations, and the hashing of real accounts, are not touched.
//! Nothing is published: no socket is open in this process, and a running server's sockets
//! read what they missed from the event log.

use futures_util::{stream, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::config::Config;
use crate::credentials::{hash_password, hash_token, new_token};
use crate::domain::ids::TeammateId;
use crate::domain::Role;
use crate::store::{ClientInfo, NewInvite, Store, TokenKind};

/// Workspaces written at once: Postgres takes them in parallel, SQLite one after another.
const AT_ONCE: usize = 8;

/// Creates `workspaces` workspaces of `teammates` each (the owner included) and answers them as
/// `[{id, ingest, mates: [{id, token}]}]`, the owner first.
pub async fn accounts(
    config: &Config,
    workspaces: usize,
    teammates: usize,
) -> anyhow::Result<Value> {
    let store = crate::store::connect_with(&config.database_url, config.into()).await?;
    let owners_password = hash_password(&new_token(""))?;
    let run = &Uuid::new_v4().simple().to_string()[..8];
    let store = &*store;
    let owners_password = &owners_password;
    let list: Vec<Value> = stream::iter(0..workspaces)
        .map(|w| workspace(store, run, w, teammates.max(1), owners_password))
        .buffered(AT_ONCE)
        .try_collect()
        .await?;
    Ok(Value::Array(list))
}

async fn workspace(
    store: &dyn Store,
    run: &str,
    w: usize,
    teammates: usize,
    owners_password: &str,
) -> anyhow::Result<Value> {
    let ingest = new_token("bti_");
    let (workspace, owner) = store
        .create_workspace(
            &format!("Load {w}"),
            &format!("Owner {w}"),
            &format!("owner-{run}-{w}@load-test.invalid"),
            owners_password,
            &ingest,
        )
        .await?
        .value;
    let mut mates = vec![json!({ "id": owner.id, "token": api_token(store, owner.id).await? })];
    for j in 1..teammates {
        let invite = new_token("");
        store
            .create_invite(NewInvite {
                workspace_id: workspace.id,
                email: format!("agent-{run}-{w}-{j}@load-test.invalid"),
                name: format!("Agent {w}.{j}"),
                role: Role::Agent,
                invited_by: owner.id,
                token_hash: hash_token(&invite),
                expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
            })
            .await?;
        let (_, agent) = store.accept_invite(&hash_token(&invite), None).await?.value;
        mates.push(json!({ "id": agent.id, "token": api_token(store, agent.id).await? }));
    }
    Ok(json!({ "id": workspace.id, "ingest": ingest, "mates": mates }))
}

async fn api_token(store: &dyn Store, teammate_id: TeammateId) -> anyhow::Result<String> {
    let token = new_token("btk_");
    let client = ClientInfo {
        ip: None,
        user_agent: Some("baton load-test-accounts".into()),
    };
    store
        .create_token(
            teammate_id,
            &hash_token(&token),
            TokenKind::Api,
            None,
            &client,
        )
        .await?;
    Ok(token)
}
