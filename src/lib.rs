//! Baton: a real-time team inbox server. See `docs/design.md` for the architecture.
//!
//! `serve(config, listener, shutdown)` runs a complete instance on a listener you bind, so tests
//! and the load generator start real servers on port 0.

pub mod attachments;
pub mod backup;
pub mod bus;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod doctor;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod imap;
pub mod load_test;
pub mod mail;
pub mod metrics;
pub mod notify;
pub mod outbound;
pub mod ratelimit;
pub mod realtime;
pub mod service;
pub mod signing;
pub mod smtp;
pub mod state;
pub mod store;
pub mod tasks;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

pub use config::Config;
pub use state::{build_state, AppState};

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
    // Held until this instance stops: `baton restore` refuses while it is.
    let _data_dir_lock = backup::DataDirLock::for_server(&config.data_dir)?;
    let grace = config.shutdown_grace;
    let demo = config.demo;
    let smtp_listen = config.smtp_listen;
    let state = build_state(config, bound).await?;
    let smtp = match smtp_listen {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen for SMTP on {addr}: {e}"))?;
            tracing::info!(addr = %listener.local_addr()?, "SMTP listener ready");
            Some(tokio::spawn(smtp::serve(state.clone(), listener)))
        }
        None => None,
    };
    let background = tasks::spawn(state.clone());
    let pollers = imap::spawn(state.clone());
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
    if let Some(smtp) = smtp {
        smtp.abort();
    }
    pollers.stop().await;
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
