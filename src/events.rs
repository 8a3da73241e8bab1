//! The one event type: stored in the `events` table, published on the bus and sent to sockets.
//! Each event is serialized once per instance into the wire frame and shared as bytes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::ids::{
    CaseId, CustomerId, MessageId, TagId, TeammateId, WebhookId, WorkspaceId,
};
use crate::domain::Status;

/// An event as committed: its workspace, its place in the workspace's log, when, and what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub workspace_id: WorkspaceId,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub event: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind")]
pub enum EventKind {
    #[serde(rename = "case.created")]
    CaseCreated {
        case_id: CaseId,
        number: String,
        assignee_id: Option<TeammateId>,
        customer_name: String,
        category: Option<String>,
    },
    #[serde(rename = "case.assigned")]
    CaseAssigned {
        case_id: CaseId,
        number: String,
        assignee_id: Option<TeammateId>,
        previous_assignee_id: Option<TeammateId>,
        /// None when a rule (the system) assigned it.
        actor_id: Option<TeammateId>,
    },
    #[serde(rename = "case.status_changed")]
    CaseStatusChanged {
        case_id: CaseId,
        number: String,
        status: Status,
        previous_status: Status,
        actor_id: Option<TeammateId>,
        assignee_id: Option<TeammateId>,
    },
    #[serde(rename = "message.created")]
    MessageCreated {
        case_id: CaseId,
        number: String,
        message_id: MessageId,
        /// Named so because `kind` tags the event.
        message_kind: MessageKind,
        preview: String,
        author_id: Option<TeammateId>,
        /// The case's assignee when the message arrived: who gets pinged.
        assignee_id: Option<TeammateId>,
    },
    #[serde(rename = "note.created")]
    NoteCreated {
        case_id: CaseId,
        number: String,
        message_id: MessageId,
        preview: String,
        author_id: TeammateId,
        mentions: Vec<TeammateId>,
    },
    #[serde(rename = "case.follow_up_set")]
    FollowUpSet {
        case_id: CaseId,
        number: String,
        due_at: Option<DateTime<Utc>>,
        actor_id: TeammateId,
    },
    /// A case passed its first-response target with nobody having answered.
    #[serde(rename = "case.breached")]
    CaseBreached {
        case_id: CaseId,
        number: String,
        assignee_id: Option<TeammateId>,
        due_at: DateTime<Utc>,
    },
    /// A tag was put on a case (`case.tagged`) or taken off it (`case.untagged`).
    #[serde(rename = "case.tagged")]
    CaseTagged {
        case_id: CaseId,
        number: String,
        tag_id: TagId,
        name: String,
        color: String,
        actor_id: TeammateId,
    },
    #[serde(rename = "case.untagged")]
    CaseUntagged {
        case_id: CaseId,
        number: String,
        tag_id: TagId,
        name: String,
        color: String,
        actor_id: TeammateId,
    },
    /// The workspace's tag list changed: a tag was created, renamed, recoloured or deleted.
    #[serde(rename = "tags.changed")]
    TagsChanged { tag_id: TagId, actor_id: TeammateId },
    /// A case is out of the lists until `until`.
    #[serde(rename = "case.snoozed")]
    CaseSnoozed {
        case_id: CaseId,
        number: String,
        until: DateTime<Utc>,
        assignee_id: Option<TeammateId>,
        actor_id: TeammateId,
    },
    /// A snoozed case is back: `reason` is `time` (its snooze ended), `customer` (the customer
    /// wrote) or `teammate` (woken by hand, `actor_id`).
    #[serde(rename = "case.woke")]
    CaseWoke {
        case_id: CaseId,
        number: String,
        reason: String,
        assignee_id: Option<TeammateId>,
        actor_id: Option<TeammateId>,
    },
    #[serde(rename = "teammate.changed")]
    TeammateChanged {
        teammate_id: TeammateId,
        change: TeammateChange,
        actor_id: Option<TeammateId>,
    },
    #[serde(rename = "workspace.changed")]
    WorkspaceChanged { actor_id: TeammateId },
    #[serde(rename = "rules.changed")]
    RulesChanged { actor_id: TeammateId },
    #[serde(rename = "cases.bulk_reassigned")]
    CasesBulkReassigned {
        from_id: TeammateId,
        to_id: Option<TeammateId>,
        case_ids: Vec<CaseId>,
        actor_id: TeammateId,
    },
    /// A customer's name, addresses and the text of their cases were erased; the cases stay,
    /// under "Erased customer". Clients drop what they show of those cases and load them again.
    #[serde(rename = "customer.erased")]
    CustomerErased {
        customer_id: CustomerId,
        case_ids: Vec<CaseId>,
        actor_id: TeammateId,
    },
    /// Two customers became one: `customer_id`'s cases (`case_ids`) now belong to `into_id`.
    /// Clients load those cases again.
    #[serde(rename = "customer.merged")]
    CustomerMerged {
        customer_id: CustomerId,
        into_id: CustomerId,
        case_ids: Vec<CaseId>,
        actor_id: TeammateId,
    },
    /// An outgoing webhook endpoint failed for a day and was switched off; admins are emailed.
    /// "Send again" on one of its deliveries switches it back on.
    #[serde(rename = "webhook.switched_off")]
    WebhookSwitchedOff {
        webhook_id: WebhookId,
        url: String,
        failing_since: DateTime<Utc>,
    },
    /// An outbound message's delivery changed: `queued` (again, or retrying after `error`),
    /// `sent`, `delivered` or `failed` (with `error`).
    #[serde(rename = "message.delivery")]
    MessageDelivery {
        case_id: CaseId,
        message_id: MessageId,
        state: DeliveryState,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        error: Option<String>,
    },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::CaseCreated { .. } => "case.created",
            EventKind::CaseAssigned { .. } => "case.assigned",
            EventKind::CaseStatusChanged { .. } => "case.status_changed",
            EventKind::MessageCreated { .. } => "message.created",
            EventKind::NoteCreated { .. } => "note.created",
            EventKind::FollowUpSet { .. } => "case.follow_up_set",
            EventKind::CaseBreached { .. } => "case.breached",
            EventKind::CaseTagged { .. } => "case.tagged",
            EventKind::CaseUntagged { .. } => "case.untagged",
            EventKind::TagsChanged { .. } => "tags.changed",
            EventKind::CaseSnoozed { .. } => "case.snoozed",
            EventKind::CaseWoke { .. } => "case.woke",
            EventKind::TeammateChanged { .. } => "teammate.changed",
            EventKind::WorkspaceChanged { .. } => "workspace.changed",
            EventKind::RulesChanged { .. } => "rules.changed",
            EventKind::CasesBulkReassigned { .. } => "cases.bulk_reassigned",
            EventKind::MessageDelivery { .. } => "message.delivery",
            EventKind::CustomerErased { .. } => "customer.erased",
            EventKind::CustomerMerged { .. } => "customer.merged",
            EventKind::WebhookSwitchedOff { .. } => "webhook.switched_off",
        }
    }

    pub fn case_id(&self) -> Option<CaseId> {
        match self {
            EventKind::CaseCreated { case_id, .. }
            | EventKind::CaseAssigned { case_id, .. }
            | EventKind::CaseStatusChanged { case_id, .. }
            | EventKind::MessageCreated { case_id, .. }
            | EventKind::NoteCreated { case_id, .. }
            | EventKind::FollowUpSet { case_id, .. }
            | EventKind::CaseBreached { case_id, .. }
            | EventKind::CaseTagged { case_id, .. }
            | EventKind::CaseUntagged { case_id, .. }
            | EventKind::CaseSnoozed { case_id, .. }
            | EventKind::CaseWoke { case_id, .. }
            | EventKind::MessageDelivery { case_id, .. } => Some(*case_id),
            _ => None,
        }
    }
}

/// What happened to a teammate in a `teammate.changed` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TeammateChange {
    Joined,
    /// Their role, name or routing settings changed: their sessions end, to reconnect with
    /// their new rights.
    Updated,
    Removed,
}

/// Who a message is from and who sees it. `message.created` events carry every kind but
/// `note`: a note is `note.created`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// From the customer.
    Inbound,
    /// Mail a machine sent (an auto-reply, a bounce): kept on its case, which it leaves as it
    /// was; it pings nobody.
    Automated,
    /// A teammate's answer to the customer.
    Reply,
    /// Internal: the customer never sees it.
    Note,
}

impl MessageKind {
    pub const ALL: [MessageKind; 4] = [
        MessageKind::Inbound,
        MessageKind::Automated,
        MessageKind::Reply,
        MessageKind::Note,
    ];

    /// The word in `messages.kind` and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Inbound => "inbound",
            MessageKind::Automated => "automated",
            MessageKind::Reply => "reply",
            MessageKind::Note => "note",
        }
    }

    pub fn parse(s: &str) -> Option<MessageKind> {
        MessageKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where an outbound message (a reply) is on its way to the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting to be sent, or retrying after an error.
    Queued,
    /// The mail server or the provider took it.
    Sent,
    /// The provider reports it reached the customer.
    Delivered,
    /// Given up, bounced or refused (the delivery's `error` says why).
    Failed,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 4] = [
        DeliveryState::Queued,
        DeliveryState::Sent,
        DeliveryState::Delivered,
        DeliveryState::Failed,
    ];

    /// The word in `messages.delivery_state` and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_tagged_as_the_protocol_names_them() {
        let kind = EventKind::CaseAssigned {
            case_id: CaseId::new(),
            number: "BT-000001".into(),
            assignee_id: Some(TeammateId::new()),
            previous_assignee_id: None,
            actor_id: None,
        };
        let json = serde_json::to_value(&kind).unwrap();
        assert_eq!(json["kind"], "case.assigned");
        assert_eq!(json["previous_assignee_id"], serde_json::Value::Null);
        assert_eq!(kind.name(), "case.assigned");
        let back: EventKind = serde_json::from_value(json).unwrap();
        assert_eq!(back, kind);
    }

    #[test]
    fn a_teammate_change_reads_and_writes_the_words_of_the_protocol() {
        let stored = r#"{"kind":"teammate.changed","teammate_id":"7d0c2f6e-1c4b-4f53-9a55-0d3b7f1e2a10","change":"removed","actor_id":null}"#;
        let event: EventKind = serde_json::from_str(stored).expect("a logged event");
        assert!(matches!(
            event,
            EventKind::TeammateChanged {
                change: TeammateChange::Removed,
                ..
            }
        ));
        assert_eq!(serde_json::to_string(&event).expect("serializes"), stored);
        let unknown = stored.replace("removed", "promoted");
        assert!(serde_json::from_str::<EventKind>(&unknown).is_err());
    }

    #[test]
    fn a_message_kind_reads_and_writes_the_words_of_the_protocol() {
        let stored = r#"{"kind":"message.created","case_id":"7d0c2f6e-1c4b-4f53-9a55-0d3b7f1e2a10","number":"BT-7","message_id":"7d0c2f6e-1c4b-4f53-9a55-0d3b7f1e2a11","message_kind":"automated","preview":"Out of office","author_id":null,"assignee_id":null}"#;
        let event: EventKind = serde_json::from_str(stored).expect("a logged event");
        assert!(matches!(
            event,
            EventKind::MessageCreated {
                message_kind: MessageKind::Automated,
                ..
            }
        ));
        assert_eq!(serde_json::to_string(&event).expect("serializes"), stored);
        let unknown = stored.replace("automated", "forwarded");
        assert!(serde_json::from_str::<EventKind>(&unknown).is_err());

        // The column holds the same words as the wire.
        for kind in MessageKind::ALL {
            let json = serde_json::to_string(&kind).expect("serializes");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(MessageKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(MessageKind::parse("Inbound"), None);
    }

    #[test]
    fn a_delivery_state_reads_and_writes_the_words_of_the_protocol() {
        let stored = r#"{"kind":"message.delivery","case_id":"7d0c2f6e-1c4b-4f53-9a55-0d3b7f1e2a10","message_id":"7d0c2f6e-1c4b-4f53-9a55-0d3b7f1e2a11","state":"failed","error":"bounced: 550 user unknown"}"#;
        let event: EventKind = serde_json::from_str(stored).expect("a logged event");
        assert!(matches!(
            event,
            EventKind::MessageDelivery {
                state: DeliveryState::Failed,
                ..
            }
        ));
        assert_eq!(serde_json::to_string(&event).expect("serializes"), stored);
        let unknown = stored.replace("failed", "lost");
        assert!(serde_json::from_str::<EventKind>(&unknown).is_err());

        // The column holds the same words as the wire.
        let words = ["queued", "sent", "delivered", "failed"];
        assert_eq!(DeliveryState::ALL.map(DeliveryState::as_str), words);
        for state in DeliveryState::ALL {
            let json = serde_json::to_string(&state).expect("serializes");
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
        }
        assert_eq!(DeliveryState::parse("pending"), None);
        assert_eq!(DeliveryState::parse("Sent"), None);
    }
}
