//! Device login, as BaseSpace does it: `POST /v1pre3/oauthv2/deviceauthorization`, then polling
//! `POST /v1pre3/oauthv2/token` (`grant_type=device`, `code=…`; the RFC 8628 spelling works too)
//! while a person approves at `/oauth/device` (see `web.rs`).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_api::oauth::{DeviceAuthorization, OAuthError, TokenResponse};
use ferry_security::ClientAddr;
use sqlx::Row;

use super::St;
use crate::auth::{issue_token, normalise_scopes};
use crate::error::ApiResult;
use crate::ids;
use crate::params::FormOrQuery;

/// Seconds a device code lives (as BaseSpace's).
pub const DEVICE_CODE_SECONDS: i64 = 1800;
/// Seconds a client waits between polls.
pub const POLL_INTERVAL_SECONDS: i64 = 1;
/// Device logins a client may start per minute (each one stores a pending code).
pub const DEVICE_AUTHORIZATIONS_PER_MINUTE: u32 = 20;
/// What the token answer reports as `expires_in` (tokens do not expire; revoke them instead).
pub const TOKEN_EXPIRES_IN: u64 = 10 * 365 * 24 * 3600;

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(OAuthError {
            error: error.to_string(),
            error_description: Some(description.to_string()),
        }),
    )
        .into_response()
}

/// `POST /v1pre3/oauthv2/deviceauthorization` (form or query: client_id, response_type, scope).
pub async fn device_authorization(
    state: St,
    ClientAddr(client): ClientAddr,
    FormOrQuery(params): FormOrQuery,
) -> ApiResult<Response> {
    if let Err(wait) = state
        .device_authorizations
        .hit(&format!("device-authorization:{client}"))
        .await
    {
        let mut response = oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            &format!(
                "Too many device logins were started from your address; wait {} seconds, then try again.",
                wait.as_secs().max(1)
            ),
        );
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, wait.as_secs().max(1).into());
        return Ok(response);
    }
    if let Some(kind) = params.get("response_type")
        && kind != "device_code"
    {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            "response_type must be device_code.",
        ));
    }
    let client_id = params.get("client_id").unwrap_or("unknown-client").trim().to_string();
    if client_id.len() > 200 || client_id.chars().any(char::is_control) {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "client_id is not valid.",
        ));
    }
    let scopes = match normalise_scopes(params.get("scope").unwrap_or(ferry_api::oauth::DEFAULT_SCOPES)) {
        Ok(scopes) => scopes,
        Err(message) => return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &message)),
    };
    let device_code = ids::secret();
    let now = ferry_api::dates::now_millis();
    // Codes a day past their expiry are of no use to anyone.
    sqlx::query("DELETE FROM device_codes WHERE expires < $1")
        .bind(now - 24 * 3600 * 1000)
        .execute(&state.db.pool)
        .await?;
    let mut user_code = String::new();
    for _ in 0..5 {
        let candidate = ids::user_code();
        let inserted = sqlx::query(
            "INSERT INTO device_codes (device_hash, user_code, client_id, scopes, created, expires, interval_secs, \
             last_poll, status, user_id, context_id) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 'pending', NULL, NULL) \
             ON CONFLICT (user_code) DO NOTHING",
        )
        .bind(ids::hash_secret(&device_code))
        .bind(&candidate)
        .bind(&client_id)
        .bind(scopes.join(", "))
        .bind(now)
        .bind(now + DEVICE_CODE_SECONDS * 1000)
        .bind(POLL_INTERVAL_SECONDS)
        .execute(&state.db.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            user_code = candidate;
            break;
        }
    }
    if user_code.is_empty() {
        return Ok(oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "Could not allocate a user code; try again.",
        ));
    }
    let verification_uri = format!("{}/oauth/device", state.base);
    Ok(Json(DeviceAuthorization {
        device_code,
        verification_with_code_uri: Some(format!("{verification_uri}?code={user_code}")),
        user_code,
        verification_uri,
        expires_in: DEVICE_CODE_SECONDS as u64,
        interval: POLL_INTERVAL_SECONDS as u64,
    })
    .into_response())
}

/// `POST /v1pre3/oauthv2/token`: `authorization_pending` until approved, `access_denied` if
/// refused, `expired_token` after expiry, `slow_down` when polled too fast, then the token once.
pub async fn token(state: St, FormOrQuery(params): FormOrQuery) -> ApiResult<Response> {
    let grant = params.get("grant_type").unwrap_or_default();
    if grant != "device" && grant != "urn:ietf:params:oauth:grant-type:device_code" {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "This hub issues tokens by device login only: grant_type must be device \
             (or urn:ietf:params:oauth:grant-type:device_code).",
        ));
    }
    let Some(code) = params.get("code").or(params.get("device_code")) else {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code (the device_code) is required.",
        ));
    };
    let hash = ids::hash_secret(code.trim());
    let row = sqlx::query("SELECT status, expires, interval_secs FROM device_codes WHERE device_hash = $1")
        .bind(&hash)
        .fetch_optional(&state.db.pool)
        .await?;
    let Some(row) = row else {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "This device code is unknown. Start the login again.",
        ));
    };
    let now = ferry_api::dates::now_millis();
    let status: String = row.get("status");
    let expires: i64 = row.get("expires");
    let interval: i64 = row.get("interval_secs");
    if status == "used" {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "This device code was already exchanged for a token; start the login again.",
        ));
    }
    if now >= expires {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "expired_token",
            "The device code expired before it was approved; start the login again.",
        ));
    }
    // Polls closer together than 80 % of the interval are refused (allowing for timer jitter).
    let polled = sqlx::query("UPDATE device_codes SET last_poll = $1 WHERE device_hash = $2 AND last_poll <= $3")
        .bind(now)
        .bind(&hash)
        .bind(now - interval * 800)
        .execute(&state.db.pool)
        .await?
        .rows_affected();
    if polled == 0 {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "slow_down",
            &format!("Polling too fast: wait at least {interval} s between requests."),
        ));
    }
    match status.as_str() {
        "pending" => Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            "The user has not approved this login yet.",
        )),
        "denied" => Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "access_denied",
            "The user refused this login.",
        )),
        "approved" => {
            let claimed = sqlx::query(
                "UPDATE device_codes SET status = 'used' WHERE device_hash = $1 AND status = 'approved' \
                 RETURNING user_id, context_id, scopes, client_id",
            )
            .bind(&hash)
            .fetch_optional(&state.db.pool)
            .await?;
            let Some(claimed) = claimed else {
                return Ok(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "This device code was already exchanged for a token; start the login again.",
                ));
            };
            let user_id: String = claimed.get("user_id");
            let context_id: String = claimed.get("context_id");
            let scopes = normalise_scopes(&claimed.get::<String, _>("scopes")).unwrap_or_default();
            let client_id: String = claimed.get("client_id");
            let token = issue_token(&state.db, &user_id, &context_id, &scopes, &client_id).await?;
            tracing::info!(user = %user_id, context = %context_id, client = %client_id, "device login completed");
            Ok(Json(TokenResponse {
                access_token: token,
                expires_in: Some(TOKEN_EXPIRES_IN),
                token_type: Some("Bearer".to_string()),
            })
            .into_response())
        }
        _ => Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "This device code cannot be used; start the login again.",
        )),
    }
}
