//! Applications and their sessions: `bs list applications`, `bs get application` (details and
//! launch form), `bs launch application`, `bs await appsession`, `bs kill appsession` and
//! `bs logs appsession`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use ferry_client::{ApplicationQuery, Client};
use futures_util::TryStreamExt;
use serde_json::Value;

use crate::cli::{AwaitArgs, Format, GetApplicationArgs, LaunchArgs, ListApplicationsArgs, ListFilters, SessionArgs};
use crate::commands::{to_value, to_values};
use crate::context::Context;
use crate::output::{emit, print_item, table};

/// Default columns of `bs list applications`.
pub const APPLICATION_COLUMNS: &[&str] = &["Name", "Id", "VersionNumber", "Category"];

/// Refuses list filters that applications do not have (instead of ignoring them).
fn refuse_resource_filters(filters: &ListFilters) -> anyhow::Result<()> {
    if !filters.project_id.is_empty()
        || !filters.project_name.is_empty()
        || !filters.input_biosample.is_empty()
        || !filters.input_run.is_empty()
        || !filters.is_type.is_empty()
        || !filters.like_type.is_empty()
        || !filters.not_type.is_empty()
    {
        bail!(
            "applications belong to no project, biosample or run: drop --project-*/--input-*/--is-type \
             (filter with --category or --filter-term)"
        );
    }
    Ok(())
}

/// The applications `bs list applications` shows (filtered by the server by category).
pub async fn list_applications(client: &Client, args: &ListApplicationsArgs) -> anyhow::Result<Vec<Value>> {
    refuse_resource_filters(&args.list.filters)?;
    let query = ApplicationQuery {
        category: args.category.clone(),
        all_versions: args.all_versions,
    };
    let items: Vec<_> = client.applications(&query).try_collect().await?;
    to_values(&items)
}

/// Finds the application version `bs get application` means: `-i ID` (with `--app-version`, that
/// version of the same application) or `-n NAME` (the latest version, or `--app-version`).
async fn find_application(client: &Client, args: &GetApplicationArgs) -> anyhow::Result<ferry_api::Application> {
    let select = &args.get.select;
    resolve_application(
        client,
        select.id.as_deref(),
        select.name.as_deref(),
        args.app_version.as_deref(),
    )
    .await
}

/// The application version named by ID or by name, optionally of another version.
async fn resolve_application(
    client: &Client,
    id: Option<&str>,
    name: Option<&str>,
    version: Option<&str>,
) -> anyhow::Result<ferry_api::Application> {
    let version = version.map(str::trim);
    if let Some(id) = id {
        let app = client.application(id).await?;
        let Some(version) = version else { return Ok(app) };
        let versions: Vec<_> = client.application_versions(id).try_collect().await?;
        return pick_version(versions, &app.name.unwrap_or_default(), version);
    }
    let name =
        name.ok_or_else(|| anyhow!("give the application with -i ID or -n NAME (see `bs list applications`)"))?;
    let query = ApplicationQuery {
        category: None,
        all_versions: version.is_some(),
    };
    let all: Vec<_> = client.applications(&query).try_collect().await?;
    let named: Vec<_> = all.into_iter().filter(|a| a.name.as_deref() == Some(name)).collect();
    if named.is_empty() {
        bail!("no application is named exactly {name:?}; `bs list applications` shows their names");
    }
    match version {
        Some(version) => pick_version(named, name, version),
        None if named.len() == 1 => Ok(named.into_iter().next().expect("one")),
        None => bail!(
            "{} applications are named {name:?} ({}); use -i ID",
            named.len(),
            named.iter().map(|a| a.id.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn pick_version(
    versions: Vec<ferry_api::Application>,
    name: &str,
    version: &str,
) -> anyhow::Result<ferry_api::Application> {
    let known: Vec<String> = versions.iter().filter_map(|a| a.version_number.clone()).collect();
    versions
        .into_iter()
        .find(|a| a.version_number.as_deref() == Some(version))
        .ok_or_else(|| {
            anyhow!(
                "{name} has no version {version:?}; its versions: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        })
}

/// `bs get application`: the application version, with its launch form (the options
/// `bs launch application -o ID:VALUE` takes): `Form` in JSON, a second table otherwise.
pub async fn get_application(client: &Client, args: &GetApplicationArgs) -> anyhow::Result<()> {
    let app = find_application(client, args).await?;
    let settings = client.application_settings(&app.id).await?;
    let mut value = to_value(&app)?;
    let output = &args.get.output;
    let as_table = output.format == Format::Table && output.fields.is_empty() && !output.terse;
    match settings.form {
        Some(form) if as_table => {
            print_item(&value, output)?;
            let rows: Vec<Vec<String>> = form
                .fields
                .iter()
                .map(|f| {
                    let kind = if f.choices.is_empty() {
                        f.field_type.clone()
                    } else {
                        format!("{} ({})", f.field_type, f.choices.join("|"))
                    };
                    vec![
                        f.id.clone(),
                        kind,
                        if f.required { "yes" } else { "no" }.to_string(),
                        if f.multiple { "yes" } else { "no" }.to_string(),
                        f.default.clone().unwrap_or_default(),
                        f.label.clone(),
                    ]
                })
                .collect();
            let headers = ["Option", "Type", "Required", "Multiple", "Default", "Label"].map(String::from);
            emit(&format!(
                "\nLaunch options (bs launch application -o OPTION:VALUE):\n{}",
                table(&headers, &rows)
            ))
        }
        form => {
            if let (Value::Object(map), Some(form)) = (&mut value, form) {
                map.insert("Form".into(), to_value(&form)?);
            }
            print_item(&value, output)
        }
    }
}

/// Execution states after which a session changes no more.
const ENDED: [&str; 4] = ["Complete", "NeedsAttention", "Aborted", "TimedOut"];

/// Reads `-o KEY:VALUE` options: keys lose an `input.`/`input_list.` prefix, a field that takes
/// several values splits its value at commas, and repeated keys add up.
fn parse_options(raw: &[String], form: &ferry_api::AppForm) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for option in raw {
        let (key, value) = option
            .split_once(':')
            .ok_or_else(|| anyhow!("option {option:?} is not KEY:VALUE (e.g. -o project-id:12345)"))?;
        let key = key.trim();
        let key = key
            .strip_prefix("input_list.")
            .or_else(|| key.strip_prefix("input."))
            .or_else(|| key.strip_prefix("Input."))
            .unwrap_or(key);
        let multiple = form.fields.iter().any(|f| f.id == key && f.multiple);
        let values = options.entry(key.to_string()).or_default();
        if multiple {
            values.extend(value.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()));
        } else {
            values.push(value.to_string());
        }
    }
    Ok(options)
}

/// `bs launch application`: checks every option against the application's form first (and
/// lists every problem; nothing is launched then), launches once, prints the new session
/// (`--terse`: its ID only).
pub async fn launch(ctx: &Context, args: &LaunchArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    if args.id.is_none() && args.name.is_none() {
        bail!("give the application with -n NAME or -i ID (see `bs list applications`)");
    }
    let app = resolve_application(
        &client,
        args.id.as_deref(),
        args.name.as_deref(),
        args.app_version.as_deref(),
    )
    .await?;
    let title = format!(
        "{} {}",
        app.name.as_deref().unwrap_or(&app.id),
        app.version_number.as_deref().unwrap_or_default()
    );
    let form = client.application_settings(&app.id).await?.form.unwrap_or_default();
    let options = parse_options(&args.options, &form)?;
    if let Err(problems) = form.check(&options) {
        let listed: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        bail!(
            "nothing was launched: {} problem(s) with the options of {title} (`bs get application -i {}` lists them):\n{}",
            problems.len(),
            app.id,
            listed.join("\n")
        );
    }
    let body = ferry_api::launch::LaunchBody::from_options(args.label.clone(), &form, &options);
    let session = client.launch(&app.id, &body).await?;
    tracing::info!(session = %session.id, application = %title, "launched");
    print_item(&to_value(&session)?, &args.output)
}

/// `bs await appsession`: polls until the session ends, prints it, and fails unless it is
/// Complete (or when `--timeout` passes first).
pub async fn await_session(ctx: &Context, args: &AwaitArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let id = args.session.id()?;
    let started = Instant::now();
    let interval = Duration::from_secs_f64(args.poll_interval.clamp(0.1, 3600.0));
    loop {
        let session = client.appsession(id).await?;
        let status = session.execution_status.clone().unwrap_or_default();
        if ENDED.contains(&status.as_str()) {
            print_item(&to_value(&session)?, &args.session.output)?;
            if status == "Complete" {
                return Ok(());
            }
            bail!(
                "app session {id} ended {status}{}",
                session
                    .status_summary
                    .as_deref()
                    .map(|s| format!(": {s}"))
                    .unwrap_or_default()
            );
        }
        if let Some(timeout) = args.timeout
            && started.elapsed() >= Duration::from_secs(timeout)
        {
            bail!(
                "app session {id} is still {status} after {timeout} s ({}); it keeps running: await it again, or stop it \
                 with bs kill appsession -i {id}",
                session.status_summary.as_deref().unwrap_or("no status summary")
            );
        }
        tokio::time::sleep(interval).await;
    }
}

/// `bs kill appsession`: stops a running session (it ends Aborted) and prints it.
pub async fn kill(ctx: &Context, args: &SessionArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let session = client.stop_appsession(args.id()?).await?;
    print_item(&to_value(&session)?, &args.output)
}

/// `bs logs appsession`: prints the session's log files (published when it ends).
pub async fn logs(ctx: &Context, args: &SessionArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let id = args.id()?;
    let session = client.appsession(id).await?;
    let files: Vec<_> = client.appsession_logfiles(id).try_collect().await?;
    if files.is_empty() {
        let status = session.execution_status.unwrap_or_default();
        bail!(
            "app session {id} has no log files yet (it is {status}; its log is published when it ends: \
             bs await appsession {id})"
        );
    }
    for file in files {
        let meta = client.content_url(&file.id).await?;
        let response = client.get_range(&meta.href_content, None).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| anyhow!("cannot read log file {}: {e}", file.path.as_deref().unwrap_or(&file.id)))?;
        emit(&String::from_utf8_lossy(&bytes))?;
    }
    Ok(())
}
