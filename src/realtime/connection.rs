//! One WebSocket, one task: reads client frames, writes what the hub queues, pings. Which events
//! go out, and when the log must be read, is decided by [`Sequence`] (the delivery promise of
//! DESIGN.md §4, kept apart from the socket so it is tested without one); this task carries out
//! its answers.
//!
//! tungstenite reads the client's frames and writes the control frames (ping, close, the pongs
//! it answers with). Every text frame is already encoded ([`Wire`]: the same bytes for every
//! socket), so those go straight to the connection, gathered into one write per wake-up.
//! tungstenite's own buffer is flushed before such a write, so the two never interleave.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use uuid::Uuid;

use super::hub::{Hub, Registration};
use super::link::{KillSwitch, Outbound};
use super::protocol::{close, event_frame, ClientFrame, ServerFrame};
use super::sequence::{Emit, OnQueued, Sequence, Step};
use super::wire::{Gathered, Wire};
use crate::domain::ids::{TeammateId, WorkspaceId};

pub const PING_EVERY: Duration = Duration::from_secs(20);
pub const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// A write that takes longer than this means the client stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames written per flush when the queue has a backlog.
const BATCH: usize = 64;
/// Client frames: a burst of this many, refilled at `CLIENT_RATE` per second.
const CLIENT_BURST: u32 = 60;
const CLIENT_RATE: u32 = 20;

/// An upgraded HTTP connection speaking WebSocket.
pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

pub struct Session {
    pub workspace_id: WorkspaceId,
    pub teammate_id: TeammateId,
    /// The session or API token it was opened with: revoking that one closes the socket.
    pub session_id: Uuid,
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
    socket: Socket,
    /// Text frames waiting for the next flush; holds no buffer between flushes.
    out: Gathered,
    /// tungstenite may hold bytes of its own (a pong it answers a ping with): flush them first.
    control_pending: bool,
    hub: Arc<Hub>,
    reg: Registration,
    seq: Sequence,
    last_heard: Instant,
    client_frames: DefaultDirectRateLimiter,
}

fn client_frame_quota() -> Quota {
    let rate = NonZeroU32::new(CLIENT_RATE).expect("a rate above zero");
    let burst = NonZeroU32::new(CLIENT_BURST).expect("a burst above zero");
    Quota::per_second(rate).allow_burst(burst)
}

pub async fn run(socket: Socket, hub: Arc<Hub>, session: Session) {
    let reg = hub
        .register(
            session.workspace_id,
            session.teammate_id,
            session.session_id,
        )
        .await;
    let mut conn = Conn {
        socket,
        out: Gathered::default(),
        control_pending: false,
        hub: hub.clone(),
        reg,
        seq: Sequence::after_hello(0),
        last_heard: Instant::now(),
        client_frames: RateLimiter::direct(client_frame_quota()),
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
                code: CloseCode::from(code),
                reason: Utf8Bytes::from_static(reason),
            };
            // A write cut short (the kill switch) left part of a frame unwritten: it is finished
            // first, or the close frame would land inside it.
            let socket = &mut conn.socket;
            let out = &mut conn.out;
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                write_gathered(socket.get_mut(), out).await?;
                socket.send(Message::Close(Some(frame))).await?;
                anyhow::Ok(())
            })
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
        self.seq = Sequence::after_hello(seq);
        let hello = ServerFrame::Hello {
            teammate_id: session.teammate_id,
            workspace_id: session.workspace_id,
            seq,
            badge,
            instance: &session.instance,
        };
        self.write(hello.to_wire()).await?;
        // A refresh that ran between registering and `hello` may have queued a badge older than
        // the hello's; one more refresh, started now, makes the last badge frame a current one.
        // A refresh that finds the hello's badge unchanged sends nothing.
        self.reg
            .link
            .last_badge
            .lock()
            .expect("badge lock")
            .get_or_insert(badge);
        self.hub
            .refresh_badges(session.workspace_id, vec![session.teammate_id]);
        if let Some(since) = session.since {
            self.resume(since).await?;
        }
        self.flush().await?;
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        let link = self.reg.link.clone();
        let tripped = link.kill.tripped();
        let expiry = session_end(session.expires_at);
        tokio::pin!(expiry, tripped);
        loop {
            let flow = tokio::select! {
                () = &mut expiry => Flow::Close(close::SESSION_ENDED, "session expired"),
                code = &mut tripped => Flow::Close(code, close_reason(code)),
                out = link.next() => self.deliver(out).await?,
                incoming = self.socket.next() => match incoming {
                    Some(Ok(message)) => self.receive(message).await?,
                    Some(Err(e)) if too_big(&e) => Flow::Close(close::TOO_BIG, "message too big"),
                    Some(Err(e)) => return Err(e.into()),
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
            let Some(out) = self.reg.link.try_next() else {
                break;
            };
            self.handle(out).await?;
        }
        self.flush().await?;
        Ok(Flow::Continue)
    }

    async fn handle(&mut self, out: Outbound) -> anyhow::Result<()> {
        match out {
            Outbound::Event { seq, frame } => match self.seq.queued(seq) {
                OnQueued::Send => self.write(frame).await?,
                OnQueued::Drop => {}
                OnQueued::Fill(read) => {
                    self.hub.metrics.resume_replays.increment(1);
                    let fill = Step {
                        emit: Vec::new(),
                        read: Some(read),
                    };
                    self.carry_out(fill, Some(frame)).await?
                }
            },
            Outbound::Frame(frame) => self.write(frame).await?,
            Outbound::CatchUp => {
                self.hub.metrics.resume_replays.increment(1);
                let step = self.seq.catch_up();
                self.carry_out(step, None).await?;
            }
        }
        Ok(())
    }

    /// `resume`: from now on, every event after `since`, each once, in order.
    async fn resume(&mut self, since: i64) -> anyhow::Result<()> {
        let ws = self.reg.workspace_id;
        let store = self.hub.store.clone();
        let (head, first) = tokio::try_join!(store.last_seq(ws), store.first_retained_seq(ws))?;
        let step = self.seq.resume(since, head, first);
        self.carry_out(step, None).await
    }

    /// Writes what a step of the sequence asks for and reads the log pages it asks for, until
    /// it asks for nothing more. `queued` is the event whose gap is being filled.
    ///
    /// Boxed: resumes and gap fills are rare, and an inline future would make every socket's
    /// task as big as this path needs, for the socket's whole life.
    fn carry_out(
        &mut self,
        mut step: Step,
        queued: Option<Wire>,
    ) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let ws = self.reg.workspace_id;
            let store = self.hub.store.clone();
            let mut page = Vec::new();
            loop {
                for emit in step.emit {
                    let frame = match emit {
                        Emit::Resync(why) => ServerFrame::Resync {
                            reason: why.reason(),
                        }
                        .to_wire(),
                        Emit::Resumed { since } => {
                            self.hub.metrics.resume_replays.increment(1);
                            ServerFrame::Resumed { since }.to_wire()
                        }
                        Emit::Logged(i) => event_frame(&page[i]),
                        Emit::Queued => queued.clone().expect("the queued event of a gap fill"),
                    };
                    self.write(frame).await?;
                }
                let Some(read) = step.read else {
                    return Ok(());
                };
                page = store.events_since(ws, read.after, read.limit).await?;
                step = self.seq.page(page.iter().map(|event| event.seq));
            }
        })
    }

    async fn receive(&mut self, message: Message) -> anyhow::Result<Flow> {
        self.last_heard = Instant::now();
        // Reading may have queued a reply in tungstenite's buffer (a ping's pong).
        self.control_pending = true;
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => return Ok(Flow::Close(1000, "bye")),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Ok(Flow::Continue),
            Message::Binary(_) => return Ok(Flow::Close(1003, "text frames only")),
        };
        if self.client_frames.check().is_err() {
            self.hub.metrics.socket_rate_limited.increment(1);
            return Ok(Flow::Close(close::POLICY, "too many messages"));
        }
        let ws = self.reg.workspace_id;
        let me = self.reg.teammate_id;
        match ClientFrame::parse(text.as_str()) {
            Ok(ClientFrame::Ping) => {
                self.write(ServerFrame::Pong.to_wire()).await?;
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

    /// Adds a frame to the next flush (flushing first if a backlog's worth is waiting).
    async fn write(&mut self, frame: Wire) -> anyhow::Result<()> {
        self.out.push(frame);
        if self.out.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    /// A control frame, through tungstenite, after everything written before it.
    async fn write_now(&mut self, message: Message) -> anyhow::Result<()> {
        self.flush().await?;
        let socket = &mut self.socket;
        let io = async { socket.send(message).await.map_err(anyhow::Error::from) };
        bounded(&self.reg.link.kill, io).await
    }

    /// Writes the gathered frames, after whatever tungstenite still holds.
    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.control_pending {
            let socket = &mut self.socket;
            let io = async { socket.flush().await.map_err(anyhow::Error::from) };
            bounded(&self.reg.link.kill, io).await?;
            self.control_pending = false;
        }
        if self.out.is_empty() {
            return Ok(());
        }
        let (io, out) = (self.socket.get_mut(), &mut self.out);
        let io = async { Ok(write_gathered(io, out).await?) };
        bounded(&self.reg.link.kill, io).await?;
        // Written: the frames' buffer goes, until there is something to write again.
        self.out = Gathered::default();
        Ok(())
    }
}

/// Writes the gathered frames, keeping count of what the kernel took: a write given up half way
/// leaves exactly the unwritten bytes in `out`. The last frame goes with `send`, several with
/// one `writev`: the kernel's vectored path costs more per call (the file-position lock, the
/// iovec import), so it is kept for when it saves a call. The slices live only inside a poll, so
/// every socket's task, which is as big as its largest wait, does not carry them.
async fn write_gathered(
    io: &mut (impl tokio::io::AsyncWrite + Unpin),
    out: &mut Gathered,
) -> std::io::Result<()> {
    use bytes::Buf;
    while out.has_remaining() {
        let n = std::future::poll_fn(|cx| {
            let io = std::pin::Pin::new(&mut *io);
            if out.chunk().len() == out.remaining() {
                io.poll_write(cx, out.chunk())
            } else {
                let mut slices = [std::io::IoSlice::new(&[]); BATCH];
                let count = out.chunks_vectored(&mut slices);
                io.poll_write_vectored(cx, &slices[..count])
            }
        })
        .await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        out.advance(n);
    }
    Ok(())
}

/// Waits for a write, but no longer than `WRITE_TIMEOUT` and no longer than the kill switch
/// allows: a socket whose queue overflowed is let go at once, not when its blocked write times
/// out, so a crowd of clients that stopped reading holds no memory for long. The write is polled
/// first: one that completes at once (nearly every write, on the fan-out path) never registers
/// with the switch.
async fn bounded(
    kill: &KillSwitch,
    io: impl std::future::Future<Output = anyhow::Result<()>>,
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

/// A frame over the size limit.
fn too_big(e: &tungstenite::Error) -> bool {
    use tungstenite::Error;
    matches!(
        e,
        Error::Capacity(CapacityError::MessageTooLong { .. })
            | Error::Protocol(ProtocolError::ControlFrameTooBig)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::Error;

    #[test]
    fn oversized_frames_are_told_apart_from_other_socket_errors() {
        let long = Error::Capacity(CapacityError::MessageTooLong {
            size: 70_000,
            max_size: 65_536,
        });
        assert!(too_big(&long));
        assert!(too_big(&Error::Protocol(ProtocolError::ControlFrameTooBig)));
        assert!(!too_big(&Error::ConnectionClosed));
        assert!(!too_big(&Error::Capacity(CapacityError::TooManyHeaders)));
        assert!(!too_big(&Error::Io(std::io::Error::other(
            "message too long"
        ))));
    }

    /// A kernel that takes `per_call` bytes per write while its budget lasts, then blocks.
    struct Kernel {
        taken: Vec<u8>,
        per_call: usize,
        budget: usize,
        calls: Vec<&'static str>,
    }

    impl Kernel {
        fn new(per_call: usize, budget: usize) -> Self {
            Kernel {
                taken: Vec::new(),
                per_call,
                budget,
                calls: Vec::new(),
            }
        }

        fn take(&mut self, bufs: &[&[u8]]) -> std::task::Poll<std::io::Result<usize>> {
            let mut room = self.per_call.min(self.budget);
            if room == 0 {
                return std::task::Poll::Pending;
            }
            let before = self.taken.len();
            for buf in bufs {
                let part = &buf[..room.min(buf.len())];
                self.taken.extend_from_slice(part);
                room -= part.len();
            }
            let n = self.taken.len() - before;
            self.budget -= n;
            std::task::Poll::Ready(Ok(n))
        }
    }

    impl tokio::io::AsyncWrite for Kernel {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let me = self.get_mut();
            me.calls.push("send");
            me.take(&[buf])
        }

        fn poll_write_vectored(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let me = self.get_mut();
            me.calls.push("writev");
            let bufs: Vec<&[u8]> = bufs.iter().map(|b| &b[..]).collect();
            me.take(&bufs)
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    fn gathered(frames: &[Wire]) -> (Gathered, Vec<u8>) {
        let mut out = Gathered::default();
        for frame in frames {
            out.push(frame.clone());
        }
        (
            out,
            frames.iter().flat_map(|f| f.as_bytes().to_vec()).collect(),
        )
    }

    #[tokio::test]
    async fn a_lone_frame_goes_with_send_and_several_with_writev() {
        let (mut one, bytes) = gathered(&[Wire::json(&"a")]);
        let mut kernel = Kernel::new(usize::MAX, usize::MAX);
        write_gathered(&mut kernel, &mut one)
            .await
            .expect("written");
        assert_eq!((kernel.taken, kernel.calls), (bytes, vec!["send"]));

        let (mut two, bytes) = gathered(&[Wire::json(&"a"), Wire::json(&"b")]);
        let mut kernel = Kernel::new(usize::MAX, usize::MAX);
        write_gathered(&mut kernel, &mut two)
            .await
            .expect("written");
        assert_eq!((kernel.taken, kernel.calls), (bytes, vec!["writev"]));
    }

    #[tokio::test]
    async fn a_write_given_up_half_way_keeps_exactly_the_unwritten_bytes() {
        let frames = [
            Wire::json(&"one"),
            Wire::json(&"x".repeat(300)),
            Wire::json(&"three"),
        ];
        let (mut out, bytes) = gathered(&frames);
        // The kernel takes 7 bytes a call, then blocks after 100: the write is given up.
        let mut first = Kernel::new(7, 100);
        let cut = tokio::time::timeout(
            Duration::from_millis(20),
            write_gathered(&mut first, &mut out),
        )
        .await;
        assert!(cut.is_err(), "blocked");
        assert_eq!(first.taken, bytes[..100]);
        // What a later write sends continues the stream where the first stopped.
        let mut rest = Kernel::new(usize::MAX, usize::MAX);
        write_gathered(&mut rest, &mut out).await.expect("written");
        assert_eq!([first.taken, rest.taken].concat(), bytes);
        assert_eq!(rest.calls, vec!["writev"], "the rest in one call");
    }

    #[test]
    fn client_frames_get_a_burst_then_the_steady_rate() {
        let limiter = RateLimiter::direct(client_frame_quota());
        for _ in 0..CLIENT_BURST {
            assert!(limiter.check().is_ok());
        }
        assert!(limiter.check().is_err());
    }
}
