//! WebSocket clients of the server: opening an authenticated socket and waiting for its
//! `hello`, the server frames the readers parse, and sockets that never read (the `--stuck`
//! crowd a step can run beside). Sockets to the Socket.IO peer carry the same frames inside
//! Socket.IO events (`socketio`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures_util::{stream, SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::accounts::Workspace;
use crate::cli::ServerKind;
use crate::servers::Server;
use crate::socketio::{self, Packet};

/// A server frame, as far as the bench reads it.
#[derive(serde::Deserialize)]
pub struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    pub ty: &'a str,
    pub seq: Option<u64>,
    #[serde(borrow)]
    pub event: Option<FrameEvent<'a>>,
}

#[derive(serde::Deserialize)]
pub struct FrameEvent<'a> {
    #[serde(borrow)]
    pub kind: &'a str,
    #[serde(borrow, default)]
    pub case_id: Option<&'a str>,
}

fn ws_config() -> WebSocketConfig {
    // Small buffers: the defaults (128 KiB each) would cost gigabytes at tens of thousands of sockets.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
}

pub type WsStream = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// What a text frame from the server holds for the readers.
pub enum Incoming<'a> {
    /// A server frame's JSON (`Frame`).
    Frame(&'a str),
    /// A Socket.IO ping: answer `socketio::PONG` or the server closes the socket.
    Ping,
    /// The Socket.IO handshake asks for the CONNECT packet.
    Open,
    /// The server refused the socket.
    Refused(&'a str),
    Skip,
}

/// Reads a text frame: Baton's and the bare writer's are frames themselves; the Socket.IO
/// peer's carry them as the argument of a `frame` event.
pub fn incoming(text: &str, socketio: bool) -> Incoming<'_> {
    if !socketio {
        return Incoming::Frame(text);
    }
    match socketio::decode(text) {
        Packet::Event {
            name: "frame",
            data,
        } => Incoming::Frame(data),
        Packet::Ping => Incoming::Ping,
        Packet::Open => Incoming::Open,
        Packet::ConnectError(why) => Incoming::Refused(why),
        _ => Incoming::Skip,
    }
}

/// Open one authenticated socket from `local` and wait for its `hello`; returns the hello seq.
/// With `socketio_token`, the socket speaks Socket.IO and sends the token in its CONNECT.
pub async fn open_socket(
    addr: SocketAddr,
    url: &str,
    socketio_token: Option<&str>,
    local: Option<Ipv4Addr>,
) -> Result<(WsStream, u64)> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    if let Some(ip) = local {
        sock.bind(SocketAddr::new(IpAddr::V4(ip), 0))
            .with_context(|| format!("bind {ip}"))?;
    }
    let stream = sock.connect(addr).await.context("connect")?;
    stream.set_nodelay(true)?;
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config()))
        .await
        .context("websocket handshake")?;
    let hello = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(m) = ws.next().await {
            let Message::Text(t) = m? else { continue };
            match incoming(t.as_str(), socketio_token.is_some()) {
                Incoming::Frame(text) => {
                    let f: Frame = serde_json::from_str(text)?;
                    if f.ty == "hello" {
                        return Ok::<u64, anyhow::Error>(f.seq.unwrap_or(0));
                    }
                }
                Incoming::Open => {
                    let auth = serde_json::json!({ "token": socketio_token.unwrap_or("") });
                    ws.send(Message::text(socketio::connect(&auth.to_string())))
                        .await?;
                }
                Incoming::Ping => ws.send(Message::text(socketio::PONG)).await?,
                Incoming::Refused(why) => bail!("refused: {why}"),
                Incoming::Skip => {}
            }
        }
        bail!("closed before hello")
    })
    .await
    .context("waiting for hello")??;
    Ok((ws, hello))
}

/// The socket URL for a teammate's API token, and the token again when it goes in a Socket.IO
/// CONNECT instead of the URL.
pub fn ws_url(server: &Server, token: &str) -> (String, Option<String>) {
    match server.kind {
        ServerKind::Baton | ServerKind::Bare => {
            (format!("ws://{}/ws?token={token}", server.addr), None)
        }
        ServerKind::Socketio => (
            format!("ws://{}{}", server.addr, socketio::PATH),
            Some(token.to_string()),
        ),
    }
}

/// The newest seq of each workspace, read from the `hello` of a fresh socket.
pub async fn final_seqs(server: &Server, wss: &[Workspace]) -> Result<Vec<(u32, u64)>> {
    stream::iter(wss.iter().enumerate())
        .map(|(i, w)| async move {
            let (url, sio) = ws_url(server, &w.mates[0].token);
            let (mut ws, seq) = open_socket(server.addr, &url, sio.as_deref(), None).await?;
            let _ = ws.close(None).await;
            Ok::<(u32, u64), anyhow::Error>((i as u32, seq))
        })
        .buffer_unordered(32)
        .collect::<Vec<Result<_>>>()
        .await
        .into_iter()
        .collect()
}

/// The server's `baton_sockets_open`.
async fn sockets_open(http: &reqwest::Client, url: &str) -> Result<i64> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|l| l.strip_prefix("baton_sockets_open ")?.parse().ok())
        .context("no baton_sockets_open in /metrics")
}

/// A socket that completes the handshake and then never reads, with a small kernel buffer so
/// that the server's writes to it block early.
async fn open_stuck(addr: SocketAddr, token: &str) -> Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(2048)?;
    let mut tcp = socket.connect(addr).await?;
    let upgrade = format!(
        "GET /ws?token={token} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(upgrade.as_bytes()).await?;
    Ok(tcp)
}

/// Keeps `n` sockets that never read connected to `server` until `stop` fires: whenever the
/// server cuts some off (their queues overflowed), as many new ones connect, so that the crowd
/// is at full strength for the whole step. Returns how many were opened in all.
pub async fn stuck_crowd(
    http: reqwest::Client,
    server: (String, SocketAddr),
    token: String,
    n: usize,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<usize> {
    let (url, addr) = server;
    let base = sockets_open(&http, &url).await?;
    let mut crowd = std::collections::VecDeque::new();
    let mut opened = 0;
    loop {
        let held = (sockets_open(&http, &url).await? - base).max(0) as usize;
        // The server lets the oldest go first: forget as many as it no longer holds.
        while crowd.len() > held {
            crowd.pop_front();
        }
        while crowd.len() < n {
            crowd.push_back(open_stuck(addr, &token).await?);
            opened += 1;
        }
        tokio::select! {
            _ = &mut stop => return Ok(opened),
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}
