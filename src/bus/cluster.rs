//! Redis Cluster: sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`, Redis 7). A workspace's channel
//! lives on the shard that owns its slot, so publishing and delivery spread over the cluster's
//! nodes instead of every node carrying every message, as classic pub/sub does in a cluster.
//!
//! One cluster connection (RESP3) per instance: commands are routed by slot, and sharded
//! messages arrive as push frames. The connection reconnects by itself and re-subscribes; a
//! disconnection tells the hub (`LinkRestored`) so local clients catch up from the log.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{PushKind, Value};

use super::subscriptions::{Command, Subscriptions};
use super::{Broker, BusMessage, LocalFirst, RedisConn, Sink};
use crate::domain::ids::WorkspaceId;
use crate::metrics::Metrics;

pub struct ClusterBroker {
    conn: ClusterConnection,
    local: LocalFirst,
    subscriptions: Subscriptions,
}

/// Runs (un)subscriptions one at a time, re-checking what is wanted when each runs, so an
/// unsubscribe queued before a newer subscribe can never win.
async fn run_subscriptions(
    mut conn: ClusterConnection,
    subscriptions: Subscriptions,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Command>,
) {
    while let Some(command) = rx.recv().await {
        match command {
            Command::Subscribe(ch, done) => {
                if let Err(e) = conn.ssubscribe(&ch).await {
                    tracing::warn!(error = %e, channel = ch, "SSUBSCRIBE failed; clients resume from the log");
                }
                let _ = done.send(());
            }
            Command::Unsubscribe(ch) => {
                if !subscriptions.is_wanted(&ch) {
                    let _ = conn.sunsubscribe(&ch).await;
                }
            }
        }
    }
}

impl ClusterBroker {
    /// `nodes`: one or more `redis://host:port` seed nodes of the cluster.
    pub async fn connect(
        nodes: Vec<String>,
        sink: Sink,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<redis::PushInfo>();
        let client = ClusterClientBuilder::new(nodes)
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(tx)
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(2))
            .build()?;
        let conn = tokio::time::timeout(Duration::from_secs(5), client.get_async_connection())
            .await
            .map_err(|_| anyhow::anyhow!("the Redis cluster did not answer within 5 s"))??;
        let local = LocalFirst::new(sink.clone());
        let received = local.clone();
        // Push frames are few (one per event per instance) and drained at once.
        tokio::spawn(async move {
            while let Some(push) = rx.recv().await {
                match push.kind {
                    PushKind::SMessage | PushKind::Message => {
                        if let Some(Value::BulkString(payload)) = push.data.get(1) {
                            received.received(payload);
                        }
                    }
                    PushKind::Disconnection => {
                        metrics.redis_reconnects.increment(1);
                        tracing::warn!("a Redis cluster connection dropped; local clients catch up from the log");
                        sink(BusMessage::LinkRestored);
                    }
                    _ => {}
                }
            }
        });
        let (subscriptions, rx) = Subscriptions::new([]);
        tokio::spawn(run_subscriptions(conn.clone(), subscriptions.clone(), rx));
        Ok(ClusterBroker {
            conn,
            local,
            subscriptions,
        })
    }
}

#[async_trait]
impl Broker for ClusterBroker {
    async fn publish(&self, message: BusMessage) -> anyhow::Result<()> {
        RedisConn::Cluster(self.conn.clone())
            .publish("SPUBLISH", &self.local, message)
            .await
    }

    fn subscribe(&self, workspace_id: WorkspaceId) -> BoxFuture<'static, ()> {
        self.subscriptions.subscribe(workspace_id)
    }

    fn unsubscribe(&self, workspace_id: WorkspaceId) {
        self.subscriptions.unsubscribe(workspace_id)
    }

    async fn healthy(&self) -> bool {
        RedisConn::Cluster(self.conn.clone()).answers().await
    }

    fn redis(&self) -> Option<RedisConn> {
        Some(RedisConn::Cluster(self.conn.clone()))
    }
}
