//! One WebSocket, one task: reads client frames, writes what the hub queues, pings, and keeps
//! the delivery promise of DESIGN.md §4: after `hello` (or a `resume`), every event with a larger
//! `seq` goes out exactly once and in order. The task remembers the last `seq` it sent; a queued
//! event at or below it is a duplicate and is dropped, one above the next expected `seq` reveals
//! a gap (the bus lost or reordered something), which is filled from the `events` table first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use tokio::sync::mpsc::error::TryRecvError;
use uuid::Uuid;

use super::hub::{Hub, KillSwitch, Outbound, Registration};
use super::protocol::{close, event_frame, ClientFrame, ServerFrame};

pub const PING_EVERY: Duration = Duration::from_secs(20);
pub const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// A write that takes longer than this means the client stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames written per flush when the queue has a backlog.
const BATCH: usize = 64;
/// Replay reads the log in pages of this many events.
const PAGE: i64 = 500;
/// Client frames: a burst of this many, refilled at `CLIENT_RATE` per second.
const CLIENT_BURST: f64 = 60.0;
const CLIENT_RATE: f64 = 20.0;

pub struct Session {
    pub workspace_id: Uuid,
    pub teammate_id: Uuid,
    /// Resume from here right after `hello` (the `?since=` of the handshake).
    pub since: Option<i64>,
    pub instance: Arc<str>,
    /// The credentials' end: the socket closes then (4001), as sign-out would close it.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

enum Flow {
    Continue,
    Close(u16, &'static str),
}

/// The kill switch tripped while a write was blocked (the client stopped reading).
#[derive(Debug, thiserror::Error)]
#[error("closed while a write was blocked")]
struct Killed(u16);

fn close_reason(code: u16) -> &'static str {
    match code {
        close::RECONNECT_AND_RESUME => "too slow: reconnect and resume",
        close::GOING_AWAY => "server restarting: reconnect and resume",
        _ => "session ended",
    }
}

struct Conn {
    socket: WebSocket,
    hub: Arc<Hub>,
    reg: Registration,
    last_sent: i64,
    last_heard: Instant,
    allowance: f64,
    allowance_at: Instant,
}

pub async fn run(socket: WebSocket, hub: Arc<Hub>, session: Session) {
    let reg = hub
        .register(session.workspace_id, session.teammate_id)
        .await;
    let mut conn = Conn {
        socket,
        hub: hub.clone(),
        reg,
        last_sent: 0,
        last_heard: Instant::now(),
        allowance: CLIENT_BURST,
        allowance_at: Instant::now(),
    };
    let flow = match conn.serve(&session).await {
        Err(e) => match e.downcast_ref::<Killed>() {
            Some(Killed(code)) => Ok(Flow::Close(*code, close_reason(*code))),
            None => Err(e),
        },
        ok => ok,
    };
    let reason = match flow {
        Ok(Flow::Close(code, reason)) => {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                conn.socket.send(Message::Close(Some(frame))),
            )
            .await;
            reason
        }
        Ok(Flow::Continue) => "closed",
        Err(e) => {
            tracing::debug!(error = %e, "socket ended");
            "error"
        }
    };
    tracing::debug!(teammate = %session.teammate_id, reason, "socket closed");
    hub.unregister(conn.reg.workspace_id, conn.reg.teammate_id, conn.reg.id)
        .await;
}

impl Conn {
    async fn serve(&mut self, session: &Session) -> anyhow::Result<Flow> {
        let store = self.hub.store.clone();
        let (seq, badge) = tokio::try_join!(
            store.last_seq(session.workspace_id),
            store.badge(session.workspace_id, session.teammate_id)
        )?;
        self.last_sent = seq;
        let hello = ServerFrame::Hello {
            teammate_id: session.teammate_id,
            workspace_id: session.workspace_id,
            seq,
            badge,
            instance: &session.instance,
        };
        self.write(hello.to_text().into()).await?;
        // A refresh that ran between registering and `hello` may have queued a badge older than
        // the hello's; one more refresh, started now, makes the last badge frame a current one.
        // A refresh that finds the hello's badge unchanged sends nothing.
        self.reg
            .last_badge
            .lock()
            .expect("badge lock")
            .get_or_insert(badge);
        self.hub
            .refresh_badges(session.workspace_id, vec![session.teammate_id]);
        if let Some(since) = session.since {
            if let Flow::Close(c, r) = self.resume(since).await? {
                return Ok(Flow::Close(c, r));
            }
        }
        self.flush().await?;
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        let kill = self.reg.kill.clone();
        let expiry = session_end(session.expires_at);
        tokio::pin!(expiry);
        loop {
            let flow = tokio::select! {
                () = &mut expiry => Flow::Close(close::SESSION_ENDED, "session expired"),
                code = kill.tripped() => Flow::Close(code, close_reason(code)),
                out = self.reg.rx.recv() => match out {
                    Some(out) => self.deliver(out).await?,
                    None => Flow::Close(close::GOING_AWAY, close_reason(close::GOING_AWAY)),
                },
                incoming = self.socket.recv() => match incoming {
                    Some(Ok(message)) => self.receive(message).await?,
                    Some(Err(e)) => {
                        let text = e.to_string();
                        if text.contains("too long") || text.contains("Space limit") || text.contains("too big") {
                            Flow::Close(close::TOO_BIG, "message too big")
                        } else {
                            return Err(e.into());
                        }
                    }
                    None => return Ok(Flow::Continue),
                },
                _ = ping.tick() => {
                    if self.last_heard.elapsed() > SILENCE_LIMIT {
                        return Ok(Flow::Continue);
                    }
                    self.write_now(Message::Ping(Default::default())).await?;
                    Flow::Continue
                }
            };
            if let Flow::Close(..) = flow {
                return Ok(flow);
            }
        }
    }

    /// Writes one queued item and whatever else is already waiting, then flushes once.
    async fn deliver(&mut self, first: Outbound) -> anyhow::Result<Flow> {
        self.handle(first).await?;
        for _ in 0..BATCH {
            match self.reg.rx.try_recv() {
                Ok(out) => self.handle(out).await?,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        self.flush().await?;
        Ok(Flow::Continue)
    }

    async fn handle(&mut self, out: Outbound) -> anyhow::Result<()> {
        match out {
            Outbound::Event { seq, frame } => {
                if seq <= self.last_sent {
                    return Ok(());
                }
                if seq > self.last_sent + 1 {
                    self.replay_until(Some(seq - 1)).await?;
                    if seq <= self.last_sent {
                        return Ok(());
                    }
                }
                self.write(frame).await?;
                self.last_sent = seq;
            }
            Outbound::Frame(frame) => self.write(frame).await?,
            Outbound::CatchUp => {
                self.hub.metrics.inc("baton_resume_replays_total");
                self.replay_until(None).await?;
            }
        }
        Ok(())
    }

    /// `resume`: from now on, every event after `since`, each once, in order.
    async fn resume(&mut self, since: i64) -> anyhow::Result<Flow> {
        let ws = self.reg.workspace_id;
        let store = self.hub.store.clone();
        let head = store.last_seq(ws).await?;
        let since = since.max(0);
        if since > head {
            // The client claims events we have not written: it talks about another log.
            self.write(
                ServerFrame::Resync {
                    reason: "unknown_seq",
                }
                .to_text()
                .into(),
            )
            .await?;
            self.last_sent = head;
            return Ok(Flow::Continue);
        }
        let first = store.first_retained_seq(ws).await?;
        if since < head && first.is_some_and(|first| since + 1 < first) {
            self.write(
                ServerFrame::Resync {
                    reason: "history_expired",
                }
                .to_text()
                .into(),
            )
            .await?;
            self.last_sent = head;
            return Ok(Flow::Continue);
        }
        self.hub.metrics.inc("baton_resume_replays_total");
        self.write(ServerFrame::Resumed { since }.to_text().into())
            .await?;
        self.last_sent = since;
        self.replay_until(None).await?;
        Ok(Flow::Continue)
    }

    /// Sends logged events after `last_sent`, up to `until` (or the end of the log).
    async fn replay_until(&mut self, until: Option<i64>) -> anyhow::Result<()> {
        let ws = self.reg.workspace_id;
        let store = self.hub.store.clone();
        loop {
            let limit = match until {
                Some(u) if u <= self.last_sent => return Ok(()),
                Some(u) => (u - self.last_sent).min(PAGE),
                None => PAGE,
            };
            let events = store.events_since(ws, self.last_sent, limit).await?;
            let full = events.len() as i64 == limit;
            for event in events {
                if event.seq != self.last_sent + 1 {
                    // Pruned history: the client cannot be made whole event by event.
                    self.write(
                        ServerFrame::Resync {
                            reason: "history_expired",
                        }
                        .to_text()
                        .into(),
                    )
                    .await?;
                }
                self.write(Utf8Bytes::from(event_frame(&event))).await?;
                self.last_sent = event.seq;
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn receive(&mut self, message: Message) -> anyhow::Result<Flow> {
        self.last_heard = Instant::now();
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => return Ok(Flow::Close(1000, "bye")),
            Message::Ping(_) | Message::Pong(_) => return Ok(Flow::Continue),
            Message::Binary(_) => return Ok(Flow::Close(1003, "text frames only")),
        };
        if !self.allow_client_frame() {
            self.hub.metrics.inc("baton_socket_rate_limited_total");
            return Ok(Flow::Close(close::POLICY, "too many messages"));
        }
        let ws = self.reg.workspace_id;
        let me = self.reg.teammate_id;
        match ClientFrame::parse(text.as_str()) {
            Ok(ClientFrame::Ping) => {
                self.write(ServerFrame::Pong.to_text().into()).await?;
                self.flush().await?;
            }
            Ok(ClientFrame::Resume { since }) => {
                self.resume(since).await?;
                self.flush().await?;
            }
            Ok(ClientFrame::Viewing { case_id }) => {
                self.hub.set_viewing(ws, me, self.reg.id, case_id).await
            }
            Ok(ClientFrame::Typing { case_id }) => {
                self.hub.set_typing(ws, me, self.reg.id, case_id).await
            }
            Err(_) => return Ok(Flow::Close(close::POLICY, "unknown message")),
        }
        Ok(Flow::Continue)
    }

    fn allow_client_frame(&mut self) -> bool {
        let now = Instant::now();
        self.allowance = (self.allowance
            + now.duration_since(self.allowance_at).as_secs_f64() * CLIENT_RATE)
            .min(CLIENT_BURST);
        self.allowance_at = now;
        if self.allowance < 1.0 {
            return false;
        }
        self.allowance -= 1.0;
        true
    }

    async fn write(&mut self, frame: Utf8Bytes) -> anyhow::Result<()> {
        let io = futures_util::SinkExt::feed(&mut self.socket, Message::Text(frame));
        bounded(&self.reg.kill, io).await
    }

    async fn write_now(&mut self, message: Message) -> anyhow::Result<()> {
        bounded(&self.reg.kill, self.socket.send(message)).await
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        let io = futures_util::SinkExt::flush(&mut self.socket);
        bounded(&self.reg.kill, io).await
    }
}

/// Waits for a write, but no longer than `WRITE_TIMEOUT` and no longer than the kill switch
/// allows: a socket whose queue overflowed is let go at once, not when its blocked write times
/// out, so a crowd of clients that stopped reading holds no memory for long. The write is polled
/// first: one that completes at once (nearly every write, on the fan-out path) never registers
/// with the switch.
async fn bounded(
    kill: &KillSwitch,
    io: impl std::future::Future<Output = Result<(), axum::Error>>,
) -> anyhow::Result<()> {
    tokio::select! {
        biased;
        done = tokio::time::timeout(WRITE_TIMEOUT, io) => Ok(done??),
        code = kill.tripped() => Err(Killed(code).into()),
    }
}

/// Resolves when a session's credentials expire; never for credentials without an end.
async fn session_end(at: Option<chrono::DateTime<chrono::Utc>>) {
    match at {
        Some(at) => {
            let left = (at - chrono::Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(left).await
        }
        None => std::future::pending().await,
    }
}
