//! What the hub and one connection share: the connection's outbound queue, its kill switch and
//! the badge it was last sent. One allocation per socket, and an idle socket's queue holds no
//! buffer: at tens of thousands of sockets, what an idle one costs is what the server costs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Mutex;

use tokio::sync::Notify;

use super::wire::Wire;
use crate::store::Badge;

/// What the hub hands a connection's writer.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A workspace event; the connection drops it if it already sent `seq`.
    Event { seq: i64, frame: Wire },
    /// Frames outside the event log: a badge, or the presence changes of a moment.
    Frame(Wire),
    /// The bus may have lost events: read the log past the last `seq` sent.
    CatchUp,
}

/// Why the hub could not queue a frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

#[derive(Default)]
pub struct Link {
    queue: Mutex<VecDeque<Outbound>>,
    queued: Notify,
    pub kill: KillSwitch,
    /// The badge this connection was last sent (none yet: the next refresh sends it).
    pub last_badge: Mutex<Option<Badge>>,
}

impl Link {
    /// Queues a frame unless `capacity` are already waiting. Never blocks on the connection.
    pub fn offer(&self, out: Outbound, capacity: usize) -> Result<(), Full> {
        {
            let mut queue = self.queue.lock().expect("queue lock");
            if queue.len() >= capacity {
                return Err(Full);
            }
            queue.push_back(out);
        }
        // One waiter at most (the connection); a permit is kept if it is not waiting yet.
        self.queued.notify_one();
        Ok(())
    }

    /// The next queued frame, if one is waiting. A queue drained to empty gives its buffer back.
    pub fn try_next(&self) -> Option<Outbound> {
        let mut queue = self.queue.lock().expect("queue lock");
        let out = queue.pop_front();
        if queue.is_empty() && queue.capacity() > 0 {
            *queue = VecDeque::new();
        }
        out
    }

    /// Waits for the next queued frame. Cancel-safe: a frame is taken only by the poll that
    /// returns it.
    pub async fn next(&self) -> Outbound {
        loop {
            if let Some(out) = self.try_next() {
                return out;
            }
            self.queued.notified().await;
        }
    }
}

/// Tells a connection to close with a code, from any thread.
#[derive(Default)]
pub struct KillSwitch {
    code: AtomicU16,
    notify: Notify,
}

impl KillSwitch {
    /// Trips the switch with a close code; true the first time only.
    pub fn trip(&self, code: u16) -> bool {
        let first = self
            .code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if first {
            self.notify.notify_waiters();
        }
        first
    }

    /// Resolves with the close code once the switch is tripped (at once if it already is).
    /// Any number of waiters may wait, each for as long as it likes: a connection keeps one
    /// waiting across its whole loop instead of registering anew for every frame.
    pub async fn tripped(&self) -> u16 {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before the check, so a trip between the check and the wait is not lost.
        notified.as_mut().enable();
        match self.code.load(Ordering::Acquire) {
            0 => {
                notified.await;
                self.code.load(Ordering::Acquire)
            }
            code => code,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::realtime::protocol::close;

    fn frame(text: &'static str) -> Outbound {
        Outbound::Frame(Wire::json(&text))
    }

    fn text(out: Outbound) -> String {
        match out {
            // A short frame: two bytes of header, then the JSON string.
            Outbound::Frame(f) => serde_json::from_slice(&f.as_bytes()[2..]).expect("a string"),
            other => panic!("not a frame: {other:?}"),
        }
    }

    #[tokio::test]
    async fn frames_come_out_in_order_and_a_full_queue_refuses_more() {
        let link = Link::default();
        assert_eq!(link.offer(frame("a"), 2), Ok(()));
        assert_eq!(link.offer(frame("b"), 2), Ok(()));
        assert_eq!(link.offer(frame("c"), 2), Err(Full));
        assert_eq!(text(link.next().await), "a");
        assert_eq!(link.offer(frame("d"), 2), Ok(()), "room again after a take");
        assert_eq!(text(link.try_next().expect("b")), "b");
        assert_eq!(text(link.try_next().expect("d")), "d");
        assert!(link.try_next().is_none());
    }

    #[tokio::test]
    async fn a_drained_queue_holds_no_buffer() {
        let link = Link::default();
        for _ in 0..40 {
            link.offer(frame("x"), 64).expect("room");
        }
        while link.try_next().is_some() {}
        assert_eq!(link.queue.lock().unwrap().capacity(), 0);
    }

    #[tokio::test]
    async fn a_waiting_connection_is_woken_by_a_frame_queued_later() {
        let link = Arc::new(Link::default());
        let waiter = tokio::spawn({
            let link = link.clone();
            async move { text(link.next().await) }
        });
        tokio::task::yield_now().await;
        link.offer(frame("late"), 8).expect("room");
        let got = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert_eq!(got.expect("woken").expect("joined"), "late");
    }

    #[tokio::test]
    async fn a_wait_given_up_loses_no_frame() {
        let link = Link::default();
        // The wait is abandoned (another select! branch won) before anything was queued.
        let gave_up = tokio::time::timeout(Duration::from_millis(10), link.next()).await;
        assert!(gave_up.is_err());
        link.offer(frame("kept"), 8).expect("room");
        let got = tokio::time::timeout(Duration::from_secs(5), link.next()).await;
        assert_eq!(text(got.expect("not lost")), "kept");
    }

    #[tokio::test]
    async fn every_waiter_of_a_kill_switch_hears_the_first_trip() {
        let kill = Arc::new(KillSwitch::default());
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let kill = kill.clone();
                tokio::spawn(async move { kill.tripped().await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(kill.trip(close::RECONNECT_AND_RESUME));
        assert!(
            !kill.trip(close::SESSION_ENDED),
            "only the first trip counts"
        );
        for waiter in waiters {
            let code = tokio::time::timeout(Duration::from_secs(5), waiter).await;
            assert_eq!(
                code.expect("woken").expect("joined"),
                close::RECONNECT_AND_RESUME
            );
        }
        assert_eq!(
            kill.tripped().await,
            close::RECONNECT_AND_RESUME,
            "later waiters too"
        );
    }
}
