//! Presence: who is online, and what case each teammate is viewing or typing on.
//!
//! Each instance knows its own sockets. With Redis, it also writes them to a hash per workspace
//! (`baton:presence:{ws}`, one field per instance, stamped with the time) on every change and on
//! a heartbeat; readers ignore fields older than `STALE_AFTER`, so a killed instance's teammates
//! drop out within that time, and the heartbeat of a surviving instance announces them offline.
//! "Offline" means no live socket on any instance: that is what decides push and email.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::bus::Broker;
pub use crate::bus::PresenceUpdate;
use crate::domain::ids::{CaseId, TeammateId, WorkspaceId};

pub const STALE_AFTER: Duration = Duration::from_secs(30);
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
/// "Typing" lasts this long after the last keystroke report.
pub const TYPING_FOR: Duration = Duration::from_secs(6);

/// One line of `GET /api/presence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TeammatePresence {
    pub teammate_id: TeammateId,
    pub viewing: Option<CaseId>,
    pub typing: Option<CaseId>,
    /// The instances holding this teammate's sockets.
    pub instances: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Activity {
    viewing: Option<CaseId>,
    typing: Option<CaseId>,
}

#[derive(Default)]
struct ConnState {
    viewing: Option<CaseId>,
    typing: Option<(CaseId, Instant)>,
    touched: u64,
}

#[derive(Serialize, Deserialize)]
struct InstanceEntry {
    at: i64,
    teammates: HashMap<TeammateId, Activity>,
}

pub struct Presence {
    instance: OnceLock<String>,
    broker: OnceLock<Arc<dyn Broker>>,
    /// (workspace, teammate) → this instance's connections of theirs.
    local: DashMap<(WorkspaceId, TeammateId), HashMap<u64, ConnState>>,
    clock: std::sync::atomic::AtomicU64,
}

impl Default for Presence {
    fn default() -> Self {
        Self::new()
    }
}

impl Presence {
    pub fn new() -> Self {
        Presence {
            instance: OnceLock::new(),
            broker: OnceLock::new(),
            local: DashMap::new(),
            clock: Default::default(),
        }
    }

    pub fn attach(&self, broker: Arc<dyn Broker>) {
        let _ = self.broker.set(broker);
    }

    pub fn set_instance(&self, name: &str) {
        let _ = self.instance.set(name.to_string());
    }

    fn instance(&self) -> &str {
        self.instance.get().map(String::as_str).unwrap_or("local")
    }

    fn tick(&self) -> u64 {
        self.clock
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Returns true if this is the teammate's first socket here.
    pub fn connected(&self, ws: WorkspaceId, teammate: TeammateId, conn: u64) -> bool {
        let touched = self.tick();
        let mut entry = self.local.entry((ws, teammate)).or_default();
        entry.insert(
            conn,
            ConnState {
                touched,
                ..ConnState::default()
            },
        );
        entry.len() == 1
    }

    /// Returns true if the teammate's presence here changed (last socket gone, or what they
    /// viewed went with it).
    pub fn disconnected(&self, ws: WorkspaceId, teammate: TeammateId, conn: u64) -> bool {
        let before = self.activity(ws, teammate);
        let gone = match self.local.get_mut(&(ws, teammate)) {
            Some(mut conns) => {
                conns.remove(&conn);
                conns.is_empty()
            }
            None => return false,
        };
        if gone {
            self.local
                .remove_if(&(ws, teammate), |_, conns| conns.is_empty());
            return true;
        }
        before != self.activity(ws, teammate)
    }

    /// Returns true if what the teammate is viewing changed.
    pub fn viewing(
        &self,
        ws: WorkspaceId,
        teammate: TeammateId,
        conn: u64,
        case_id: Option<CaseId>,
    ) -> bool {
        let before = self.activity(ws, teammate);
        let touched = self.tick();
        if let Some(mut conns) = self.local.get_mut(&(ws, teammate)) {
            if let Some(state) = conns.get_mut(&conn) {
                state.viewing = case_id;
                state.touched = touched;
                if case_id.is_none() {
                    state.typing = None;
                }
            }
        }
        before != self.activity(ws, teammate)
    }

    /// Returns true if the teammate was not already typing on this case.
    pub fn typing(
        &self,
        ws: WorkspaceId,
        teammate: TeammateId,
        conn: u64,
        case_id: CaseId,
    ) -> bool {
        let before = self.activity(ws, teammate);
        if let Some(mut conns) = self.local.get_mut(&(ws, teammate)) {
            if let Some(state) = conns.get_mut(&conn) {
                state.typing = Some((case_id, Instant::now()));
            }
        }
        before != self.activity(ws, teammate)
    }

    /// What this instance knows the teammate is doing: the most recently active socket wins.
    fn activity(
        &self,
        ws: WorkspaceId,
        teammate: TeammateId,
    ) -> Option<(Option<CaseId>, Option<CaseId>)> {
        let conns = self.local.get(&(ws, teammate))?;
        let latest = conns.values().max_by_key(|c| c.touched)?;
        let typing = conns
            .values()
            .filter_map(|c| c.typing)
            .filter(|(_, at)| at.elapsed() < TYPING_FOR)
            .max_by_key(|(_, at)| *at)
            .map(|(id, _)| id);
        Some((latest.viewing, typing))
    }

    /// (workspace, teammate) of every live socket on this instance.
    pub fn local_teammates(&self) -> Vec<(WorkspaceId, TeammateId)> {
        self.local.iter().map(|e| *e.key()).collect()
    }

    fn local_workspace(&self, ws: WorkspaceId) -> HashMap<TeammateId, Activity> {
        self.local
            .iter()
            .filter(|e| e.key().0 == ws)
            .filter_map(|e| {
                let teammate = e.key().1;
                drop(e);
                self.activity(ws, teammate)
                    .map(|(viewing, typing)| (teammate, Activity { viewing, typing }))
            })
            .collect()
    }

    /// Writes this instance's view of a workspace to Redis (no-op without Redis).
    async fn write_own(&self, ws: WorkspaceId) -> Option<crate::bus::RedisConn> {
        let mut conn = self.broker.get()?.redis()?;
        let entry = InstanceEntry {
            at: chrono::Utc::now().timestamp_millis(),
            teammates: self.local_workspace(ws),
        };
        let key = format!("baton:presence:{ws}");
        let mut pipe = redis::pipe();
        if entry.teammates.is_empty() {
            pipe.hdel(&key, self.instance());
        } else {
            pipe.hset(&key, self.instance(), serde_json::to_string(&entry).ok()?);
        }
        pipe.expire(&key, (STALE_AFTER.as_secs() * 2) as i64);
        let _: Result<(), _> = pipe.query_async(&mut conn).await;
        Some(conn)
    }

    /// Other instances' fresh entries for a workspace.
    async fn others(&self, ws: WorkspaceId) -> Vec<(String, InstanceEntry)> {
        let Some(mut conn) = self.broker.get().and_then(|b| b.redis()) else {
            return Vec::new();
        };
        let all: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("baton:presence:{ws}"))
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        let fresh_after = chrono::Utc::now().timestamp_millis() - STALE_AFTER.as_millis() as i64;
        all.into_iter()
            .filter(|(instance, _)| instance != self.instance())
            .filter_map(|(instance, raw)| {
                serde_json::from_str::<InstanceEntry>(&raw)
                    .ok()
                    .map(|e| (instance, e))
            })
            .filter(|(_, e)| e.at >= fresh_after)
            .collect()
    }

    /// The teammate's presence, cluster-wide, to announce after a local change.
    pub async fn update_for(&self, ws: WorkspaceId, teammate: TeammateId) -> PresenceUpdate {
        self.write_own(ws).await;
        let here = self.activity(ws, teammate);
        let (online, viewing, typing) = match here {
            Some((viewing, typing)) => (true, viewing, typing),
            None => match self
                .others(ws)
                .await
                .into_iter()
                .find_map(|(_, e)| e.teammates.get(&teammate).cloned())
            {
                Some(a) => (true, a.viewing, a.typing),
                None => (false, None, None),
            },
        };
        PresenceUpdate {
            workspace_id: ws,
            teammate_id: teammate,
            instance: self.instance().to_string(),
            online,
            viewing,
            typing,
        }
    }

    /// Whether the teammate has a live socket on any instance.
    pub async fn online_anywhere(&self, ws: WorkspaceId, teammate: TeammateId) -> bool {
        self.local.contains_key(&(ws, teammate))
            || self
                .others(ws)
                .await
                .iter()
                .any(|(_, e)| e.teammates.contains_key(&teammate))
    }

    /// Everyone online in a workspace, cluster-wide.
    pub async fn list(&self, ws: WorkspaceId) -> Vec<TeammatePresence> {
        let mut by_teammate: HashMap<TeammateId, TeammatePresence> = HashMap::new();
        let mut add = |instance: &str, teammate: TeammateId, a: &Activity| {
            let p = by_teammate
                .entry(teammate)
                .or_insert_with(|| TeammatePresence {
                    teammate_id: teammate,
                    viewing: None,
                    typing: None,
                    instances: Vec::new(),
                });
            p.viewing = p.viewing.or(a.viewing);
            p.typing = p.typing.or(a.typing);
            p.instances.push(instance.to_string());
        };
        for (teammate, a) in self.local_workspace(ws) {
            add(self.instance(), teammate, &a);
        }
        for (instance, entry) in self.others(ws).await {
            for (teammate, a) in &entry.teammates {
                add(&instance, *teammate, a);
            }
        }
        let mut out: Vec<_> = by_teammate.into_values().collect();
        out.sort_by_key(|p| p.teammate_id);
        out
    }

    /// Heartbeat: refresh this instance's entries; remove instances that stopped beating and
    /// return the presence of the teammates they held (now offline unless seen elsewhere).
    pub async fn heartbeat(&self) -> Vec<(WorkspaceId, TeammateId)> {
        let mut workspaces: Vec<WorkspaceId> = self.local.iter().map(|e| e.key().0).collect();
        workspaces.sort();
        workspaces.dedup();
        let mut orphans = Vec::new();
        for ws in workspaces {
            let Some(mut conn) = self.write_own(ws).await else {
                return Vec::new();
            };
            let key = format!("baton:presence:{ws}");
            let all: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            let stale_before =
                chrono::Utc::now().timestamp_millis() - STALE_AFTER.as_millis() as i64;
            for (instance, raw) in all {
                let Ok(entry) = serde_json::from_str::<InstanceEntry>(&raw) else {
                    continue;
                };
                if entry.at >= stale_before {
                    continue;
                }
                // Only the instance whose HDEL removes the field announces its teammates.
                let removed: i64 = redis::cmd("HDEL")
                    .arg(&key)
                    .arg(&instance)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or(0);
                if removed == 1 {
                    orphans.extend(entry.teammates.keys().map(|t| (ws, *t)));
                }
            }
        }
        orphans
    }
}
