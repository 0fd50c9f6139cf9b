//! Device login (OAuth 2 device flow as BaseSpace runs it). These bodies are snake_case.

use serde::{Deserialize, Serialize};

/// Answer to `POST /v1pre3/oauthv2/deviceauthorization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuthorization {
    /// Secret code the device polls with.
    pub device_code: String,
    /// Short code the person sees.
    pub user_code: String,
    /// Page where the person approves.
    pub verification_uri: String,
    /// The same page with the user code filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_with_code_uri: Option<String>,
    /// Seconds until the codes expire.
    #[serde(default)]
    pub expires_in: u64,
    /// Seconds to wait between polls.
    #[serde(default)]
    pub interval: u64,
}

/// Successful answer to `POST /v1pre3/oauthv2/token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The new access token.
    pub access_token: String,
    /// Lifetime in seconds, when the server says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// `Bearer`, when the server says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

/// OAuth error body: `{"error": "authorization_pending", "error_description": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    /// Machine-readable code (`authorization_pending`, `slow_down`, `access_denied`, `expired_token`, …).
    pub error: String,
    /// Human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// The scopes `bs auth` asks for when none are given.
pub const DEFAULT_SCOPES: &str = "READ GLOBAL, CREATE GLOBAL, BROWSE GLOBAL, CREATE PROJECTS, CREATE RUNS, START APPLICATIONS, MOVETOTRASH GLOBAL, WRITE GLOBAL";
