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
use crate::domain::ids::{CaseId, TeammateId, WorkspaceId};

/// A teammate's presence as one instance announces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceUpdate {
    pub workspace_id: WorkspaceId,
    pub teammate_id: TeammateId,
    pub instance: String,
    /// Online on any instance.
    pub online: bool,
    pub viewing: Option<CaseId>,
    pub typing: Option<CaseId>,
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
        workspace_id: WorkspaceId,
        teammate_id: TeammateId,
        #[serde(default)]
        session_id: Option<Uuid>,
    },
    /// This teammate's badge may have changed without a workspace event (they read a case).
    BadgeChanged {
        workspace_id: WorkspaceId,
        teammate_id: TeammateId,
    },
    /// Never published: the broker tells its own instance that the link to the other instances
    /// was down, so local clients must resume to catch what they missed.
    LinkRestored,
}

impl BusMessage {
    pub fn workspace_id(&self) -> Option<WorkspaceId> {
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

/// A message as Redis carries it: stamped with the process that published it. Readers that do
/// not look for the stamp decode the message as it is (the field is one they ignore).
#[derive(Serialize)]
struct Stamped<'a> {
    from: &'a str,
    #[serde(flatten)]
    message: &'a BusMessage,
}

/// Local delivery first, for the Redis brokers: a published message goes to this instance's own
/// sockets at once, without waiting for the round trip through Redis, and its echo is recognised
/// by the stamp and skipped. Events that reach a socket out of order (one from here before an
/// earlier one from another instance) are put in order by the socket's gap fill (DESIGN.md §4).
#[derive(Clone)]
struct LocalFirst {
    sink: Sink,
    /// `{"from":"<this process>",`: how every payload published here begins.
    prefix: Arc<str>,
    origin: Arc<str>,
}

impl LocalFirst {
    /// The origin is drawn per process: two instances given the same name must not take each
    /// other's messages for echoes.
    fn new(sink: Sink) -> Self {
        let origin = Uuid::new_v4().simple().to_string();
        LocalFirst {
            sink,
            prefix: format!("{{\"from\":\"{origin}\",").into(),
            origin: origin.into(),
        }
    }

    /// Hands the message to this instance, and returns what to send the others.
    fn publish(&self, message: BusMessage) -> anyhow::Result<Vec<u8>> {
        let payload = serde_json::to_vec(&Stamped {
            from: &self.origin,
            message: &message,
        })?;
        (self.sink)(message);
        Ok(payload)
    }

    /// A payload from Redis: delivered, unless this process published it.
    fn received(&self, payload: &[u8]) {
        if payload.starts_with(self.prefix.as_bytes()) {
            return;
        }
        match serde_json::from_slice::<BusMessage>(payload) {
            Ok(m) => (self.sink)(m),
            Err(e) => tracing::warn!(error = %e, "undecodable bus message"),
        }
    }
}

#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Sends to every instance subscribed to the message's workspace, this one included.
    async fn publish(&self, message: BusMessage) -> anyhow::Result<()>;
    /// Called on a workspace's first local socket. The request is made before this returns (so
    /// the hub can order it against `unsubscribe` under its own lock); the future resolves once
    /// the subscription is live, after which reading the log cannot miss a published event.
    fn subscribe(&self, workspace_id: WorkspaceId) -> BoxFuture<'static, ()>;
    /// Called after a workspace's last local socket closed.
    fn unsubscribe(&self, workspace_id: WorkspaceId);
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
    /// Delivers the message here, then publishes it on its workspace channel with `command`:
    /// `PUBLISH` on one server, `SPUBLISH` (sharded) on a cluster.
    async fn publish(
        mut self,
        command: &str,
        local: &LocalFirst,
        message: BusMessage,
    ) -> anyhow::Result<()> {
        let Some(workspace_id) = message.workspace_id() else {
            return Ok(());
        };
        let payload = local.publish(message)?;
        let _: i64 = ::redis::cmd(command)
            .arg(channel(workspace_id))
            .arg(payload)
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

pub fn channel(workspace_id: WorkspaceId) -> String {
    format!("baton:ws:{workspace_id}")
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn recorder() -> (Sink, Arc<Mutex<Vec<BusMessage>>>) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink: Sink = Arc::new({
            let got = got.clone();
            move |m| got.lock().unwrap().push(m)
        });
        (sink, got)
    }

    fn badge(workspace_id: WorkspaceId) -> BusMessage {
        BusMessage::BadgeChanged {
            workspace_id,
            teammate_id: TeammateId::new(),
        }
    }

    #[test]
    fn a_published_message_is_delivered_here_once_and_its_echo_skipped() {
        let (sink, got) = recorder();
        let here = LocalFirst::new(sink);
        let payload = here.publish(badge(WorkspaceId::new())).unwrap();
        assert_eq!(got.lock().unwrap().len(), 1, "delivered before it is sent");
        here.received(&payload);
        assert_eq!(got.lock().unwrap().len(), 1, "the echo is skipped");
    }

    #[test]
    fn another_instance_gets_the_message_even_under_the_same_name() {
        let (sink_a, _) = recorder();
        let (sink_b, got_b) = recorder();
        let (a, b) = (LocalFirst::new(sink_a), LocalFirst::new(sink_b));
        let workspace_id = WorkspaceId::new();
        b.received(&a.publish(badge(workspace_id)).unwrap());
        let got = got_b.lock().unwrap();
        assert!(
            matches!(got.as_slice(), [BusMessage::BadgeChanged { workspace_id: w, .. }] if *w == workspace_id)
        );
    }

    #[test]
    fn a_stamped_event_reads_as_the_plain_message() {
        let (sink, _) = recorder();
        let here = LocalFirst::new(sink);
        let event = Event {
            workspace_id: WorkspaceId::new(),
            seq: 7,
            at: chrono::Utc::now(),
            event: crate::events::EventKind::RulesChanged {
                actor_id: TeammateId::new(),
            },
        };
        let payload = here.publish(BusMessage::Event(event.clone())).unwrap();
        assert!(payload.starts_with(here.prefix.as_bytes()));
        match serde_json::from_slice::<BusMessage>(&payload).unwrap() {
            BusMessage::Event(read) => assert_eq!(read, event),
            other => panic!("read back as {other:?}"),
        }
    }
}
