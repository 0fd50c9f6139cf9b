//! Errors of the client, worded to say what happened and what to do next.

use std::path::PathBuf;

/// An error talking to a BaseSpace API server (or the hub).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server rejected the access token (HTTP 401).
    #[error(
        "the access token was rejected by {server} ({message}); log in again with `bs auth --force`, \
         or if your account lives in another region pass --api-server with that region's API URL"
    )]
    Unauthorized {
        /// API server.
        server: String,
        /// What the server said.
        message: String,
    },
    /// The token is valid but lacks permission (HTTP 403).
    #[error(
        "{server} refused access ({code}: {message}); check that the token's workgroup context and scopes allow this (`bs whoami`)"
    )]
    Forbidden {
        /// API server.
        server: String,
        /// `BASESPACE.*` code, or `403`.
        code: String,
        /// What the server said.
        message: String,
    },
    /// The resource does not exist, or is not visible to this token (HTTP 404).
    #[error(
        "{what} was not found on {server} ({message}); check the ID or name, and the workgroup context of the token (`bs whoami`)"
    )]
    NotFound {
        /// What was asked for (`project 123`, `/v2/datasets/ds.1`).
        what: String,
        /// API server.
        server: String,
        /// What the server said.
        message: String,
    },
    /// Another error status.
    #[error("{method} {url} failed with HTTP {status}{}: {message}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(), request_id.as_deref().map(|r| format!(" [request id {r}]")).unwrap_or_default())]
    Http {
        /// HTTP method.
        method: String,
        /// URL without query.
        url: String,
        /// Status code.
        status: u16,
        /// `BASESPACE.*` code, if any.
        code: Option<String>,
        /// Message from the body (or the body's start).
        message: String,
        /// `X-Request-ID` or `RequestId`.
        request_id: Option<String>,
    },
    /// The server could not be reached or the connection broke.
    #[error(
        "could not talk to {server}: {source}; check the network and the API server URL (--api-server / apiServer in the profile)"
    )]
    Network {
        /// Host (scheme://host:port).
        server: String,
        /// Underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The outbound-request policy refused the address (a server-side client only; see
    /// [`crate::egress`]).
    #[error("{0}")]
    Refused(#[from] crate::egress::EgressRefused),
    /// The server answered something this client cannot understand.
    #[error("unexpected answer from {url}: {message}")]
    InvalidResponse {
        /// URL.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// Bad input given to the client (URL, token, ...).
    #[error("{0}")]
    Invalid(String),
    /// Local file system error.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`writing`, `reading`).
        action: &'static str,
        /// Path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ClientError {
    /// HTTP status, when the error came from one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Unauthorized { .. } => Some(401),
            ClientError::Forbidden { .. } => Some(403),
            ClientError::NotFound { .. } => Some(404),
            ClientError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the error is the server rejecting the token.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ClientError::Unauthorized { .. })
    }

    /// A failed connection or transfer with `server`; a refusal of the outbound-request policy
    /// (found in the error's causes) becomes [`ClientError::Refused`].
    pub(crate) fn network(server: impl Into<String>, error: reqwest::Error) -> Self {
        match crate::egress::refusal_in(&error) {
            Some(refused) => ClientError::Refused(refused),
            None => ClientError::Network {
                server: server.into(),
                source: error.without_url(),
            },
        }
    }

    /// Whether retrying cannot help: the policy refused the address.
    pub fn is_refused(&self) -> bool {
        matches!(self, ClientError::Refused(_))
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ClientError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Result with [`ClientError`].
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
