//! HTTP pieces both servers share: the health answer and request IDs.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use ferry_db::Db;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// The header carrying a request's ID (taken from the client when it sends one).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// `GET /health`: 200 `{"status":"ok"}` when the database answers, else 503 with a fixed reason.
/// The database's own error goes to the log only: it may name hosts, users or paths.
pub async fn health(db: &Db) -> Response {
    match sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&db.pool).await {
        Ok(_) => axum::Json(serde_json::json!({"status": "ok"})).into_response(),
        Err(error) => {
            tracing::error!(%error, "health check: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable", "reason": "database does not answer"})),
            )
                .into_response()
        }
    }
}

/// The ID of a request, as set by [`with_request_ids`].
pub fn request_id_of<B>(request: &Request<B>) -> Option<String> {
    request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .map(str::to_string)
}

/// Gives every request an ID (the client's `x-request-id`, or a new UUID), logs each request in a
/// span that carries it, and returns it in the response's `x-request-id`.
pub fn with_request_ids<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let header = HeaderName::from_static(REQUEST_ID_HEADER);
    router
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(
            TraceLayer::new_for_http()
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                .make_span_with(|request: &Request<Body>| {
                    let id = request_id_of(request).unwrap_or_else(|| "-".to_string());
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
                }),
        )
        .layer(SetRequestIdLayer::new(header, MakeRequestUuid))
}
