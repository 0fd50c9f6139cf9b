//! Routes and middleware: request IDs (generated or taken from `X-Request-ID`, returned, in log
//! spans and in error bodies), tracing, panics answered as 500 error bodies, a JSON 404 for
//! unknown paths, `X-Content-Type-Options: nosniff` on every answer, and `/health`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use tower_http::catch_panic::CatchPanicLayer;

use crate::State;
use crate::api::{applications, archive, files, launch, oauth, properties, resources, uploads, users};
use crate::error::{ApiError, ErrorInfo};

/// Builds the hub's router.
pub fn build(state: Arc<State>) -> Router {
    let trusted_proxies = state.trusted_proxies.clone();
    let mut api = Router::new()
        // users, workgroups, tokens
        .route("/v2/users/current", get(users::v2_current))
        .route("/v2/users/{id}", get(users::v2_user))
        .route("/v2/users/{id}/workgroups", get(users::v2_user_workgroups))
        .route("/v2/workgroups/{id}", get(users::v2_workgroup))
        .route("/v1pre3/users/current", get(users::v1_current))
        .route("/v2/oauthv2tokens/current", delete(users::revoke_current))
        .route("/v1pre3/oauthv2/token/current", get(users::token_current))
        // device login
        .route("/v1pre3/oauthv2/deviceauthorization", post(oauth::device_authorization))
        .route("/v1pre3/oauthv2/token", post(oauth::token))
        // projects
        .route("/v1pre3/users/{id}", get(users::v1_user))
        .route("/v1pre3/users/current/projects", get(resources::v1_projects))
        .route("/v1pre3/users/current/runs", get(resources::v1_runs))
        .route("/v1pre3/runs/{id}", get(resources::v1_run))
        .route("/v1pre3/runs/{id}/files", get(files::v1_run_files))
        .route("/v1pre3/projects", post(resources::v1_create_project))
        .route("/v1pre3/projects/{id}", get(resources::v1_project))
        .route(
            "/v1pre3/projects/{id}/samples",
            get(resources::v1_project_samples).post(resources::v1_create_sample),
        )
        .route("/v1pre3/users/current/appsessions", get(resources::v1_appsessions))
        .route("/v2/projects", post(resources::v2_create_project))
        .route("/v2/projects/{id}", get(resources::v2_project))
        .route(
            "/v2/projects/{id}/datasets",
            get(resources::v2_project_datasets).post(resources::v2_create_dataset),
        )
        // biosamples
        .route(
            "/v2/biosamples",
            get(resources::v2_biosamples).post(resources::v2_create_biosample),
        )
        .route("/v2/biosamples/{id}", get(resources::v2_biosample))
        // datasets
        .route("/v2/datasets", get(resources::v2_datasets))
        .route(
            "/v2/datasets/{id}",
            get(resources::v2_dataset).post(resources::v2_update_dataset),
        )
        .route(
            "/v2/datasets/{id}/file-upload-info",
            get(uploads::upload_info).post(uploads::complete_upload_info),
        )
        .route("/v2/datasettypes/{id}", get(resources::v2_dataset_type))
        // applications
        .route("/v2/applications", get(applications::v2_applications))
        .route("/v2/applications/{id}", get(applications::v2_application))
        .route(
            "/v2/applications/{id}/versions",
            get(applications::v2_application_versions),
        )
        .route(
            "/v2/applications/{id}/settings",
            get(applications::v2_application_settings),
        )
        .route("/v1pre3/applications", get(applications::v1_applications))
        .route("/v1pre3/applications/{id}", get(applications::v1_application))
        .route("/v1pre3/applications/{id}/appsessions", post(launch::v1_launch))
        // runs and appsessions
        .route("/v2/runs", get(resources::v2_runs))
        .route("/v2/runs/{id}", get(resources::v2_run))
        .route("/v2/runs/{id}/files", get(files::v2_run_files))
        .route(
            "/v2/appsessions",
            get(resources::v2_appsessions).post(resources::v2_create_appsession),
        )
        .route(
            "/v2/appsessions/{id}",
            get(resources::v2_appsession)
                .post(resources::v2_update_appsession)
                .delete(launch::v2_delete),
        )
        .route("/v2/appsessions/{id}/stop", post(launch::v2_stop))
        .route("/v2/appsessions/{id}/logfiles", get(files::v2_appsession_logfiles))
        .route(
            "/v2/appsessions/{id}/properties",
            get(properties::list).post(properties::v2_set),
        )
        .route(
            "/v2/appsessions/{id}/properties/{name}",
            get(properties::get_one).delete(properties::v2_delete),
        )
        .route("/v2/appsessions/{id}/properties/{name}/items", get(properties::items))
        .route("/v1pre3/appsessions/{id}/properties", post(properties::v1_set))
        .route("/v1pre3/appsessions/{id}", post(resources::v1_update_appsession))
        // archiving
        .route("/v2/archive", post(archive::archive))
        .route("/v2/restore", post(archive::restore))
        // files
        .route("/v2/files/{id}", get(files::v2_file))
        .route("/v2/files/{id}/content", get(files::content))
        .route("/v1pre3/files/{id}/content", get(files::content))
        .route("/v1pre3/files/{id}", get(files::v1_file).post(uploads::v1_file_status));
    // Properties of the other kinds: read through v2, set through v1pre3 (as the definitions have them).
    for (v2, v1) in [
        ("projects", Some("projects")),
        ("biosamples", None),
        ("datasets", Some("samples")),
        ("runs", Some("runs")),
    ] {
        api = api
            .route(&format!("/v2/{v2}/{{id}}/properties"), get(properties::list))
            .route(
                &format!("/v2/{v2}/{{id}}/properties/{{name}}"),
                get(properties::get_one),
            )
            .route(
                &format!("/v2/{v2}/{{id}}/properties/{{name}}/items"),
                get(properties::items),
            );
        if let Some(v1) = v1 {
            api = api.route(&format!("/v1pre3/{v1}/{{id}}/properties"), post(properties::v1_set));
        }
    }
    let api = api.layer(DefaultBodyLimit::max(1024 * 1024));

    // Routes whose bodies are file bytes: no body limit here; each handler streams into the
    // blob store and enforces the part-size limit itself.
    let bytes = Router::new()
        .route(
            "/v2/datasets/{id}/files",
            get(files::v2_dataset_files).post(uploads::v2_post_file),
        )
        .route("/v1pre3/datasets/{id}/files", post(uploads::v1_post_file))
        .route(
            "/v1pre3/samples/{id}/files",
            get(files::v1_sample_files).post(uploads::v1_post_file),
        )
        .route("/v1pre3/samples/{id}", get(resources::v1_sample))
        .route("/v1pre3/files/{id}/parts/{part}", put(uploads::v1_put_part))
        .route("/uploads/{upload}/parts/{part}", put(uploads::put_signed_part))
        .route("/content/{file}/{name}", get(files::serve_signed))
        .layer(DefaultBodyLimit::disable());

    let pages = Router::new()
        .route("/oauth/device", get(crate::web::device_page))
        .route("/oauth/device/login", post(crate::web::login))
        .route("/oauth/device/approve", post(crate::web::approve))
        .route("/oauth/device/logout", post(crate::web::logout))
        .route("/", get(crate::web::landing))
        .layer(DefaultBodyLimit::max(64 * 1024));

    let routes = Router::new()
        .merge(api)
        .merge(bytes)
        .merge(pages)
        .route("/health", get(health))
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
        .layer(middleware::from_fn(finish_response))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::Extension(trusted_proxies));
    ferry_security::http::with_request_ids(routes).layer(middleware::map_response(no_sniff))
}

/// `X-Content-Type-Options: nosniff` on every answer (the outermost layer, so panics, errors and
/// file bytes too): browsers keep to the declared type instead of guessing one from the bytes.
async fn no_sniff(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Puts the request ID into error bodies and marks API answers uncacheable.
async fn finish_response(request: Request<Body>, next: Next) -> Response {
    let request_id = ferry_security::http::request_id_of(&request);
    let mut response = next.run(request).await;
    if let Some(ErrorInfo(error)) = response.extensions_mut().remove::<ErrorInfo>() {
        if error.status.is_server_error() {
            tracing::warn!(status = %error.status, code = error.code, "request failed");
        }
        let body = serde_json::to_vec(&error.body(request_id)).unwrap_or_default();
        let headers = response.headers().clone();
        let status = response.status();
        response = (status, body).into_response();
        for (name, value) in &headers {
            if name != header::CONTENT_LENGTH {
                response.headers_mut().insert(name, value.clone());
            }
        }
    }
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-cache, no-store, must-revalidate"));
    response
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "BASESPACE.COMMON.INTERNAL_ERROR",
        "The hub hit an internal error; see its log, then retry.",
    )
    .into_response()
}

async fn unknown_path() -> Response {
    not_found()
}

/// The API's answer to a path it does not serve (BaseSpace's JSON error).
pub(crate) fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "BASESPACE.COMMON.NOT_FOUND",
        "This isn't a recognized path. Please refer to the API documentation at \
         https://developer.basespace.illumina.com/docs for the available resources.",
    )
    .into_response()
}

async fn wrong_method() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "BASESPACE.COMMON.METHOD_NOT_ALLOWED",
        "This path does not take this HTTP method; see the API documentation for the methods it takes.",
    )
    .into_response()
}

async fn health(state: crate::api::St) -> Response {
    ferry_security::http::health(&state.db).await
}
