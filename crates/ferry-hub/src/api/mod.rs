//! BaseSpace API handlers.

use std::sync::Arc;

use axum::Json;
use ferry_api::V1Envelope;
use serde::Serialize;

pub mod applications;
pub mod archive;
pub mod files;
pub mod launch;
pub mod oauth;
pub mod properties;
pub mod resources;
pub mod uploads;
pub mod users;

/// The shared state as an axum extractor.
pub type St = axum::extract::State<Arc<crate::State>>;

/// A v1pre3 answer: `{Response, ResponseStatus, Notifications}`.
pub fn v1<T: Serialize>(response: T) -> Json<V1Envelope<T>> {
    Json(V1Envelope::ok(response))
}
