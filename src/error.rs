//! One error type for the whole server. Handlers return `Result<_, Error>`; the response shows a
//! stable `code` and a human message, never internals (those go to the log).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

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

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => Error::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::warn!(error = %e, "database unavailable");
                Error::Unavailable
            }
            // Postgres shutting down or restarting (class 57: operator intervention, e.g.
            // `admin_shutdown`), or a broken connection (class 08): retry later, not a 500.
            sqlx::Error::Database(ref db)
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("57") || c.starts_with("08")) =>
            {
                tracing::warn!(error = %e, "database unavailable");
                Error::Unavailable
            }
            other => Error::Internal(other.into()),
        }
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
