//! The event bus between instances (DESIGN.md §1). `LocalBroker` when there is one instance,
//! `RedisBroker` across several. The bus is at-most-once: correctness never depends on it,
//! because clients detect gaps in `seq` and resume from the `events` table.

mod cluster;
mod local;
mod redis;
mod subscriptions;

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::Event;
use crate::metrics::Metrics;

pub use self::cluster::ClusterBroker;
pub use self::local::LocalBroker;
pub use self::redis::RedisBroker;

/// A teammate's presence as one instance announces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceUpdate {
    pub workspace_id: Uuid,
    pub teammate_id: Uuid,
    pub instance: String,
    /// Online on any instance.
    pub online: bool,
    pub viewing: Option<Uuid>,
    pub typing: Option<Uuid>,
}

/// What travels on a workspace's channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum BusMessage {
    Event(Event),
    Presence(PresenceUpdate),
    /// Close this teammate's sockets everywhere: those opened with one session or API token
    /// (sign-out, a revoked session), or all of them (`session_id: None`).
    Disconnect {
        workspace_id: Uuid,
        teammate_id: Uuid,
        #[serde(default)]
        session_id: Option<Uuid>,
    },
    /// This teammate's badge may have changed without a workspace event (they read a case).
    BadgeChanged {
        workspace_id: Uuid,
        teammate_id: Uuid,
    },
    /// Never published: the broker tells its own instance that the link to the other instances
    /// was down, so local clients must resume to catch what they missed.
    LinkRestored,
}

impl BusMessage {
    pub fn workspace_id(&self) -> Option<Uuid> {
        match self {
            BusMessage::Event(e) => Some(e.workspace_id),
            BusMessage::Presence(p) => Some(p.workspace_id),
            BusMessage::Disconnect { workspace_id, .. }
            | BusMessage::BadgeChanged { workspace_id, .. } => Some(*workspace_id),
            BusMessage::LinkRestored => None,
        }
    }
}

/// Where a broker delivers what arrives for the workspaces this instance subscribed to.
pub type Sink = Arc<dyn Fn(BusMessage) + Send + Sync>;

#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Sends to every instance subscribed to the message's workspace, this one included.
    async fn publish(&self, message: BusMessage) -> anyhow::Result<()>;
    /// Called on a workspace's first local socket. The request is made before this returns (so
    /// the hub can order it against `unsubscribe` under its own lock); the future resolves once
    /// the subscription is live, after which reading the log cannot miss a published event.
    fn subscribe(&self, workspace_id: Uuid) -> BoxFuture<'static, ()>;
    /// Called after a workspace's last local socket closed.
    fn unsubscribe(&self, workspace_id: Uuid);
    /// Whether the bus is usable now (for `/readyz`).
    async fn healthy(&self) -> bool;
    /// A Redis connection for cluster-wide state (presence), when there is one.
    fn redis(&self) -> Option<RedisConn> {
        None
    }
}

/// `redis_url` is one URL, or with `cluster` a comma-separated list of seed nodes.
pub async fn connect(
    redis_url: Option<&str>,
    cluster: bool,
    sink: Sink,
    metrics: Arc<Metrics>,
    instance: Arc<str>,
) -> anyhow::Result<Arc<dyn Broker>> {
    Ok(match redis_url {
        Some(urls) if cluster => Arc::new(
            ClusterBroker::connect(
                urls.split(',').map(|u| u.trim().to_string()).collect(),
                sink,
                metrics,
            )
            .await?,
        ),
        Some(url) => Arc::new(RedisBroker::connect(url, sink, metrics, instance).await?),
        None => Arc::new(LocalBroker::new(sink)),
    })
}

/// A connection to Redis, single server or cluster: presence uses whichever the bus uses.
#[derive(Clone)]
pub enum RedisConn {
    Single(::redis::aio::ConnectionManager),
    Cluster(::redis::cluster_async::ClusterConnection),
}

impl ::redis::aio::ConnectionLike for RedisConn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a ::redis::Cmd,
    ) -> ::redis::RedisFuture<'a, ::redis::Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a ::redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> ::redis::RedisFuture<'a, Vec<::redis::Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(cmd, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisConn {
    /// Publishes on the message's workspace channel with `command`: `PUBLISH` on one server,
    /// `SPUBLISH` (sharded) on a cluster.
    async fn publish(mut self, command: &str, message: &BusMessage) -> anyhow::Result<()> {
        let Some(workspace_id) = message.workspace_id() else {
            return Ok(());
        };
        let _: i64 = ::redis::cmd(command)
            .arg(channel(workspace_id))
            .arg(serde_json::to_vec(message)?)
            .query_async(&mut self)
            .await?;
        Ok(())
    }

    /// Answers PING within 2 s.
    async fn answers(mut self) -> bool {
        let ping = ::redis::cmd("PING");
        let answer = ping.query_async::<String>(&mut self);
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(2), answer).await,
            Ok(Ok(_))
        )
    }
}

pub fn channel(workspace_id: Uuid) -> String {
    format!("baton:ws:{workspace_id}")
}
