//! The WebSocket wire format (documented in `docs/protocol.md`): JSON text frames tagged by
//! `type`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::wire::Wire;
use crate::domain::ids::{CaseId, TeammateId, WorkspaceId};
use crate::events::{Event, EventKind};
use crate::store::Badge;

/// Close codes a client acts on.
pub mod close {
    /// Your queue overflowed (you read too slowly): reconnect and resume from your last `seq`.
    pub const RECONNECT_AND_RESUME: u16 = 4000;
    /// This instance is shutting down: reconnect (with jitter) and resume.
    pub const GOING_AWAY: u16 = 1001;
    /// Your session ended (logout, removal, role change): sign in again.
    pub const SESSION_ENDED: u16 = 4001;
    /// Too many messages from the client.
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    Hello {
        teammate_id: TeammateId,
        workspace_id: WorkspaceId,
        seq: i64,
        badge: Badge,
        instance: &'a str,
    },
    Event {
        seq: i64,
        at: DateTime<Utc>,
        event: &'a EventKind,
    },
    Badge {
        mine: i64,
        unassigned: i64,
    },
    Presence {
        teammate_id: TeammateId,
        online: bool,
        viewing: Option<CaseId>,
        typing: Option<CaseId>,
    },
    /// Answers `resume`: every event after `since` follows, in order, exactly once.
    Resumed {
        since: i64,
    },
    Resync {
        reason: &'a str,
    },
    Pong,
}

impl<'a> ServerFrame<'a> {
    pub fn event(event: &'a Event) -> Self {
        ServerFrame::Event {
            seq: event.seq,
            at: event.at,
            event: &event.event,
        }
    }

    /// The frame as it goes on the wire, encoded once for every socket it goes to.
    pub fn to_wire(&self) -> Wire {
        Wire::json(self)
    }
}

pub fn event_frame(event: &Event) -> Wire {
    ServerFrame::event(event).to_wire()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Resume { since: i64 },
    Viewing { case_id: Option<CaseId> },
    Typing { case_id: CaseId },
    Ping,
}

impl ClientFrame {
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse_and_junk_does_not() {
        assert_eq!(
            ClientFrame::parse(r#"{"type":"resume","since":41}"#),
            Ok(ClientFrame::Resume { since: 41 })
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"viewing","case_id":null}"#),
            Ok(ClientFrame::Viewing { case_id: None })
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"ping"}"#),
            Ok(ClientFrame::Ping)
        );
        for junk in [
            "",
            "{}",
            "null",
            r#"{"type":"resume"}"#,
            r#"{"type":"resume","since":"x"}"#,
            r#"{"type":"typing","case_id":"nope"}"#,
            "\u{0}",
        ] {
            assert!(ClientFrame::parse(junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn event_frames_carry_seq_and_kind() {
        let event = Event {
            workspace_id: WorkspaceId::new(),
            seq: 7,
            at: Utc::now(),
            event: EventKind::RulesChanged {
                actor_id: TeammateId::new(),
            },
        };
        let v = serde_json::to_value(ServerFrame::event(&event)).unwrap();
        assert_eq!(v["type"], "event");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["event"]["kind"], "rules.changed");
    }
}
