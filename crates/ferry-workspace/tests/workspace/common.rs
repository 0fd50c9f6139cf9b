//! Shared helpers: a hub and a workspace on 127.0.0.1:0, HTTP sessions, log capture.

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use ferry_hub::testing::TestHub;
use ferry_workspace::testing::{TEST_PASSWORD, TestWorkspace};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Everything the workspace (and the client library) logged during this test binary's run.
static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();

struct Capture;

impl Write for Capture {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Some(logs) = LOGS.get()
            && let Ok(mut logs) = logs.lock()
        {
            logs.extend_from_slice(data);
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures the workspace's logs at the most verbose level (once per test binary).
pub fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = LOGS.set(Mutex::new(Vec::new()));
        let filter = tracing_subscriber::EnvFilter::new(
            "ferry_workspace=trace,ferry_client=trace,tower_http=trace,sqlx=trace,axum=trace",
        );
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
    });
}

/// The captured logs so far.
pub fn logs() -> Vec<u8> {
    LOGS.get()
        .and_then(|l| l.lock().ok().map(|l| l.clone()))
        .unwrap_or_default()
}

/// A hub with demo data and a workspace with background import workers.
pub async fn start() -> (TestHub, TestWorkspace) {
    capture_logs();
    let hub = TestHub::start().await;
    let workspace = TestWorkspace::start_allowing(&[&hub.url]).await;
    (hub, workspace)
}

/// Like [`start`], with `reads` reads in every demo FASTQ file (bigger files, slower imports).
pub async fn start_with_reads(reads: u64) -> (TestHub, TestWorkspace) {
    capture_logs();
    let hub = TestHub::start_with(ferry_hub::DemoOptions { reads_per_file: reads }).await;
    let workspace = TestWorkspace::start_allowing(&[&hub.url]).await;
    (hub, workspace)
}

/// A hub token of the demo user in the personal context.
pub async fn demo_token(hub: &TestHub) -> String {
    hub.token(ferry_hub::demo::DEMO_EMAIL, None).await
}

/// JSON API client with an API key.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl Api {
    pub fn new(workspace: &TestWorkspace, key: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: workspace.url.clone(),
            key: key.to_string(),
        }
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("workspace answers");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Links the hub's demo account with a fresh token; returns the token.
    pub async fn link_demo(&self, hub: &TestHub) -> String {
        let token = demo_token(hub).await;
        let (status, body) = self
            .put(
                "/api/v1/basespace-account",
                json!({"access_token": token, "api_server": hub.url}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "linking failed: {body}");
        token
    }

    /// Polls an import until it ends (or panics after `limit`).
    pub async fn wait_for_import(&self, id: &str, limit: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let (status, body) = self.get(&format!("/api/v1/imports/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if matches!(body["status"].as_str(), Some("completed" | "failed" | "cancelled")) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "import {id} did not finish in time: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A browser-like HTTP session (cookies kept, redirects not followed).
pub struct Web {
    pub http: reqwest::Client,
    pub base: String,
}

impl Web {
    pub fn new(workspace: &TestWorkspace) -> Web {
        Web {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            base: workspace.url.clone(),
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("workspace answers");
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .expect("workspace answers")
    }

    /// Signs up through the real forms; returns the session's CSRF token.
    pub async fn sign_up(&self, email: &str) -> String {
        let (status, page) = self.get("/signup").await;
        assert_eq!(status, StatusCode::OK);
        let csrf = csrf_of(&page);
        let response = self
            .post(
                "/signup",
                &[
                    ("csrf", &csrf),
                    ("email", email),
                    ("password", TEST_PASSWORD),
                    ("password_again", TEST_PASSWORD),
                    ("next", "/samples"),
                ],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "{}",
            response.text().await.unwrap_or_default()
        );
        self.csrf().await
    }

    /// The session's CSRF token, read from a page.
    pub async fn csrf(&self) -> String {
        let (status, page) = self.get("/profile").await;
        assert_eq!(status, StatusCode::OK, "not logged in");
        csrf_of(&page)
    }
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("page has a CSRF field") + marker.len();
    let end = page[start..].find('"').expect("closing quote") + start;
    page[start..end].to_string()
}

/// MD5 (hex) and FASTQ statistics of a hub file, read directly from the hub.
pub async fn hub_file_facts(
    hub_url: &str,
    token: &str,
    file_id: &str,
) -> (String, u64, ferry_fastq::stats::FastqStats) {
    use md5::Digest;
    let client = ferry_client::Client::new(hub_url, token).expect("client");
    let meta = client.content_url(file_id).await.expect("content URL");
    let mut response = client.get_range(&meta.href_content, None).await.expect("content");
    let mut md5 = md5::Md5::new();
    let mut stats = ferry_fastq::stats::GzFastqStats::new();
    let mut size = 0u64;
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        md5.update(&chunk);
        stats.update(&chunk).expect("valid gzip FASTQ");
        size += chunk.len() as u64;
    }
    (
        hex::encode(md5.finalize()),
        size,
        stats.finish().expect("complete FASTQ"),
    )
}

/// Checks `value` against schema `name` of the OpenAPI document: required properties present,
/// no undeclared properties, JSON types as declared (following `$ref`s and arrays).
pub fn assert_schema(document: &Value, name: &str, value: &Value) {
    let schema = &document["components"]["schemas"][name];
    assert!(schema.is_object(), "schema {name} exists");
    check_schema(document, schema, value, name);
}

fn check_schema(document: &Value, schema: &Value, value: &Value, path: &str) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return check_schema(document, &document["components"]["schemas"][name], value, path);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let fits = types.is_empty() || types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
    assert!(fits, "{path}: {actual} where the OpenAPI document says {types:?}");
    if let Some(values) = schema["enum"].as_array() {
        assert!(values.contains(value), "{path}: {value} is not one of {values:?}");
    }
    match value {
        Value::Object(map) => {
            for required in schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                assert!(map.contains_key(required), "{path}: required {required} missing");
            }
            if let Some(properties) = schema["properties"].as_object() {
                for (key, item) in map {
                    let declared = properties
                        .get(key)
                        .unwrap_or_else(|| panic!("{path}: {key} is not in the OpenAPI document"));
                    check_schema(document, declared, item, &format!("{path}.{key}"));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_schema(document, &schema["items"], item, &format!("{path}[{i}]"));
            }
        }
        _ => {}
    }
}

/// The workspace's OpenAPI document.
pub async fn openapi(workspace: &TestWorkspace) -> Value {
    reqwest::get(format!("{}/api/openapi.json", workspace.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
