//! Applications: `bs list applications` and `bs get application` (details and launch form).

use anyhow::{anyhow, bail};
use ferry_client::{ApplicationQuery, Client};
use futures_util::TryStreamExt;
use serde_json::Value;

use crate::cli::{Format, GetApplicationArgs, ListApplicationsArgs, ListFilters};
use crate::commands::{to_value, to_values};
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
    let version = args.app_version.as_deref().map(str::trim);
    if let Some(id) = &select.id {
        let app = client.application(id).await?;
        let Some(version) = version else { return Ok(app) };
        let versions: Vec<_> = client.application_versions(id).try_collect().await?;
        return pick_version(versions, &app.name.unwrap_or_default(), version);
    }
    let name = select
        .name
        .as_deref()
        .ok_or_else(|| anyhow!("give the application with -i ID or -n NAME (see `bs list applications`)"))?;
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
