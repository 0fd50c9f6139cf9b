//! Users, workgroups and token introspection/revocation.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_api::paging::SortDir;
use ferry_api::{LoggedInUser, User, Workgroup};
use serde_json::json;

use super::{St, v1};
use crate::auth::{self, Auth};
use crate::error::{ApiError, ApiResult};
use crate::params::Params;

async fn current_user(state: &crate::State, auth: &Auth, v2: bool) -> ApiResult<User> {
    let href = |path: String| {
        if v2 {
            format!("{}/v2/{path}", state.base)
        } else {
            format!("v1pre3/{path}")
        }
    };
    let Some(person) = auth::user_by_id(&state.db, &auth.user_id).await? else {
        return Err(ApiError::unauthorized("The access token's user no longer exists."));
    };
    let date = |ms: i64| Some(ferry_api::dates::format_millis(ms));
    if auth.is_workgroup() {
        let Some(group) = auth::workgroup_by_id(&state.db, &auth.context_id).await? else {
            return Err(ApiError::unauthorized("The access token's workgroup no longer exists."));
        };
        return Ok(User {
            extra: Default::default(),
            href: Some(href(format!("users/{}", group.id))),
            name: Some(group.name),
            email: None,
            date_created: date(person.created),
            date_last_active: date(person.last_active),
            gravatar_url: None,
            href_runs: Some(href("users/current/runs".into())),
            href_projects: Some(href("users/current/projects".into())),
            is_workgroup: Some(true),
            is_public_domain_user: Some(false),
            logged_in_user: Some(LoggedInUser {
                id: person.id,
                name: Some(person.name),
                email: Some(person.email),
                is_public_domain_user: Some(false),
            }),
            id: group.id,
        });
    }
    Ok(User {
        extra: Default::default(),
        href: Some(href(format!("users/{}", person.id))),
        name: Some(person.name),
        email: Some(person.email),
        date_created: date(person.created),
        date_last_active: date(person.last_active),
        gravatar_url: None,
        href_runs: Some(href("users/current/runs".into())),
        href_projects: Some(href("users/current/projects".into())),
        is_workgroup: Some(false),
        is_public_domain_user: Some(false),
        logged_in_user: None,
        id: person.id,
    })
}

/// `GET /v2/users/current`.
pub async fn v2_current(state: St, auth: Auth) -> ApiResult<Json<User>> {
    Ok(Json(current_user(&state, &auth, true).await?))
}

/// `GET /v2/users/{id}`: only the current user (or its workgroup) is visible.
pub async fn v2_user(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<User>> {
    if id != "current" && id != auth.context_id {
        return Err(ApiError::not_found("user", &id));
    }
    Ok(Json(current_user(&state, &auth, true).await?))
}

/// `GET /v1pre3/users/current`.
pub async fn v1_current(state: St, auth: Auth) -> ApiResult<Response> {
    Ok(v1(current_user(&state, &auth, false).await?).into_response())
}

/// `GET /v1pre3/users/{id}`: the token's own user (the `UserOwnedBy` Hrefs of v1pre3 answers);
/// anyone else is not found.
pub async fn v1_user(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    if id != "current" && id != auth.context_id {
        return Err(ApiError::not_found("user", &id));
    }
    Ok(v1(current_user(&state, &auth, false).await?).into_response())
}

fn workgroup(group: crate::auth::WorkgroupRow) -> Workgroup {
    Workgroup {
        extra: Default::default(),
        id: group.id,
        display_name: Some(group.name.clone()),
        name: Some(group.name),
        domain_name: None,
        external_provider_id: None,
        is_collaborative: Some(false),
        is_default_run_upload_workgroup: Some(false),
        description: (!group.description.is_empty()).then_some(group.description),
    }
}

/// `GET /v2/users/{id}/workgroups`: the logged-in person's workgroups.
pub async fn v2_user_workgroups(
    state: St,
    auth: Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<ferry_api::ItemList<Workgroup>>> {
    if id != "current" && id != auth.user_id && id != auth.context_id {
        return Err(ApiError::not_found("user", &id));
    }
    let page = params.page(
        &[("Id", "id"), ("Name", "name")],
        SortDir::Asc,
        10,
        ferry_api::MAX_LIMIT,
    )?;
    let mut groups = auth::workgroups_of(&state.db, &auth.user_id).await?;
    if page.sort_by == "Id" {
        groups.sort_by(|a, b| a.id.cmp(&b.id));
    }
    if page.sort_dir == SortDir::Desc {
        groups.reverse();
    }
    let total = groups.len() as i64;
    let items: Vec<Workgroup> = groups
        .into_iter()
        .skip(page.offset as usize)
        .take(page.limit as usize)
        .map(workgroup)
        .collect();
    Ok(Json(page.v2(items, total)))
}

/// `GET /v2/workgroups/{id}`: only workgroups the person belongs to.
pub async fn v2_workgroup(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Workgroup>> {
    let groups = auth::workgroups_of(&state.db, &auth.user_id).await?;
    match groups.into_iter().find(|g| g.id == id) {
        Some(group) => Ok(Json(workgroup(group))),
        None => Err(ApiError::not_found("workgroup", &id)),
    }
}

/// `DELETE /v2/oauthv2tokens/current`: revokes the token used.
pub async fn revoke_current(state: St, auth: Auth) -> ApiResult<Response> {
    sqlx::query("UPDATE tokens SET revoked = 1 WHERE hash = $1")
        .bind(&auth.token_hash)
        .execute(&state.db.pool)
        .await?;
    tracing::info!(token = %auth.token_id, user = %auth.user_id, "token revoked");
    Ok((StatusCode::OK, Json(json!({"Message": "OAuthV2 token invalidated"}))).into_response())
}

/// `GET /v1pre3/oauthv2/token/current`: what the token is (scopes, owner, context).
pub async fn token_current(state: St, auth: Auth) -> ApiResult<Response> {
    let user = current_user(&state, &auth, false).await?;
    Ok(v1(json!({
        "Id": auth.token_id,
        "Href": "v1pre3/oauthv2/token/current",
        "Application": {"Id": auth.client_id, "Name": auth.client_id},
        "UserResourceOwner": {"Id": user.id, "Name": user.name, "Href": user.href},
        "Status": "Active",
        "DateCreated": ferry_api::dates::format_millis(auth.token_created),
        "Scopes": auth.scopes,
    }))
    .into_response())
}
