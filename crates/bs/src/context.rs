//! Which server and token a command uses: flags > environment > profile file.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use ferry_client::profile::{self, DEFAULT_PROFILE};
use ferry_client::{Client, ClientError, ClientOptions};

use crate::cli::Cli;

/// Where a setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--api-server`/`--access-token` or the environment variables.
    FlagOrEnv,
    /// The profile file.
    Profile,
    /// Built-in default.
    Default,
}

/// Resolved settings of a command.
#[derive(Debug, Clone)]
pub struct Context {
    /// Profile name.
    pub profile: String,
    /// Profile file path.
    pub profile_path: PathBuf,
    /// API server URL.
    pub api_server: String,
    /// Access token, if any.
    pub token: Option<String>,
    /// Where it came from.
    pub token_source: Source,
}

/// Resolves the profile, server and token.
pub fn resolve(cli: &Cli) -> anyhow::Result<Context> {
    let name = cli.config.clone().unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    if !name.ends_with(".cfg") {
        profile::validate_name(&name)?;
    }
    let path = profile::profile_path(&name);
    let file = profile::load_from(&path, &name)?;
    if cli.config.is_some() && file.is_none() && cli.access_token.is_none() && !is_auth(cli) {
        bail!(
            "profile '{name}' does not exist ({}); create it with `bs -c {name} auth`, or see `bs list configs`",
            path.display()
        );
    }
    let api_server = match (&cli.api_server, file.as_ref().and_then(|p| p.api_server.clone())) {
        (Some(flag), _) => ferry_client::region::resolve_api_server(flag),
        (None, Some(from_file)) => from_file,
        (None, None) => ferry_client::Region::Use1.api_server().to_string(),
    };
    let (token, token_source) = match (&cli.access_token, file.as_ref().and_then(|p| p.access_token.clone())) {
        (Some(flag), _) if !flag.trim().is_empty() => (Some(flag.trim().to_string()), Source::FlagOrEnv),
        (_, Some(from_file)) => (Some(from_file), Source::Profile),
        _ => (None, Source::Default),
    };
    Ok(Context {
        profile: name,
        profile_path: path,
        api_server,
        token,
        token_source,
    })
}

fn is_auth(cli: &Cli) -> bool {
    matches!(cli.command, crate::cli::Command::Auth(_))
}

impl Context {
    /// The `bs auth` command line for this context's profile (`bs -c lab auth --force`), for
    /// messages that suggest logging in again.
    pub fn auth_command(&self, force: bool) -> String {
        let profile = if self.profile == DEFAULT_PROFILE {
            String::new()
        } else {
            format!(" -c {}", self.profile)
        };
        format!("bs{profile} auth{}", if force { " --force" } else { "" })
    }

    /// A client for this context; errors helpfully when there is no token.
    pub fn client(&self) -> anyhow::Result<Client> {
        let Some(token) = &self.token else {
            bail!(
                "no access token: profile '{}' ({}) has none and BASESPACE_ACCESS_TOKEN is not set; \
                 log in with `{}`",
                self.profile,
                self.profile_path.display(),
                self.auth_command(false)
            );
        };
        let options = ClientOptions::default();
        Client::with_options(&self.api_server, token, options).context("cannot set up the BaseSpace client")
    }

    /// Where the token came from, for error messages.
    pub fn token_origin(&self) -> String {
        match self.token_source {
            Source::FlagOrEnv => "the token from --access-token/BASESPACE_ACCESS_TOKEN".to_string(),
            _ => format!(
                "the token of profile '{}' ({})",
                self.profile,
                self.profile_path.display()
            ),
        }
    }
}

/// Rewrites client errors with the profile and what to do next.
pub fn explain(error: &anyhow::Error, context: Option<&Context>) -> String {
    for cause in error.chain() {
        if let Some(ClientError::Unauthorized { server, message }) = cause.downcast_ref::<ClientError>() {
            let (origin, relogin) = match context {
                Some(ctx) => (ctx.token_origin(), ctx.auth_command(true)),
                None => ("the access token".to_string(), "bs auth --force".to_string()),
            };
            let region_hint = match ferry_client::region::region_of_server(server) {
                Some(region) => format!(
                    " If your account is not in {} ({}), pass --api-server with your region (e.g. --api-server euc1).",
                    region.label(),
                    region
                ),
                None => " If the token belongs to another server or region, pass --api-server.".to_string(),
            };
            return format!(
                "{origin} was rejected by {server} ({message}). It is invalid, revoked or for another server: \
                 log in again with `{relogin}`.{region_hint}"
            );
        }
    }
    format!("{error:#}")
}
