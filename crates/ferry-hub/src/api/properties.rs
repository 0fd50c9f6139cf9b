//! Properties: named values on projects, biosamples, datasets, runs and app sessions.
//! `GET /v2/{kind}/{id}/properties[/{name}[/items]]` for every kind, `POST` and
//! `DELETE /v2/appsessions/{id}/properties[/{name}]` as the v2 definition has them, and the legacy
//! `POST /v1pre3/{projects|samples|runs|appsessions}/{id}/properties` SDKs set them with. Names
//! follow BaseSpace's rule (two or more `.`-separated segments of letters, digits, `-` and `_`),
//! values are text (one `Content`, or `Items`), and a property lives in its resource's context.

use axum::Json;
use axum::extract::{MatchedPath, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_api::ItemList;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{St, v1};
use crate::auth::Auth;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::params::{JsonBody, Params};

/// The kinds that carry properties, by the path segment that names them.
fn kind_of(matched: &str) -> ApiResult<&'static str> {
    let segment = matched.split('/').nth(2).unwrap_or_default();
    Ok(match segment {
        "projects" => "projects",
        "biosamples" => "biosamples",
        "datasets" | "samples" => "datasets",
        "runs" => "runs",
        "appsessions" => "appsessions",
        _ => return Err(ApiError::bad_request(format!("{segment} have no properties"))),
    })
}

/// The resource's ID once it is known to be visible to the caller (404 otherwise).
async fn visible(state: &crate::State, auth: &Auth, kind: &'static str, id: &str) -> ApiResult<String> {
    match kind {
        "appsessions" => super::resources::appsession_row(state, auth, id)
            .await
            .map(|row| row.get("id")),
        "datasets" => super::resources::dataset_by_any_id(state, auth, id)
            .await
            .map(|row| row.get("id")),
        _ => db::visible(&state.db, "id", kind, id, &auth.context_id)
            .await?
            .map(|row| row.get::<String, _>("id"))
            .ok_or_else(|| ApiError::not_found(kind.trim_end_matches('s'), id)),
    }
}

/// A property as the API shows it (`V2Property` / `V2PropertyCompact`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PropertyView {
    #[serde(rename = "Type")]
    property_type: String,
    href: String,
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_items: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    href_items: Option<String>,
    items_displayed_count: i64,
    items_total_count: i64,
    /// Only on a single property (`V2Property`); lists carry the compact form.
    #[serde(skip_serializing_if = "Option::is_none")]
    date_modified: Option<String>,
}

/// One value of a multi-valued property (`V2PropertyItem`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PropertyItem {
    id: String,
    content: String,
}

fn view(state: &crate::State, kind: &str, id: &str, row: &sqlx::any::AnyRow) -> PropertyView {
    let name: String = row.get("name");
    let property_type: String = row.get("property_type");
    let values: Vec<String> = serde_json::from_str(&row.get::<String, _>("items")).unwrap_or_default();
    let count = values.len() as i64;
    let multiple = property_type.ends_with("[]");
    let href = format!("{}/v2/{kind}/{id}/properties/{name}", state.base);
    PropertyView {
        href_items: multiple.then(|| format!("{href}/items")),
        href,
        description: row.get("description"),
        content: (!multiple).then(|| values.first().cloned().unwrap_or_default()),
        content_items: multiple.then_some(values),
        items_displayed_count: count,
        items_total_count: count,
        date_modified: None,
        property_type,
        name,
    }
}

const PROPERTY_COLS: &str = "name, property_type, description, items, modified";

async fn rows(state: &crate::State, kind: &str, id: &str, names: &[String]) -> ApiResult<Vec<sqlx::any::AnyRow>> {
    let mut filter = db::Filter::default();
    filter.eq("kind", kind.to_string());
    filter.eq("resource_id", id.to_string());
    filter.any_of("name", names);
    let sql = format!(
        "SELECT {PROPERTY_COLS} FROM resource_properties{} ORDER BY name",
        filter.where_sql()
    );
    Ok(filter
        .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
        .fetch_all(&state.db.pool)
        .await?)
}

fn whole_list<T>(items: Vec<T>) -> ItemList<T> {
    let total = items.len() as i64;
    ItemList {
        paging: ferry_api::Paging {
            displayed_count: total,
            total_count: total,
            offset: 0,
            limit: total.max(1),
            sort_dir: Some("Asc".into()),
            sort_by: Some("Name".into()),
        },
        items,
        sub_directories: None,
    }
}

/// `GET /v2/{kind}/{id}/properties` (`propertyfilters`: names to keep).
pub async fn list(
    state: St,
    auth: Auth,
    matched: MatchedPath,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<ItemList<PropertyView>>> {
    auth.require_browse()?;
    let kind = kind_of(matched.as_str())?;
    let id = visible(&state, &auth, kind, &id).await?;
    let found = rows(&state, kind, &id, &params.list("propertyfilters")).await?;
    Ok(Json(whole_list(
        found.iter().map(|row| view(&state, kind, &id, row)).collect(),
    )))
}

async fn one(state: &crate::State, kind: &'static str, id: &str, name: &str) -> ApiResult<sqlx::any::AnyRow> {
    rows(state, kind, id, &[name.to_string()])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "BASESPACE.PROPERTIES.NOT_FOUND",
                format!(
                    "This {} has no property named '{name}'; GET …/properties lists its properties.",
                    kind.trim_end_matches('s')
                ),
            )
        })
}

/// `GET /v2/{kind}/{id}/properties/{name}`.
pub async fn get_one(
    state: St,
    auth: Auth,
    matched: MatchedPath,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Json<PropertyView>> {
    auth.require_browse()?;
    let kind = kind_of(matched.as_str())?;
    let id = visible(&state, &auth, kind, &id).await?;
    let row = one(&state, kind, &id, &name).await?;
    let mut property = view(&state, kind, &id, &row);
    property.date_modified = Some(ferry_api::dates::format_millis(row.get("modified")));
    Ok(Json(property))
}

/// `GET /v2/{kind}/{id}/properties/{name}/items`: the values, one item each.
pub async fn items(
    state: St,
    auth: Auth,
    matched: MatchedPath,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Json<ItemList<PropertyItem>>> {
    auth.require_browse()?;
    let kind = kind_of(matched.as_str())?;
    let id = visible(&state, &auth, kind, &id).await?;
    let row = one(&state, kind, &id, &name).await?;
    let values: Vec<String> = serde_json::from_str(&row.get::<String, _>("items")).unwrap_or_default();
    Ok(Json(whole_list(
        values
            .into_iter()
            .enumerate()
            .map(|(i, content)| PropertyItem {
                id: (i + 1).to_string(),
                content,
            })
            .collect(),
    )))
}

/// A property to set.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NewProperty {
    name: String,
    #[serde(rename = "Type")]
    property_type: Option<String>,
    description: Option<String>,
    content: Option<String>,
    #[serde(alias = "items", alias = "ContentItems")]
    items: Option<Vec<String>>,
}

/// The body that sets properties: `{Properties:[…]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SetProperties {
    properties: Vec<NewProperty>,
}

/// BaseSpace's rule for property names.
pub fn check_name(name: &str) -> ApiResult<()> {
    let segments: Vec<&str> = name.split('.').collect();
    let ok = segments.len() >= 2
        && name.len() <= 255
        && segments
            .iter()
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        && segments[0].starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BASESPACE.PROPERTIES.NAME_INVALID",
            format!(
                "Property name: {name} must contain 2 or more segments split by a period. Each segment may contain \
                 letters, numbers, '-', and '_'. First segment must start with a letter or number."
            ),
        ))
    }
}

/// Writes properties of a visible resource (replacing same-named ones), in one transaction.
async fn set(
    state: &crate::State,
    auth: &Auth,
    kind: &'static str,
    id: &str,
    body: SetProperties,
) -> ApiResult<Vec<String>> {
    if body.properties.is_empty() {
        return Err(ApiError::invalid_parameter(
            "Properties is empty: give at least one {Name, Content | Items}.",
        ));
    }
    let now = ferry_api::dates::now_millis();
    let mut names = Vec::new();
    let mut tx = state.db.pool.begin().await?;
    for property in body.properties {
        check_name(&property.name)?;
        let (values, default_type) = match (property.content, property.items) {
            (Some(content), None) => (vec![content], "string"),
            (None, Some(items)) => (items, "string[]"),
            (None, None) => (vec![String::new()], "string"),
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_parameter(format!(
                    "Property {} has both Content and Items; give one.",
                    property.name
                )));
            }
        };
        let property_type = property.property_type.unwrap_or_else(|| default_type.to_string());
        if property_type.len() > 64
            || !property_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"[]._-".contains(&b))
        {
            return Err(ApiError::invalid_parameter(format!(
                "Type '{property_type}' is not a property type."
            )));
        }
        sqlx::query("DELETE FROM resource_properties WHERE kind = $1 AND resource_id = $2 AND name = $3")
            .bind(kind)
            .bind(id)
            .bind(&property.name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO resource_properties (owner_id, kind, resource_id, name, property_type, description, items, \
             modified_by, modified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&auth.context_id)
        .bind(kind)
        .bind(id)
        .bind(&property.name)
        .bind(&property_type)
        .bind(property.description.unwrap_or_default())
        .bind(serde_json::to_string(&values).unwrap_or_default())
        .bind(&auth.user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        names.push(property.name);
    }
    tx.commit().await?;
    Ok(names)
}

/// Sets properties on the resource a write route names; the properties as they now are.
async fn set_and_show(
    state: &crate::State,
    auth: &Auth,
    matched: &MatchedPath,
    id: &str,
    body: SetProperties,
) -> ApiResult<Vec<PropertyView>> {
    auth.require_write()?;
    let kind = kind_of(matched.as_str())?;
    let id = visible(state, auth, kind, id).await?;
    let names = set(state, auth, kind, &id, body).await?;
    let found = rows(state, kind, &id, &names).await?;
    Ok(found.iter().map(|row| view(state, kind, &id, row)).collect())
}

/// `POST /v2/appsessions/{id}/properties {Properties:[…]}` → 201 with the properties set.
pub async fn v2_set(
    state: St,
    auth: Auth,
    matched: MatchedPath,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SetProperties>,
) -> ApiResult<Response> {
    let items = set_and_show(&state, &auth, &matched, &id, body).await?;
    Ok((StatusCode::CREATED, Json(whole_list(items))).into_response())
}

/// `POST /v1pre3/{projects|samples|runs|appsessions}/{id}/properties {Properties:[…]}` (legacy SDKs).
pub async fn v1_set(
    state: St,
    auth: Auth,
    matched: MatchedPath,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SetProperties>,
) -> ApiResult<Response> {
    let items = set_and_show(&state, &auth, &matched, &id, body).await?;
    let total = items.len() as i64;
    Ok(v1(ferry_api::V1List {
        displayed_count: total,
        items,
        total_count: total,
        offset: 0,
        limit: total.max(1),
        sort_dir: Some("Asc".into()),
        sort_by: Some("Name".into()),
    })
    .into_response())
}

/// `DELETE /v2/appsessions/{id}/properties/{name}` → 204.
pub async fn v2_delete(
    state: St,
    auth: Auth,
    matched: MatchedPath,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    auth.require_write()?;
    let kind = kind_of(matched.as_str())?;
    let id = visible(&state, &auth, kind, &id).await?;
    one(&state, kind, &id, &name).await?;
    sqlx::query("DELETE FROM resource_properties WHERE kind = $1 AND resource_id = $2 AND name = $3")
        .bind(kind)
        .bind(&id)
        .bind(&name)
        .execute(&state.db.pool)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records a launch's options as the session's `Input.*` properties (in the launch's transaction).
pub async fn record_inputs(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    auth: &Auth,
    session: &str,
    inputs: &[(String, String, Vec<String>)],
    now: i64,
) -> ApiResult<()> {
    for (name, property_type, values) in inputs {
        sqlx::query(
            "INSERT INTO resource_properties (owner_id, kind, resource_id, name, property_type, description, items, \
             modified_by, modified) VALUES ($1, 'appsessions', $2, $3, $4, '', $5, $6, $7)",
        )
        .bind(&auth.context_id)
        .bind(session)
        .bind(name)
        .bind(property_type)
        .bind(serde_json::to_string(values).unwrap_or_default())
        .bind(&auth.user_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
