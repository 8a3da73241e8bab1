//! The seven case statuses and the automatic moves between them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    NeedsReply,
    AwaitingCustomer,
    FollowUpDue,
    OnHold,
    Won,
    Lost,
    Archived,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::NeedsReply,
        Status::AwaitingCustomer,
        Status::FollowUpDue,
        Status::OnHold,
        Status::Won,
        Status::Lost,
        Status::Archived,
    ];
    pub const OPEN: [Status; 4] = [
        Status::NeedsReply,
        Status::AwaitingCustomer,
        Status::FollowUpDue,
        Status::OnHold,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::NeedsReply => "needs_reply",
            Status::AwaitingCustomer => "awaiting_customer",
            Status::FollowUpDue => "follow_up_due",
            Status::OnHold => "on_hold",
            Status::Won => "won",
            Status::Lost => "lost",
            Status::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_open(self) -> bool {
        !self.is_closed()
    }

    pub fn is_closed(self) -> bool {
        matches!(self, Status::Won | Status::Lost | Status::Archived)
    }

    /// A customer wrote: whatever the case was doing, it now needs a reply.
    pub fn after_inbound(self) -> Status {
        Status::NeedsReply
    }

    /// A teammate replied: the ball is in the customer's court, unless the case was parked on
    /// purpose (on hold) or already closed.
    pub fn after_reply(self) -> Status {
        match self {
            Status::OnHold | Status::Won | Status::Lost | Status::Archived => self,
            _ => Status::AwaitingCustomer,
        }
    }

    /// A follow-up fell due: only an open case that is not waiting on us is nudged.
    pub fn after_follow_up_due(self) -> Option<Status> {
        match self {
            Status::AwaitingCustomer | Status::OnHold => Some(Status::FollowUpDue),
            _ => None,
        }
    }
}

/// SQL list of the open statuses, for `status IN (...)`.
pub const OPEN_SQL: &str = "('needs_reply','awaiting_customer','follow_up_due','on_hold')";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_moves() {
        for st in Status::ALL {
            assert_eq!(st.after_inbound(), Status::NeedsReply);
        }
        assert_eq!(Status::NeedsReply.after_reply(), Status::AwaitingCustomer);
        assert_eq!(Status::FollowUpDue.after_reply(), Status::AwaitingCustomer);
        assert_eq!(Status::OnHold.after_reply(), Status::OnHold);
        assert_eq!(Status::Won.after_reply(), Status::Won);
        assert_eq!(
            Status::AwaitingCustomer.after_follow_up_due(),
            Some(Status::FollowUpDue)
        );
        assert_eq!(Status::NeedsReply.after_follow_up_due(), None);
        assert_eq!(Status::Lost.after_follow_up_due(), None);
    }

    #[test]
    fn open_and_closed_partition_the_statuses() {
        let open: Vec<_> = Status::ALL.into_iter().filter(|s| s.is_open()).collect();
        assert_eq!(open, Status::OPEN.to_vec());
        for s in Status::OPEN {
            assert!(OPEN_SQL.contains(&format!("'{}'", s.as_str())));
        }
        assert!(Status::Archived.is_closed());
    }
}
