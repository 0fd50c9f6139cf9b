//! Linking a workspace user to a BaseSpace account: the access token is checked against the
//! region's `/v2/users/current`, sealed at rest, never logged and never sent back.

use std::sync::Arc;

use ferry_client::ClientError;
use ferry_client::region::Region;
use ferry_db::Db;
use futures_util::future::BoxFuture;
use serde::Serialize;
use sqlx::Row;

use crate::crypto::{Keyring, Sealed};

/// Purpose bound into the ciphertext of BaseSpace tokens.
const PURPOSE: &str = "basespace-access-token";
/// Value of the region select for a self-hosted server.
pub const CUSTOM_REGION: &str = "custom";

/// The BaseSpace user behind a linked token.
#[derive(Debug, Clone, Serialize)]
pub struct BaseSpaceUser {
    /// BaseSpace user id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
}

/// A linked account as shown to its owner (never the token, only its last 4 characters).
#[derive(Debug, Clone, Serialize)]
pub struct LinkInfo {
    /// Who the token belongs to.
    pub basespace_user: BaseSpaceUser,
    /// API server the token is used with.
    pub api_server: String,
    /// Region code (`USE1`, …) or `custom`.
    pub region: String,
    /// Region label for display.
    pub region_label: String,
    /// `Personal` or `Workgroup: NAME`.
    pub context: String,
    /// Last 4 characters of the token.
    pub token_last4: String,
    /// When it was linked (Unix ms; RFC 3339 in JSON).
    #[serde(serialize_with = "rfc3339")]
    pub linked_at: i64,
    /// When BaseSpace last rejected the token while the workspace used it (Unix ms; RFC 3339 in
    /// JSON), if it has not worked since: the user needs to set a new token.
    #[serde(serialize_with = "rfc3339_opt")]
    pub token_rejected_at: Option<i64>,
}

/// Unix milliseconds as an RFC 3339 UTC instant (`2026-11-30T14:05:09.123Z`).
pub fn rfc3339_text(millis: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

fn rfc3339<S: serde::Serializer>(millis: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339_text(*millis))
}

fn rfc3339_opt<S: serde::Serializer>(millis: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
    match millis {
        Some(millis) => serializer.serialize_str(&rfc3339_text(*millis)),
        None => serializer.serialize_none(),
    }
}

/// Where a `bs` user finds the access token to paste, for any named configuration.
pub const TOKEN_SOURCE_HINT: &str = "run `bs auth` (or `bs auth --force` to replace a revoked token; add `-c NAME` \
     for a named configuration) and copy the value of the accessToken line of your profile file in ~/.basespace/: \
     default.cfg, or NAME.cfg for `bs -c NAME`";

/// Why a link could not be made or used. Messages are shown to the user as they are.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Bad form or JSON input.
    #[error("{0}")]
    Invalid(String),
    /// The server rejected the token.
    #[error(
        "this token was not accepted by {server}: it is invalid or has been revoked. If it was made for another \
         region, choose that region. To get a new token, {hint}",
        hint = TOKEN_SOURCE_HINT
    )]
    Rejected {
        /// API server.
        server: String,
    },
    /// The server could not be reached, or answered something other than BaseSpace's API.
    #[error("{0}")]
    Upstream(String),
    /// The server is not one this workspace may link to.
    #[error(
        "this workspace links only to Illumina's BaseSpace regions and to the servers its administrator allows; \
         {server} is not one of them. Ask the administrator to add it (ferry workspace --allow-api-server {server})"
    )]
    NotAllowed {
        /// The normalised server URL.
        server: String,
    },
    /// No account linked.
    #[error("no BaseSpace account is linked yet: open Profile → BaseSpace Account Details and paste an access token")]
    NotLinked,
    /// The sealed token cannot be opened.
    #[error("the stored BaseSpace token cannot be used ({0}); set a new token on the profile page")]
    Crypto(#[from] crate::crypto::CryptoError),
    /// Database failure.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

impl LinkError {
    /// Classifies a client error from checking or using a token.
    pub fn from_client(server: &str, error: ClientError) -> LinkError {
        match error {
            ClientError::Unauthorized { .. } => LinkError::Rejected {
                server: server.to_string(),
            },
            other => LinkError::Upstream(describe_failure(server, &other)),
        }
    }
}

/// A failed call to a BaseSpace server as a sentence for the workspace user, from a fixed set:
/// what kind of failure, at which server, what to do. Nothing the server sent (bodies, messages)
/// is repeated: a server is not trusted, and its answer is not the user's to read through us.
pub fn describe_failure(server: &str, error: &ClientError) -> String {
    match error {
        ClientError::Unauthorized { .. } => format!(
            "BaseSpace ({server}) rejected the linked access token (revoked or expired?); set a new token under \
             Profile → BaseSpace Account Details: {TOKEN_SOURCE_HINT}"
        ),
        ClientError::Forbidden { .. } => format!(
            "BaseSpace ({server}) refused access (HTTP 403); check that the linked token's context (personal or \
             workgroup) can read this data"
        ),
        ClientError::NotFound { what, .. } => format!(
            "{what} was not found on {server}; it may have been deleted, or belong to another workgroup context \
             than the linked token"
        ),
        ClientError::Refused(refused) => refused.to_string(),
        ClientError::Network { .. } => format!(
            "cannot reach the BaseSpace API server {server} (the connection failed, was refused or timed out); check \
             the region or the server URL, and try again later"
        ),
        ClientError::Http { status, .. } => format!(
            "{server} answered HTTP {status} where BaseSpace's API answers with data; if it lasts, check the region \
             or the server URL"
        ),
        ClientError::InvalidResponse { .. } => {
            format!("{server} answered with something that is not BaseSpace's API; check the region or the server URL")
        }
        ClientError::Invalid(message) => message.clone(),
        ClientError::Io { .. } => "a local file could not be read or written; see the workspace's log".to_string(),
    }
}

/// Normalises a server URL given by a user or an administrator: `http(s)://host[:port][/path]`,
/// host in lower case, default port and trailing slashes dropped. URLs with a user name,
/// password, query or fragment are refused (a `#` would swallow the API path appended to it).
pub fn normalise_server_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let url = url::Url::parse(text).map_err(|error| {
        format!("the API server {text:?} is not a URL ({error}); example: https://api.basespace.illumina.com")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("the API server {text:?} must be an http:// or https:// URL"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "the API server {text:?} must not contain a user name, password, query (?…) or fragment (#…); give only \
             the scheme, host, port and path"
        ));
    }
    let mut normalised = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        normalised.push_str(&format!(":{port}"));
    }
    normalised.push_str(url.path().trim_end_matches('/'));
    Ok(normalised)
}

/// Where a token is to be used: a region or a custom server.
#[derive(Debug, Clone)]
pub struct Target {
    /// API server URL, no trailing slash.
    pub api_server: String,
    /// Region code (upper case) or `custom`.
    pub region: String,
}

/// Resolves a region code (`USE1`, `euc1`, `custom`) and an optional custom URL.
pub fn resolve_target(region: Option<&str>, api_server: Option<&str>) -> Result<Target, LinkError> {
    let region = region.map(str::trim).filter(|r| !r.is_empty());
    let api_server = api_server.map(str::trim).filter(|s| !s.is_empty());
    match (region, api_server) {
        (Some(code), Some(server)) if !code.eq_ignore_ascii_case(CUSTOM_REGION) => Err(LinkError::Invalid(format!(
            "you chose the region {} and also gave the API server URL {server}: choose \"Custom API server\" to \
             use that URL, or empty the URL field to use the region",
            code.to_ascii_uppercase()
        ))),
        (Some(code), None) if !code.eq_ignore_ascii_case(CUSTOM_REGION) => {
            let region = Region::from_code(code).ok_or_else(|| {
                let known: Vec<String> = Region::ALL.iter().map(|r| r.to_string()).collect();
                LinkError::Invalid(format!(
                    "unknown region {code:?}: choose one of {} or \"custom\" with an API server URL",
                    known.join(", ")
                ))
            })?;
            Ok(Target {
                api_server: region.api_server().to_string(),
                region: region.to_string(),
            })
        }
        (_, Some(server)) => {
            let server = normalise_server_url(server).map_err(LinkError::Invalid)?;
            let region = ferry_client::region::region_of_server(&server)
                .map(|r| r.to_string())
                .unwrap_or_else(|| CUSTOM_REGION.to_string());
            Ok(Target {
                api_server: server,
                region,
            })
        }
        (Some(_), None) => Err(LinkError::Invalid(
            "choose \"Custom API server\" only together with the server's URL".to_string(),
        )),
        (None, None) => Err(LinkError::Invalid(
            "choose a region or give an API server URL".to_string(),
        )),
    }
}

fn check_token_text(token: &str) -> Result<&str, LinkError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(LinkError::Invalid(format!(
            "paste the access token: {TOKEN_SOURCE_HINT}"
        )));
    }
    if token.len() > 4096 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(LinkError::Invalid(
            "that does not look like an access token (it contains spaces or is very long); copy only the value after \
             `accessToken =`"
                .to_string(),
        ));
    }
    Ok(token)
}

/// `United States (USE1)`; a region whose name is only its code shows once (`APS4`).
fn region_name(region: Region) -> String {
    let code = region.to_string();
    if region.label().eq_ignore_ascii_case(&code) {
        code
    } else {
        format!("{} ({code})", region.label())
    }
}

fn region_label(region: &str) -> String {
    match Region::from_code(region) {
        Some(r) => region_name(r),
        None => "Custom API server".to_string(),
    }
}

/// The API servers users may link to: Illumina's regions always, other servers only when the
/// administrator allowed them (`--allow-api-server`). Their origins are also the only loopback or
/// private addresses the workspace connects to ([`ferry_client::EgressPolicy`]).
#[derive(Debug, Clone, Default)]
pub struct ServerAllowList {
    servers: Vec<url::Url>,
    policy: ferry_client::EgressPolicy,
}

impl ServerAllowList {
    /// An allow-list of these server URLs (each normalised; refused when not a plain http(s) URL).
    pub fn new<S: AsRef<str>>(servers: &[S]) -> Result<ServerAllowList, String> {
        let servers = servers
            .iter()
            .map(|text| {
                let normalised =
                    normalise_server_url(text.as_ref()).map_err(|error| format!("--allow-api-server: {error}"))?;
                url::Url::parse(&normalised).map_err(|error| format!("--allow-api-server {normalised:?}: {error}"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let policy = ferry_client::EgressPolicy::allowing(&servers);
        Ok(ServerAllowList { servers, policy })
    }

    /// The allowed servers besides Illumina's regions.
    pub fn servers(&self) -> &[url::Url] {
        &self.servers
    }

    /// Whether users may link to `api_server`: a region's own https server, or an allowed one.
    pub fn permits(&self, api_server: &str) -> bool {
        let Ok(url) = url::Url::parse(api_server) else {
            return false;
        };
        let region_server = ferry_client::region::region_of_server(api_server).is_some()
            && url.scheme() == "https"
            && url.port_or_known_default() == Some(443);
        region_server || self.policy.is_allowed_server(&url)
    }
}

/// Linking and using BaseSpace accounts.
#[derive(Clone)]
pub struct Links {
    db: Db,
    keyring: Arc<Keyring>,
    allowed: Arc<ServerAllowList>,
}

impl Links {
    /// Links over `db`, sealing tokens with `keyring`, to the servers `allowed` permits.
    pub fn new(db: Db, keyring: Arc<Keyring>, allowed: ServerAllowList) -> Self {
        Self {
            db,
            keyring,
            allowed: Arc::new(allowed),
        }
    }

    /// A client for `api_server` with `token`, under the workspace's outbound-request policy.
    fn client_for_server(
        &self,
        api_server: &str,
        token: &str,
        options: ferry_client::ClientOptions,
    ) -> Result<ferry_client::Client, LinkError> {
        if !self.allowed.permits(api_server) {
            return Err(LinkError::NotAllowed {
                server: api_server.to_string(),
            });
        }
        let options = ferry_client::ClientOptions {
            egress: Some(self.allowed.policy.clone()),
            ..options
        };
        ferry_client::Client::with_options(api_server, token, options).map_err(|error| match error {
            ClientError::Refused(refused) => LinkError::Invalid(refused.to_string()),
            other => LinkError::Invalid(other.to_string()),
        })
    }

    /// Checks `token` against the target's `/v2/users/current` and, if accepted, stores it sealed.
    pub async fn link(&self, user_id: &str, token: &str, target: Target) -> Result<LinkInfo, LinkError> {
        let token = check_token_text(token)?;
        // Someone is waiting on the form: one retry, short timeouts.
        let client = self.client_for_server(&target.api_server, token, interactive_options(1))?;
        let me = client
            .current_user()
            .await
            .map_err(|error| LinkError::from_client(&target.api_server, error))?;
        let is_workgroup = me.is_workgroup.unwrap_or(false);
        let (name, email, bs_user_id) = match (&me.logged_in_user, is_workgroup) {
            (Some(person), true) => (
                person.name.clone().unwrap_or_default(),
                person.email.clone().unwrap_or_default(),
                person.id.clone(),
            ),
            _ => (
                me.name.clone().unwrap_or_default(),
                me.email.clone().unwrap_or_default(),
                me.id.clone(),
            ),
        };
        let context = if is_workgroup {
            format!("Workgroup: {}", me.name.clone().unwrap_or_else(|| me.id.clone()))
        } else {
            "Personal".to_string()
        };
        let sealed = self.keyring.seal(user_id, PURPOSE, token)?;
        let last4: String = {
            let chars: Vec<char> = token.chars().collect();
            chars[chars.len().saturating_sub(4)..].iter().collect()
        };
        let now = ferry_api::dates::now_millis();
        sqlx::query(
            "INSERT INTO basespace_links (user_id, api_server, region, key_id, token_ciphertext, token_last4, \
             bs_user_id, bs_user_name, bs_user_email, context, linked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (user_id) DO UPDATE SET api_server = excluded.api_server, region = excluded.region, \
             key_id = excluded.key_id, token_ciphertext = excluded.token_ciphertext, token_last4 = excluded.token_last4, \
             bs_user_id = excluded.bs_user_id, bs_user_name = excluded.bs_user_name, \
             bs_user_email = excluded.bs_user_email, context = excluded.context, linked_at = excluded.linked_at, \
             token_rejected_at = NULL",
        )
        .bind(user_id)
        .bind(&target.api_server)
        .bind(&target.region)
        .bind(&sealed.key_id)
        .bind(&sealed.ciphertext)
        .bind(&last4)
        .bind(&bs_user_id)
        .bind(&name)
        .bind(&email)
        .bind(&context)
        .bind(now)
        .execute(&self.db.pool)
        .await?;
        tracing::info!(user_id, api_server = %target.api_server, "linked a BaseSpace account");
        Ok(LinkInfo {
            basespace_user: BaseSpaceUser {
                id: bs_user_id,
                name,
                email,
            },
            region_label: region_label(&target.region),
            api_server: target.api_server,
            region: target.region,
            context,
            token_last4: last4,
            linked_at: now,
            token_rejected_at: None,
        })
    }

    /// The link of a user, without the token.
    pub async fn info(&self, user_id: &str) -> Result<Option<LinkInfo>, LinkError> {
        let row = sqlx::query(
            "SELECT api_server, region, token_last4, bs_user_id, bs_user_name, bs_user_email, context, linked_at, \
             token_rejected_at FROM basespace_links WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let region: String = row.try_get(1)?;
        Ok(Some(LinkInfo {
            api_server: row.try_get(0)?,
            region_label: region_label(&region),
            region,
            token_last4: row.try_get(2)?,
            basespace_user: BaseSpaceUser {
                id: row.try_get(3)?,
                name: row.try_get(4)?,
                email: row.try_get(5)?,
            },
            context: row.try_get(6)?,
            linked_at: row.try_get(7)?,
            token_rejected_at: row.try_get(8)?,
        }))
    }

    /// Notes how a use of the linked token went: a rejection (HTTP 401) marks the link so the
    /// Profile and Import pages warn; a success clears the mark. Other failures say nothing about
    /// the token and change nothing.
    pub async fn record_use<T>(&self, user_id: &str, result: &Result<T, LinkError>) {
        let outcome = match result {
            Ok(_) => sqlx::query(
                "UPDATE basespace_links SET token_rejected_at = NULL WHERE user_id = $1 AND token_rejected_at IS NOT NULL",
            )
            .bind(user_id)
            .execute(&self.db.pool)
            .await,
            Err(LinkError::Rejected { .. }) => {
                sqlx::query("UPDATE basespace_links SET token_rejected_at = $1 WHERE user_id = $2")
                    .bind(ferry_api::dates::now_millis())
                    .bind(user_id)
                    .execute(&self.db.pool)
                    .await
            }
            Err(_) => return,
        };
        if let Err(error) = outcome {
            tracing::warn!(%error, user_id, "cannot record whether the BaseSpace token worked");
        }
    }

    /// A client for the user's linked account, for pages and API calls someone waits on.
    pub async fn client(&self, user_id: &str) -> Result<ferry_client::Client, LinkError> {
        self.client_with(user_id, interactive_options(2)).await
    }

    /// A client for the user's linked account with these options.
    pub async fn client_with(
        &self,
        user_id: &str,
        options: ferry_client::ClientOptions,
    ) -> Result<ferry_client::Client, LinkError> {
        let row = sqlx::query("SELECT api_server, key_id, token_ciphertext FROM basespace_links WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(LinkError::NotLinked)?;
        let api_server: String = row.try_get(0)?;
        let sealed = Sealed {
            key_id: row.try_get(1)?,
            ciphertext: row.try_get(2)?,
        };
        let token = self.keyring.open(user_id, PURPOSE, &sealed)?;
        self.client_for_server(&api_server, &token, options)
    }

    /// Removes the link; with `revoke`, first asks the server to revoke the token. Returns a
    /// warning when the revocation failed (the link is removed anyway).
    pub async fn unlink(&self, user_id: &str, revoke: bool) -> Result<Option<String>, LinkError> {
        let mut warning = None;
        if revoke {
            match self.client(user_id).await {
                Ok(client) => {
                    if let Err(error) = client.revoke_token().await {
                        let server = client.api_server().to_string();
                        warning = Some(format!(
                            "the link was removed, but {server} did not confirm revoking the token: {}",
                            LinkError::from_client(&server, error)
                        ));
                    }
                }
                Err(LinkError::NotLinked) => return Err(LinkError::NotLinked),
                Err(error) => {
                    warning = Some(format!(
                        "the link was removed, but the token could not be revoked: {error}"
                    ))
                }
            }
        }
        let deleted = sqlx::query("DELETE FROM basespace_links WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.db.pool)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(LinkError::NotLinked);
        }
        tracing::info!(user_id, revoke, "unlinked a BaseSpace account");
        Ok(warning)
    }
}

impl crate::import::ClientProvider for Links {
    fn client_for(&self, user_id: &str) -> BoxFuture<'_, Result<ferry_client::Client, String>> {
        let user_id = user_id.to_string();
        // Background imports: the client's default, patient retries.
        Box::pin(async move {
            self.client_with(&user_id, workspace_options(ferry_client::ClientOptions::default()))
                .await
                .map_err(|error| error.to_string())
        })
    }

    fn token_rejected(&self, user_id: &str) -> BoxFuture<'_, ()> {
        let user_id = user_id.to_string();
        Box::pin(async move {
            let rejected: Result<(), LinkError> = Err(LinkError::Rejected { server: String::new() });
            self.record_use(&user_id, &rejected).await;
        })
    }
}

fn workspace_options(options: ferry_client::ClientOptions) -> ferry_client::ClientOptions {
    ferry_client::ClientOptions {
        user_agent: format!("ferry-workspace/{}", env!("CARGO_PKG_VERSION")),
        ..options
    }
}

/// Client options for requests a person is waiting on.
fn interactive_options(retries: u32) -> ferry_client::ClientOptions {
    workspace_options(ferry_client::ClientOptions {
        retries,
        initial_backoff: std::time::Duration::from_millis(300),
        max_backoff: std::time::Duration::from_secs(2),
        connect_timeout: std::time::Duration::from_secs(10),
        api_timeout: std::time::Duration::from_secs(60),
        ..ferry_client::ClientOptions::default()
    })
}

/// Regions offered in the profile form: (value, label).
pub fn region_choices() -> Vec<(String, String)> {
    let mut choices: Vec<(String, String)> = Region::ALL.iter().map(|r| (r.to_string(), region_name(*r))).collect();
    choices.push((CUSTOM_REGION.to_string(), "Custom API server".to_string()));
    choices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_from_regions_and_urls() {
        let t = resolve_target(Some("euc1"), None).unwrap();
        assert_eq!(t.region, "EUC1");
        assert_eq!(t.api_server, "https://api.euc1.sh.basespace.illumina.com");
        let t = resolve_target(Some("custom"), Some("http://127.0.0.1:8041/")).unwrap();
        assert_eq!(
            (t.region.as_str(), t.api_server.as_str()),
            ("custom", "http://127.0.0.1:8041")
        );
        let t = resolve_target(None, Some("https://api.basespace.illumina.com")).unwrap();
        assert_eq!(t.region, "USE1");
        assert!(resolve_target(Some("mars1"), None).is_err());
        let conflict = resolve_target(Some("USE1"), Some("https://hub.example.org")).unwrap_err();
        assert!(conflict.to_string().contains("Custom API server"), "{conflict}");
        assert!(resolve_target(Some("custom"), None).is_err());
        assert!(resolve_target(None, Some("ftp://x")).is_err());
        assert!(resolve_target(None, Some("http://u:p@x")).is_err());
        assert!(resolve_target(None, None).is_err());
    }

    #[test]
    fn server_urls_are_normalised_and_tricks_refused() {
        assert_eq!(
            normalise_server_url(" HTTP://Hub.Example.ORG:80/base/ ").unwrap(),
            "http://hub.example.org/base"
        );
        assert_eq!(
            normalise_server_url("http://127.0.0.1:8041").unwrap(),
            "http://127.0.0.1:8041"
        );
        for bad in [
            "http://127.0.0.1:8041/any/path#",
            "https://api.basespace.illumina.com/#@10.0.0.1",
            "http://hub/?a=b",
            "http://user@hub",
            "ftp://hub",
            "not a url",
        ] {
            assert!(normalise_server_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_regions_and_allowed_servers_may_be_linked() {
        let allowed = ServerAllowList::new(&["http://127.0.0.1:8041/"]).unwrap();
        assert!(allowed.permits("https://api.basespace.illumina.com"));
        assert!(allowed.permits("https://api.euc1.sh.basespace.illumina.com"));
        assert!(allowed.permits("http://127.0.0.1:8041"));
        assert!(!allowed.permits("http://127.0.0.1:8042"));
        assert!(
            !allowed.permits("http://api.basespace.illumina.com"),
            "regions over https only"
        );
        assert!(!allowed.permits("https://api.basespace.illumina.com:8443"));
        assert!(!allowed.permits("https://example.org"));
        assert!(ServerAllowList::new(&["http://hub#x"]).is_err());
    }

    #[test]
    fn token_text_is_checked() {
        assert!(check_token_text("  ").is_err());
        assert!(check_token_text("abc def").is_err());
        assert_eq!(check_token_text(" abc123 \n").unwrap(), "abc123");
    }
}
