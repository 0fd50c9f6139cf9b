//! Hub API tests over real HTTP on ephemeral ports (SQLite by default; PostgreSQL when
//! `FERRY_TEST_POSTGRES_URL` is set).

#[path = "hub/common.rs"]
mod common;

#[path = "hub/apps.rs"]
mod apps;
#[path = "hub/bad_input.rs"]
mod bad_input;
#[path = "hub/content.rs"]
mod content;
#[path = "hub/device.rs"]
mod device;
#[path = "hub/instances.rs"]
mod instances;
#[path = "hub/isolation.rs"]
mod isolation;
#[path = "hub/ops.rs"]
mod ops;
#[path = "hub/reads.rs"]
mod reads;
#[path = "hub/swagger.rs"]
mod swagger;
#[path = "hub/uploads.rs"]
mod uploads;
