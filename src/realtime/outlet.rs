//! A socket's connection to the client, shared by its connection task and the hub.
//!
//! The connection task reads from it and writes to it through [`Shared`], as any task writes
//! to a stream. The hub may also write a frame straight to it ([`Outlet::try_write`]) while the
//! connection task sleeps with nothing to do (see `link.rs`): the frame goes to the kernel from
//! the hub's own thread, and the socket's task is not woken at all.
//!
//! Every write, from either side, goes through one lock, and a frame the kernel took only part
//! of keeps its unwritten bytes here: whoever writes next finishes them first. So frames never
//! interleave, whoever started them.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll, Waker};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A byte stream both ways, as the upgraded HTTP connection is.
pub trait Io: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> Io for T {}

pub struct Outlet {
    inner: Mutex<Inner>,
}

struct Inner {
    io: Pin<Box<dyn Io>>,
    /// What the kernel did not take of a frame the hub began; written before anything else.
    rest: Bytes,
}

/// What became of a frame the hub wrote straight to the socket.
#[derive(Debug, PartialEq, Eq)]
pub enum TryWrite {
    /// The kernel took all of it.
    Whole,
    /// The kernel took part of it; the rest waits here for the connection to finish.
    Part,
    /// Nothing was written: the kernel's buffer is full, or the socket failed. The connection
    /// task, which is there to wait, writes the frame.
    Refused,
}

impl Outlet {
    pub fn new(io: impl Io + 'static) -> Arc<Self> {
        Arc::new(Outlet {
            inner: Mutex::new(Inner {
                io: Box::pin(io),
                rest: Bytes::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `frame` if the kernel takes it now, without waiting and without a waker: nobody
    /// is woken when the socket has room again. The caller hands a frame that was not written
    /// whole to the connection task, whose own write waits for room.
    pub fn try_write(&self, frame: &Bytes) -> TryWrite {
        let mut inner = self.lock();
        if !inner.rest.is_empty() {
            return TryWrite::Refused;
        }
        let mut cx = Context::from_waker(Waker::noop());
        match inner.io.as_mut().poll_write(&mut cx, frame) {
            Poll::Ready(Ok(n)) if n == frame.len() => TryWrite::Whole,
            Poll::Ready(Ok(n)) if n > 0 => {
                inner.rest = frame.slice(n..);
                TryWrite::Part
            }
            _ => TryWrite::Refused,
        }
    }
}

impl Inner {
    /// Writes what is left of a frame the hub began.
    fn poll_rest(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.rest.is_empty() {
            let n = ready!(self.io.as_mut().poll_write(cx, &self.rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.rest.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

/// The connection task's handle on its outlet: a stream like any other.
#[derive(Clone)]
pub struct Shared(pub Arc<Outlet>);

impl AsyncRead for Shared {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.0.lock().io.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for Shared {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut inner = self.0.lock();
        ready!(inner.poll_rest(cx))?;
        inner.io.as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut inner = self.0.lock();
        ready!(inner.poll_rest(cx))?;
        inner.io.as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.lock().io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.0.lock();
        ready!(inner.poll_rest(cx))?;
        inner.io.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.0.lock();
        ready!(inner.poll_rest(cx))?;
        inner.io.as_mut().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::realtime::kernel::Kernel;

    #[tokio::test]
    async fn a_frame_begun_by_the_hub_is_finished_before_the_next_write() {
        // The kernel takes 5 bytes a call, 8 in all, then blocks until given more room.
        let kernel = Kernel::new(5, 8);
        let outlet = Outlet::new(kernel.clone());
        let frame = Bytes::from_static(b"0123456789");
        assert_eq!(outlet.try_write(&frame), TryWrite::Part);
        assert_eq!(
            outlet.try_write(&Bytes::from_static(b"other")),
            TryWrite::Refused,
            "nothing goes in front of the rest"
        );
        kernel.give(usize::MAX);
        let mut shared = Shared(outlet);
        shared.write_all(b"next").await.expect("written");
        assert_eq!(kernel.taken(), b"0123456789next");
    }

    #[tokio::test]
    async fn a_full_socket_refuses_and_keeps_nothing() {
        let kernel = Kernel::new(usize::MAX, 0);
        let outlet = Outlet::new(kernel.clone());
        assert_eq!(
            outlet.try_write(&Bytes::from_static(b"frame")),
            TryWrite::Refused
        );
        kernel.give(usize::MAX);
        let mut shared = Shared(outlet.clone());
        shared.write_all(b"later").await.expect("written");
        assert_eq!(kernel.taken(), b"later");
        assert_eq!(outlet.try_write(&Bytes::from_static(b"!")), TryWrite::Whole);
        assert_eq!(kernel.taken(), b"later!");
    }
}
