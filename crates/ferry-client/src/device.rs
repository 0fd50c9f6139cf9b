//! Device login (`bs auth`): BaseSpace's OAuth device flow.
//!
//! 1. [`start`]: `POST /v1pre3/oauthv2/deviceauthorization` (form: `response_type=device_code`,
//!    `client_id`, `scope`) gives a user code and a URL to open.
//! 2. [`poll`]: `POST /v1pre3/oauthv2/token` (form: `client_id`, `client_secret`, `code`,
//!    `grant_type=device`) until the person approves, at the server's interval; `slow_down` adds
//!    five seconds; `access_denied` and `expired_token` stop; the codes' lifetime and the caller's
//!    timeout bound the wait.

use std::time::{Duration, Instant};

use ferry_api::oauth::{DeviceAuthorization, OAuthError, TokenResponse};

use crate::error::{ClientError, Result};

/// Client ID `bs` identifies itself with (accepted by the Ferry hub).
pub const BS_CLIENT_ID: &str = "ferry-bs";

/// Why device login did not produce a token.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The person refused.
    #[error("the login was refused in the browser (access_denied); run the command again to retry")]
    Denied,
    /// The codes expired before approval.
    #[error("the login code expired before it was approved; run the command again and approve within the time shown")]
    Expired,
    /// The caller's timeout passed.
    #[error("gave up waiting for approval after {0:?}; run the command again (or raise --timeout)")]
    TimedOut(Duration),
    /// The server answered with another OAuth error.
    #[error("the server refused the login: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    OAuth {
        /// OAuth error code.
        error: String,
        /// Description.
        description: Option<String>,
    },
    /// Transport or other client error.
    #[error(transparent)]
    Client(#[from] ClientError),
}

fn http() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(format!("ferry-bs/{}", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|err| ClientError::Invalid(format!("cannot set up HTTP: {err}")))
}

fn network(api_server: &str, err: reqwest::Error) -> ClientError {
    ClientError::network(api_server.to_string(), err)
}

/// Starts device login against `api_server` (URL or region code).
pub async fn start(api_server: &str, client_id: &str, scopes: &str) -> Result<DeviceAuthorization, DeviceError> {
    let api_server = crate::region::resolve_api_server(api_server);
    let url = format!("{api_server}/v1pre3/oauthv2/deviceauthorization");
    let response = http()?
        .post(&url)
        .form(&[
            ("response_type", "device_code"),
            ("client_id", client_id),
            ("scope", scopes),
        ])
        .send()
        .await
        .map_err(|err| network(&api_server, err))?;
    let status = response.status();
    let text = response.text().await.map_err(|err| network(&api_server, err))?;
    if !status.is_success() {
        if let Ok(oauth) = serde_json::from_str::<OAuthError>(&text) {
            return Err(DeviceError::OAuth {
                error: oauth.error,
                description: oauth.error_description,
            });
        }
        return Err(ClientError::Http {
            method: "POST".into(),
            url,
            status: status.as_u16(),
            code: None,
            message: text.chars().take(200).collect(),
            request_id: None,
        }
        .into());
    }
    Ok(crate::client::parse_json(&url, text.as_bytes())?)
}

/// Polls until the person approves (or refuses, or time runs out). `timeout` bounds the whole wait
/// in addition to the codes' `expires_in`.
pub async fn poll(
    api_server: &str,
    client_id: &str,
    client_secret: Option<&str>,
    authorization: &DeviceAuthorization,
    timeout: Duration,
) -> Result<TokenResponse, DeviceError> {
    let api_server = crate::region::resolve_api_server(api_server);
    let url = format!("{api_server}/v1pre3/oauthv2/token");
    let http = http()?;
    let started = Instant::now();
    let lifetime = if authorization.expires_in > 0 {
        Duration::from_secs(authorization.expires_in)
    } else {
        timeout
    };
    let deadline = timeout.min(lifetime);
    let mut interval = Duration::from_secs(authorization.interval.clamp(1, 60));
    let mut network_failures = 0u32;
    loop {
        if started.elapsed() >= deadline {
            return Err(if deadline == lifetime && lifetime < timeout {
                DeviceError::Expired
            } else {
                DeviceError::TimedOut(timeout)
            });
        }
        tokio::time::sleep(interval.min(deadline.saturating_sub(started.elapsed()))).await;
        let mut form = vec![
            ("client_id", client_id),
            ("code", authorization.device_code.as_str()),
            ("device_code", authorization.device_code.as_str()),
            ("grant_type", "device"),
        ];
        if let Some(secret) = client_secret {
            form.push(("client_secret", secret));
        }
        let response = match http.post(&url).form(&form).send().await {
            Ok(response) => response,
            Err(err) => {
                network_failures += 1;
                if network_failures > 5 {
                    return Err(network(&api_server, err).into());
                }
                continue;
            }
        };
        network_failures = 0;
        let status = response.status();
        let text = response.text().await.map_err(|err| network(&api_server, err))?;
        if status.is_success() {
            let token: TokenResponse = crate::client::parse_json(&url, text.as_bytes())?;
            if token.access_token.trim().is_empty() {
                return Err(ClientError::InvalidResponse {
                    url,
                    message: "empty access_token".into(),
                }
                .into());
            }
            return Ok(token);
        }
        if status.is_server_error() || status.as_u16() == 429 {
            continue;
        }
        match serde_json::from_str::<OAuthError>(&text) {
            Ok(oauth) => match oauth.error.as_str() {
                "authorization_pending" | "AuthorizationPending" => continue,
                "slow_down" => interval += Duration::from_secs(5),
                "access_denied" | "AccessDenied" => return Err(DeviceError::Denied),
                "expired_token" => return Err(DeviceError::Expired),
                _ => {
                    return Err(DeviceError::OAuth {
                        error: oauth.error,
                        description: oauth.error_description,
                    });
                }
            },
            Err(_) => {
                return Err(ClientError::Http {
                    method: "POST".into(),
                    url,
                    status: status.as_u16(),
                    code: None,
                    message: text.chars().take(200).collect(),
                    request_id: None,
                }
                .into());
            }
        }
    }
}
