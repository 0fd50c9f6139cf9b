//! Account, listing and lookup commands.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use ferry_client::{AppSessionQuery, BiosampleQuery, Client, DatasetQuery, FileQuery, RunQuery, device, profile};
use futures_util::TryStreamExt;
use serde::Serialize;
use serde_json::Value;

use crate::cli::{
    AuthArgs, ContentsArgs, ContentsWhat, CreateWhat, GetArgs, GetWhat, ListArgs, ListFilters, ListWhat, OutputArgs,
    Select,
};
use crate::context::Context;
use crate::output::{cell, emit, lookup, print_item, print_list};

pub fn to_value<T: Serialize>(item: &T) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(item)?)
}

pub fn to_values<T: Serialize>(items: &[T]) -> anyhow::Result<Vec<Value>> {
    items.iter().map(to_value).collect()
}

/// `bs auth`.
pub async fn auth(ctx: &Context, args: &AuthArgs, quiet: bool) -> anyhow::Result<()> {
    if ctx.profile_path.exists() && !args.force {
        bail!(
            "profile '{}' already exists ({}); pass --force to replace it, or use `bs -c NAME auth` to keep several logins",
            ctx.profile,
            ctx.profile_path.display()
        );
    }
    let client_id = args
        .client_id
        .clone()
        .unwrap_or_else(|| device::BS_CLIENT_ID.to_string());
    let authorization = device::start(&ctx.api_server, &client_id, &args.scopes)
        .await
        .with_context(|| format!("could not start the login with {}", ctx.api_server))?;
    let url = authorization
        .verification_with_code_uri
        .clone()
        .unwrap_or_else(|| format!("{}?code={}", authorization.verification_uri, authorization.user_code));
    emit(&format!("Please go to this URL to authenticate: {url}\n"))?;
    if !quiet {
        eprintln!("Waiting for approval (code {}) ...", authorization.user_code);
    }
    let token = device::poll(
        &ctx.api_server,
        &client_id,
        args.client_secret.as_deref(),
        &authorization,
        Duration::from_secs(args.timeout.max(1)),
    )
    .await?;
    let saved = profile::save(&profile::Profile {
        name: ctx.profile.clone(),
        api_server: Some(ctx.api_server.clone()),
        access_token: Some(token.access_token),
    })?;
    emit(&format!("Created config file {}\n", saved.display()))
}

/// `bs whoami`.
pub async fn whoami(ctx: &Context, output: &OutputArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let user = client.current_user().await?;
    let scopes = client.token_scopes().await.unwrap_or_default();
    let mut value = to_value(&user)?;
    if let Value::Object(map) = &mut value {
        let context = if user.is_workgroup == Some(true) {
            format!("workgroup {}", user.name.clone().unwrap_or_default())
        } else {
            "personal".to_string()
        };
        map.insert("Context".into(), Value::String(context));
        map.insert("ApiServer".into(), Value::String(client.api_server().to_string()));
        map.insert("Host".into(), Value::String(client.api_server().to_string()));
        map.insert("Scopes".into(), Value::String(scopes.join(", ")));
        map.insert("Profile".into(), Value::String(ctx.profile.clone()));
    }
    if output.fields.is_empty() && output.format == crate::cli::Format::Table && !output.terse {
        // The rows of Illumina's `bs whoami`; the context and profile are in `-f json`.
        let rows: Vec<Vec<String>> = ["Name", "Id", "Email", "DateCreated", "DateLastActive", "Host", "Scopes"]
            .iter()
            .map(|k| vec![k.to_string(), crate::output::table_cell(lookup(&value, k))])
            .collect();
        return emit(&crate::output::key_value_table(&rows));
    }
    print_item(&value, output)
}

/// `bs load config`.
pub fn load_config(ctx: &Context) -> anyhow::Result<()> {
    let token = ctx.token.clone().ok_or_else(|| {
        anyhow!(
            "profile '{}' has no access token; run `{}`",
            ctx.profile,
            ctx.auth_command(false)
        )
    })?;
    emit(&format!(
        "export BASESPACE_API_SERVER={}\nexport BASESPACE_ACCESS_TOKEN={}\n",
        shell_quote(&ctx.api_server),
        shell_quote(&token)
    ))
}

fn shell_quote(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c)) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// `bs list configs`.
pub fn list_configs(output: &OutputArgs) -> anyhow::Result<()> {
    let mut items = Vec::new();
    for name in profile::list_profiles()? {
        let path = profile::profile_path(&name);
        let loaded = profile::load_from(&path, &name)?.unwrap_or_default();
        items.push(serde_json::json!({
            "Name": name,
            "ApiServer": loaded.api_server.unwrap_or_default(),
            "Path": path.display().to_string(),
        }));
    }
    print_list(&items, &["Name", "ApiServer", "Path"], output)
}

/// Parses `30s`, `10m`, `2h`, `7d`, `3w`, `1y`.
pub fn parse_age(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| anyhow!("invalid age {text:?}: use e.g. 30s, 10m, 2h, 7d, 3w, 1y"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "y" => 365 * 86_400,
        _ => bail!("invalid age {text:?}: use e.g. 30s, 10m, 2h, 7d, 3w, 1y"),
    };
    Ok(Duration::from_secs(number.saturating_mul(seconds)))
}

fn apply_filters(items: Vec<Value>, filters: &ListFilters, name_field: &str) -> anyhow::Result<Vec<Value>> {
    let now = time::OffsetDateTime::now_utc();
    let newer = filters.newer_than.as_deref().map(parse_age).transpose()?;
    let older = filters.older_than.as_deref().map(parse_age).transpose()?;
    let field = if filters.filter_field == "Name" {
        name_field
    } else {
        filters.filter_field.as_str()
    };
    // A regular expression, as Illumina's `bs` reads it (`--filter-term=".*Pcli.*"`, `^name$`).
    let term = filters
        .filter_term
        .as_deref()
        .map(|term| {
            regex::Regex::new(term).map_err(|error| {
                anyhow::anyhow!(
                    "--filter-term {term:?} is not a regular expression ({error}); escape special characters \
                     with \\ (e.g. 'sample\\.1')"
                )
            })
        })
        .transpose()?;
    Ok(items
        .into_iter()
        .filter(|item| match &term {
            Some(term) => term.is_match(&cell(lookup(item, field))),
            None => true,
        })
        .filter(|item| {
            if newer.is_none() && older.is_none() {
                return true;
            }
            let date = cell(lookup(item, &filters.date_field));
            let date = if date.is_empty() {
                cell(lookup(item, "DateCreated"))
            } else {
                date
            };
            let Some(at) = ferry_api::dates::parse(&date) else {
                return false;
            };
            let age = now - at;
            newer.is_none_or(|n| age <= time::Duration::try_from(n).unwrap_or(time::Duration::MAX))
                && older.is_none_or(|o| age >= time::Duration::try_from(o).unwrap_or(time::Duration::MAX))
        })
        .collect())
}

/// Project IDs from `--project-id` and `--project-name`.
pub async fn project_ids(client: &Client, filters: &ListFilters) -> anyhow::Result<Vec<String>> {
    let mut ids = filters.project_id.clone();
    for name in &filters.project_name {
        let found: Vec<_> = client.projects(Some(name)).try_collect().await?;
        if found.is_empty() {
            bail!("no project is named exactly {name:?} (see `bs list projects`)");
        }
        ids.extend(found.into_iter().map(|p| p.id));
    }
    Ok(ids)
}

/// `bs list <noun>`.
pub async fn list(ctx: &Context, what: &ListWhat) -> anyhow::Result<()> {
    if let ListWhat::Configs(output) = what {
        return list_configs(output);
    }
    let client = ctx.client()?;
    let (args, items, defaults, name_field): (&ListArgs, Vec<Value>, &[&str], &str) = match what {
        ListWhat::Projects(args) => {
            refuse_filters(&args.filters, "projects", &["--project-id", "--project-name"])?;
            let mut items: Vec<_> = client.projects(None).try_collect().await?;
            if !args.filters.project_name.is_empty() || !args.filters.project_id.is_empty() {
                items.retain(|p| {
                    args.filters.project_id.contains(&p.id)
                        || p.name.as_ref().is_some_and(|n| args.filters.project_name.contains(n))
                });
            }
            // One request per project: only when something may show the sizes.
            if !args.output.terse {
                client.fill_project_sizes(&mut items).await?;
            }
            (args, to_values(&items)?, &["Name", "Id", "TotalSize"], "Name")
        }
        ListWhat::Biosamples(args) => {
            refuse_filters(&args.filters, "biosamples", &["--project-id", "--project-name"])?;
            let query = BiosampleQuery {
                project_ids: project_ids(&client, &args.filters).await?,
                names: Vec::new(),
            };
            let items: Vec<_> = client.biosamples(&query).try_collect().await?;
            (
                args,
                to_values(&items)?,
                &["BioSampleName", "Id", "Status", "DefaultProject.Name"],
                "BioSampleName",
            )
        }
        ListWhat::Datasets(args) => {
            let query = DatasetQuery {
                project_ids: project_ids(&client, &args.filters).await?,
                input_biosamples: args.filters.input_biosample.clone(),
                input_runs: args.filters.input_run.clone(),
                dataset_types: args
                    .filters
                    .is_type
                    .iter()
                    .cloned()
                    .chain(
                        args.filters
                            .like_type
                            .iter()
                            .map(|t| format!("~{}", t.trim_start_matches('~'))),
                    )
                    .collect(),
                appsession_ids: Vec::new(),
            };
            let items: Vec<_> = client.datasets(&query).try_collect().await?;
            (
                args,
                without_types(to_values(&items)?, &args.filters.not_type),
                &["Name", "Id", "Project.Name", "DataSetType.Id"],
                "Name",
            )
        }
        ListWhat::Runs(args) => {
            refuse_filters(&args.filters, "runs", &[])?;
            let items: Vec<_> = client.runs(&RunQuery::default()).try_collect().await?;
            (
                args,
                to_values(&items)?,
                &["Name", "Id", "ExperimentName", "Status"],
                "Name",
            )
        }
        ListWhat::Appsessions(appsessions) => {
            let args = &appsessions.list;
            refuse_filters(
                &args.filters,
                "appsessions",
                &["--project-id", "--project-name", "--input-biosample", "--input-run"],
            )?;
            let query = AppSessionQuery {
                output_projects: project_ids(&client, &args.filters).await?,
                execution_statuses: appsessions.exec_status.clone(),
                input_biosamples: args.filters.input_biosample.clone(),
                input_runs: args.filters.input_run.clone(),
                app_ids: appsessions.app_id.clone(),
            };
            let items: Vec<_> = client.appsessions(&query).try_collect().await?;
            (
                args,
                to_values(&items)?,
                &["Name", "Id", "ExecutionStatus", "DateCreated"],
                "Name",
            )
        }
        ListWhat::Applications(applications) => (
            &applications.list,
            crate::apps::list_applications(&client, applications).await?,
            crate::apps::APPLICATION_COLUMNS,
            "Name",
        ),
        ListWhat::Workgroups(args) => {
            refuse_filters(&args.filters, "workgroups", &[])?;
            let items: Vec<_> = client.workgroups().try_collect().await?;
            (args, to_values(&items)?, &["Name", "Id", "DisplayName"], "Name")
        }
        ListWhat::Configs(_) => unreachable!("handled above"),
    };
    let mut items = apply_filters(items, &args.filters, name_field)?;
    sort_items(&mut items, &args.filters);
    print_list(&items, defaults, &args.output)
}

/// The list filters a noun cannot apply: using one is an error, never silently ignored.
fn refuse_filters(filters: &ListFilters, noun: &str, allowed: &[&str]) -> anyhow::Result<()> {
    let given = [
        ("--project-id", !filters.project_id.is_empty()),
        ("--project-name", !filters.project_name.is_empty()),
        ("--input-biosample", !filters.input_biosample.is_empty()),
        ("--input-run", !filters.input_run.is_empty()),
        ("--is-type", !filters.is_type.is_empty()),
        ("--like-type", !filters.like_type.is_empty()),
        ("--not-type", !filters.not_type.is_empty()),
    ];
    let refused: Vec<&str> = given
        .iter()
        .filter(|(flag, set)| *set && !allowed.contains(flag))
        .map(|(flag, _)| *flag)
        .collect();
    if !refused.is_empty() {
        bail!(
            "bs list {noun} cannot filter by {}; filter with --filter-field/--filter-term, or list datasets with those \
             filters instead",
            refused.join(", ")
        );
    }
    Ok(())
}

/// Orders a list by `--sort-by` (numbers as numbers, text as text, missing values last) and
/// reverses it with `--reverse-sort`.
fn sort_items(items: &mut [Value], filters: &ListFilters) {
    if let Some(field) = &filters.sort_by {
        items.sort_by(|a, b| {
            let (a, b) = (lookup(a, field), lookup(b, field));
            match (a.and_then(Value::as_f64), b.and_then(Value::as_f64)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => match (a.filter(|v| !v.is_null()), b.filter(|v| !v.is_null())) {
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    _ => cell(a).to_lowercase().cmp(&cell(b).to_lowercase()),
                },
            }
        });
    }
    if filters.reverse_sort {
        items.reverse();
    }
}

/// Drops datasets of the `--not-type` types (`~TYPE`: also those conforming to it).
fn without_types(items: Vec<Value>, not_types: &[String]) -> Vec<Value> {
    if not_types.is_empty() {
        return items;
    }
    items
        .into_iter()
        .filter(|item| {
            let id = cell(lookup(item, "DatasetType.Id"));
            let conforms = lookup(item, "DatasetType.ConformsToIds")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            !not_types.iter().any(|t| match t.strip_prefix('~') {
                Some(base) => id == base || conforms.iter().any(|c| c.as_str() == Some(base)),
                None => id == *t,
            })
        })
        .collect()
}

fn exactly_one<T>(mut found: Vec<T>, what: &str, name: &str, id_of: impl Fn(&T) -> String) -> anyhow::Result<T> {
    match found.len() {
        0 => bail!("no {what} is named exactly {name:?}; check the name (`bs list {what}s`) or use -i ID"),
        1 => Ok(found.remove(0)),
        _ => bail!(
            "{} {what}s are named {name:?} ({}); use -i ID",
            found.len(),
            found.iter().map(&id_of).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn need(select: &Select, what: &str) -> anyhow::Result<()> {
    if select.id.is_none() && select.name.is_none() {
        bail!("give the {what} with -i ID or -n NAME");
    }
    Ok(())
}

/// Resolves a project from -i/-n.
pub async fn find_project(client: &Client, select: &Select) -> anyhow::Result<ferry_api::Project> {
    need(select, "project")?;
    if let Some(id) = &select.id {
        return Ok(client.project(id).await?);
    }
    let name = select.name.as_deref().unwrap_or_default();
    let found: Vec<_> = client.projects(Some(name)).try_collect().await?;
    exactly_one(found, "project", name, |p| p.id.clone())
}

/// Resolves a biosample from -i/-n.
pub async fn find_biosample(client: &Client, select: &Select) -> anyhow::Result<ferry_api::Biosample> {
    need(select, "biosample")?;
    if let Some(id) = &select.id {
        return Ok(client.biosample(id).await?);
    }
    let name = select.name.as_deref().unwrap_or_default();
    let query = BiosampleQuery {
        project_ids: Vec::new(),
        names: vec![name.to_string()],
    };
    let mut found: Vec<_> = client.biosamples(&query).try_collect().await?;
    found.retain(|b| b.bio_sample_name.as_deref() == Some(name));
    exactly_one(found, "biosample", name, |b| b.id.clone())
}

/// Resolves a dataset from -i/-n.
pub async fn find_dataset(client: &Client, select: &Select) -> anyhow::Result<ferry_api::Dataset> {
    need(select, "dataset")?;
    if let Some(id) = &select.id {
        return Ok(client.dataset(id).await?);
    }
    let name = select.name.as_deref().unwrap_or_default();
    let mut found: Vec<_> = client.datasets(&DatasetQuery::default()).try_collect().await?;
    found.retain(|d| d.name.as_deref() == Some(name));
    exactly_one(found, "dataset", name, |d| d.id.clone())
}

/// Resolves a run from -i/-n (name or experiment name).
pub async fn find_run(client: &Client, select: &Select) -> anyhow::Result<ferry_api::Run> {
    need(select, "run")?;
    if let Some(id) = &select.id {
        return Ok(client.run(id).await?);
    }
    let name = select.name.as_deref().unwrap_or_default();
    let mut found: Vec<_> = client.runs(&RunQuery::default()).try_collect().await?;
    found.retain(|r| r.name.as_deref() == Some(name) || r.experiment_name.as_deref() == Some(name));
    exactly_one(found, "run", name, |r| r.id.clone())
}

/// `bs get <noun>`.
pub async fn get(ctx: &Context, what: &GetWhat) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let (args, value): (&GetArgs, Value) = match what {
        GetWhat::Project(args) => (args, to_value(&find_project(&client, &args.select).await?)?),
        GetWhat::Biosample(args) => (args, to_value(&find_biosample(&client, &args.select).await?)?),
        GetWhat::Dataset(args) => (args, to_value(&find_dataset(&client, &args.select).await?)?),
        GetWhat::Run(args) => (args, to_value(&find_run(&client, &args.select).await?)?),
        GetWhat::File(args) => {
            let id = args
                .select
                .id
                .as_deref()
                .ok_or_else(|| anyhow!("give the file with -i ID"))?;
            (args, to_value(&client.file(id).await?)?)
        }
        GetWhat::Appsession(args) => {
            let id = args.id().ok_or_else(|| {
                anyhow!("give the AppSession with -i ID (or the ID alone); `bs list appsessions` shows them")
            })?;
            (&args.get, to_value(&client.appsession(id).await?)?)
        }
        GetWhat::Application(args) => return crate::apps::get_application(&client, args).await,
    };
    print_item(&value, &args.output)
}

/// A file list row with `FilePath` (the path inside its dataset or run) added.
pub fn file_row(file: &ferry_api::File, dataset: Option<&ferry_api::Dataset>) -> anyhow::Result<Value> {
    let mut value = to_value(file)?;
    if let Value::Object(map) = &mut value {
        let path = file.path.clone().or_else(|| file.name.clone()).unwrap_or_default();
        map.insert("FilePath".into(), Value::String(path));
        if let Some(dataset) = dataset {
            map.insert("DatasetId".into(), Value::String(dataset.id.clone()));
            map.insert(
                "DatasetName".into(),
                Value::String(dataset.name.clone().unwrap_or_default()),
            );
        }
    }
    Ok(value)
}

/// Datasets of a project or biosample.
pub async fn datasets_of(client: &Client, query: DatasetQuery) -> anyhow::Result<Vec<ferry_api::Dataset>> {
    Ok(client.datasets(&query).try_collect().await?)
}

/// `bs contents <noun>`.
pub async fn contents(ctx: &Context, what: &ContentsWhat) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let (args, rows): (&ContentsArgs, Vec<Value>) = match what {
        ContentsWhat::Dataset(args) => {
            let dataset = find_dataset(&client, &args.select).await?;
            (args, dataset_file_rows(&client, &[dataset], &args.extension).await?)
        }
        ContentsWhat::Project(args) => {
            let project = find_project(&client, &args.select).await?;
            let datasets = datasets_of(
                &client,
                DatasetQuery {
                    project_ids: vec![project.id],
                    ..DatasetQuery::default()
                },
            )
            .await?;
            (args, dataset_file_rows(&client, &datasets, &args.extension).await?)
        }
        ContentsWhat::Biosample(args) => {
            let biosample = find_biosample(&client, &args.select).await?;
            let datasets = datasets_of(
                &client,
                DatasetQuery {
                    input_biosamples: vec![biosample.id],
                    ..DatasetQuery::default()
                },
            )
            .await?;
            (args, dataset_file_rows(&client, &datasets, &args.extension).await?)
        }
        ContentsWhat::Run(args) => {
            let run = find_run(&client, &args.select).await?;
            let query = FileQuery {
                extensions: args.extension.clone(),
                directory: None,
            };
            let files: Vec<_> = client.run_files(&run.id, &query).try_collect().await?;
            let rows = files
                .iter()
                .filter(|f| extension_ok(f, &args.extension))
                .map(|f| file_row(f, None))
                .collect::<anyhow::Result<Vec<_>>>()?;
            (args, rows)
        }
    };
    print_list(&rows, &["Id", "FilePath", "Size"], &args.output)
}

/// Whether a file's name ends with one of the extensions (none given: all files).
pub fn extension_ok(file: &ferry_api::File, extensions: &[String]) -> bool {
    if extensions.is_empty() {
        return true;
    }
    let name = file
        .name
        .as_deref()
        .or(file.path.as_deref())
        .unwrap_or_default()
        .to_ascii_lowercase();
    extensions.iter().any(|ext| {
        let ext = ext.trim().trim_start_matches('.').to_ascii_lowercase();
        !ext.is_empty() && name.ends_with(&format!(".{ext}"))
    })
}

async fn dataset_file_rows(
    client: &Client,
    datasets: &[ferry_api::Dataset],
    extensions: &[String],
) -> anyhow::Result<Vec<Value>> {
    let mut rows = Vec::new();
    let query = FileQuery {
        extensions: extensions.to_vec(),
        directory: None,
    };
    for dataset in datasets {
        let files: Vec<_> = client.dataset_files(&dataset.id, &query).try_collect().await?;
        for file in files.iter().filter(|f| extension_ok(f, extensions)) {
            rows.push(file_row(file, Some(dataset))?);
        }
    }
    Ok(rows)
}

/// `bs create <noun>`.
pub async fn create(ctx: &Context, what: &CreateWhat) -> anyhow::Result<()> {
    let client = ctx.client()?;
    match what {
        CreateWhat::Project {
            name,
            description,
            exist_ok,
            output,
        } => {
            let existing: Vec<_> = client.projects(Some(name)).try_collect().await?;
            if let Some(project) = existing.into_iter().next() {
                if !*exist_ok {
                    bail!(
                        "a project named {name:?} already exists (Id {}); pass --exist-ok to use it",
                        project.id
                    );
                }
                return print_item(&to_value(&project)?, output);
            }
            let project = client.create_project(name, description.as_deref()).await?;
            print_item(&to_value(&project)?, output)
        }
        CreateWhat::Biosample {
            name,
            project,
            exist_ok,
            output,
        } => {
            let query = BiosampleQuery {
                project_ids: vec![project.clone()],
                names: vec![name.clone()],
            };
            let existing: Vec<_> = client.biosamples(&query).try_collect().await?;
            if let Some(found) = existing
                .into_iter()
                .find(|b| b.bio_sample_name.as_deref() == Some(name))
            {
                if !*exist_ok {
                    bail!(
                        "a biosample named {name:?} already exists in project {project} (Id {}); pass --exist-ok to use it",
                        found.id
                    );
                }
                return print_item(&to_value(&found)?, output);
            }
            let created = client.create_biosample(name, project).await?;
            print_item(&to_value(&created)?, output)
        }
    }
}

/// `bs link file`.
pub async fn link_file(ctx: &Context, id: &str) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let meta = client.content_url(id).await?;
    emit(&format!("{}\n", meta.href_content))
}

/// `bs revoke token`.
pub async fn revoke(ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    client.revoke_token().await?;
    eprintln!(
        "Revoked the access token of profile '{}'; log in again with `{}`",
        ctx.profile,
        ctx.auth_command(true)
    );
    Ok(())
}

/// `bs archive` (`archive` true) and `bs unarchive`: archives or restores a dataset or run, then
/// prints it (`IsArchived`); a restore says when it will be done.
pub async fn archive(ctx: &Context, what: &crate::cli::ArchiveWhat, archive: bool) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let (args, datasets, runs) = match what {
        crate::cli::ArchiveWhat::Dataset(args) => (args, vec![find_dataset(&client, &args.select).await?.id], vec![]),
        crate::cli::ArchiveWhat::Run(args) => (args, vec![], vec![find_run(&client, &args.select).await?.id]),
    };
    let answer = if archive {
        client.archive(&datasets, &runs).await?
    } else {
        client.restore(&datasets, &runs).await?
    };
    if let Some(ready) = answer.get("DateRestoreComplete").and_then(Value::as_str) {
        eprintln!("The restore finishes at {ready}; its files can be downloaded from then on.");
    }
    let item = match datasets.first() {
        Some(id) => to_value(&client.dataset(id).await?)?,
        None => to_value(&client.run(&runs[0]).await?)?,
    };
    print_item(&item, &args.output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_terms() {
        assert_eq!(parse_age("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_age("3").unwrap(), Duration::from_secs(3));
        assert!(parse_age("x").is_err());
        let items: Vec<Value> = ["Blank_1", "Blank_11", "my Pcli sample"]
            .iter()
            .map(|name| serde_json::json!({ "Name": name }))
            .collect();
        let names = |term: &str| -> anyhow::Result<Vec<String>> {
            let filters = ListFilters {
                filter_term: Some(term.to_string()),
                filter_field: "Name".into(),
                date_field: "DateModified".into(),
                ..ListFilters::default()
            };
            Ok(apply_filters(items.clone(), &filters, "Name")?
                .iter()
                .map(|item| cell(lookup(item, "Name")))
                .collect())
        };
        assert_eq!(names("^Blank_1$").unwrap(), ["Blank_1"]);
        assert_eq!(names(".*Pcli.*").unwrap(), ["my Pcli sample"]);
        assert_eq!(names("Blank").unwrap(), ["Blank_1", "Blank_11"]);
        let error = names("Blank_(").unwrap_err().to_string();
        assert!(error.contains("not a regular expression"), "{error}");
    }
}
