//! For tests: a socket's kernel side that takes a set number of bytes per write while its budget
//! lasts, then blocks until given more, and records what it took and by which call.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Clone)]
pub struct Kernel(Arc<Mutex<State>>);

struct State {
    taken: Vec<u8>,
    per_call: usize,
    budget: usize,
    calls: Vec<&'static str>,
    blocked: Option<Waker>,
}

impl Kernel {
    pub fn new(per_call: usize, budget: usize) -> Self {
        Kernel(Arc::new(Mutex::new(State {
            taken: Vec::new(),
            per_call,
            budget,
            calls: Vec::new(),
            blocked: None,
        })))
    }

    /// Everything written so far.
    pub fn taken(&self) -> Vec<u8> {
        self.0.lock().unwrap().taken.clone()
    }

    /// Which call each write was: `send` or `writev`.
    pub fn calls(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().calls.clone()
    }

    /// Room for `budget` more bytes, as when the client reads; wakes a blocked writer.
    pub fn give(&self, budget: usize) {
        let mut state = self.0.lock().unwrap();
        state.budget = budget;
        if let Some(waker) = state.blocked.take() {
            waker.wake();
        }
    }

    fn take(
        &self,
        cx: &Context<'_>,
        call: &'static str,
        bufs: &[&[u8]],
    ) -> Poll<std::io::Result<usize>> {
        let mut state = self.0.lock().unwrap();
        state.calls.push(call);
        let mut room = state.per_call.min(state.budget);
        if room == 0 {
            state.blocked = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let before = state.taken.len();
        for buf in bufs {
            let part = &buf[..room.min(buf.len())];
            state.taken.extend_from_slice(part);
            room -= part.len();
        }
        let n = state.taken.len() - before;
        state.budget -= n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncRead for Kernel {
    /// The client never sends anything.
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Pending
    }
}

impl AsyncWrite for Kernel {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.take(cx, "send", &[buf])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let bufs: Vec<&[u8]> = bufs.iter().map(|b| &b[..]).collect();
        self.take(cx, "writev", &bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
