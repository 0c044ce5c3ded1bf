//! The one error type of keyward, and where it becomes a GraphQL error or an
//! HTTP response.
//!
//! Every failure a client can see is one of [`ErrorCode`]. Internal failures
//! keep their cause for the log and reach the client as a bare `INTERNAL`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::DbErr;

/// The `extensions.code` of every error keyward returns.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    RateLimited,
    Timeout,
    Unavailable,
    OutcomeUnknown,
    Internal,
}

impl ErrorCode {
    /// The string clients match on.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Conflict => "CONFLICT",
            Self::RateLimited => "RATE_LIMITED",
            Self::Timeout => "TIMEOUT",
            Self::Unavailable => "UNAVAILABLE",
            Self::OutcomeUnknown => "OUTCOME_UNKNOWN",
            Self::Internal => "INTERNAL",
        }
    }

    /// The HTTP status used when the error ends a request before GraphQL runs.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadUserInput => StatusCode::BAD_REQUEST,
            Self::Conflict => StatusCode::CONFLICT,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            // Not 503 or 504, which clients and proxies retry blindly.
            Self::OutcomeUnknown => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The WebSocket close code when the error ends a subscription
    /// connection: the graphql-transport-ws protocol's 4403 ("Forbidden",
    /// which its clients take as final) for refused credentials, else 4000
    /// and the HTTP status (4429 for a throttled client, who may retry).
    pub fn close_code(self) -> u16 {
        match self {
            Self::Unauthenticated => 4403,
            other => 4000 + other.status().as_u16(),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing or wrong credentials. Deliberately says nothing about which part
    /// was wrong; the cause is logged where it is detected.
    #[error("valid credentials are required")]
    Unauthenticated,

    #[error("{0}")]
    Forbidden(&'static str),

    /// A requirement of `/verify` that the key does not meet.
    #[error("{0}")]
    Unmet(Unmet),

    /// The object does not exist, or exists in a project the caller cannot see:
    /// the two must read the same.
    #[error("{0} not found")]
    NotFound(&'static str),

    #[error("{field}: {message}")]
    BadUserInput {
        field: &'static str,
        message: String,
    },

    #[error("{0}")]
    Conflict(String),

    /// Too many failed authentications for these credentials or from this
    /// address; says nothing about whether the credentials are right.
    #[error("too many failed authentications; retry in {} s", retry_after_secs(*.retry_after))]
    RateLimited { retry_after: std::time::Duration },

    /// The request ran past `--request-timeout-ms` before anything of it
    /// could commit; nothing it asked for was done.
    #[error("the request took longer than {} ms and was stopped; nothing was changed", .limit.as_millis())]
    Timeout { limit: std::time::Duration },

    /// The database is needed and cannot be reached (answered by `/verify`,
    /// whose proxies tell 503 from a refusal). The cause goes to the log.
    #[error("the database is unavailable; retry later")]
    Unavailable(#[source] BoxError),

    /// A change was sent to the database and no answer came (its commit
    /// was given up on, or the connection was lost): it may have been
    /// made or not. A retry could make it twice; the client checks first.
    /// The cause goes to the log.
    #[error(
        "the database did not confirm this change in time: it may or may not have been made; \
         check before retrying"
    )]
    OutcomeUnknown(#[source] BoxError),

    #[error("internal error")]
    Internal(#[source] BoxError),
}

/// A requirement of `/verify` that the key does not meet. It names only the
/// key's own role or the requirement, nothing of other keys or projects.
#[derive(Debug, thiserror::Error)]
pub enum Unmet {
    #[error("this key's role is {held}; {least} or higher is required")]
    Role {
        held: &'static str,
        least: &'static str,
    },
    #[error("this key does not hold the scope {0:?}")]
    Scope(String),
}

impl Unmet {
    /// `extensions.requirement`: which requirement failed.
    pub fn requirement(&self) -> &'static str {
        match self {
            Self::Role { .. } => "role",
            Self::Scope(_) => "scope",
        }
    }
}

impl Error {
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            field,
            message: message.into(),
        }
    }

    pub fn internal(err: impl Into<BoxError>) -> Self {
        Self::Internal(err.into())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::Forbidden(_) | Self::Unmet(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::BadUserInput { .. } => ErrorCode::BadUserInput,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Timeout { .. } => ErrorCode::Timeout,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::OutcomeUnknown(_) => ErrorCode::OutcomeUnknown,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The close code and reason of a WebSocket connection the error ends
    /// (see [`ErrorCode::close_code`]). The reason is the message a client
    /// may see: "too many failed authentications; retry in N s" when
    /// throttled.
    pub fn close_frame(self) -> (u16, String) {
        (self.code().close_code(), self.public_message())
    }

    /// The message a client may see. Logs the cause of internal errors, which
    /// is the only place it goes.
    fn public_message(&self) -> String {
        if let Self::Internal(cause) | Self::Unavailable(cause) | Self::OutcomeUnknown(cause) = self
        {
            log_internal(cause.as_ref());
        }
        self.to_string()
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        Self::internal(err)
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(err: tokio::task::JoinError) -> Self {
        Self::internal(err)
    }
}

/// Gives every error of a GraphQL response its `extensions.code`.
///
/// Resolvers return [`Error`] with `?`; async-graphql keeps it as the error's
/// source, and this recovers it. Errors async-graphql raises itself (syntax,
/// validation, variable coercion) have no source and are the client's input.
pub fn annotate(error: &mut async_graphql::ServerError) {
    let (code, field) = match error.source::<Error>() {
        Some(err) => {
            if let Error::Internal(cause) | Error::OutcomeUnknown(cause) = err {
                log_internal(cause.as_ref());
            }
            let field = match err {
                Error::BadUserInput { field, .. } => Some(*field),
                _ => None,
            };
            (err.code(), field)
        }
        None => (ErrorCode::BadUserInput, None),
    };
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code.as_str());
    }
    if let Some(field) = field {
        extensions.set("field", field);
    }
}

fn log_internal(cause: &(dyn std::error::Error + Send + Sync)) {
    tracing::error!(error = %cause, source = ?cause.source(), "internal error");
}

/// A GraphQL-shaped JSON error body: `{"errors":[{"message":…,"extensions":{"code":…}}]}`.
pub fn error_body(message: &str, code: ErrorCode) -> serde_json::Value {
    serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code.as_str() } }]
    })
}

/// Whole seconds, rounded up, for `Retry-After`.
fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let code = self.code();
        let mut body = error_body(&self.public_message(), code);
        if let Self::Unmet(unmet) = &self {
            body["errors"][0]["extensions"]["requirement"] = unmet.requirement().into();
        }
        let mut response = (code.status(), axum::Json(body)).into_response();
        if let Self::RateLimited { retry_after } = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(retry_after)),
            );
        }
        if code == ErrorCode::Unauthenticated {
            // Makes a browser prompt for the access key and secret key.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"keyward\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
