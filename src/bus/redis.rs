//! Several instances: Redis pub/sub, one channel per workspace (`baton:ws:{id}`).
//!
//! One publisher connection (a `ConnectionManager`, which reconnects by itself) and one
//! subscriber connection per instance. The subscriber runs in its own task: it subscribes to the
//! workspaces that have local sockets, reconnects with backoff when the link drops, and probes
//! itself (a publish on its own channel every few seconds) so that a connection that silently
//! stopped delivering is noticed and replaced. After any reconnect it tells the hub
//! (`LinkRestored`), which asks every local client to resume from the database.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, watch};

use super::subscriptions::{Command, Subscriptions};
use super::{Broker, BusMessage, LocalFirst, Sink};
use crate::domain::ids::WorkspaceId;
use crate::metrics::Metrics;

const PROBE_EVERY: Duration = Duration::from_secs(3);
/// A subscriber that delivered nothing (not even its own probes) for this long is replaced.
const SILENCE_LIMIT: Duration = Duration::from_secs(10);

pub struct RedisBroker {
    publisher: ConnectionManager,
    local: LocalFirst,
    subscriptions: Subscriptions,
    connected: watch::Receiver<bool>,
}

impl RedisBroker {
    pub async fn connect(
        url: &str,
        sink: Sink,
        metrics: Arc<Metrics>,
        instance: Arc<str>,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let publisher = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| anyhow::anyhow!("Redis did not answer within 5 s"))??;
        let probe = format!("baton:probe:{instance}");
        let (subscriptions, rx) = Subscriptions::new([probe.clone()]);
        let (connected_tx, connected) = watch::channel(false);
        let local = LocalFirst::new(sink);
        tokio::spawn(subscriber(
            client,
            rx,
            subscriptions.clone(),
            local.clone(),
            metrics,
            connected_tx,
            probe.clone(),
        ));
        let mut prober = publisher.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let _: Result<i64, _> = redis::cmd("PUBLISH")
                    .arg(&probe)
                    .arg("probe")
                    .query_async(&mut prober)
                    .await;
            }
        });
        let broker = RedisBroker {
            publisher,
            local,
            subscriptions,
            connected,
        };
        let mut ready = broker.connected.clone();
        let _ = tokio::time::timeout(Duration::from_secs(5), ready.wait_for(|c| *c)).await;
        Ok(broker)
    }
}

#[async_trait]
impl Broker for RedisBroker {
    async fn publish(&self, message: BusMessage) -> anyhow::Result<()> {
        super::RedisConn::Single(self.publisher.clone())
            .publish("PUBLISH", &self.local, message)
            .await
    }

    fn subscribe(&self, workspace_id: WorkspaceId) -> BoxFuture<'static, ()> {
        self.subscriptions.subscribe(workspace_id)
    }

    fn unsubscribe(&self, workspace_id: WorkspaceId) {
        self.subscriptions.unsubscribe(workspace_id)
    }

    async fn healthy(&self) -> bool {
        if !*self.connected.borrow() {
            return false;
        }
        super::RedisConn::Single(self.publisher.clone())
            .answers()
            .await
    }

    fn redis(&self) -> Option<super::RedisConn> {
        Some(super::RedisConn::Single(self.publisher.clone()))
    }
}

async fn subscriber(
    client: redis::Client,
    mut commands: mpsc::UnboundedReceiver<Command>,
    subscriptions: Subscriptions,
    local: LocalFirst,
    metrics: Arc<Metrics>,
    connected: watch::Sender<bool>,
    probe: String,
) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        let link = async {
            let pubsub =
                tokio::time::timeout(Duration::from_secs(3), client.get_async_pubsub()).await??;
            let (mut sink_half, stream) = pubsub.split();
            for ch in &subscriptions.wanted() {
                sink_half.subscribe(ch).await?;
            }
            anyhow::Ok((sink_half, stream))
        }
        .await;
        let (mut sub, mut stream) = match link {
            Ok(pair) => pair,
            Err(e) => {
                let _ = connected.send(false);
                tracing::warn!(error = %e, retry_in = ?backoff, "Redis subscriber cannot connect");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        let _ = connected.send(true);
        if !first {
            metrics.redis_reconnects.increment(1);
            tracing::info!("Redis subscriber reconnected; local clients resume from the log");
            (local.sink)(BusMessage::LinkRestored);
        }
        first = false;
        loop {
            tokio::select! {
                message = tokio::time::timeout(SILENCE_LIMIT, stream.next()) => match message {
                    Ok(Some(msg)) => {
                        if msg.get_channel_name() == probe {
                            continue;
                        }
                        local.received(msg.get_payload_bytes());
                    }
                    Ok(None) => {
                        tracing::warn!("Redis subscriber connection closed");
                        break;
                    }
                    Err(_) => {
                        tracing::warn!("Redis subscriber silent (probes not arriving); reconnecting");
                        break;
                    }
                },
                Some(cmd) = commands.recv() => {
                    let result = match cmd {
                        Command::Subscribe(ch, done) => {
                            let r = sub.subscribe(&ch).await;
                            let _ = done.send(());
                            r
                        }
                        Command::Unsubscribe(ch) if !subscriptions.is_wanted(&ch) => sub.unsubscribe(&ch).await,
                        Command::Unsubscribe(_) => Ok(()),
                    };
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "Redis (un)subscribe failed; reconnecting");
                        break;
                    }
                }
            }
        }
        let _ = connected.send(false);
    }
}
