//! Baton: a real-time team inbox server. See `docs/design.md` for the architecture.
//!
//! `serve(config, listener, shutdown)` runs a complete instance on a listener you bind, so tests
//! and the load generator start real servers on port 0.

pub mod bus;
pub mod config;
pub mod demo;
pub mod doctor;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod ratelimit;
pub mod realtime;
pub mod store;
pub mod tasks;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use tokio::net::TcpListener;

pub use config::Config;

use crate::bus::Broker;
use crate::events::Event;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::realtime::Hub;
use crate::store::Store;

/// Everything a request handler can reach. Cheap to clone: all `Arc`s.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub broker: Arc<dyn Broker>,
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub notifier: Arc<notify::Notifier>,
    pub login_by_address: Arc<RateLimiter>,
    pub login_by_account: Arc<RateLimiter>,
    /// `scheme://host[:port]` this instance is reached at.
    pub origin: Arc<str>,
    /// This instance's name (in `hello` frames, logs and presence).
    pub instance: Arc<str>,
}

impl AppState {
    /// Hands committed events to the bus. The events are already durable: if the bus drops one,
    /// clients see the gap in `seq` and resume from the database.
    pub async fn publish(&self, events: Vec<Event>) {
        for event in events {
            self.metrics.inc("baton_events_published_total");
            if let Err(e) = self.broker.publish(bus::BusMessage::Event(event)).await {
                tracing::warn!(error = %e, "publishing an event failed; clients will resume from the log");
            }
        }
    }

    /// Whether a browser `Origin` may act here: this server's own origin (as configured, or as
    /// the request's `Host` names it), or one listed in `allowed_origins`. Exact match.
    pub fn origin_allowed(&self, origin: &str, headers: &HeaderMap) -> bool {
        if origin == &*self.origin || self.config.allowed_origins.iter().any(|o| o == origin) {
            return true;
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok());
        match (host, origin.split_once("://")) {
            (Some(host), Some((scheme, rest))) => {
                matches!(scheme, "http" | "https") && rest == host
            }
            _ => false,
        }
    }

    /// Whether cookies should be marked `Secure`: the public URL is https, or a TLS-terminating
    /// proxy says so.
    pub fn secure_cookies(&self, headers: &HeaderMap) -> bool {
        self.origin.starts_with("https://")
            || headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes() == b"https")
    }
}

/// Builds the state for one instance: store (migrated), bus, hub.
pub async fn build_state(config: Config, bound: SocketAddr) -> anyhow::Result<AppState> {
    let store = store::connect_with(&config.database_url, (&config).into()).await?;
    match store.durability().await {
        Ok(d) if d.survives_power_loss() => tracing::info!(durability = %d.describe(), "database"),
        Ok(d) => tracing::warn!(durability = %d.describe(), "database"),
        Err(e) => tracing::warn!(error = %e, "could not read the database's durability settings"),
    }
    let metrics = Metrics::new();
    let instance: Arc<str> = config
        .instance_name
        .clone()
        .unwrap_or_else(|| format!("baton-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]))
        .into();
    let hub = Hub::new(
        store.clone(),
        metrics.clone(),
        config.socket_queue,
        config.event_retention,
    );
    let broker = bus::connect(
        config.redis_url.as_deref(),
        config.redis_cluster,
        hub.sink(),
        metrics.clone(),
        instance.clone(),
    )
    .await?;
    hub.attach_broker(broker.clone());
    hub.presence.set_instance(&instance);
    let origin = config.public_origin(bound);
    let notifier = notify::Notifier::new(&config, &store, &origin).await?;
    Ok(AppState {
        notifier,
        origin: origin.into(),
        config: Arc::new(config),
        store,
        broker,
        hub,
        metrics,
        login_by_address: Arc::new(RateLimiter::new(30, Duration::from_secs(60))),
        login_by_account: Arc::new(RateLimiter::new(10, Duration::from_secs(15 * 60))),
        instance,
    })
}

pub fn app(state: AppState) -> axum::Router {
    http::router(state)
}

/// Runs one instance on `listener` until `shutdown` resolves, then drains: sockets are told to
/// reconnect elsewhere, in-flight requests finish, background work stops.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let bound = listener.local_addr()?;
    let grace = config.shutdown_grace;
    let demo = config.demo;
    let state = build_state(config, bound).await?;
    let background = tasks::spawn(state.clone());
    if demo {
        demo::start(state.clone()).await?;
    }
    tracing::info!(url = %state.origin, instance = %state.instance, "Baton is listening");
    let hub = state.hub.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let listener = axum::serve::ListenerExt::tap_io(listener, tune_socket);
    let server = axum::serve(
        listener,
        app(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        hub.close_all_for_shutdown();
    });
    let mut stopped = stop_rx.clone();
    let deadline = async move {
        let _ = stopped.wait_for(|s| *s).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = server => result?,
        _ = deadline => tracing::warn!("shutdown grace period over; exiting with work in flight"),
    }
    background.stop().await;
    Ok(())
}

/// Accepted sockets: no Nagle delay for small event frames, and a capped kernel send buffer.
/// Left alone, Linux grows a socket's send buffer to megabytes, which at tens of thousands of
/// sockets is a lot of kernel memory, and hides a client that stopped reading from the bounded
/// per-socket queue that is meant to notice it.
fn tune_socket(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
    let _ = socket2::SockRef::from(&*tcp).set_send_buffer_size(SOCKET_SEND_BUFFER);
}

const SOCKET_SEND_BUFFER: usize = 64 * 1024;

/// The `baton` command: bind, say where to point a browser, serve until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    memory::return_large_blocks();
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let bound = listener.local_addr()?;
    tracing::info!(config = ?config, "starting");
    println!(
        "Baton is running: open {} in your browser",
        config.public_origin(bound)
    );
    serve(config, listener, shutdown_signal()).await
}

/// `baton migrate`: apply the migrations and exit.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = store::connect_with(&config.database_url, config.into()).await?;
    store.ping().await?;
    println!(
        "migrations applied to {}",
        config::redact_url(&config.database_url)
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
