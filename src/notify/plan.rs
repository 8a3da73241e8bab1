//! Which events call for a notification, and what it says: plain data the store turns into
//! push and email jobs inside the transaction that wrote the events.

use crate::domain::ids::{CaseId, TeammateId};
use crate::domain::Status;
use crate::events::{EventKind, MessageKind};
use crate::store::JobReason;

/// What an event asks of the notification system: who could be pinged and how.
#[derive(Debug)]
pub(crate) struct Plan {
    pub kind: PlanKind,
    pub case_id: Option<CaseId>,
    pub assignee: Option<TeammateId>,
    pub actor: Option<TeammateId>,
    pub reason: JobReason,
    /// Also an email after the teammate's delay (customer messages and due follow-ups).
    pub emails: bool,
    pub number: Option<String>,
    pub preview: String,
    pub mentions: Vec<TeammateId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlanKind {
    Inbound,
    Assigned,
    Mentioned,
    FollowUp,
}

impl Plan {
    pub fn happening(&self) -> crate::domain::pings::Happening<'_> {
        use crate::domain::pings::Happening;
        match self.kind {
            PlanKind::Inbound => Happening::Inbound,
            PlanKind::Assigned => Happening::Assigned,
            PlanKind::Mentioned => Happening::Mentioned(&self.mentions),
            PlanKind::FollowUp => Happening::FollowUpDue,
        }
    }

    /// The push payload (≤ 4 KiB) and email material.
    pub fn payload(&self, customer: Option<&str>) -> serde_json::Value {
        let number = self.number.clone().unwrap_or_default();
        let who = customer.unwrap_or("A customer");
        let title = match self.reason {
            JobReason::Inbound => format!("{number} · {who}"),
            JobReason::Assigned => format!("{number} is yours now"),
            JobReason::Mention => format!("You were mentioned on {number}"),
            JobReason::FollowUp => format!("Follow-up due: {number}"),
            JobReason::SnoozeEnded => format!("{number} is back from snooze"),
            // No event plans a `Reply`: replies are queued with the message.
            JobReason::Bulk | JobReason::Reply => "Cases were moved to you".to_string(),
        };
        let preview: String = self.preview.chars().take(300).collect();
        serde_json::json!({
            "title": title,
            "body": if preview.is_empty() { who.to_string() } else { preview.clone() },
            "number": number,
            "customer": customer,
            "preview": preview,
            "case_id": self.case_id,
            "reason": self.reason,
            "url": self.case_id.map(|id| format!("/cases/{id}")).unwrap_or_else(|| "/".into()),
        })
    }
}

pub(crate) fn plan_for(event: &EventKind) -> Option<Plan> {
    let base = |kind, case_id, assignee, actor, reason, emails, number: &str, preview: &str| Plan {
        kind,
        case_id: Some(case_id),
        assignee,
        actor,
        reason,
        emails,
        number: Some(number.to_string()),
        preview: preview.to_string(),
        mentions: Vec::new(),
    };
    match event {
        EventKind::MessageCreated {
            case_id,
            number,
            message_kind,
            preview,
            assignee_id,
            ..
        } if *message_kind == MessageKind::Inbound => Some(base(
            PlanKind::Inbound,
            *case_id,
            *assignee_id,
            None,
            JobReason::Inbound,
            true,
            number,
            preview,
        )),
        EventKind::CaseAssigned {
            case_id,
            number,
            assignee_id: Some(to),
            actor_id,
            ..
        } => Some(base(
            PlanKind::Assigned,
            *case_id,
            Some(*to),
            *actor_id,
            JobReason::Assigned,
            false,
            number,
            "",
        )),
        EventKind::NoteCreated {
            case_id,
            number,
            preview,
            author_id,
            mentions,
            ..
        } if !mentions.is_empty() => Some(Plan {
            mentions: mentions.clone(),
            ..base(
                PlanKind::Mentioned,
                *case_id,
                None,
                Some(*author_id),
                JobReason::Mention,
                false,
                number,
                preview,
            )
        }),
        EventKind::CaseStatusChanged {
            case_id,
            number,
            status: Status::FollowUpDue,
            actor_id: None,
            assignee_id,
            ..
        } => Some(base(
            PlanKind::FollowUp,
            *case_id,
            *assignee_id,
            None,
            JobReason::FollowUp,
            true,
            number,
            "",
        )),
        EventKind::CaseWoke {
            case_id,
            number,
            reason,
            assignee_id,
            ..
        } if reason == "time" => Some(base(
            PlanKind::FollowUp,
            *case_id,
            *assignee_id,
            None,
            JobReason::SnoozeEnded,
            true,
            number,
            "",
        )),
        EventKind::CasesBulkReassigned {
            to_id: Some(to),
            case_ids,
            actor_id,
            ..
        } => Some(Plan {
            kind: PlanKind::Assigned,
            case_id: None,
            assignee: Some(*to),
            actor: Some(*actor_id),
            reason: JobReason::Bulk,
            emails: false,
            number: None,
            preview: format!("{} cases were moved to you", case_ids.len()),
            mentions: Vec::new(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pings::Happening;

    fn id<T: From<uuid::Uuid>>() -> T {
        uuid::Uuid::now_v7().into()
    }

    fn message(kind: MessageKind, assignee_id: Option<TeammateId>) -> EventKind {
        EventKind::MessageCreated {
            case_id: id(),
            number: "BT-7".into(),
            message_id: id(),
            message_kind: kind,
            preview: "Where is my order?".into(),
            author_id: None,
            assignee_id,
        }
    }

    fn status_changed(
        status: Status,
        actor_id: Option<TeammateId>,
        assignee_id: Option<TeammateId>,
    ) -> EventKind {
        EventKind::CaseStatusChanged {
            case_id: id(),
            number: "BT-7".into(),
            status,
            previous_status: Status::AwaitingCustomer,
            actor_id,
            assignee_id,
        }
    }

    #[test]
    fn a_customer_message_pings_the_assignee_and_later_emails() {
        let assignee = id();
        let event = message(MessageKind::Inbound, Some(assignee));
        let plan = plan_for(&event).expect("an inbound message is planned");
        assert_eq!(plan.kind, PlanKind::Inbound);
        assert_eq!(plan.case_id, event.case_id());
        assert_eq!(plan.assignee, Some(assignee));
        assert_eq!(plan.actor, None);
        assert_eq!(plan.reason, JobReason::Inbound);
        assert!(plan.emails);
        assert_eq!(plan.number.as_deref(), Some("BT-7"));
        assert_eq!(plan.preview, "Where is my order?");
        assert!(matches!(plan.happening(), Happening::Inbound));

        let unassigned = plan_for(&message(MessageKind::Inbound, None)).expect("planned");
        assert_eq!(unassigned.assignee, None);
    }

    #[test]
    fn replies_and_machine_mail_ping_nobody() {
        assert!(plan_for(&message(MessageKind::Reply, Some(id()))).is_none());
        assert!(plan_for(&message(MessageKind::Automated, Some(id()))).is_none());
    }

    #[test]
    fn an_assignment_pings_the_new_assignee_without_email() {
        let (to, actor) = (id(), id());
        let event = EventKind::CaseAssigned {
            case_id: id(),
            number: "BT-8".into(),
            assignee_id: Some(to),
            previous_assignee_id: None,
            actor_id: Some(actor),
        };
        let plan = plan_for(&event).expect("an assignment is planned");
        assert_eq!(plan.kind, PlanKind::Assigned);
        assert_eq!(plan.case_id, event.case_id());
        assert_eq!(plan.assignee, Some(to));
        assert_eq!(plan.actor, Some(actor));
        assert_eq!(plan.reason, JobReason::Assigned);
        assert!(!plan.emails);
        assert_eq!(plan.preview, "");
        assert!(matches!(plan.happening(), Happening::Assigned));

        let by_rule = EventKind::CaseAssigned {
            case_id: id(),
            number: "BT-9".into(),
            assignee_id: Some(to),
            previous_assignee_id: None,
            actor_id: None,
        };
        assert_eq!(plan_for(&by_rule).expect("planned").actor, None);

        let unassigned = EventKind::CaseAssigned {
            case_id: id(),
            number: "BT-8".into(),
            assignee_id: None,
            previous_assignee_id: Some(to),
            actor_id: Some(actor),
        };
        assert!(plan_for(&unassigned).is_none());
    }

    #[test]
    fn a_note_pings_only_when_it_mentions_someone() {
        let (author, mentioned) = (id(), id());
        let note = |mentions: Vec<TeammateId>| EventKind::NoteCreated {
            case_id: id(),
            number: "BT-3".into(),
            message_id: id(),
            preview: "@Sam can you look?".into(),
            author_id: author,
            mentions,
        };
        let plan = plan_for(&note(vec![mentioned])).expect("a mention is planned");
        assert_eq!(plan.kind, PlanKind::Mentioned);
        assert_eq!(plan.mentions, vec![mentioned]);
        assert_eq!(plan.assignee, None);
        assert_eq!(plan.actor, Some(author));
        assert_eq!(plan.reason, JobReason::Mention);
        assert!(!plan.emails);
        assert_eq!(plan.preview, "@Sam can you look?");
        assert!(matches!(plan.happening(), Happening::Mentioned(ids) if ids == [mentioned]));

        assert!(plan_for(&note(Vec::new())).is_none());
    }

    #[test]
    fn only_a_follow_up_falling_due_on_its_own_is_planned() {
        let assignee = id();
        let plan = plan_for(&status_changed(Status::FollowUpDue, None, Some(assignee)))
            .expect("a due follow-up is planned");
        assert_eq!(plan.kind, PlanKind::FollowUp);
        assert_eq!(plan.assignee, Some(assignee));
        assert_eq!(plan.actor, None);
        assert_eq!(plan.reason, JobReason::FollowUp);
        assert!(plan.emails);
        assert!(matches!(plan.happening(), Happening::FollowUpDue));

        // A teammate setting the status themselves, or any other status, pings nobody.
        assert!(plan_for(&status_changed(
            Status::FollowUpDue,
            Some(id()),
            Some(assignee)
        ))
        .is_none());
        assert!(plan_for(&status_changed(Status::NeedsReply, None, Some(assignee))).is_none());
        assert!(plan_for(&status_changed(Status::Won, Some(id()), Some(assignee))).is_none());
    }

    #[test]
    fn a_snooze_that_runs_out_pings_but_a_customer_waking_it_does_not() {
        let assignee = id();
        let woke = |reason: &str| EventKind::CaseWoke {
            case_id: id(),
            number: "BT-4".into(),
            reason: reason.into(),
            assignee_id: Some(assignee),
            actor_id: None,
        };
        let plan = plan_for(&woke("time")).expect("a snooze running out is planned");
        assert_eq!(plan.kind, PlanKind::FollowUp);
        assert_eq!(plan.assignee, Some(assignee));
        assert_eq!(plan.reason, JobReason::SnoozeEnded);
        assert!(plan.emails);

        // The customer's own message is what pings then.
        assert!(plan_for(&woke("customer")).is_none());
    }

    #[test]
    fn a_bulk_move_pings_the_receiver_once() {
        let (from, to, actor) = (id(), id(), id());
        let moved = |to_id| EventKind::CasesBulkReassigned {
            from_id: from,
            to_id,
            case_ids: vec![id(), id(), id()],
            actor_id: actor,
        };
        let plan = plan_for(&moved(Some(to))).expect("a bulk move to someone is planned");
        assert_eq!(plan.kind, PlanKind::Assigned);
        assert_eq!(plan.case_id, None);
        assert_eq!(plan.number, None);
        assert_eq!(plan.assignee, Some(to));
        assert_eq!(plan.actor, Some(actor));
        assert_eq!(plan.reason, JobReason::Bulk);
        assert!(!plan.emails);
        assert_eq!(plan.preview, "3 cases were moved to you");

        assert!(plan_for(&moved(None)).is_none());
    }

    #[test]
    fn other_events_ping_nobody() {
        let created = EventKind::CaseCreated {
            case_id: id(),
            number: "BT-1".into(),
            assignee_id: Some(id()),
            customer_name: "Ada".into(),
            category: None,
        };
        assert!(plan_for(&created).is_none());
        assert!(plan_for(&EventKind::WorkspaceChanged { actor_id: id() }).is_none());
        assert!(plan_for(&EventKind::RulesChanged { actor_id: id() }).is_none());
    }

    #[test]
    fn the_payload_names_the_case_and_why() {
        let event = message(MessageKind::Inbound, None);
        let case_id = event.case_id().expect("a case event");
        let payload = plan_for(&event).expect("planned").payload(Some("Ada"));
        assert_eq!(payload["title"], "BT-7 · Ada");
        assert_eq!(payload["body"], "Where is my order?");
        assert_eq!(payload["customer"], "Ada");
        assert_eq!(payload["reason"], "inbound");
        assert_eq!(payload["url"], format!("/cases/{case_id}"));

        let assigned = EventKind::CaseAssigned {
            case_id,
            number: "BT-7".into(),
            assignee_id: Some(id()),
            previous_assignee_id: None,
            actor_id: None,
        };
        let payload = plan_for(&assigned).expect("planned").payload(None);
        assert_eq!(payload["title"], "BT-7 is yours now");
        // No preview: the body says who the case is from.
        assert_eq!(payload["body"], "A customer");

        let bulk = EventKind::CasesBulkReassigned {
            from_id: id(),
            to_id: Some(id()),
            case_ids: vec![id()],
            actor_id: id(),
        };
        let payload = plan_for(&bulk).expect("planned").payload(None);
        assert_eq!(payload["title"], "Cases were moved to you");
        assert_eq!(payload["url"], "/");
        assert_eq!(payload["number"], "");
    }

    #[test]
    fn a_long_preview_is_cut_to_300_characters() {
        let event = EventKind::NoteCreated {
            case_id: id(),
            number: "BT-2".into(),
            message_id: id(),
            preview: "é".repeat(400),
            author_id: id(),
            mentions: vec![id()],
        };
        let payload = plan_for(&event).expect("planned").payload(None);
        assert_eq!(
            payload["preview"].as_str().map(|p| p.chars().count()),
            Some(300)
        );
        assert_eq!(payload["title"], "You were mentioned on BT-2");
    }
}
