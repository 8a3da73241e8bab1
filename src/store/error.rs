//! How a store call fails, in the store's own terms. The store knows which input a write refused,
//! why, and what it conflicts with, not how an API shows that: `crate::error` maps each case to
//! its HTTP status, error code, request field and the words a client reads.

use super::Case;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row (in this workspace).
    #[error("not found")]
    NotFound,
    /// The write conflicts with what the database holds now.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// The database cannot be reached or is shutting down: the caller may retry.
    #[error("service unavailable")]
    Unavailable,
    /// The data refuses one of the inputs: which one, and why.
    #[error("{input:?}: {reason:?}")]
    Invalid { input: Input, reason: Refusal },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What a refused write conflicts with.
#[derive(Debug, thiserror::Error)]
pub enum Conflict {
    /// The case is no longer at the version the caller read (`if_version`).
    #[error("the case changed since version {expected}: it is at version {actual}")]
    CaseVersion {
        expected: i64,
        actual: i64,
        /// The case as it is now.
        current: Box<Case>,
    },
    /// Another teammate has this email address.
    #[error("the email address is taken")]
    Email,
    /// Another channel receives mail at this address.
    #[error("the channel address is taken")]
    ChannelAddress,
    /// The workspace has a tag of this name.
    #[error("the tag name is taken")]
    TagName,
    /// Another workspace signs in with this email domain.
    #[error("the single sign-on domain is taken")]
    SsoDomain,
    /// The teammate's two-factor sign-in is already on.
    #[error("two-factor sign-in is already on")]
    TotpOn,
    /// The tag list is locked: only admins add tags.
    #[error("the tag list is locked")]
    TagListLocked,
    /// A row with the same unique key exists, where the write did not expect one (a race the
    /// caller may retry; none of the cases above).
    #[error("a unique key is taken: {0}")]
    UniqueKey(sqlx::Error),
}

/// The input a write names that the data refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The teammate a case is assigned to.
    Assignee,
    /// A teammate's new role.
    Role,
    /// The teammate being removed.
    Departing,
    /// Whom a departing teammate's open cases go to.
    Successor,
    /// Whose cases a bulk reassignment moves, and to whom.
    ReassignFrom,
    ReassignTo,
    /// The teammates the assignment rules name: the round-robin pool, the category owners and
    /// the fallback.
    RulePool,
    RuleCategories,
    RuleFallback,
    /// The customer another is merged into.
    MergeInto,
    /// The reply whose delivery is retried.
    RetriedReply,
    /// The uploads a reply carries.
    Attachments,
    /// The end of a teammate's time away, and their open-case limit.
    AwayUntil,
    MaxOpen,
    /// The webhook delivery queued again.
    ResentDelivery,
    /// When a snoozed case wakes.
    SnoozeUntil,
}

/// Why the data refuses an input. One reason can meet several inputs (an unknown teammate as the
/// assignee, the successor or in a rule's pool): `Input` says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The id names no teammate of this workspace (a teammate of another workspace included).
    NoSuchTeammate,
    /// The teammate was removed from the workspace and can no longer take cases.
    TeammateRemoved,
    /// A viewer is named to own cases: as an assignee, a successor or in the assignment rules.
    ViewerNotAssignable,
    /// A bulk reassignment moves a teammate's cases to that same teammate.
    ReassignToSelf,
    /// A role change would take the workspace's only owner away.
    LastOwnerDemoted,
    /// A teammate who owns open cases would become a viewer, who cannot own them: `open` cases
    /// need another assignee first.
    OwnsOpenCases { open: i64 },
    /// The workspace's only owner would be removed.
    LastOwnerRemoved,
    /// A departing teammate's open cases would go to that same teammate.
    SuccessorIsLeaving,
    /// A merge target names no customer of this workspace.
    NoSuchCustomer,
    /// A customer would be merged into itself.
    MergeIntoSelf,
    /// One of the customers of a merge is erased.
    CustomerErased,
    /// A reply's delivery is retried while it has not failed.
    ReplyNotFailed,
    /// An attachment id names no upload of the reply's author that no message carries yet.
    NotAnUpload,
    /// A case that is not open would be snoozed.
    CaseNotOpen,
    /// A teammate's time away would end before it starts.
    AwayEndsBeforeStart,
    /// A number outside the range the store keeps (a teammate's open-case limit).
    OutOfRange { min: i64, max: i64 },
    /// A webhook delivery is sent again while it waits for its retry already.
    DeliveryRetrying,
}

impl StoreError {
    pub fn invalid(input: Input, reason: Refusal) -> Self {
        StoreError::Invalid { input, reason }
    }
}

/// Whether the database refused a row for a unique key another row holds.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            e if is_unique_violation(&e) => StoreError::Conflict(Conflict::UniqueKey(e)),
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::warn!(error = %e, "database unavailable");
                StoreError::Unavailable
            }
            // Postgres shutting down or restarting (class 57: operator intervention, e.g.
            // `admin_shutdown`), or a broken connection (class 08): retry later, not a 500.
            sqlx::Error::Database(ref db)
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("57") || c.starts_with("08")) =>
            {
                tracing::warn!(error = %e, "database unavailable");
                StoreError::Unavailable
            }
            other => StoreError::Internal(other.into()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Internal(e.into())
    }
}
