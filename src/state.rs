//! `AppState`: everything a request handler, a use case or a background task can reach.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;

use crate::bus::{self, Broker};
use crate::config::Config;
use crate::events::Event;
use crate::metrics::Metrics;
use crate::notify;
use crate::ratelimit::RateLimiter;
use crate::realtime::Hub;
use crate::store::{self, Committed, Store};
use crate::{mail, outbound};

/// Everything a request handler can reach. Cheap to clone: all `Arc`s.
/// Single sign-on starts allowed per client address and minute: a generous office's worth, far
/// below what would let one address fill the pending sign-ins table or hammer the provider.
pub const SSO_STARTS_PER_MINUTE: u32 = 60;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub broker: Arc<dyn Broker>,
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub notifier: Arc<notify::Notifier>,
    /// Replies to customers: one sender per channel kind.
    pub outbound: Arc<outbound::Outbound>,
    pub login_by_address: Arc<RateLimiter>,
    pub login_by_account: Arc<RateLimiter>,
    /// Single sign-on starts per client address: each stores a pending sign-in and may call the
    /// provider. A budget of its own, so an office behind one address that signs in through its
    /// provider does not use up the password attempts of everyone there.
    pub sso_start_by_address: Arc<RateLimiter>,
    /// `scheme://host[:port]` this instance is reached at.
    pub origin: Arc<str>,
    /// This instance's name (in `hello` frames, logs and presence).
    pub instance: Arc<str>,
    /// Wakes this instance's IMAP pollers when a channel changed here (other instances notice
    /// within `imap::SCAN_EVERY`).
    pub mailboxes: Arc<tokio::sync::Notify>,
}

impl AppState {
    /// Whether this server listens on loopback only: then outgoing calls (webhooks, channels,
    /// an identity provider) may go to loopback URLs (development and tests), which a public
    /// server must never do.
    pub fn on_loopback(&self) -> bool {
        self.config.listen.ip().is_loopback()
    }

    /// Tells the IMAP pollers to look at the channels again (one was made, changed or deleted).
    pub fn mailboxes_changed(&self) {
        self.mailboxes.notify_one();
    }

    /// Publishes what a write committed and hands back its value: the one way a use case ends.
    pub async fn published<T>(&self, committed: Committed<T>) -> T {
        self.publish(committed.events).await;
        committed.value
    }

    /// Hands committed events to the bus. The events are already durable: if the bus drops one,
    /// clients see the gap in `seq` and resume from the database.
    pub async fn publish(&self, events: Vec<Event>) {
        for event in events {
            self.metrics.events_published.increment(1);
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
    let reply_key = store
        .server_key("reply_token_secret", &crate::credentials::new_token(""))
        .await?;
    let email = outbound::email::EmailSender::new(
        &config,
        mail::domain(&config, &origin),
        mail::token::ReplyTokens::new(reply_key.as_bytes()),
    )?;
    Ok(AppState {
        notifier,
        outbound: Arc::new(outbound::Outbound {
            email: Arc::new(email),
            http: outbound::http_client(config.listen.ip().is_loopback()),
        }),
        origin: origin.into(),
        config: Arc::new(config),
        store,
        broker,
        hub,
        metrics,
        login_by_address: Arc::new(RateLimiter::new(30, Duration::from_secs(60))),
        login_by_account: Arc::new(RateLimiter::new(10, Duration::from_secs(15 * 60))),
        sso_start_by_address: Arc::new(RateLimiter::new(
            SSO_STARTS_PER_MINUTE,
            Duration::from_secs(60),
        )),
        instance,
        mailboxes: Arc::new(tokio::sync::Notify::new()),
    })
}
