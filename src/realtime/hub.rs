//! The hub: this instance's live connections, grouped by workspace ("rooms").
//!
//! Whatever the bus delivers is turned into a wire frame once and the same bytes are offered to
//! each connection's bounded queue with `try_send`. A full queue closes that one socket with
//! "reconnect and resume"; nothing a slow client does can hold up anybody else. A room
//! subscribes to its workspace's bus channel when its first connection arrives and unsubscribes
//! after its last one leaves, both under the room map's lock so they cannot cross.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use dashmap::DashMap;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use uuid::Uuid;

use super::link::{Full, Link, Outbound};
use super::presence::{Presence, PresenceUpdate};
use super::protocol::{close, event_frame, ServerFrame};
use super::wire::Wire;
use crate::bus::{Broker, BusMessage, Sink};
use crate::domain::ids::{CaseId, TeammateId, WorkspaceId};
use crate::domain::pings;
use crate::events::{Event, EventKind, TeammateChange};
use crate::metrics::Metrics;
use crate::store::Store;

struct Conn {
    teammate_id: TeammateId,
    /// The session or API token the socket was opened with.
    session_id: Uuid,
    link: Arc<Link>,
}

/// Teammates whose badges a running refresh should compute next; `again`: asked for meanwhile.
struct PendingBadges {
    again: bool,
    teammates: std::collections::HashSet<TeammateId>,
}

/// How long presence changes gather before they go out together. Presence is a nicety that
/// nobody reads to the millisecond, and a workspace of n teammates coming online is n changes
/// for each of n sockets: gathered, each socket gets one write per moment instead of one per
/// change, and a teammate who changed twice within it, only the latest.
const PRESENCE_WINDOW: Duration = Duration::from_millis(50);

struct Room {
    conns: RwLock<HashMap<u64, Conn>>,
    subscribed: Shared<BoxFuture<'static, ()>>,
}

/// A registered connection: its place in the hub, and what it shares with the hub.
pub struct Registration {
    pub id: u64,
    pub workspace_id: WorkspaceId,
    pub teammate_id: TeammateId,
    pub link: Arc<Link>,
}

pub struct Hub {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub presence: Presence,
    pub retention: Duration,
    queue_capacity: usize,
    broker: OnceLock<Arc<dyn Broker>>,
    rooms: DashMap<WorkspaceId, Arc<Room>>,
    next_id: AtomicU64,
    shutting_down: AtomicBool,
    /// Workspaces with a badge refresh running, and what it should do next.
    badge_pending: DashMap<WorkspaceId, PendingBadges>,
    /// Presence changes waiting for their workspace's next send, the latest per teammate.
    presence_pending: DashMap<WorkspaceId, HashMap<TeammateId, PresenceUpdate>>,
    me: Weak<Hub>,
}

impl Hub {
    pub fn new(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        queue_capacity: usize,
        retention: Duration,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Hub {
            store,
            metrics,
            presence: Presence::new(),
            retention,
            queue_capacity,
            broker: OnceLock::new(),
            rooms: DashMap::new(),
            next_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            badge_pending: DashMap::new(),
            presence_pending: DashMap::new(),
            me: me.clone(),
        })
    }

    /// Where the broker delivers: a weak handle, so broker and hub do not keep each other alive.
    pub fn sink(self: &Arc<Self>) -> Sink {
        let hub = Arc::downgrade(self);
        Arc::new(move |message| {
            if let Some(hub) = hub.upgrade() {
                hub.dispatch(message);
            }
        })
    }

    pub fn attach_broker(&self, broker: Arc<dyn Broker>) {
        let _ = self.broker.set(broker.clone());
        self.presence.attach(broker);
    }

    pub fn broker(&self) -> &Arc<dyn Broker> {
        self.broker.get().expect("the broker is attached at start")
    }

    pub fn connection_count(&self) -> usize {
        self.rooms
            .iter()
            .map(|r| r.conns.read().expect("room lock").len())
            .sum()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Adds a connection; resolves once this instance receives the workspace's bus messages.
    pub async fn register(
        &self,
        workspace_id: WorkspaceId,
        teammate_id: TeammateId,
        session_id: Uuid,
    ) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let link = Arc::new(Link::default());
        let conn = Conn {
            teammate_id,
            session_id,
            link: link.clone(),
        };
        let subscribed = {
            let room = self.rooms.entry(workspace_id).or_insert_with(|| {
                Arc::new(Room {
                    conns: RwLock::new(HashMap::new()),
                    subscribed: self.broker().subscribe(workspace_id).shared(),
                })
            });
            room.conns.write().expect("room lock").insert(id, conn);
            room.subscribed.clone()
        };
        subscribed.await;
        self.metrics.sockets_open.increment(1.0);
        if self.presence.connected(workspace_id, teammate_id, id) {
            self.announce(workspace_id, teammate_id).await;
        }
        Registration {
            id,
            workspace_id,
            teammate_id,
            link,
        }
    }

    /// Removes a connection by its own id, so a stale disconnect never removes a newer one.
    pub async fn unregister(&self, workspace_id: WorkspaceId, teammate_id: TeammateId, id: u64) {
        let removed = self
            .rooms
            .get(&workspace_id)
            .is_some_and(|room| room.conns.write().expect("room lock").remove(&id).is_some());
        if removed {
            self.metrics.sockets_open.decrement(1.0);
        }
        self.rooms.remove_if(&workspace_id, |_, room| {
            let empty = room.conns.read().expect("room lock").is_empty();
            if empty {
                self.broker().unsubscribe(workspace_id);
            }
            empty
        });
        if self.presence.disconnected(workspace_id, teammate_id, id) {
            self.announce(workspace_id, teammate_id).await;
        }
    }

    /// Publishes this teammate's presence as seen from here (cluster-wide when Redis is there).
    pub async fn announce(&self, workspace_id: WorkspaceId, teammate_id: TeammateId) {
        let update = self.presence.update_for(workspace_id, teammate_id).await;
        if let Err(e) = self.broker().publish(BusMessage::Presence(update)).await {
            tracing::debug!(error = %e, "presence publish failed");
        }
    }

    pub async fn set_viewing(
        &self,
        workspace_id: WorkspaceId,
        teammate_id: TeammateId,
        conn: u64,
        case_id: Option<CaseId>,
    ) {
        if self
            .presence
            .viewing(workspace_id, teammate_id, conn, case_id)
        {
            self.announce(workspace_id, teammate_id).await;
        }
    }

    pub async fn set_typing(
        &self,
        workspace_id: WorkspaceId,
        teammate_id: TeammateId,
        conn: u64,
        case_id: CaseId,
    ) {
        if self
            .presence
            .typing(workspace_id, teammate_id, conn, case_id)
        {
            self.announce(workspace_id, teammate_id).await;
        }
    }

    /// Everything the bus delivers lands here. Never blocks.
    pub fn dispatch(&self, message: BusMessage) {
        match message {
            BusMessage::Event(event) => self.dispatch_event(&event),
            BusMessage::Presence(update) => self.dispatch_presence(update),
            BusMessage::Disconnect {
                workspace_id,
                teammate_id,
                session_id,
            } => self.each_conn(workspace_id, |conn| {
                if conn.teammate_id == teammate_id
                    && session_id.is_none_or(|s| s == conn.session_id)
                {
                    conn.link.kill.trip(close::SESSION_ENDED);
                }
            }),
            BusMessage::BadgeChanged {
                workspace_id,
                teammate_id,
            } => self.refresh_badges(workspace_id, vec![teammate_id]),
            BusMessage::LinkRestored => {
                for room in self.rooms.iter() {
                    for conn in room.conns.read().expect("room lock").values() {
                        self.offer(conn, Outbound::CatchUp);
                    }
                }
            }
        }
    }

    fn each_conn(&self, workspace_id: WorkspaceId, mut f: impl FnMut(&Conn)) {
        if let Some(room) = self.rooms.get(&workspace_id) {
            for conn in room.conns.read().expect("room lock").values() {
                f(conn);
            }
        }
    }

    fn offer(&self, conn: &Conn, out: Outbound) -> bool {
        match conn.link.offer(out, self.queue_capacity) {
            Ok(()) => true,
            Err(Full) => {
                if conn.link.kill.trip(close::RECONNECT_AND_RESUME) {
                    self.metrics.socket_queue_overflows.increment(1);
                }
                false
            }
        }
    }

    fn dispatch_event(&self, event: &Event) {
        let Some(room) = self.rooms.get(&event.workspace_id).map(|r| r.clone()) else {
            return;
        };
        let frame = event_frame(event);
        let mut delivered = 0u64;
        let mut here = Vec::new();
        for conn in room.conns.read().expect("room lock").values() {
            if self.offer(
                conn,
                Outbound::Event {
                    seq: event.seq,
                    frame: frame.clone(),
                },
            ) {
                delivered += 1;
            }
            here.push(conn.teammate_id);
        }
        self.metrics.events_delivered.increment(delivered);
        if let EventKind::TeammateChanged {
            teammate_id,
            change,
            ..
        } = &event.event
        {
            if *change != TeammateChange::Joined {
                // A role change or removal ends that teammate's sessions on every instance
                // (each instance receives this event); they reconnect with their new rights.
                for conn in room.conns.read().expect("room lock").values() {
                    if conn.teammate_id == *teammate_id {
                        conn.link.kill.trip(close::SESSION_ENDED);
                    }
                }
            }
        }
        let affected = badge_changes(&event.event);
        if affected.is_empty() {
            return;
        }
        here.sort();
        here.dedup();
        let targets: Vec<TeammateId> = match affected {
            Affected::Teammates(ids) => here.into_iter().filter(|t| ids.contains(t)).collect(),
            Affected::Everyone => here,
        };
        self.refresh_badges(event.workspace_id, targets);
    }

    /// Gathers a presence change for the workspace's next send (`PRESENCE_WINDOW`). Each
    /// update carries the teammate's whole state, so keeping the latest loses nothing.
    fn dispatch_presence(&self, update: PresenceUpdate) {
        let workspace_id = update.workspace_id;
        let mut first = false;
        self.presence_pending
            .entry(workspace_id)
            .or_insert_with(|| {
                first = true;
                HashMap::new()
            })
            .insert(update.teammate_id, update);
        if !first {
            return;
        }
        let Some(hub) = self.me.upgrade() else { return };
        tokio::spawn(async move {
            tokio::time::sleep(PRESENCE_WINDOW).await;
            if let Some((_, updates)) = hub.presence_pending.remove(&workspace_id) {
                hub.send_presence(workspace_id, updates.into_values());
            }
        });
    }

    /// Every socket of the workspace gets these presence frames as one queued item, encoded
    /// once and written in one go.
    fn send_presence(
        &self,
        workspace_id: WorkspaceId,
        updates: impl Iterator<Item = PresenceUpdate>,
    ) {
        let frames = Wire::concat(updates.map(|update| {
            ServerFrame::Presence {
                teammate_id: update.teammate_id,
                online: update.online,
                viewing: update.viewing,
                typing: update.typing,
            }
            .to_wire()
        }));
        self.each_conn(workspace_id, |conn| {
            self.offer(conn, Outbound::Frame(frames.clone()));
        });
    }

    /// Recomputes these teammates' badges and sends each connection its own when it changed.
    /// Refreshes are coalesced per workspace and never overlap: one runs at a time, with every
    /// teammate asked for meanwhile, in a fixed number of queries and one pass over the room.
    pub fn refresh_badges(&self, workspace_id: WorkspaceId, teammates: Vec<TeammateId>) {
        if teammates.is_empty() {
            return;
        }
        let mut first = false;
        self.badge_pending
            .entry(workspace_id)
            .and_modify(|p| {
                p.again = true;
                p.teammates.extend(teammates.iter().copied());
            })
            .or_insert_with(|| {
                first = true;
                PendingBadges {
                    again: false,
                    teammates: teammates.into_iter().collect(),
                }
            });
        if !first {
            return;
        }
        let Some(hub) = self.me.upgrade() else { return };
        tokio::spawn(async move {
            loop {
                let wanted: Vec<TeammateId> = match hub.badge_pending.get_mut(&workspace_id) {
                    Some(mut p) => {
                        p.again = false;
                        std::mem::take(&mut p.teammates).into_iter().collect()
                    }
                    None => return,
                };
                match hub.store.badges(workspace_id, &wanted).await {
                    Ok(badges) => {
                        // Most teammates share a value (nothing of their own unread): each
                        // distinct badge is encoded once.
                        let mut frames = HashMap::new();
                        hub.each_conn(workspace_id, |conn| {
                            let Some(badge) = badges.get(&conn.teammate_id) else {
                                return;
                            };
                            let mut last = conn.link.last_badge.lock().expect("badge lock");
                            if *last != Some(*badge) {
                                *last = Some(*badge);
                                let frame = frames.entry(*badge).or_insert_with(|| {
                                    ServerFrame::Badge {
                                        mine: badge.mine,
                                        unassigned: badge.unassigned,
                                    }
                                    .to_wire()
                                });
                                hub.offer(conn, Outbound::Frame(frame.clone()));
                            }
                        })
                    }
                    Err(e) => tracing::warn!(error = %e, "badge refresh failed"),
                }
                if hub
                    .badge_pending
                    .remove_if(&workspace_id, |_, p| !p.again)
                    .is_some()
                {
                    return;
                }
            }
        });
    }

    /// SIGTERM: every socket is told this instance is going away (clients reconnect elsewhere
    /// with jittered backoff and resume).
    pub fn close_all_for_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        for room in self.rooms.iter() {
            for conn in room.conns.read().expect("room lock").values() {
                conn.link.kill.trip(close::GOING_AWAY);
            }
        }
    }
}

enum Affected {
    Teammates(Vec<TeammateId>),
    Everyone,
}

impl Affected {
    fn is_empty(&self) -> bool {
        matches!(self, Affected::Teammates(ids) if ids.is_empty())
    }
}

/// Whose unread badge an event can change (DESIGN.md §2; the rules are in `domain::pings`).
/// Watchers of unassigned cases are among "everyone" here; the store applies their opt-in.
fn badge_changes(event: &EventKind) -> Affected {
    let around = |before: Option<TeammateId>, after: Option<TeammateId>| {
        if before.is_none() || after.is_none() {
            Affected::Everyone
        } else {
            Affected::Teammates(pings::badge_audience(before, after, &[]))
        }
    };
    match event {
        EventKind::CaseAssigned {
            assignee_id,
            previous_assignee_id,
            ..
        } => around(*previous_assignee_id, *assignee_id),
        EventKind::MessageCreated {
            message_kind,
            assignee_id,
            ..
        } if *message_kind == crate::events::MessageKind::Inbound => {
            around(*assignee_id, *assignee_id)
        }
        EventKind::CaseStatusChanged { assignee_id, .. } => around(*assignee_id, *assignee_id),
        EventKind::CasesBulkReassigned { from_id, to_id, .. } => around(Some(*from_id), *to_id),
        _ => Affected::Teammates(Vec::new()),
    }
}
