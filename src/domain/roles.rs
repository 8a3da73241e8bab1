//! Roles and what each may do. Assignment is ownership, not access control: every role sees
//! every case of its workspace.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Agent,
    Manager,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Manager,
        Role::Agent,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Agent => "agent",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Owner, admin, manager and agent can own cases; a viewer cannot.
    pub fn can_be_assigned(self) -> bool {
        self >= Role::Agent
    }

    /// The same roles may assign, reassign and unassign.
    pub fn can_assign(self) -> bool {
        self >= Role::Agent
    }

    /// Replies, notes and status changes: everyone who can own work.
    pub fn can_work_cases(self) -> bool {
        self >= Role::Agent
    }

    /// Bulk moves of another teammate's queue.
    pub fn can_bulk_reassign(self) -> bool {
        self >= Role::Manager
    }

    /// How the team is doing: reports.
    pub fn can_see_reports(self) -> bool {
        self >= Role::Manager
    }

    /// Team, roles, auto-assign rules, workspace settings, ingest token.
    pub fn can_admin(self) -> bool {
        self >= Role::Admin
    }

    /// An admin may grant any role up to admin; only the owner may hand out ownership.
    pub fn can_grant(self, role: Role) -> bool {
        self.can_admin() && (role < Role::Owner || self == Role::Owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_neither_assign_nor_get_assigned() {
        assert!(!Role::Viewer.can_assign());
        assert!(!Role::Viewer.can_be_assigned());
        for role in [Role::Owner, Role::Admin, Role::Manager, Role::Agent] {
            assert!(role.can_assign(), "{role:?}");
            assert!(role.can_be_assigned(), "{role:?}");
        }
    }

    #[test]
    fn only_admins_administer_and_only_owners_make_owners() {
        assert!(Role::Admin.can_admin() && Role::Owner.can_admin());
        assert!(!Role::Manager.can_admin());
        assert!(Role::Admin.can_grant(Role::Admin));
        assert!(!Role::Admin.can_grant(Role::Owner));
        assert!(Role::Owner.can_grant(Role::Owner));
        assert!(!Role::Manager.can_grant(Role::Agent));
    }

    #[test]
    fn roles_round_trip_through_text() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("superuser"), None);
    }
}
