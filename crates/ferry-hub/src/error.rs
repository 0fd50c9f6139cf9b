//! API errors in BaseSpace's shapes. Every error body carries both the v1pre3 `ResponseStatus`
//! and the v2 `ErrorCode`/`ErrorMessage`, plus the request ID (filled in by a middleware).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ferry_api::ErrorBody;

/// An error answered to an API client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `BASESPACE.*` code.
    pub code: &'static str,
    /// What happened and what to do.
    pub message: String,
    /// Each problem on its own, for errors about several (a launch's form): the v1pre3
    /// `Notifications` as `{"Type":"error","Item":"…"}`.
    pub notifications: Vec<String>,
}

/// Marker put in error responses so the request-ID middleware can rebuild the body with the ID.
#[derive(Debug, Clone)]
pub(crate) struct ErrorInfo(pub ApiError);

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            notifications: Vec::new(),
        }
    }

    /// 409 for a launch whose options do not fit the application's form: every problem in the
    /// message and in `Notifications`.
    pub fn form_errors(problems: &[ferry_api::launch::FieldProblem]) -> Self {
        let items: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let mut error = Self::new(
            StatusCode::CONFLICT,
            "BASESPACE.APPLICATIONS.FORM_VALIDATION_ERROR",
            format!("{}: {}", ferry_api::launch::FORM_VALIDATION_MESSAGE, items.join("; ")),
        );
        error.notifications = items;
        error
    }

    /// 400 for a request the client must change.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BASESPACE.COMMON.BAD_REQUEST", message)
    }

    /// 400 for one bad parameter.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BASESPACE.COMMON.INVALID_PARAMETER", message)
    }

    /// 404 for an unknown resource, or one outside the token's context (never distinguished).
    pub fn not_found(kind: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BASESPACE.COMMON.NOT_FOUND",
            format!(
                "No {kind} with ID '{id}' is visible to this access token. Check the ID, and that the token's context \
                 (personal or workgroup) is the one that owns it."
            ),
        )
    }

    /// 401 for a missing or invalid token.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "BASESPACE.COMMON.AUTHENTICATION_FAILURE",
            message,
        )
    }

    /// 403 for a token without the scope needed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "BASESPACE.COMMON.INSUFFICIENT_RESOURCE_PERMISSIONS",
            message,
        )
    }

    /// 409 for a conflict with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "BASESPACE.COMMON.CONFLICT", message)
    }

    /// 500 for a failure of the hub itself; details go to the log, not the client.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "BASESPACE.COMMON.INTERNAL_ERROR",
            format!("The hub failed to {context}; see the hub's log for details, then retry."),
        )
    }

    /// The body, with the request ID when known.
    pub fn body(&self, request_id: Option<String>) -> ErrorBody {
        let mut body = ErrorBody::new(self.code, self.message.clone(), request_id);
        if !self.notifications.is_empty() {
            body.notifications = Some(
                self.notifications
                    .iter()
                    .map(|item| serde_json::json!({ "Type": "error", "Item": item }))
                    .collect(),
            );
        }
        body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::internal("query its database", error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body(None)).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        response.extensions_mut().insert(ErrorInfo(self));
        response
    }
}

/// Result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;
