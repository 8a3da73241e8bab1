//! What the hub and one connection share: the connection's outbound queue, its kill switch, the
//! badge it was last sent, and its outlet. One allocation per socket, and an idle socket's queue
//! holds no buffer: at tens of thousands of sockets, what an idle one costs is what the server
//! costs.
//!
//! A connection with nothing to write **parks** its link, naming the last `seq` it sent. While it
//! is parked, the hub writes what it offers straight to the socket ([`Outlet::try_write`]): an
//! event that comes next in order, and any frame outside the log; a duplicate event is dropped,
//! as the connection would drop it. The connection's task is not woken, which on the fan-out
//! path was the largest cost per delivery. Anything else (an event after a gap, a catch-up, a
//! frame the kernel would not take whole) **hands the link back**: it is queued as before, and
//! the connection, woken, first takes back the last `seq` the hub sent. The connection takes it
//! back on every wake-up, whatever woke it, before it writes or reads its sequence.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::Notify;

use super::outlet::{Outlet, TryWrite};
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
    /// The hub wrote part of a frame to the parked socket: the connection finishes it.
    Finish,
}

/// Why the hub could not queue a frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

#[derive(Default)]
struct Queue {
    items: VecDeque<Outbound>,
    /// Parked: the last `seq` the socket was sent, by the connection or, since, by the hub.
    parked: Option<i64>,
    /// Handed back: the last `seq` sent while parked, for the connection to take back.
    handed_back: Option<i64>,
}

#[derive(Default)]
pub struct Link {
    queue: Mutex<Queue>,
    queued: Notify,
    outlet: OnceLock<Arc<Outlet>>,
    pub kill: KillSwitch,
    /// The badge this connection was last sent (none yet: the next refresh sends it).
    pub last_badge: Mutex<Option<Badge>>,
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().expect("queue lock")
    }

    /// The socket the hub may write to while the connection is parked.
    pub fn attach(&self, outlet: Arc<Outlet>) {
        let _ = self.outlet.set(outlet);
    }

    /// Queues a frame unless `capacity` are already waiting, or writes it at once to a parked
    /// socket. Never blocks on the connection.
    pub fn offer(&self, out: Outbound, capacity: usize) -> Result<(), Full> {
        {
            let mut queue = self.lock();
            let out = match queue.parked {
                Some(last) => match self.write_parked(&mut queue, last, out) {
                    Some(out) => out,
                    None => return Ok(()),
                },
                None => out,
            };
            if queue.items.len() >= capacity {
                return Err(Full);
            }
            queue.items.push_back(out);
        }
        // One waiter at most (the connection); a permit is kept if it is not waiting yet.
        self.queued.notify_one();
        Ok(())
    }

    /// The hub's side of a parked link: writes `out` to the socket, or hands the link back and
    /// returns what the connection must now be given through the queue.
    fn write_parked(&self, queue: &mut Queue, last: i64, out: Outbound) -> Option<Outbound> {
        let (seq, frame) = match &out {
            Outbound::Event { seq, .. } if *seq <= last => return None,
            Outbound::Event { seq, frame } if *seq == last + 1 => (*seq, frame),
            Outbound::Frame(frame) => (last, frame),
            _ => {
                Self::hand_back(queue, last);
                return Some(out);
            }
        };
        let outlet = self.outlet.get().expect("a parked link has an outlet");
        match outlet.try_write(frame.bytes()) {
            TryWrite::Whole => {
                queue.parked = Some(seq);
                None
            }
            TryWrite::Part => {
                Self::hand_back(queue, seq);
                Some(Outbound::Finish)
            }
            TryWrite::Refused => {
                Self::hand_back(queue, last);
                Some(out)
            }
        }
    }

    fn hand_back(queue: &mut Queue, last: i64) {
        queue.parked = None;
        queue.handed_back = Some(last);
    }

    /// The connection has nothing to write and has sent every event up to `last_sent`: from now
    /// on the hub writes to the socket. False if something is queued (or there is no outlet):
    /// the connection goes on delivering.
    pub fn park(&self, last_sent: i64) -> bool {
        let mut queue = self.lock();
        if !queue.items.is_empty() || self.outlet.get().is_none() {
            return false;
        }
        queue.parked = Some(last_sent);
        true
    }

    /// The connection is awake: the hub stops writing to the socket. The last `seq` it sent
    /// meanwhile, if the link was parked.
    pub fn take_back(&self) -> Option<i64> {
        let mut queue = self.lock();
        queue.parked.take().or(queue.handed_back.take())
    }

    /// The next queued frame, if one is waiting. A queue drained to empty gives its buffer back.
    pub fn try_next(&self) -> Option<Outbound> {
        let mut queue = self.lock();
        let out = queue.items.pop_front();
        if queue.items.is_empty() && queue.items.capacity() > 0 {
            queue.items = VecDeque::new();
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
    use crate::realtime::kernel::Kernel;
    use crate::realtime::protocol::close;

    fn frame(text: &'static str) -> Outbound {
        Outbound::Frame(Wire::json(&text))
    }

    fn text(out: Outbound) -> String {
        match out {
            // A short frame: two bytes of header, then the JSON string.
            Outbound::Frame(f) => serde_json::from_slice(&f.bytes()[2..]).expect("a string"),
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
        assert_eq!(link.queue.lock().unwrap().items.capacity(), 0);
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

    fn event(seq: i64) -> Outbound {
        Outbound::Event {
            seq,
            frame: Wire::json(&format!("event {seq}")),
        }
    }

    fn bytes_of(outs: &[Outbound]) -> Vec<u8> {
        outs.iter()
            .flat_map(|out| match out {
                Outbound::Event { frame, .. } | Outbound::Frame(frame) => frame.bytes().to_vec(),
                other => panic!("no bytes: {other:?}"),
            })
            .collect()
    }

    fn parked(kernel: &Kernel, last_sent: i64) -> Link {
        let link = Link::default();
        link.attach(Outlet::new(kernel.clone()));
        assert!(link.park(last_sent));
        link
    }

    #[tokio::test]
    async fn a_parked_socket_is_written_by_the_hub_in_order_and_once() {
        let kernel = Kernel::new(usize::MAX, usize::MAX);
        let link = parked(&kernel, 10);
        link.offer(event(11), 8).expect("room");
        link.offer(frame("badge"), 8).expect("room");
        link.offer(event(11), 8).expect("room");
        link.offer(event(12), 8).expect("room");
        link.offer(event(9), 8).expect("room");
        assert_eq!(
            kernel.taken(),
            bytes_of(&[event(11), frame("badge"), event(12)]),
            "duplicates dropped, nothing queued twice"
        );
        assert!(link.try_next().is_none(), "nothing queued");
        assert_eq!(link.take_back(), Some(12));
        assert_eq!(link.take_back(), None, "taken back once");
        link.offer(event(13), 8).expect("room");
        assert_eq!(
            kernel.taken().len(),
            bytes_of(&[event(11), frame("badge"), event(12)]).len(),
            "an awake connection writes for itself"
        );
        assert!(matches!(
            link.try_next(),
            Some(Outbound::Event { seq: 13, .. })
        ));
    }

    #[tokio::test]
    async fn a_gap_or_a_catch_up_hands_the_socket_back() {
        for out in [event(12), Outbound::CatchUp] {
            let kernel = Kernel::new(usize::MAX, usize::MAX);
            let link = parked(&kernel, 10);
            link.offer(out.clone(), 8).expect("room");
            assert!(kernel.taken().is_empty());
            assert_eq!(link.take_back(), Some(10));
            assert_eq!(format!("{:?}", link.try_next()), format!("{:?}", Some(out)));
        }
    }

    #[tokio::test]
    async fn a_full_socket_hands_the_frame_back_to_the_connection() {
        let kernel = Kernel::new(usize::MAX, 0);
        let link = parked(&kernel, 10);
        link.offer(event(11), 8).expect("room");
        assert!(kernel.taken().is_empty());
        assert!(matches!(
            link.try_next(),
            Some(Outbound::Event { seq: 11, .. })
        ));
        assert_eq!(
            link.take_back(),
            Some(10),
            "11 is still the connection's to send"
        );
    }

    #[tokio::test]
    async fn a_frame_written_in_part_is_finished_by_the_connection() {
        use tokio::io::AsyncWriteExt;

        let kernel = Kernel::new(usize::MAX, 5);
        let outlet = Outlet::new(kernel.clone());
        let link = Link::default();
        link.attach(outlet.clone());
        assert!(link.park(10));
        link.offer(event(11), 8).expect("room");
        assert_eq!(kernel.taken().len(), 5);
        assert!(matches!(link.try_next(), Some(Outbound::Finish)));
        assert_eq!(link.take_back(), Some(11), "11 went out, in part");
        kernel.give(usize::MAX);
        crate::realtime::outlet::Shared(outlet)
            .flush()
            .await
            .expect("finished");
        assert_eq!(kernel.taken(), bytes_of(&[event(11)]));
    }

    #[tokio::test]
    async fn a_connection_with_something_queued_does_not_park() {
        let kernel = Kernel::new(usize::MAX, usize::MAX);
        let link = Link::default();
        link.attach(Outlet::new(kernel.clone()));
        link.offer(event(11), 8).expect("room");
        assert!(!link.park(10));
        link.offer(event(12), 8).expect("room");
        assert!(kernel.taken().is_empty());
        assert_eq!(link.take_back(), None);
        assert!(!Link::default().park(10), "no socket to write to");
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
