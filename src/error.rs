//! One error type for the whole server. Handlers return `Result<_, Error>`; the response shows a
//! stable `code` and a human message, never internals (those go to the log).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::store::{Conflict, Input, Refusal, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A saved reply's text uses a variable Baton does not know (or leaves a `{{` open).
    #[error("{field}: {message}")]
    Template { field: String, message: String },
    #[error("authentication required")]
    Unauthorized,
    /// The password was right; the account also needs a two-factor code (`totp`).
    #[error("a two-factor code is required")]
    TotpRequired,
    /// The workspace requires two-factor sign-in and this session's teammate has not enrolled:
    /// only enrolment (and `GET /api/me`, signing out) is open to it.
    #[error("this workspace requires two-factor sign-in: turn it on to continue")]
    TotpEnrolmentRequired,
    #[error("{0}")]
    Forbidden(&'static str),
    /// The workspace signs its members in with its identity provider only (`sso_only`).
    #[error("this workspace signs in with single sign-on: use \"Sign in with SSO\"")]
    SsoRequired,
    /// No workspace signs in with single sign-on for this email's domain.
    #[error("no workspace signs in with single sign-on for this email address")]
    SsoNotConfigured,
    #[error("not found")]
    NotFound,
    /// A stale `if_version` or another lost race: carries the current state of the resource.
    #[error("conflict")]
    Conflict {
        message: String,
        current: serde_json::Value,
    },
    #[error("already exists: {0}")]
    Duplicate(&'static str),
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    #[error("payload too large")]
    TooLarge,
    /// A dependency (database, Redis) is unreachable: the client should retry.
    #[error("service unavailable")]
    Unavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) | Error::Template { .. } => StatusCode::BAD_REQUEST,
            Error::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Unauthorized | Error::TotpRequired => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) | Error::TotpEnrolmentRequired | Error::SsoRequired => {
                StatusCode::FORBIDDEN
            }
            Error::NotFound | Error::SsoNotConfigured => StatusCode::NOT_FOUND,
            Error::Conflict { .. } | Error::Duplicate(_) => StatusCode::CONFLICT,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest(_) => "bad_request",
            Error::Invalid { .. } => "invalid",
            Error::Template { .. } => "unknown_variable",
            Error::Unauthorized => "unauthorized",
            Error::TotpRequired => "totp_required",
            Error::Forbidden(_) => "forbidden",
            Error::SsoRequired => "sso_required",
            Error::SsoNotConfigured => "sso_not_configured",
            Error::TotpEnrolmentRequired => "totp_enrolment_required",
            Error::NotFound => "not_found",
            Error::Conflict { .. } => "conflict",
            Error::Duplicate(_) => "duplicate",
            Error::RateLimited { .. } => "rate_limited",
            Error::TooLarge => "too_large",
            Error::Unavailable => "unavailable",
            Error::Internal(_) => "internal",
        }
    }
}

/// The store's failures as the API shows them: the status and code of each, the request field
/// each refused input comes from, and the words for why it was refused.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound,
            StoreError::Unavailable => Error::Unavailable,
            StoreError::Internal(e) => Error::Internal(e),
            StoreError::Invalid { input, reason } => Error::invalid(field(input), refusal(reason)),
            StoreError::Conflict(conflict) => match conflict {
                Conflict::CaseVersion {
                    expected,
                    actual,
                    current,
                } => {
                    let message = format!(
                        "the case changed since version {expected}: it is at version {actual}"
                    );
                    match serde_json::to_value(current) {
                        Ok(current) => Error::Conflict { message, current },
                        Err(e) => e.into(),
                    }
                }
                Conflict::Email => Error::Duplicate("email"),
                Conflict::ChannelAddress => Error::Duplicate("address"),
                Conflict::TagName => Error::Duplicate("a tag of that name exists"),
                Conflict::SsoDomain => {
                    Error::Duplicate("domain: another workspace signs in with it")
                }
                Conflict::TotpOn => Error::Duplicate("two-factor sign-in is already on"),
                Conflict::TagListLocked => Error::Forbidden(
                    "the tag list is locked: only admins add tags, pick one of the list",
                ),
                Conflict::UniqueKey(e) => Error::Internal(e.into()),
            },
        }
    }
}

/// The request field that carries each input the store can refuse.
fn field(input: Input) -> &'static str {
    match input {
        Input::Assignee => "assignee_id",
        Input::Role => "role",
        Input::Departing => "teammate",
        Input::Successor => "reassign_to",
        Input::ReassignFrom => "from",
        Input::ReassignTo => "to",
        Input::RulePool => "pool",
        Input::RuleCategories => "categories",
        Input::RuleFallback => "fallback",
        Input::MergeInto => "into_id",
        Input::RetriedReply => "message_id",
        Input::Attachments => "attachment_ids",
        Input::AwayUntil => "away_until",
        Input::MaxOpen => "max_open",
        Input::ResentDelivery => "delivery_id",
        Input::SnoozeUntil => "until",
    }
}

/// The words a client reads for each reason the store refuses an input. No `_` arm: a new
/// refusal does not compile until it has its words here.
fn refusal(reason: Refusal) -> String {
    match reason {
        Refusal::NoSuchTeammate => "no such teammate in this workspace".into(),
        Refusal::TeammateRemoved => "this teammate was removed from the workspace".into(),
        Refusal::ViewerNotAssignable => "viewers cannot be assigned cases".into(),
        Refusal::ReassignToSelf => "must differ from `from`".into(),
        Refusal::LastOwnerDemoted => "the workspace needs at least one owner".into(),
        Refusal::OwnsOpenCases { open } => format!(
            "this teammate owns {open} open cases; reassign them before making them a viewer"
        ),
        Refusal::LastOwnerRemoved => "the last owner cannot be removed".into(),
        Refusal::SuccessorIsLeaving => "cannot hand cases to the teammate who is leaving".into(),
        Refusal::NoSuchCustomer => "no such customer in this workspace".into(),
        Refusal::MergeIntoSelf => "that is the same customer".into(),
        Refusal::CustomerErased => "an erased customer cannot be merged".into(),
        Refusal::ReplyNotFailed => "only a reply whose delivery failed can be retried".into(),
        Refusal::NotAnUpload => "names no file you uploaded for this reply".into(),
        Refusal::CaseNotOpen => "only open cases can be snoozed".into(),
        Refusal::AwayEndsBeforeStart => "must be after away_from".into(),
        Refusal::OutOfRange { min, max } => format!("must be between {min} and {max}"),
        Refusal::DeliveryRetrying => "this delivery is being retried already".into(),
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(e.into())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = json!({ "error": { "code": self.code(), "message": self.to_string() } });
        match &self {
            Error::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                body["error"]["message"] = json!("internal error");
            }
            Error::Invalid { field, .. } | Error::Template { field, .. } => {
                body["error"]["field"] = json!(field)
            }
            Error::Conflict { current, message } => {
                body["error"]["message"] = json!(message);
                body["error"]["current"] = current.clone();
            }
            _ => {}
        }
        let mut response = (status, Json(body)).into_response();
        match self {
            Error::RateLimited { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Error::Unavailable => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(e: StoreError) -> (StatusCode, &'static str, String) {
        let e = Error::from(e);
        (e.status(), e.code(), e.to_string())
    }

    /// Every input the store can refuse, with the request field that carries it.
    const INPUTS: [(Input, &str); 16] = [
        (Input::Assignee, "assignee_id"),
        (Input::Role, "role"),
        (Input::Departing, "teammate"),
        (Input::Successor, "reassign_to"),
        (Input::ReassignFrom, "from"),
        (Input::ReassignTo, "to"),
        (Input::RulePool, "pool"),
        (Input::RuleCategories, "categories"),
        (Input::RuleFallback, "fallback"),
        (Input::MergeInto, "into_id"),
        (Input::RetriedReply, "message_id"),
        (Input::Attachments, "attachment_ids"),
        (Input::AwayUntil, "away_until"),
        (Input::MaxOpen, "max_open"),
        (Input::ResentDelivery, "delivery_id"),
        (Input::SnoozeUntil, "until"),
    ];

    /// Every reason the store refuses an input, with the words a client reads for it.
    const REFUSALS: [(Refusal, &str); 17] = [
        (
            Refusal::NoSuchTeammate,
            "no such teammate in this workspace",
        ),
        (
            Refusal::TeammateRemoved,
            "this teammate was removed from the workspace",
        ),
        (
            Refusal::ViewerNotAssignable,
            "viewers cannot be assigned cases",
        ),
        (Refusal::ReassignToSelf, "must differ from `from`"),
        (
            Refusal::LastOwnerDemoted,
            "the workspace needs at least one owner",
        ),
        (
            Refusal::OwnsOpenCases { open: 3 },
            "this teammate owns 3 open cases; reassign them before making them a viewer",
        ),
        (
            Refusal::LastOwnerRemoved,
            "the last owner cannot be removed",
        ),
        (
            Refusal::SuccessorIsLeaving,
            "cannot hand cases to the teammate who is leaving",
        ),
        (
            Refusal::NoSuchCustomer,
            "no such customer in this workspace",
        ),
        (Refusal::MergeIntoSelf, "that is the same customer"),
        (
            Refusal::CustomerErased,
            "an erased customer cannot be merged",
        ),
        (
            Refusal::ReplyNotFailed,
            "only a reply whose delivery failed can be retried",
        ),
        (
            Refusal::NotAnUpload,
            "names no file you uploaded for this reply",
        ),
        (Refusal::CaseNotOpen, "only open cases can be snoozed"),
        (Refusal::AwayEndsBeforeStart, "must be after away_from"),
        (
            Refusal::OutOfRange {
                min: 0,
                max: 100_000,
            },
            "must be between 0 and 100000",
        ),
        (
            Refusal::DeliveryRetrying,
            "this delivery is being retried already",
        ),
    ];

    /// Where each input has its row in `INPUTS`. No `_` arm: a new input does not compile until
    /// it has a row.
    fn input_row(input: Input) -> usize {
        match input {
            Input::Assignee => 0,
            Input::Role => 1,
            Input::Departing => 2,
            Input::Successor => 3,
            Input::ReassignFrom => 4,
            Input::ReassignTo => 5,
            Input::RulePool => 6,
            Input::RuleCategories => 7,
            Input::RuleFallback => 8,
            Input::MergeInto => 9,
            Input::RetriedReply => 10,
            Input::Attachments => 11,
            Input::AwayUntil => 12,
            Input::MaxOpen => 13,
            Input::ResentDelivery => 14,
            Input::SnoozeUntil => 15,
        }
    }

    /// Where each refusal has its row in `REFUSALS`. No `_` arm: a new refusal does not compile
    /// until it has a row, and with it the words it must answer with.
    fn refusal_row(reason: Refusal) -> usize {
        match reason {
            Refusal::NoSuchTeammate => 0,
            Refusal::TeammateRemoved => 1,
            Refusal::ViewerNotAssignable => 2,
            Refusal::ReassignToSelf => 3,
            Refusal::LastOwnerDemoted => 4,
            Refusal::OwnsOpenCases { .. } => 5,
            Refusal::LastOwnerRemoved => 6,
            Refusal::SuccessorIsLeaving => 7,
            Refusal::NoSuchCustomer => 8,
            Refusal::MergeIntoSelf => 9,
            Refusal::CustomerErased => 10,
            Refusal::ReplyNotFailed => 11,
            Refusal::NotAnUpload => 12,
            Refusal::CaseNotOpen => 13,
            Refusal::AwayEndsBeforeStart => 14,
            Refusal::OutOfRange { .. } => 15,
            Refusal::DeliveryRetrying => 16,
        }
    }

    /// Every refused input, for every reason, answers 422 `invalid` with the input's field and
    /// the reason's words: the same answers the API gave when the store still wrote the words.
    #[test]
    fn every_refusal_answers_with_its_field_and_words() {
        for (row, (input, _)) in INPUTS.iter().enumerate() {
            assert_eq!(
                input_row(*input),
                row,
                "{input:?} has its own row, in order"
            );
        }
        for (row, (reason, _)) in REFUSALS.iter().enumerate() {
            assert_eq!(
                refusal_row(*reason),
                row,
                "{reason:?} has its own row, in order"
            );
        }
        for (input, field) in INPUTS {
            for (reason, message) in REFUSALS {
                let e = Error::from(StoreError::invalid(input, reason));
                assert_eq!(
                    (e.status(), e.code()),
                    (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
                );
                assert!(
                    matches!(
                        e,
                        Error::Invalid { field: ref f, message: ref m } if f == field && m == message
                    ),
                    "{input:?} {reason:?}: {e:?}"
                );
            }
        }
    }

    #[test]
    fn store_errors_answer_with_their_status_code_and_field() {
        assert_eq!(
            answer(StoreError::NotFound),
            (StatusCode::NOT_FOUND, "not_found", "not found".into())
        );
        assert_eq!(
            answer(StoreError::Unavailable).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            answer(StoreError::Conflict(Conflict::Email)),
            (
                StatusCode::CONFLICT,
                "duplicate",
                "already exists: email".into()
            )
        );
        assert_eq!(
            answer(StoreError::Conflict(Conflict::TagListLocked)).1,
            "forbidden"
        );
        // A unique key the write did not expect to meet is a fault, not the client's conflict.
        let unexpected = Conflict::UniqueKey(sqlx::Error::RowNotFound);
        assert_eq!(
            answer(StoreError::Conflict(unexpected)).0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
