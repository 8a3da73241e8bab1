//! The delivery promise of one socket (DESIGN.md §4) as plain data: after `hello` (or a
//! `resume`), every event with a larger `seq` goes out exactly once and in order.
//!
//! `Sequence` knows the last `seq` its socket sent and nothing of sockets or databases. The
//! connection feeds it what happens (an event queued by the hub, a catch-up request, a `resume`,
//! a page read from the `events` table) and carries out what it answers: frames to send, and
//! the next page of the log to read. A queued event at or below the last `seq` sent is a
//! duplicate and is dropped; one above the next expected `seq` reveals a gap (the bus lost or
//! reordered something), filled from the log before it goes out; a `resume` from before the
//! retained log gets `resync`.

/// The log is read in pages of this many events.
pub const PAGE: i64 = 500;

/// Why the client must reload instead of resuming event by event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// The client names a `seq` this log has not reached: it talks about another log.
    UnknownSeq,
    /// Events the client lacks were pruned.
    HistoryExpired,
}

impl Resync {
    pub fn reason(self) -> &'static str {
        match self {
            Resync::UnknownSeq => "unknown_seq",
            Resync::HistoryExpired => "history_expired",
        }
    }
}

/// One frame to send, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    Resync(Resync),
    /// The answer to `resume`: every event after `since` follows.
    Resumed {
        since: i64,
    },
    /// The event at this index of the page just read.
    Logged(usize),
    /// The queued event whose gap this read filled.
    Queued,
}

/// Read events with `seq > after`, at most `limit` of them, and hand them to [`Sequence::page`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRead {
    pub after: i64,
    pub limit: i64,
}

/// Frames to send, then (if any) the log read whose page comes next.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    pub emit: Vec<Emit>,
    pub read: Option<LogRead>,
}

/// What to do with an event the hub queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnQueued {
    Send,
    /// Already sent (or older than a resync): nothing to do.
    Drop,
    /// Events before it are missing: read them first. The page's step ends with
    /// [`Emit::Queued`] when the event is still new after the gap is filled.
    Fill(LogRead),
}

#[derive(Debug)]
struct Reading {
    /// Stop after this `seq`; `None` reads to the end of the log.
    until: Option<i64>,
    limit: i64,
    /// The queued event that revealed the gap.
    waiting: Option<i64>,
}

#[derive(Debug)]
pub struct Sequence {
    last_sent: i64,
    reading: Option<Reading>,
}

impl Sequence {
    /// After `hello`, which names the log's head: the client has everything up to it.
    pub fn after_hello(head: i64) -> Self {
        Sequence {
            last_sent: head,
            reading: None,
        }
    }

    pub fn last_sent(&self) -> i64 {
        self.last_sent
    }

    /// True while a log read is under way: the connection must finish it (feed every page)
    /// before it hands in anything else.
    pub fn is_reading(&self) -> bool {
        self.reading.is_some()
    }

    pub fn queued(&mut self, seq: i64) -> OnQueued {
        debug_assert!(!self.is_reading(), "queued event during a log read");
        if seq <= self.last_sent {
            return OnQueued::Drop;
        }
        if seq == self.last_sent + 1 {
            self.last_sent = seq;
            return OnQueued::Send;
        }
        let read = self.start_read(Some(seq - 1), Some(seq));
        OnQueued::Fill(read.expect("a gap has events to read"))
    }

    /// The bus may have lost events: read the log past the last `seq` sent.
    pub fn catch_up(&mut self) -> Step {
        debug_assert!(!self.is_reading(), "catch-up during a log read");
        Step {
            emit: Vec::new(),
            read: self.start_read(None, None),
        }
    }

    /// `resume` from `since`, given the log's head and the oldest `seq` it still holds.
    pub fn resume(&mut self, since: i64, head: i64, first_retained: Option<i64>) -> Step {
        debug_assert!(!self.is_reading(), "resume during a log read");
        let since = since.max(0);
        let resync = if since > head {
            Some(Resync::UnknownSeq)
        } else if since < head && first_retained.is_some_and(|first| since + 1 < first) {
            Some(Resync::HistoryExpired)
        } else {
            None
        };
        if let Some(why) = resync {
            self.last_sent = head;
            return Step {
                emit: vec![Emit::Resync(why)],
                read: None,
            };
        }
        self.last_sent = since;
        Step {
            emit: vec![Emit::Resumed { since }],
            read: self.start_read(None, None),
        }
    }

    /// A page answering the last [`LogRead`]: the `seq`s of the events read, in order.
    pub fn page(&mut self, seqs: impl IntoIterator<Item = i64>) -> Step {
        let reading = self
            .reading
            .take()
            .expect("a page answers a log read this sequence asked for");
        let mut emit = Vec::new();
        let mut read = 0;
        for (i, seq) in seqs.into_iter().enumerate() {
            read += 1;
            if seq <= self.last_sent {
                continue;
            }
            if seq != self.last_sent + 1 {
                // Pruned history: the client cannot be made whole event by event.
                emit.push(Emit::Resync(Resync::HistoryExpired));
            }
            emit.push(Emit::Logged(i));
            self.last_sent = seq;
        }
        if read == reading.limit {
            if let Some(next) = self.start_read(reading.until, reading.waiting) {
                return Step {
                    emit,
                    read: Some(next),
                };
            }
        }
        if let Some(seq) = reading.waiting.filter(|seq| *seq > self.last_sent) {
            emit.push(Emit::Queued);
            self.last_sent = seq;
        }
        Step { emit, read: None }
    }

    fn start_read(&mut self, until: Option<i64>, waiting: Option<i64>) -> Option<LogRead> {
        let limit = match until {
            Some(u) if u <= self.last_sent => return None,
            Some(u) => (u - self.last_sent).min(PAGE),
            None => PAGE,
        };
        self.reading = Some(Reading {
            until,
            limit,
            waiting,
        });
        Some(LogRead {
            after: self.last_sent,
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays a log of events `1..=head` (minus `pruned`) against a sequence: answers every read
    /// the way `events_since` would, and returns the `seq`s and resyncs the client receives.
    struct Log {
        head: i64,
        pruned_below: i64,
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Got {
        Event(i64),
        Resync(&'static str),
        Resumed(i64),
    }

    impl Log {
        fn read(&self, read: LogRead) -> Vec<i64> {
            (read.after + 1..=self.head)
                .filter(|seq| *seq >= self.pruned_below)
                .take(read.limit as usize)
                .collect()
        }

        /// Carries out a step to the end, as the connection does.
        fn drive(&self, seq: &mut Sequence, mut step: Step, queued: Option<i64>) -> Vec<Got> {
            let mut got = Vec::new();
            let mut page: Vec<i64> = Vec::new();
            loop {
                for out in step.emit {
                    got.push(match out {
                        Emit::Resync(why) => Got::Resync(why.reason()),
                        Emit::Resumed { since } => Got::Resumed(since),
                        Emit::Logged(i) => Got::Event(page[i]),
                        Emit::Queued => Got::Event(queued.expect("a queued event")),
                    });
                }
                let Some(read) = step.read else { break };
                page = self.read(read);
                step = seq.page(page.iter().copied());
            }
            assert!(!seq.is_reading());
            got
        }

        fn queue(&self, seq: &mut Sequence, event: i64) -> Vec<Got> {
            match seq.queued(event) {
                OnQueued::Send => vec![Got::Event(event)],
                OnQueued::Drop => vec![],
                OnQueued::Fill(read) => self.drive(
                    seq,
                    Step {
                        emit: vec![],
                        read: Some(read),
                    },
                    Some(event),
                ),
            }
        }
    }

    fn events(range: std::ops::RangeInclusive<i64>) -> Vec<Got> {
        range.map(Got::Event).collect()
    }

    #[test]
    fn duplicates_and_old_events_are_dropped() {
        let mut seq = Sequence::after_hello(5);
        assert_eq!(seq.queued(5), OnQueued::Drop, "hello already covers 5");
        assert_eq!(seq.queued(3), OnQueued::Drop);
        assert_eq!(seq.queued(6), OnQueued::Send);
        assert_eq!(seq.queued(6), OnQueued::Drop, "sent once");
        assert_eq!(seq.queued(7), OnQueued::Send);
        assert_eq!(seq.last_sent(), 7);
    }

    #[test]
    fn a_gap_is_filled_from_the_log_before_the_event_that_revealed_it() {
        let log = Log {
            head: 9,
            pruned_below: 0,
        };
        let mut seq = Sequence::after_hello(5);
        assert_eq!(
            seq.queued(9),
            OnQueued::Fill(LogRead { after: 5, limit: 3 }),
            "reads only the missing events"
        );
        let mut seq = Sequence::after_hello(5);
        assert_eq!(log.queue(&mut seq, 9), events(6..=9));
        // The lost events turn up late from the bus: already sent.
        for late in 6..=9 {
            assert_eq!(seq.queued(late), OnQueued::Drop);
        }
        assert_eq!(seq.queued(10), OnQueued::Send);
    }

    #[test]
    fn a_wide_gap_is_read_page_by_page() {
        let head = 2 * PAGE + 201;
        let log = Log {
            head,
            pruned_below: 0,
        };
        let mut seq = Sequence::after_hello(0);
        let mut reads = Vec::new();
        let OnQueued::Fill(mut read) = seq.queued(head) else {
            panic!("a gap")
        };
        let mut got = Vec::new();
        loop {
            reads.push(read);
            let page = log.read(read);
            let step = seq.page(page.iter().copied());
            got.extend(step.emit);
            match step.read {
                Some(next) => read = next,
                None => break,
            }
        }
        assert_eq!(
            reads,
            [
                LogRead {
                    after: 0,
                    limit: PAGE
                },
                LogRead {
                    after: PAGE,
                    limit: PAGE
                },
                LogRead {
                    after: 2 * PAGE,
                    limit: 200
                },
            ]
        );
        assert_eq!(got.len() as i64, head);
        assert_eq!(got.last(), Some(&Emit::Queued));
        assert_eq!(seq.last_sent(), head);
    }

    #[test]
    fn a_gap_over_pruned_history_says_resync_then_goes_on() {
        let log = Log {
            head: 9,
            pruned_below: 8,
        };
        let mut seq = Sequence::after_hello(5);
        assert_eq!(
            log.queue(&mut seq, 9),
            vec![Got::Resync("history_expired"), Got::Event(8), Got::Event(9)]
        );
    }

    #[test]
    fn resume_replays_then_live_events_follow_each_once_in_order() {
        // The client saw up to 4; the log is at 10 at `hello`. While the replay reads, events
        // 11 and 12 are committed: the log read includes them, and the hub queues them too.
        let mut log = Log {
            head: 10,
            pruned_below: 1,
        };
        let mut seq = Sequence::after_hello(10);
        let step = seq.resume(4, 10, Some(1));
        assert_eq!(step.emit, [Emit::Resumed { since: 4 }]);
        assert_eq!(
            step.read,
            Some(LogRead {
                after: 4,
                limit: PAGE
            })
        );
        log.head = 12;
        let mut got = log.drive(&mut seq, step, None);
        for live in [11, 12, 13] {
            log.head = log.head.max(live);
            got.extend(log.queue(&mut seq, live));
        }
        let mut want = vec![Got::Resumed(4)];
        want.extend(events(5..=13));
        assert_eq!(got, want);
    }

    #[test]
    fn resume_from_before_the_retained_log_gets_resync() {
        let mut seq = Sequence::after_hello(100);
        let step = seq.resume(2, 100, Some(50));
        assert_eq!(step.emit, [Emit::Resync(Resync::HistoryExpired)]);
        assert_eq!(step.read, None);
        assert_eq!(seq.last_sent(), 100, "live events go on from the head");
        assert_eq!(seq.queued(101), OnQueued::Send);

        // The oldest retained event itself is still enough.
        let mut seq = Sequence::after_hello(100);
        let step = seq.resume(49, 100, Some(50));
        assert_eq!(step.emit, [Emit::Resumed { since: 49 }]);
        // Nothing is missed at the head, even with pruned history behind it.
        let mut seq = Sequence::after_hello(100);
        let step = seq.resume(100, 100, Some(50));
        assert_eq!(step.emit, [Emit::Resumed { since: 100 }]);
    }

    #[test]
    fn resume_from_a_seq_the_log_never_reached_gets_resync() {
        let mut seq = Sequence::after_hello(7);
        let step = seq.resume(900, 7, Some(1));
        assert_eq!(step.emit, [Emit::Resync(Resync::UnknownSeq)]);
        assert_eq!(step.read, None);
        assert_eq!(seq.last_sent(), 7);
        // A negative `since` means "from the start".
        let log = Log {
            head: 3,
            pruned_below: 0,
        };
        let mut seq = Sequence::after_hello(3);
        let step = seq.resume(-5, 3, Some(1));
        let mut want = vec![Got::Resumed(0)];
        want.extend(events(1..=3));
        assert_eq!(log.drive(&mut seq, step, None), want);
    }

    #[test]
    fn catch_up_reads_to_the_end_of_the_log() {
        let log = Log {
            head: 2 * PAGE,
            pruned_below: 0,
        };
        let mut seq = Sequence::after_hello(3);
        let step = seq.catch_up();
        assert_eq!(step.emit, []);
        assert_eq!(log.drive(&mut seq, step, None), events(4..=2 * PAGE));
        // A full last page asks once more and finds nothing.
        let step = seq.catch_up();
        assert_eq!(log.drive(&mut seq, step, None), []);
        assert_eq!(seq.last_sent(), 2 * PAGE);
    }
}
