//! Storage behind one trait, one implementation per backend (SQLite by default, Postgres by URL).
//!
//! Every write runs in one transaction that also appends its events to the workspace's log with
//! gap-free `seq` numbers; the caller publishes `Committed::events` after commit.
//! Calls fail with a `StoreError` (`error.rs`), which says what went wrong in the store's terms;
//! the HTTP error (`crate::error`) decides how an answer shows it.

mod combine;
mod error;
mod models;
mod postgres;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use error::{Conflict, Input, Refusal, StoreError};
pub use models::*;

use crate::config::SqliteSynchronous;
use crate::domain::ids::{
    AttachmentId, CaseId, ChannelId, CustomerId, JobId, MessageId, SavedReplyId, TagId, TeammateId,
    WebhookId, WorkspaceId,
};
use crate::domain::{routing::Rules, Role, Status};
use crate::events::{DeliveryState, Event};
use error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The assignee change a caller asks for.
#[derive(Debug, Clone, Copy)]
pub struct AssignRequest {
    pub case_id: CaseId,
    pub assignee_id: Option<TeammateId>,
    pub if_version: Option<i64>,
    pub actor_id: TeammateId,
}

/// Which teammates a listing includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Everyone who can sign in.
    Active,
    /// Those who can be assigned cases (active, not viewers).
    Assignable,
    /// Also those who were removed (`active: false`): their names stay on old cases and
    /// timelines.
    EverMember,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;
    /// Cheap round trip, for readiness.
    async fn ping(&self) -> Result<()>;
    /// What an acknowledged write survives, as the database itself reports it.
    async fn durability(&self) -> Result<Durability>;

    // Workspaces and teammates.
    async fn create_workspace(
        &self,
        workspace_name: &str,
        owner_name: &str,
        email: &str,
        password_hash: &str,
        ingest_token: &str,
    ) -> Result<Committed<(Workspace, Teammate)>>;
    async fn workspace(&self, id: WorkspaceId) -> Result<Workspace>;
    async fn workspace_by_ingest_token(&self, token: &str) -> Result<Option<Workspace>>;
    async fn update_workspace(
        &self,
        id: WorkspaceId,
        actor_id: TeammateId,
        patch: WorkspacePatch,
    ) -> Result<Committed<Workspace>>;
    async fn set_ingest_token(&self, id: WorkspaceId, token: &str) -> Result<()>;
    async fn credentials(&self, email: &str) -> Result<Option<Credentials>>;
    async fn teammate(&self, workspace_id: WorkspaceId, id: TeammateId) -> Result<Teammate>;
    /// The workspace's teammates by name, matching `q` (name or email) if given.
    async fn teammates(
        &self,
        workspace_id: WorkspaceId,
        q: Option<&str>,
        which: Which,
    ) -> Result<Vec<Teammate>>;
    async fn update_teammate(
        &self,
        workspace_id: WorkspaceId,
        id: TeammateId,
        actor_id: TeammateId,
        role: Option<Role>,
        away: Option<bool>,
    ) -> Result<Committed<Teammate>>;
    /// Removes a teammate and, in the same transaction, moves their open cases as decided.
    async fn remove_teammate(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        departure: Departure,
    ) -> Result<Committed<usize>>;
    async fn prefs(&self, teammate_id: TeammateId) -> Result<NotificationPrefs>;
    async fn set_prefs(&self, teammate_id: TeammateId, prefs: NotificationPrefs) -> Result<()>;

    // Sessions, API tokens, invites. Tokens are stored as SHA-256 hashes only.
    async fn create_token(
        &self,
        teammate_id: TeammateId,
        token_hash: &str,
        kind: TokenKind,
        expires_at: Option<DateTime<Utc>>,
        client: &ClientInfo,
    ) -> Result<Uuid>;
    /// The active teammate a live token belongs to.
    async fn token_teammate(&self, token_hash: &str) -> Result<Option<TokenOwner>>;
    async fn delete_token(&self, token_hash: &str) -> Result<()>;
    async fn create_invite(&self, invite: NewInvite) -> Result<()>;
    /// The invitation a link names, while it can still be accepted.
    async fn pending_invite(&self, token_hash: &str) -> Result<Option<PendingInvite>>;
    /// Accepts an invitation: with a password, or without one in a workspace that signs in
    /// through its identity provider only.
    async fn accept_invite(
        &self,
        token_hash: &str,
        password_hash: Option<&str>,
    ) -> Result<Committed<(Workspace, Teammate)>>;

    // Cases.
    async fn inbound(
        &self,
        workspace_id: WorkspaceId,
        message: Inbound,
    ) -> Result<Committed<InboundOutcome>>;
    async fn cases(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        query: CaseQuery,
    ) -> Result<Vec<Case>>;
    async fn counts(&self, workspace_id: WorkspaceId, viewer: TeammateId) -> Result<Counts>;
    async fn case(&self, workspace_id: WorkspaceId, viewer: TeammateId, id: CaseId)
        -> Result<Case>;
    async fn case_detail(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        id: CaseId,
    ) -> Result<CaseDetail>;
    /// Assign, reassign or unassign: the case after it, as the actor sees it. A stale
    /// `if_version` fails with `Conflict::CaseVersion`.
    async fn assign(
        &self,
        workspace_id: WorkspaceId,
        request: AssignRequest,
    ) -> Result<Committed<Case>>;
    async fn set_status(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        status: Status,
    ) -> Result<Committed<Case>>;
    /// A reply to the customer (`note == false`) or an internal note mentioning `mentions`, with
    /// the author's own uploads `attachments` bound to it.
    #[allow(clippy::too_many_arguments)] // what one message is made of
    async fn add_message(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        note: bool,
        body: &str,
        mentions: &[TeammateId],
        attachments: &[AttachmentId],
    ) -> Result<Committed<Message>>;
    async fn mark_read(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        teammate_id: TeammateId,
    ) -> Result<()>;
    async fn set_follow_up(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<Committed<Case>>;
    /// Turns every follow-up due by `now` into `follow_up_due` (an event and a timeline entry
    /// each), across all workspaces. Safe to run on several instances at once.
    async fn fire_due_follow_ups(&self, now: DateTime<Utc>) -> Result<Vec<Event>>;
    /// Moves all open cases of `from` to `to` (or back to the pool).
    async fn bulk_reassign(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        from: TeammateId,
        to: Option<TeammateId>,
    ) -> Result<Committed<usize>>;
    async fn rules(&self, workspace_id: WorkspaceId) -> Result<Rules>;
    async fn set_rules(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        rules: Rules,
    ) -> Result<Committed<Rules>>;
    async fn badge(&self, workspace_id: WorkspaceId, teammate_id: TeammateId) -> Result<Badge>;
    /// The badges of several teammates of one workspace, in a fixed number of queries however
    /// many there are (the hub refreshes a whole room's badges after an event).
    async fn badges(
        &self,
        workspace_id: WorkspaceId,
        teammates: &[TeammateId],
    ) -> Result<std::collections::HashMap<TeammateId, Badge>>;

    // Notifications: jobs are queued by the writes above, in their transactions.
    async fn add_push_subscription(
        &self,
        teammate_id: TeammateId,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<PushSubscription>;
    async fn remove_push_subscription(
        &self,
        teammate_id: TeammateId,
        endpoint: &str,
    ) -> Result<bool>;
    async fn push_subscription(&self, id: Uuid) -> Result<Option<PushSubscription>>;
    async fn delete_push_subscription(&self, id: Uuid) -> Result<()>;
    /// Claims up to `limit` due jobs for `lease` (a crashed worker's jobs come back after it).
    async fn claim_jobs(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        lease: std::time::Duration,
    ) -> Result<Vec<Job>>;
    async fn job_context(&self, job: &Job) -> Result<JobContext>;
    async fn finish_job(&self, id: JobId, outcome: &JobOutcome) -> Result<()>;
    /// Jobs by channel and state (for metrics and tests).
    async fn job_counts(&self) -> Result<Vec<(String, String, i64)>>;
    /// A server-wide secret, created with `value` the first time it is asked for.
    async fn server_key(&self, name: &str, value: &str) -> Result<String>;

    // Reports (`store/sql/reports.rs`).
    /// The histories (customer messages, replies, assignments, closes) of the cases with a
    /// customer message, a reply or a status change in `[start, end)`, each up to `end`.
    async fn report_histories(
        &self,
        workspace_id: WorkspaceId,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<crate::domain::reports::History>>;

    // Sessions and the audit log (`store/sql/audit.rs`).
    /// The teammate's live sessions and API tokens, most recently used first.
    async fn sessions(&self, teammate_id: TeammateId) -> Result<Vec<SessionInfo>>;
    /// Ends one of the teammate's sessions or tokens: false when they have none with that id.
    async fn delete_session(&self, teammate_id: TeammateId, id: Uuid) -> Result<bool>;
    /// Notes a token's use (when, from where, which browser) if it was last noted before
    /// `stale_before`.
    async fn touch_token(
        &self,
        token_hash: &str,
        client: &ClientInfo,
        stale_before: DateTime<Utc>,
    ) -> Result<()>;
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<()>;
    /// A page of the workspace's audit log, newest first.
    async fn audit_entries(
        &self,
        workspace_id: WorkspaceId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEntry>>;
    /// Deletes audit entries older than `before`.
    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64>;

    // Single sign-on (`store/sql/sso.rs`).
    /// The workspace's identity provider, if it has one.
    async fn sso_config(&self, workspace_id: WorkspaceId) -> Result<Option<SsoConfig>>;
    /// The identity provider of the workspace that `domain` (lower-cased) signs in to.
    async fn sso_config_for_domain(&self, domain: &str) -> Result<Option<SsoConfig>>;
    /// Creates or replaces the workspace's provider and its domains; `Duplicate` when another
    /// workspace has one of the domains.
    async fn put_sso_config(&self, config: &SsoConfig) -> Result<()>;
    /// Removes it (and the sign-ins under way); false when there was none.
    async fn delete_sso_config(&self, workspace_id: WorkspaceId) -> Result<bool>;
    /// A sign-in sent to the provider, found again by the hash of its `state`.
    async fn create_sso_login(
        &self,
        state_hash: &str,
        login: &SsoLogin,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    /// Takes the sign-in back: once, and only before it expires.
    async fn take_sso_login(&self, state_hash: &str) -> Result<Option<SsoLogin>>;
    /// The active teammate with this email, password or not.
    async fn teammate_by_email(&self, email: &str) -> Result<Option<Teammate>>;
    /// Whether someone with this email was removed from the workspace (and not invited back).
    async fn was_removed(&self, workspace_id: WorkspaceId, email: &str) -> Result<bool>;
    /// Someone of an allowed domain joins the workspace without a password.
    async fn join_by_sso(
        &self,
        workspace_id: WorkspaceId,
        name: &str,
        email: &str,
        role: Role,
    ) -> Result<Committed<Teammate>>;

    // Two-factor sign-in (`store/sql/totp.rs`).
    /// The teammate's TOTP enrolment, confirmed or not.
    async fn totp(&self, teammate_id: TeammateId) -> Result<Option<Totp>>;
    /// Starts (or restarts) an enrolment with a new secret. `Duplicate` once one is confirmed.
    async fn begin_totp(&self, teammate_id: TeammateId, secret: &str) -> Result<()>;
    /// Confirms the enrolment with the step of its first code; replaces the recovery codes.
    async fn confirm_totp(
        &self,
        teammate_id: TeammateId,
        step: i64,
        recovery_hashes: &[String],
    ) -> Result<()>;
    /// Accepts a code's time step once: false when it, or a later one, was used already.
    async fn use_totp_step(&self, teammate_id: TeammateId, step: i64) -> Result<bool>;
    /// Spends a recovery code: false when it is unknown or used.
    async fn use_recovery_code(&self, teammate_id: TeammateId, code_hash: &str) -> Result<bool>;
    /// Turns two-factor off: the secret and every recovery code are deleted.
    async fn delete_totp(&self, teammate_id: TeammateId) -> Result<()>;
    // Saved replies, tags and snooze (`store/sql/workday.rs`).
    /// The workspace's saved replies and the viewer's own, by name.
    async fn saved_replies(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
    ) -> Result<Vec<SavedReply>>;
    /// One saved reply the viewer can see (another teammate's own is `NotFound`).
    async fn saved_reply(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        id: SavedReplyId,
    ) -> Result<SavedReply>;
    /// A workspace reply (`owner_id: None`) or a teammate's own.
    async fn create_saved_reply(
        &self,
        workspace_id: WorkspaceId,
        owner_id: Option<TeammateId>,
        name: &str,
        body: &str,
    ) -> Result<SavedReply>;
    async fn update_saved_reply(
        &self,
        workspace_id: WorkspaceId,
        id: SavedReplyId,
        name: Option<&str>,
        body: Option<&str>,
    ) -> Result<SavedReply>;
    async fn delete_saved_reply(&self, workspace_id: WorkspaceId, id: SavedReplyId) -> Result<()>;
    /// The workspace's tags with their open cases per view (`mine` is the viewer's).
    async fn tags(&self, workspace_id: WorkspaceId, viewer: TeammateId) -> Result<Vec<ListedTag>>;
    /// A new tag; `Forbidden` when the list is locked and the actor is not `admin`.
    async fn create_tag(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        admin: bool,
        name: &str,
        color: Option<&str>,
    ) -> Result<Committed<Tag>>;
    async fn update_tag(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        id: TagId,
        name: Option<&str>,
        color: Option<&str>,
    ) -> Result<Committed<Tag>>;
    async fn delete_tag(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        id: TagId,
    ) -> Result<Committed<()>>;
    /// Puts the tag of that name on a case, adding it to the list when allowed (see
    /// `create_tag`). Already there: nothing changes.
    #[allow(clippy::too_many_arguments)] // the case, who, and the tag
    async fn tag_case(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        admin: bool,
        name: &str,
        color: Option<&str>,
    ) -> Result<Committed<Case>>;
    async fn untag_case(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        tag_id: TagId,
    ) -> Result<Committed<Case>>;
    async fn snooze(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        until: DateTime<Utc>,
    ) -> Result<Committed<Case>>;
    /// Wakes a snoozed case by hand (not snoozed: nothing changes).
    async fn wake(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
    ) -> Result<Committed<Case>>;
    /// Wakes every case whose snooze ended by `now`, each once across instances.
    async fn wake_due(&self, now: DateTime<Utc>) -> Result<Vec<Event>>;

    // Routing (`store/sql/queue.rs`): a teammate's away dates and limit of open cases.
    /// Sets `away_from`, `away_until` and `max_open` (each `None` leaves it, `Some(None)` clears).
    async fn update_teammate_routing(
        &self,
        workspace_id: WorkspaceId,
        id: TeammateId,
        actor_id: TeammateId,
        patch: RoutingPatch,
    ) -> Result<Committed<Teammate>>;
    /// Hands out waiting cases in up to `limit` workspaces (each under its lock); answers the
    /// committed events. For what frees room without a write: away that ends by its date.
    async fn drain_waiting(&self, limit: i64) -> Result<Vec<Event>>;
    /// Open cases per teammate who holds any (Settings → Team shows them against the limit).
    async fn open_cases(
        &self,
        workspace_id: WorkspaceId,
    ) -> Result<std::collections::HashMap<TeammateId, i64>>;
    /// Flags the open cases past their first-response target (each once, across instances)
    /// and, where the rules say `take_back`, runs the rules again without the owner.
    async fn fire_breaches(&self, now: DateTime<Utc>) -> Result<Vec<Event>>;
    /// Renews "online until" for (workspace, teammate) pairs with a live socket here.
    async fn mark_online(
        &self,
        present: &[(WorkspaceId, TeammateId)],
        until: DateTime<Utc>,
    ) -> Result<()>;
    /// A teammate connected: online until `until`, and the queue handed out (under the lock).
    async fn came_online(
        &self,
        workspace_id: WorkspaceId,
        teammate_id: TeammateId,
        until: DateTime<Utc>,
    ) -> Result<Committed<()>>;

    // Email (`store/sql/email.rs`): channels, outbound replies and their delivery, bounces.
    async fn channels(&self, workspace_id: WorkspaceId) -> Result<Vec<Channel>>;
    /// Creates (`id: None`) or replaces a channel. An address already taken is `Duplicate`.
    async fn save_channel(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        channel: ChannelWrite,
    ) -> Result<Committed<Channel>>;
    async fn delete_channel(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        id: ChannelId,
    ) -> Result<Committed<()>>;
    /// What an `email_reply` job sends. Fixes the reply's Message-ID (in `mail_domain`) before
    /// the first attempt, so that every attempt sends the same one.
    async fn outbound_reply(&self, job: &Job, mail_domain: &str) -> Result<OutboundReply>;
    /// Records an outbound job's outcome and the message's delivery state, with its
    /// `message.delivery` event, in one transaction.
    async fn finish_outbound(&self, job: &Job, outcome: &JobOutcome) -> Result<Committed<()>>;
    /// Queues a failed reply again.
    async fn retry_delivery(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        message_id: MessageId,
        actor_id: TeammateId,
    ) -> Result<Committed<Message>>;
    /// A bounce of the reply whose Message-ID is `mail_id`: that reply becomes `failed`.
    /// None when no reply of this workspace has that id.
    async fn bounce(
        &self,
        workspace_id: WorkspaceId,
        mail_id: &str,
        reason: &str,
    ) -> Result<Committed<Option<InboundOutcome>>>;
    /// The workspace of a channel address (lower case), for the SMTP listener's RCPT check.
    async fn workspace_of_address(&self, address: &str) -> Result<Option<WorkspaceId>>;
    /// The workspace a case belongs to (to verify a reply token at RCPT).
    async fn workspace_of_case(&self, case_id: CaseId) -> Result<Option<WorkspaceId>>;
    /// One attachment of this workspace (`NotFound` for another workspace's).
    async fn attachment(
        &self,
        workspace_id: WorkspaceId,
        id: AttachmentId,
    ) -> Result<AttachmentFile>;
    /// A file a teammate uploaded for their next reply or note (bound by `add_message`).
    async fn upload_attachment(
        &self,
        workspace_id: WorkspaceId,
        uploader: TeammateId,
        file: &crate::attachments::StoredFile,
    ) -> Result<Attachment>;

    // SMS and API channels (`store/sql/sms.rs`).
    /// A channel by id alone, with its workspace (for provider webhooks, which name only it).
    async fn channel_by_id(&self, id: ChannelId) -> Result<(WorkspaceId, Channel)>;
    /// What an `sms_reply` or `api_reply` job sends.
    async fn channel_reply(&self, job: &Job) -> Result<ChannelReply>;
    /// Remembers the provider's id of a sent reply (Twilio's MessageSid).
    async fn set_provider_id(&self, message_id: MessageId, provider_id: &str) -> Result<()>;
    /// A provider's status callback: moves the delivery of the reply it names forward (never
    /// back). False when no reply of the workspace has that id.
    async fn provider_status(
        &self,
        workspace_id: WorkspaceId,
        provider_id: &str,
        state: DeliveryState,
        error: Option<&str>,
    ) -> Result<Committed<bool>>;

    // Outgoing webhooks (`store/sql/webhooks.rs`).
    /// A new endpoint, following events from the workspace's latest `seq` on.
    async fn create_webhook(
        &self,
        workspace_id: WorkspaceId,
        url: &str,
        events: &[String],
        secret: &str,
    ) -> Result<Webhook>;
    async fn webhooks(&self, workspace_id: WorkspaceId) -> Result<Vec<Webhook>>;
    async fn delete_webhook(&self, workspace_id: WorkspaceId, id: WebhookId) -> Result<()>;
    /// The newest deliveries of an endpoint, at most `limit`.
    async fn webhook_deliveries(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookId,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>>;
    /// Queues a delivered event to be sent again (and switches the endpoint back on).
    async fn resend_webhook_delivery(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookId,
        delivery_id: Uuid,
    ) -> Result<WebhookDelivery>;
    /// Leases the endpoints that are due, so one instance at a time delivers to each.
    async fn claim_webhooks(
        &self,
        now: DateTime<Utc>,
        lease: std::time::Duration,
    ) -> Result<Vec<WebhookTarget>>;
    /// Events an admin asked to send again: (seq, kind), oldest first.
    async fn webhook_resends(&self, id: WebhookId) -> Result<Vec<(i64, String)>>;
    /// Logs one attempt; `advance` moves the endpoint's cursor to its `seq`.
    async fn record_webhook_attempt(
        &self,
        id: WebhookId,
        attempt: &Attempt,
        advance: bool,
    ) -> Result<()>;
    /// Ends a lease: the cursor reached, when to come back, whether it is still on.
    async fn release_webhook(
        &self,
        id: WebhookId,
        cursor: i64,
        next_at: DateTime<Utc>,
        failing_since: Option<DateTime<Utc>>,
        active: bool,
    ) -> Result<()>;

    /// Ends the lease of an endpoint that failed for a day by switching it off, with a
    /// `webhook.switched_off` event in the log; no event if it was already off.
    async fn switch_off_webhook(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookId,
        cursor: i64,
        failing_since: DateTime<Utc>,
    ) -> Result<Committed<()>>;

    // Export and erasure (`store/sql/export.rs`).
    /// Up to `limit` of the workspace's rows of `kind` after the id `after`, in id order, created
    /// by `until` (keyset paging: each page is one indexed query however far the export is).
    async fn export_page(
        &self,
        workspace_id: WorkspaceId,
        kind: ExportKind,
        after: Option<Uuid>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ExportRow>>;
    /// One customer of this workspace (`NotFound` for another workspace's).
    async fn customer(&self, workspace_id: WorkspaceId, id: CustomerId) -> Result<Customer>;
    /// A customer's page: addresses, notes and cases (an alias id answers its target).
    async fn customer_profile(
        &self,
        workspace_id: WorkspaceId,
        id: CustomerId,
    ) -> Result<CustomerProfile>;
    async fn set_customer_notes(
        &self,
        workspace_id: WorkspaceId,
        id: CustomerId,
        notes: &str,
    ) -> Result<()>;
    /// Customers (not merged away, not erased) whose name, email or phone holds `q`.
    async fn find_customers(
        &self,
        workspace_id: WorkspaceId,
        q: &str,
        limit: i64,
    ) -> Result<Vec<Customer>>;
    /// Merges `from` into `into`: its cases move, its notes join, its row stays as an alias.
    async fn merge_customers(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        from: CustomerId,
        into: CustomerId,
    ) -> Result<Committed<Merge>>;
    /// Erases a customer in one transaction: name and addresses, the text of every message on
    /// their cases, their attachment rows, pending jobs and the event log's copies of the text.
    /// The bytes no row names any more are listed for the caller to delete after the commit.
    async fn erase_customer(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        customer_id: CustomerId,
    ) -> Result<Committed<Erasure>>;
    /// Whether any attachment row still names these bytes.
    async fn attachment_bytes_in_use(&self, sha256: &str) -> Result<bool>;
    // Reading mailboxes over IMAP (`store/sql/imap.rs`).
    /// Every email channel of every workspace, with its workspace (the pollers pick those with
    /// `imap` settings).
    async fn all_email_channels(&self) -> Result<Vec<(WorkspaceId, Channel)>>;
    /// Takes or renews the lease on polling a channel's mailbox for `holder`: true while it is
    /// `holder`'s (free, expired or already its own), false while another instance holds it or
    /// the channel is gone.
    async fn lease_imap(
        &self,
        channel_id: ChannelId,
        holder: &str,
        lease: std::time::Duration,
    ) -> Result<bool>;
    /// Gives a lease up (at shutdown, or when the channel stops reading a mailbox).
    async fn release_imap(&self, channel_id: ChannelId, holder: &str) -> Result<()>;
    async fn imap_cursor(&self, channel_id: ChannelId) -> Result<ImapCursor>;
    /// Starts the cursor over for `mailbox` at `uid_validity` (a new mailbox, or its UIDs were
    /// renumbered): every message there is read again, and Message-IDs keep what was taken.
    async fn reset_imap_cursor(
        &self,
        channel_id: ChannelId,
        mailbox: &str,
        uid_validity: i64,
    ) -> Result<()>;
    /// Records that the message with `uid` has been taken (the cursor never moves back).
    async fn advance_imap_cursor(
        &self,
        channel_id: ChannelId,
        mailbox: &str,
        uid_validity: i64,
        uid: i64,
    ) -> Result<()>;

    // The event log.
    async fn last_seq(&self, workspace_id: WorkspaceId) -> Result<i64>;
    /// Events with `seq > since`, oldest first, at most `limit`.
    async fn events_since(
        &self,
        workspace_id: WorkspaceId,
        since: i64,
        limit: i64,
    ) -> Result<Vec<Event>>;
    /// The oldest `seq` still in the log (None if the log is empty).
    async fn first_retained_seq(&self, workspace_id: WorkspaceId) -> Result<Option<i64>>;
    /// Deletes events older than `before`, always keeping each workspace's latest one.
    async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64>;
}

/// What a write that Baton has answered survives, as the database reports it for Baton's own
/// connections (so a setting changed on the server, a role or a database shows up here too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Durability {
    /// `PRAGMA synchronous` of the writer connection (0 off, 1 normal, 2 full, 3 extra) and
    /// `PRAGMA journal_mode`.
    Sqlite {
        synchronous: i64,
        journal_mode: String,
    },
    /// `SHOW synchronous_commit` and `SHOW fsync`.
    Postgres {
        synchronous_commit: String,
        fsync: String,
    },
}

impl Durability {
    /// Whether an answered write survives a power cut or a kernel crash of the database's
    /// machine (not only a crash of the process).
    pub fn survives_power_loss(&self) -> bool {
        match self {
            Durability::Sqlite { synchronous, .. } => *synchronous >= 2,
            Durability::Postgres {
                synchronous_commit,
                fsync,
            } => synchronous_commit != "off" && fsync == "on",
        }
    }

    /// One line for `baton doctor` and the startup log.
    pub fn describe(&self) -> String {
        match self {
            Durability::Sqlite {
                synchronous,
                journal_mode,
            } => {
                let name = match synchronous {
                    0 => "OFF",
                    1 => "NORMAL",
                    2 => "FULL",
                    3 => "EXTRA",
                    _ => "unknown",
                };
                let mode = journal_mode.to_uppercase();
                if self.survives_power_loss() {
                    format!("SQLite synchronous = {name} (journal {mode}): every answered write is on disk")
                } else {
                    format!(
                        "SQLite synchronous = {name} (journal {mode}): answered writes survive a crash of Baton, \
                         but a power cut or a kernel crash can roll back the last ones \
                         (BATON_SQLITE_SYNCHRONOUS=full syncs every commit)"
                    )
                }
            }
            Durability::Postgres {
                synchronous_commit,
                fsync,
            } => {
                let settings =
                    format!("Postgres synchronous_commit = {synchronous_commit}, fsync = {fsync}");
                if fsync != "on" {
                    format!("{settings}: a power cut or an OS crash on the database server can lose or corrupt data")
                } else if synchronous_commit == "off" {
                    format!(
                        "{settings}: a crash of the database server can lose the last writes Baton already \
                         answered (set synchronous_commit = on for the server, the database or Baton's role)"
                    )
                } else {
                    format!("{settings}: every answered write is flushed to the server's disk")
                }
            }
        }
    }
}

/// How to open a store; `Default` is what a server with no configuration gets.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Postgres connections this instance may hold.
    pub pool_size: u32,
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pool_size: 16,
            sqlite_synchronous: SqliteSynchronous::Full,
        }
    }
}

impl From<&crate::Config> for Options {
    fn from(config: &crate::Config) -> Self {
        Options {
            pool_size: config.database_pool,
            sqlite_synchronous: config.sqlite_synchronous,
        }
    }
}

/// Opens the store a database URL names, and applies its migrations. Anything but a clear
/// `sqlite:` or `postgres:` URL is refused rather than guessed at.
pub async fn connect(url: &str) -> Result<std::sync::Arc<dyn Store>, anyhow::Error> {
    connect_with(url, Options::default()).await
}

/// `connect`, with options other than the defaults.
pub async fn connect_with(
    url: &str,
    options: Options,
) -> Result<std::sync::Arc<dyn Store>, anyhow::Error> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(
            sqlite::SqliteStore::connect(url, options.sqlite_synchronous).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(
            postgres::PgStore::connect(url, options.pool_size).await?,
        ))
    } else {
        anyhow::bail!(
            "unsupported database URL {:?}: use sqlite://path/to/baton.db or postgres://user@host/db",
            crate::config::redact_url(url)
        )
    }
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(crate) fn not_found_if_none<T>(v: Option<T>) -> Result<T> {
    v.ok_or(StoreError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::Durability;

    fn sqlite(synchronous: i64) -> Durability {
        Durability::Sqlite {
            synchronous,
            journal_mode: "wal".into(),
        }
    }

    fn postgres(synchronous_commit: &str, fsync: &str) -> Durability {
        Durability::Postgres {
            synchronous_commit: synchronous_commit.into(),
            fsync: fsync.into(),
        }
    }

    #[test]
    fn only_a_commit_synced_before_the_answer_survives_a_power_cut() {
        assert!(!sqlite(0).survives_power_loss());
        assert!(!sqlite(1).survives_power_loss());
        assert!(sqlite(2).survives_power_loss());
        assert!(sqlite(3).survives_power_loss());
        for on in ["on", "local", "remote_write", "remote_apply"] {
            assert!(postgres(on, "on").survives_power_loss(), "{on}");
            assert!(!postgres(on, "off").survives_power_loss(), "{on}");
        }
        assert!(!postgres("off", "on").survives_power_loss());
    }

    #[test]
    fn the_description_names_the_setting_and_what_it_risks() {
        let normal = sqlite(1).describe();
        assert!(
            normal.contains("synchronous = NORMAL (journal WAL)"),
            "{normal}"
        );
        assert!(normal.contains("power cut"), "{normal}");
        assert!(normal.contains("BATON_SQLITE_SYNCHRONOUS=full"), "{normal}");
        assert!(sqlite(2)
            .describe()
            .contains("every answered write is on disk"));
        let off = postgres("off", "on").describe();
        assert!(off.contains("synchronous_commit = off"), "{off}");
        assert!(postgres("on", "off").describe().contains("corrupt"));
    }
}
