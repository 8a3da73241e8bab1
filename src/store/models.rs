//! What the store reads and writes, shaped as the HTTP API shows it (DESIGN.md §3).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::ids::{
    AttachmentId, CaseId, ChannelId, CustomerId, JobId, MessageId, SavedReplyId, TagId, TeammateId,
    WebhookId, WorkspaceId,
};
use crate::domain::{routing::Rules, Role, Status};
use crate::events::{DeliveryState, Event, MessageKind};

/// A write that committed, with the events it appended to the log (to publish after commit,
/// with `AppState::published`). Dropping one unpublished is a warning, and CI denies warnings.
#[derive(Debug)]
#[must_use = "publish the committed events (AppState::published)"]
pub struct Committed<T> {
    pub value: T,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub case_prefix: String,
    /// A closed case reopens when its customer writes again within this many days.
    pub reopen_days: i64,
    /// Category → keywords that detect it at intake.
    pub category_keywords: BTreeMap<String, Vec<String>>,
    /// Only admins and owners see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest_token: Option<String>,
    /// Only admins add tags; agents tag cases with the ones there are.
    pub tags_locked: bool,
    /// Every member signs in with a second factor; one without it may only enrol.
    pub require_totp: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct WorkspacePatch {
    pub name: Option<String>,
    pub case_prefix: Option<String>,
    pub reopen_days: Option<i64>,
    pub category_keywords: Option<BTreeMap<String, Vec<String>>>,
    pub tags_locked: Option<bool>,
    pub require_totp: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Teammate {
    pub id: TeammateId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// Away now: the flag, or the `away_from`..`away_until` range (it starts and ends by itself).
    pub away: bool,
    /// False once removed from the workspace (kept so timelines still show their name).
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub away_from: Option<DateTime<Utc>>,
    pub away_until: Option<DateTime<Utc>>,
    /// Open cases this teammate may hold (none: the workspace's `capacity`).
    pub max_open: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotificationPrefs {
    pub web_push: bool,
    pub email: bool,
    pub chime: bool,
    /// Be pinged for cases nobody owns.
    pub unassigned: bool,
    pub email_delay_secs: i64,
}

impl NotificationPrefs {
    pub fn defaults_for(role: Role) -> Self {
        NotificationPrefs {
            web_push: true,
            email: true,
            chime: false,
            unassigned: role == Role::Owner,
            email_delay_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    pub id: CustomerId,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Case {
    pub id: CaseId,
    /// `{PREFIX}-{000123}`.
    pub number: String,
    pub status: Status,
    pub assignee_id: Option<TeammateId>,
    /// Bumped by every change; send it back as `if_version` to refuse a stale change.
    pub version: i64,
    pub category: Option<String>,
    pub subject: Option<String>,
    pub customer: Customer,
    /// The customer had written before this case ("Returning" rather than "New prospect").
    pub returning: bool,
    pub preview: String,
    pub last_message_at: DateTime<Utc>,
    pub follow_up_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The caller has not read the latest customer message.
    pub unread: bool,
    /// The channel the customer last wrote on (SMS, API): replies go out there.
    pub channel_id: Option<ChannelId>,
    /// When the customer's wait passes the first-response target (none: no target running).
    pub response_due_at: Option<DateTime<Utc>>,
    /// When it passed it with nobody having answered (cleared by a reply).
    pub breached_at: Option<DateTime<Utc>>,
    /// Waiting for someone with room since (the queue is handed out oldest first).
    pub queued_at: Option<DateTime<Utc>>,
    /// Out of the Mine, Unassigned and All views until then (the Snoozed view lists it).
    pub snoozed_until: Option<DateTime<Utc>>,
    /// The case's tags, by name.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// In a search's results: where the case matched, with the matched words marked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchMatch>,
}

/// Where a search found a case: the best-matching message or note, or the case's own fields.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchMatch {
    pub field: SearchField,
    /// The message or note that matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    /// The matched text (a window of it for long messages), in parts: render each as text,
    /// the parts with `mark: true` emphasised.
    pub snippet: Vec<crate::domain::search::Part>,
}

/// What part of a case a search matched. Shown as `as_str()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchField {
    /// A message from or to the customer.
    Message,
    Note,
    Subject,
    /// The customer's name.
    Customer,
    Email,
    Phone,
    /// The case's number (the search named it).
    Number,
}

impl SearchField {
    pub const ALL: [SearchField; 7] = [
        SearchField::Message,
        SearchField::Note,
        SearchField::Subject,
        SearchField::Customer,
        SearchField::Email,
        SearchField::Phone,
        SearchField::Number,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SearchField::Message => "message",
            SearchField::Note => "note",
            SearchField::Subject => "subject",
            SearchField::Customer => "customer",
            SearchField::Email => "email",
            SearchField::Phone => "phone",
            SearchField::Number => "number",
        }
    }
}

/// A label on cases, with the colour it is shown in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tag {
    pub id: TagId,
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
}

/// A tag of the workspace's list, with how many open cases carry it in each view (for the
/// caller: `mine` is theirs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListedTag {
    #[serde(flatten)]
    pub tag: Tag,
    pub counts: TagCounts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TagCounts {
    pub mine: i64,
    pub unassigned: i64,
    pub all: i64,
    pub snoozed: i64,
}

/// A reply text kept for reuse: the workspace's (`owner_id` null; admins manage them) or one
/// teammate's own (only they see it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SavedReply {
    pub id: SavedReplyId,
    /// What the composer's `/` menu matches.
    pub name: String,
    /// The text, with `{{customer.first_name}}`, `{{customer.name}}`, `{{teammate.name}}` or
    /// `{{case.number}}` where the case's values go.
    pub body: String,
    pub scope: Scope,
    pub owner_id: Option<TeammateId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Whose a saved reply is. Not stored: a reply with an owner is personal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Everyone in the workspace sees it; admins and owners manage it.
    Workspace,
    /// Only its author sees it.
    Personal,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::Workspace, Scope::Personal];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Workspace => "workspace",
            Scope::Personal => "personal",
        }
    }

    /// The scope of a reply with this owner.
    pub fn of(owner_id: Option<TeammateId>) -> Scope {
        match owner_id {
            Some(_) => Scope::Personal,
            None => Scope::Workspace,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub case_id: CaseId,
    pub kind: MessageKind,
    pub author_id: Option<TeammateId>,
    pub channel: String,
    pub body: String,
    /// The earlier conversation an email quoted, folded away from `body`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quoted: Option<String>,
    /// Replies that leave Baton (by email): where their delivery stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// Files on the message (download: `GET /api/attachments/{id}`).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    pub created_at: DateTime<Utc>,
}

/// A file on a message, as listed; its bytes are served by `GET /api/attachments/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub id: AttachmentId,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

/// An attachment's row with where its bytes are (`crate::attachments`).
#[derive(Debug, Clone)]
pub struct AttachmentFile {
    pub attachment: Attachment,
    pub sha256: String,
}

/// An outbound message's delivery: `queued` (waiting or retrying), `sent` (the mail server took
/// it), `delivered`, or `failed` with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub state: DeliveryState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    pub id: Uuid,
    pub kind: TimelineKind,
    /// None when the system acted (a rule, a due follow-up, a customer's message).
    pub actor_id: Option<TeammateId>,
    pub from_id: Option<TeammateId>,
    pub to_id: Option<TeammateId>,
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// What a timeline entry records. Stored as `as_str()`, the word the API shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// The case was opened by a customer's message.
    Created,
    /// The assignee changed (`from_id` → `to_id`), by a teammate or by the rules.
    Assigned,
    /// The status changed (`detail: {from, to}`).
    Status,
    /// A closed case reopened because its customer wrote again.
    Reopened,
    FollowUpSet,
    FollowUpDue,
    /// The first-response target passed with nobody having answered.
    Breached,
    /// The customer's data was erased.
    Erased,
    /// Another customer's cases were merged into this case's customer.
    CustomerMerged,
    Tagged,
    Untagged,
    Snoozed,
    Woke,
}

impl TimelineKind {
    pub const ALL: [TimelineKind; 13] = [
        TimelineKind::Created,
        TimelineKind::Assigned,
        TimelineKind::Status,
        TimelineKind::Reopened,
        TimelineKind::FollowUpSet,
        TimelineKind::FollowUpDue,
        TimelineKind::Breached,
        TimelineKind::Erased,
        TimelineKind::CustomerMerged,
        TimelineKind::Tagged,
        TimelineKind::Untagged,
        TimelineKind::Snoozed,
        TimelineKind::Woke,
    ];

    /// The word in `timeline.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Created => "created",
            TimelineKind::Assigned => "assigned",
            TimelineKind::Status => "status",
            TimelineKind::Reopened => "reopened",
            TimelineKind::FollowUpSet => "follow_up_set",
            TimelineKind::FollowUpDue => "follow_up_due",
            TimelineKind::Breached => "breached",
            TimelineKind::Erased => "erased",
            TimelineKind::CustomerMerged => "customer_merged",
            TimelineKind::Tagged => "tagged",
            TimelineKind::Untagged => "untagged",
            TimelineKind::Snoozed => "snoozed",
            TimelineKind::Woke => "woke",
        }
    }

    pub fn parse(s: &str) -> Option<TimelineKind> {
        TimelineKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CaseDetail {
    #[serde(rename = "case")]
    pub case: Case,
    pub messages: Vec<Message>,
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum View {
    Mine,
    Unassigned,
    #[default]
    All,
    /// Snoozed cases, whoever owns them (the other views leave them out until they wake).
    Snoozed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    #[default]
    Open,
    Unread,
    Closed,
    /// Open and past the first-response target.
    Breached,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best match first when `q` has words to look for, else newest activity first.
    #[default]
    Relevance,
    /// Newest activity first.
    Recent,
}

#[derive(Debug, Clone, Default)]
pub struct CaseQuery {
    pub view: View,
    pub filter: Filter,
    pub q: Option<String>,
    /// Resume after this (last_message_at in ms, id) position.
    pub after: Option<(i64, CaseId)>,
    /// Ranked pages resume this many results in.
    pub offset: i64,
    pub limit: i64,
    /// Only cases with this tag.
    pub tag: Option<TagId>,
    pub sort: Sort,
    /// Only these statuses (empty: any the filter allows).
    pub statuses: Vec<Status>,
    pub assignee_id: Option<TeammateId>,
    pub channel_id: Option<ChannelId>,
    /// Last activity at or after / before these times (ms).
    pub since: Option<i64>,
    pub until: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CasePage {
    pub cases: Vec<Case>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FilterCounts {
    pub open: i64,
    pub unread: i64,
    pub closed: i64,
    /// Open cases past their first-response target.
    pub breached: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    pub mine: FilterCounts,
    pub unassigned: FilterCounts,
    pub all: FilterCounts,
    pub snoozed: FilterCounts,
}

/// A teammate's unread badge: unread cases they own, and unread unassigned cases if they watch
/// those.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct Badge {
    pub mine: i64,
    pub unassigned: i64,
}

/// A customer message arriving through `POST /api/inbound`, already parsed.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub channel: String,
    pub from_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    pub category: Option<String>,
    pub external_id: Option<String>,
    /// The channel it came in on, when it names one: the case's replies go out there.
    pub channel_id: Option<ChannelId>,
    /// What an email adds: the ids that thread it, whether a machine sent it.
    pub mail: Option<Box<EmailMeta>>,
}

/// Threading and handling of one inbound email (see `mail::parse`).
#[derive(Debug, Clone, Default)]
pub struct EmailMeta {
    /// Its Message-ID (stored, so that replies to it thread).
    pub mail_id: Option<String>,
    /// The case a verified reply token names: it wins over every other threading rule.
    pub token_case: Option<CaseId>,
    /// In-Reply-To and References, newest first: the first stored one names the case.
    pub thread_ids: Vec<String>,
    pub quoted: Option<String>,
    /// An auto-reply, a list or a bounce: stored on its case, but it notifies nobody, changes
    /// no status and counts as nothing unread.
    pub automated: bool,
    /// The mail's files, already stored (`crate::attachments::store`).
    pub attachments: Vec<crate::attachments::StoredFile>,
}

impl Inbound {
    /// A plain email from a customer: what the demo feed and tests send most.
    pub fn email(from_name: &str, email: &str, body: &str) -> Self {
        Inbound {
            channel: "email".into(),
            from_name: from_name.into(),
            email: Some(email.into()),
            phone: None,
            subject: None,
            body: body.into(),
            category: None,
            external_id: None,
            channel_id: None,
            mail: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InboundOutcome {
    pub case_id: CaseId,
    pub number: String,
    pub created: bool,
    pub reopened: bool,
    pub assignee_id: Option<TeammateId>,
    /// The same `external_id` had been delivered before: nothing was written.
    pub duplicate: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AssignRules {
    #[serde(flatten)]
    pub rules: Rules,
}

/// Who may sign in with a password.
/// A teammate's TOTP enrolment.
#[derive(Debug, Clone)]
pub struct Totp {
    /// Base32, as in the `otpauth://` URL.
    pub secret: String,
    /// Whether a first code confirmed it: only then does sign-in ask for a code.
    pub confirmed: bool,
}

#[derive(Debug, Clone)]
pub struct Credentials {
    pub teammate: Teammate,
    pub password_hash: String,
}

/// An invitation waiting to be accepted.
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub invited_by: TeammateId,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// An invitation as its link shows it, before it is accepted.
#[derive(Debug, Clone)]
pub struct PendingInvite {
    pub workspace_id: WorkspaceId,
    pub workspace_name: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
}

/// What happens to a departing teammate's open cases.
#[derive(Debug, Clone, Copy)]
pub struct Departure {
    pub teammate_id: TeammateId,
    pub reassign_to: Option<TeammateId>,
}

/// Whom a valid token belongs to, and until when it is valid.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub teammate: Teammate,
    /// The session's or token's id, as `GET /api/me/sessions` names it.
    pub id: Uuid,
    pub kind: TokenKind,
    /// Sessions end at a fixed time; API tokens last until revoked.
    pub expires_at: Option<DateTime<Utc>>,
    /// Renewed at most once a minute (see `service::accounts::authenticate`).
    pub last_used_at: Option<DateTime<Utc>>,
    /// The workspace requires two-factor sign-in and this teammate has not enrolled yet.
    pub totp_pending: bool,
}

/// Where a request comes from: the client's address (behind our proxies, the one they name) and
/// its `User-Agent`, as the sessions list and the audit log show them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A browser session or a personal API token, as its teammate sees it (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    pub id: Uuid,
    pub kind: TokenKind,
    pub created_at: DateTime<Utc>,
    /// Updated at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Sessions end at a fixed time; API tokens last until revoked.
    pub expires_at: Option<DateTime<Utc>>,
    /// The client's address when it was last used (or created).
    pub ip: Option<String>,
    /// The client's `User-Agent` when it was last used (or created).
    pub user_agent: Option<String>,
    /// The session or token this request was made with.
    pub current: bool,
}

/// An audit log entry to write.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// None for a sign-in attempt with an email no account has.
    pub workspace_id: Option<WorkspaceId>,
    pub actor_id: Option<TeammateId>,
    /// The actor's email, or the one a failed sign-in tried.
    pub email: Option<String>,
    pub action: &'static str,
    pub target_id: Option<String>,
    pub client: ClientInfo,
    /// What changed: `{field: {before, after}}`, or the fields of what was created or removed.
    pub changes: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// One entry of `GET /api/audit`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Grows with every entry; `?before=` takes it as a cursor.
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `sign_in.succeeded`, `teammate.updated`, `rules.changed`, … (see docs/design.md).
    pub action: String,
    /// Who did it (none for a failed sign-in).
    pub actor_id: Option<TeammateId>,
    pub actor_name: Option<String>,
    /// The actor's email, or the one a failed sign-in tried.
    pub email: Option<String>,
    /// What the action was done to: a teammate, channel, webhook or session id.
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `{field: {before, after}}` for a change, the fields of what was created or removed.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
}

/// Which entries `GET /api/audit` answers: older than `before`, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub before: Option<i64>,
    pub limit: i64,
    pub actor_id: Option<TeammateId>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// What a token of `tokens` is. Stored as `as_str()`, the word the sessions list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A browser's sign-in.
    Session,
    /// A personal API token.
    Api,
}

impl TokenKind {
    pub const ALL: [TokenKind; 2] = [TokenKind::Session, TokenKind::Api];

    /// The word in `tokens.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<TokenKind> {
        TokenKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A browser's push subscription (the `PushSubscription` JSON, stored).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PushSubscription {
    pub id: Uuid,
    pub teammate_id: TeammateId,
    pub endpoint: String,
    /// The browser's P-256 ECDH public key, base64url.
    pub p256dh: String,
    /// The browser's auth secret, base64url.
    pub auth: String,
}

/// A claimed notification job.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: JobId,
    pub workspace_id: WorkspaceId,
    pub teammate_id: TeammateId,
    pub case_id: Option<CaseId>,
    pub subscription_id: Option<Uuid>,
    pub channel: JobChannel,
    pub reason: JobReason,
    pub payload: serde_json::Value,
    /// Including this one.
    pub attempts: i64,
}

/// How a job of `notification_jobs` leaves: a notification to a teammate (run by
/// `service::jobs`) or a reply to a customer (run by `service::replies`). Stored as `as_str()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobChannel {
    /// Web Push to one of the teammate's browsers (`subscription_id`).
    Push,
    /// An email to the teammate, after their delay.
    Email,
    /// A reply sent by email.
    EmailReply,
    /// A reply sent as a text through Twilio.
    SmsReply,
    /// A reply POSTed to an `api` channel's webhook.
    ApiReply,
}

impl JobChannel {
    pub const ALL: [JobChannel; 5] = [
        JobChannel::Push,
        JobChannel::Email,
        JobChannel::EmailReply,
        JobChannel::SmsReply,
        JobChannel::ApiReply,
    ];

    /// The word in `notification_jobs.channel`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobChannel::Push => "push",
            JobChannel::Email => "email",
            JobChannel::EmailReply => "email_reply",
            JobChannel::SmsReply => "sms_reply",
            JobChannel::ApiReply => "api_reply",
        }
    }

    pub fn parse(s: &str) -> Option<JobChannel> {
        JobChannel::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// A reply to a customer (run by `outbound`) rather than a notification to a teammate.
    pub fn is_reply(self) -> bool {
        match self {
            JobChannel::Push | JobChannel::Email => false,
            JobChannel::EmailReply | JobChannel::SmsReply | JobChannel::ApiReply => true,
        }
    }
}

/// Why a job of `notification_jobs` was queued: what happened (a notification) or `Reply`.
/// Stored as `as_str()`, and the same word is the `reason` of the push payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobReason {
    /// The customer wrote.
    Inbound,
    /// The case was assigned to the teammate.
    Assigned,
    /// A note mentioned the teammate.
    Mention,
    /// A follow-up fell due on its own.
    FollowUp,
    /// A snooze ran out.
    SnoozeEnded,
    /// Cases were moved to the teammate at once.
    Bulk,
    /// A teammate's reply to the customer (the job channel says how it leaves).
    Reply,
}

impl JobReason {
    pub const ALL: [JobReason; 7] = [
        JobReason::Inbound,
        JobReason::Assigned,
        JobReason::Mention,
        JobReason::FollowUp,
        JobReason::SnoozeEnded,
        JobReason::Bulk,
        JobReason::Reply,
    ];

    /// The word in `notification_jobs.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobReason::Inbound => "inbound",
            JobReason::Assigned => "assigned",
            JobReason::Mention => "mention",
            JobReason::FollowUp => "follow_up",
            JobReason::SnoozeEnded => "snooze_ended",
            JobReason::Bulk => "bulk",
            JobReason::Reply => "reply",
        }
    }

    pub fn parse(s: &str) -> Option<JobReason> {
        JobReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a job must re-check when it runs: the world may have moved since it was queued.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub teammate: Teammate,
    pub prefs: NotificationPrefs,
    pub case_assignee: Option<TeammateId>,
    pub case_status: Option<crate::domain::Status>,
    /// The teammate has not read the case's latest customer message.
    pub case_unread: bool,
}

#[derive(Debug, Clone)]
pub enum JobOutcome {
    Sent,
    /// Not needed any more (the teammate is online, read the case, turned the channel off).
    Skipped(String),
    /// No longer this teammate's to receive (reassigned, removed, unsubscribed).
    Cancelled(String),
    Failed(String),
    Retry {
        at: chrono::DateTime<chrono::Utc>,
        error: String,
    },
}

impl JobOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            JobOutcome::Sent => "sent",
            JobOutcome::Skipped(_) => "skipped",
            JobOutcome::Cancelled(_) => "cancelled",
            JobOutcome::Failed(_) => "failed",
            JobOutcome::Retry { .. } => "retried",
        }
    }
}

/// A channel of a workspace (DESIGN.md §7). For `email`: `settings = {from_name, from_address}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Channel {
    pub id: ChannelId,
    pub kind: ChannelKind,
    pub name: String,
    pub settings: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// `sms_twilio`: where Twilio must post texts (`{public url}/hooks/twilio/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_url: Option<String>,
}

/// The kinds of channel: each checks its own settings (`service::channels`) and has its own way
/// out for replies (`outbound`). Stored as `as_str()`, the word the API shows and takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A sending identity, and optionally a mailbox read over IMAP.
    Email,
    /// A Twilio number.
    SmsTwilio,
    /// Anything else: messages come in by `POST /api/inbound`, replies go to its webhook.
    Api,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 3] =
        [ChannelKind::Email, ChannelKind::SmsTwilio, ChannelKind::Api];

    /// The word in `channels.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::SmsTwilio => "sms_twilio",
            ChannelKind::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelKind> {
        ChannelKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A channel to create (`id: None`) or replace.
#[derive(Debug, Clone)]
pub struct ChannelWrite {
    pub id: Option<ChannelId>,
    pub kind: ChannelKind,
    pub name: String,
    pub settings: serde_json::Value,
    /// The lower-cased address mail to this channel arrives at.
    pub address: Option<String>,
}

/// Everything sending one reply needs, read when its job runs.
#[derive(Debug, Clone)]
pub struct OutboundReply {
    pub workspace_id: WorkspaceId,
    pub case_id: CaseId,
    pub message_id: MessageId,
    pub workspace_name: String,
    pub number: String,
    pub subject: Option<String>,
    pub customer_name: String,
    pub customer_email: Option<String>,
    pub author_name: Option<String>,
    pub body: String,
    /// The workspace's first email channel: `(from_name, from_address)`.
    pub sender: Option<(String, String)>,
    /// Our Message-ID for this reply (without brackets), stored before the first attempt.
    pub mail_id: String,
    /// The customer's latest Message-ID on the case.
    pub in_reply_to: Option<String>,
    /// Every Message-ID of the case before this reply, oldest first.
    pub references: Vec<String>,
    pub delivery_state: Option<DeliveryState>,
    /// The files the teammate attached (their bytes: `crate::attachments::read`).
    pub attachments: Vec<AttachmentFile>,
}

/// A teammate's routing settings to change: `None` leaves a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct RoutingPatch {
    pub away_from: Option<Option<DateTime<Utc>>>,
    pub away_until: Option<Option<DateTime<Utc>>>,
    pub max_open: Option<Option<i64>>,
}

impl RoutingPatch {
    pub fn is_empty(&self) -> bool {
        self.away_from.is_none() && self.away_until.is_none() && self.max_open.is_none()
    }
}

/// Where a channel's mailbox has been read up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImapCursor {
    /// The mailbox the UIDs belong to (host, port, user, folder); `None` before the first read.
    pub mailbox: Option<String>,
    pub uid_validity: i64,
    /// The highest UID taken (0: none yet).
    pub last_uid: i64,
}

/// A workspace's identity provider, as stored (the secret included: only the sign-in reads it).
#[derive(Debug, Clone, PartialEq)]
pub struct SsoConfig {
    pub workspace_id: WorkspaceId,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Lower-cased, sorted; each names this workspace only.
    pub domains: Vec<String>,
    /// The role someone of an allowed domain without an account joins as; `None`: nobody joins.
    pub join_role: Option<Role>,
    pub sso_only: bool,
    pub enabled: bool,
    pub updated_at: DateTime<Utc>,
}

/// A sign-in sent to the identity provider, taken back by its `state`.
#[derive(Debug, Clone)]
pub struct SsoLogin {
    pub workspace_id: WorkspaceId,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// One way to reach a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Address {
    pub kind: AddressKind,
    pub value: String,
}

/// How a customer is reached. `as_str()` is also the column of `customers` the address is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    Email,
    Phone,
}

impl AddressKind {
    pub const ALL: [AddressKind; 2] = [AddressKind::Email, AddressKind::Phone];

    pub fn as_str(self) -> &'static str {
        match self {
            AddressKind::Email => "email",
            AddressKind::Phone => "phone",
        }
    }
}

/// A case as the customer page lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerCase {
    pub id: CaseId,
    pub number: String,
    pub status: Status,
    pub assignee_id: Option<TeammateId>,
    pub subject: Option<String>,
    pub preview: String,
    pub channel_id: Option<ChannelId>,
    pub created_at: DateTime<Utc>,
    pub last_message_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerProfile {
    pub customer: Customer,
    /// What the team notes about this customer (plain text).
    pub notes: String,
    pub created_at: DateTime<Utc>,
    pub erased: bool,
    /// Every address they wrote from, theirs and those of customers merged into them.
    pub addresses: Vec<Address>,
    /// Their cases, newest first (at most 100).
    pub cases: Vec<CustomerCase>,
}

/// What a merge did: `customer_id`'s cases now belong to `into_id`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Merge {
    pub customer_id: CustomerId,
    pub into_id: CustomerId,
    pub case_ids: Vec<CaseId>,
}

/// What an `sms_reply` or `api_reply` job sends.
#[derive(Debug, Clone)]
pub struct ChannelReply {
    pub workspace_id: WorkspaceId,
    pub case_id: CaseId,
    pub message_id: MessageId,
    /// `CASE-12`.
    pub number: String,
    pub body: String,
    pub author_name: Option<String>,
    pub customer_name: String,
    pub customer_email: Option<String>,
    pub customer_phone: Option<String>,
    pub channel_id: ChannelId,
    pub channel_kind: ChannelKind,
    /// With its secrets: this never leaves the server.
    pub channel_settings: serde_json::Value,
    pub delivery_state: Option<DeliveryState>,
    pub created_at: DateTime<Utc>,
}

/// The kinds of rows an export pages through, in the order the archive writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Customers,
    Cases,
    /// Inbound, automated and reply messages: what the customer and the team said to each other.
    Messages,
    /// Internal notes (messages of kind `note`).
    Notes,
    Timeline,
    /// Attachment rows of messages (uploads not yet sent are left out).
    Attachments,
}

impl ExportKind {
    pub const ALL: [ExportKind; 6] = [
        ExportKind::Customers,
        ExportKind::Cases,
        ExportKind::Messages,
        ExportKind::Notes,
        ExportKind::Timeline,
        ExportKind::Attachments,
    ];

    /// The archive's file name stem (`cases` → `cases.ndjson`).
    pub fn name(self) -> &'static str {
        match self {
            ExportKind::Customers => "customers",
            ExportKind::Cases => "cases",
            ExportKind::Messages => "messages",
            ExportKind::Notes => "notes",
            ExportKind::Timeline => "timeline",
            ExportKind::Attachments => "attachments",
        }
    }
}

/// One exported row: its id (where the next page starts) and what the archive holds for it.
/// Attachments also carry where their bytes are (`sha256`), which the archive writes under
/// `attachments/<id>/<filename>`.
#[derive(Debug, Clone)]
pub struct ExportRow {
    pub id: Uuid,
    pub json: serde_json::Value,
    pub sha256: Option<String>,
}

/// What an erasure did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Erasure {
    pub customer_id: CustomerId,
    /// The customer's cases: they stay, for statistics, under "Erased customer".
    pub case_ids: Vec<CaseId>,
    /// Messages and notes whose text was removed.
    pub messages: i64,
    /// Attachment rows deleted.
    pub attachments: i64,
    /// Notification and outbound jobs cancelled.
    pub jobs_cancelled: i64,
    /// Stored bytes no attachment row names any more: deleted from disk after the commit.
    #[serde(skip)]
    pub unreferenced_files: Vec<String>,
}

/// The name an erased customer's cases show.
pub const ERASED_NAME: &str = "Erased customer";

/// An endpoint as admins see it (the secret is shown once, when it is made).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    pub events: Vec<String>,
    /// False once switched off after a day of failures.
    pub active: bool,
    /// When the failing endpoint is tried next.
    pub next_retry_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What the delivery worker needs of a claimed endpoint.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub id: WebhookId,
    pub workspace_id: WorkspaceId,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    /// The last `seq` done with (delivered or not subscribed).
    pub cursor: i64,
    pub failing_since: Option<DateTime<Utc>>,
}

/// One event sent to an endpoint: the delivery log of Settings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: Uuid,
    pub seq: i64,
    pub kind: String,
    pub state: WebhookDeliveryState,
    pub attempts: i64,
    /// The endpoint's last HTTP status, if it answered.
    pub status_code: Option<i64>,
    pub response_ms: Option<i64>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Where one event stands with one endpoint. Stored as `as_str()`, the word the API shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookDeliveryState {
    /// The endpoint failed it; it is retried.
    Pending,
    Delivered,
    /// Queued again by an admin ("send again").
    Resend,
}

impl WebhookDeliveryState {
    pub const ALL: [WebhookDeliveryState; 3] = [
        WebhookDeliveryState::Pending,
        WebhookDeliveryState::Delivered,
        WebhookDeliveryState::Resend,
    ];

    /// The word in `webhook_deliveries.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookDeliveryState::Pending => "pending",
            WebhookDeliveryState::Delivered => "delivered",
            WebhookDeliveryState::Resend => "resend",
        }
    }

    pub fn parse(s: &str) -> Option<WebhookDeliveryState> {
        WebhookDeliveryState::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// The outcome of one attempt, for the log.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub seq: i64,
    pub kind: String,
    pub ok: bool,
    pub status_code: Option<i64>,
    pub response_ms: i64,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_channel_is_stored_as_the_words_older_rows_hold() {
        let words = ["push", "email", "email_reply", "sms_reply", "api_reply"];
        assert_eq!(JobChannel::ALL.map(JobChannel::as_str), words);
        for channel in JobChannel::ALL {
            assert_eq!(JobChannel::parse(channel.as_str()), Some(channel));
        }
        assert_eq!(JobChannel::parse("sms"), None);
        assert_eq!(JobChannel::parse("Push"), None);
        let replies: Vec<_> = JobChannel::ALL
            .into_iter()
            .filter(|c| c.is_reply())
            .collect();
        assert_eq!(
            replies,
            [
                JobChannel::EmailReply,
                JobChannel::SmsReply,
                JobChannel::ApiReply
            ]
        );
    }

    #[test]
    fn a_job_reason_is_stored_and_pushed_as_the_words_older_rows_hold() {
        let words = [
            "inbound",
            "assigned",
            "mention",
            "follow_up",
            "snooze_ended",
            "bulk",
            "reply",
        ];
        assert_eq!(JobReason::ALL.map(JobReason::as_str), words);
        for reason in JobReason::ALL {
            assert_eq!(JobReason::parse(reason.as_str()), Some(reason));
            let json = serde_json::to_string(&reason).expect("serializes");
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
        assert_eq!(JobReason::parse("followup"), None);
        assert_eq!(JobReason::parse("Inbound"), None);
    }

    #[test]
    fn a_token_kind_is_stored_and_shown_as_the_same_word() {
        assert_eq!(TokenKind::ALL.map(TokenKind::as_str), ["session", "api"]);
        for kind in TokenKind::ALL {
            assert_eq!(TokenKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).expect("serializes");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(TokenKind::parse("API"), None);
        assert_eq!(TokenKind::parse("browser"), None);
    }

    #[test]
    fn an_address_kind_is_shown_as_the_name_of_its_column() {
        assert_eq!(
            AddressKind::ALL.map(AddressKind::as_str),
            ["email", "phone"]
        );
        for kind in AddressKind::ALL {
            let json = serde_json::to_string(&kind).expect("serializes");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn a_timeline_kind_is_stored_and_shown_as_the_words_older_rows_hold() {
        let words = [
            "created",
            "assigned",
            "status",
            "reopened",
            "follow_up_set",
            "follow_up_due",
            "breached",
            "erased",
            "customer_merged",
            "tagged",
            "untagged",
            "snoozed",
            "woke",
        ];
        assert_eq!(TimelineKind::ALL.map(TimelineKind::as_str), words);
        for kind in TimelineKind::ALL {
            assert_eq!(TimelineKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).expect("serializes");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(TimelineKind::parse("followup_set"), None);
        assert_eq!(TimelineKind::parse("Created"), None);
    }

    #[test]
    fn a_channel_kind_is_stored_shown_and_taken_as_the_same_word() {
        assert_eq!(
            ChannelKind::ALL.map(ChannelKind::as_str),
            ["email", "sms_twilio", "api"]
        );
        for kind in ChannelKind::ALL {
            assert_eq!(ChannelKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).expect("serializes");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            let back: ChannelKind = serde_json::from_str(&json).expect("deserializes");
            assert_eq!(back, kind);
        }
        assert_eq!(ChannelKind::parse("sms"), None);
        assert_eq!(ChannelKind::parse("Email"), None);
    }

    #[test]
    fn a_saved_reply_scope_follows_its_owner() {
        assert_eq!(Scope::ALL.map(Scope::as_str), ["workspace", "personal"]);
        for scope in Scope::ALL {
            let json = serde_json::to_string(&scope).expect("serializes");
            assert_eq!(json, format!("\"{}\"", scope.as_str()));
        }
        assert_eq!(Scope::of(None), Scope::Workspace);
        assert_eq!(Scope::of(Some(TeammateId::new())), Scope::Personal);
    }

    #[test]
    fn a_search_field_is_shown_as_its_word() {
        let words = [
            "message", "note", "subject", "customer", "email", "phone", "number",
        ];
        assert_eq!(SearchField::ALL.map(SearchField::as_str), words);
        for field in SearchField::ALL {
            let json = serde_json::to_string(&field).expect("serializes");
            assert_eq!(json, format!("\"{}\"", field.as_str()));
        }
    }

    #[test]
    fn a_webhook_delivery_state_is_stored_and_shown_as_the_same_word() {
        let words = ["pending", "delivered", "resend"];
        assert_eq!(
            WebhookDeliveryState::ALL.map(WebhookDeliveryState::as_str),
            words
        );
        for state in WebhookDeliveryState::ALL {
            assert_eq!(WebhookDeliveryState::parse(state.as_str()), Some(state));
            let json = serde_json::to_string(&state).expect("serializes");
            assert_eq!(json, format!("\"{}\"", state.as_str()));
        }
        assert_eq!(WebhookDeliveryState::parse("queued"), None);
        assert_eq!(WebhookDeliveryState::parse("Delivered"), None);
    }
}
