//! One error type for the whole server. Handlers return `Result<_, Error>`; the response shows a
//! stable `code` and a human message, never internals (those go to the log).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::store::{Conflict, Input, StoreError};

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

/// The store's failures as the API shows them: the status and code of each, and the request field
/// each refused input comes from.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound,
            StoreError::Unavailable => Error::Unavailable,
            StoreError::Internal(e) => Error::Internal(e),
            StoreError::Invalid { input, message } => Error::invalid(field(input), message),
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

    #[test]
    fn store_errors_answer_with_their_status_code_and_field() {
        let refused = StoreError::invalid(Input::Assignee, "viewers cannot be assigned cases");
        assert!(matches!(
            Error::from(refused),
            Error::Invalid { ref field, ref message }
                if field == "assignee_id" && message == "viewers cannot be assigned cases"
        ));
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
