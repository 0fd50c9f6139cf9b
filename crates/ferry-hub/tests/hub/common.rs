//! Helpers shared by the hub tests.

#![allow(dead_code)]

use ferry_hub::testing::TestHub;
use reqwest::StatusCode;
use serde_json::Value;

/// A client that does not follow redirects (tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A started demo hub and a personal demo token.
pub async fn demo() -> (TestHub, String) {
    let hub = TestHub::start().await;
    let token = hub.token(ferry_hub::demo::DEMO_EMAIL, None).await;
    (hub, token)
}

/// GET `path` with a bearer token; status and JSON body (Null when not JSON).
pub async fn get(hub: &TestHub, token: &str, path: &str) -> (StatusCode, Value) {
    let response = client()
        .get(format!("{}{path}", hub.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// GET that must answer 200.
pub async fn get_ok(hub: &TestHub, token: &str, path: &str) -> Value {
    let (status, body) = get(hub, token, path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

/// POST JSON with a bearer token.
pub async fn post_json(hub: &TestHub, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}{path}", hub.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json::<Value>().await.unwrap_or(Value::Null))
}

/// Asserts a BaseSpace error body in both shapes, returning the code.
pub fn error_code(body: &Value) -> String {
    let v1 = body["ResponseStatus"]["ErrorCode"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let v2 = body["ErrorCode"].as_str().unwrap_or_default().to_string();
    assert!(v1.starts_with("BASESPACE."), "no BaseSpace error code in {body}");
    assert_eq!(v1, v2, "both error shapes carry the same code: {body}");
    assert!(
        !body["ErrorMessage"].as_str().unwrap_or_default().is_empty(),
        "error without a message: {body}"
    );
    v1
}

/// The ID of the personal demo project.
pub async fn demo_project_id(hub: &TestHub, token: &str) -> String {
    let body = get_ok(hub, token, "/v1pre3/users/current/projects?Name=Demo%20Project").await;
    body["Response"]["Items"][0]["Id"].as_str().unwrap().to_string()
}

/// IDs of the datasets in a project.
pub async fn dataset_ids(hub: &TestHub, token: &str, project: &str) -> Vec<String> {
    let body = get_ok(hub, token, &format!("/v2/projects/{project}/datasets?Limit=100")).await;
    body["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["Id"].as_str().unwrap().to_string())
        .collect()
}

/// Files of a dataset (JSON items).
pub async fn files_of(hub: &TestHub, token: &str, dataset: &str) -> Vec<Value> {
    let body = get_ok(hub, token, &format!("/v2/datasets/{dataset}/files?limit=1000")).await;
    body["Items"].as_array().unwrap().clone()
}

/// MD5 hex of bytes.
pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

/// Downloads a file through its content redirect; returns the bytes.
pub async fn download(hub: &TestHub, token: &str, file_id: &str) -> Vec<u8> {
    let response = client()
        .get(format!("{}/v2/files/{file_id}/content", hub.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let response = client().get(&location).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.bytes().await.unwrap().to_vec()
}

/// Temporary files left anywhere in the blob store (must be none after any request).
pub fn leftover_temp_files(hub: &TestHub) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
        entries
            .flatten()
            .map(|entry| {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path)
                } else if entry.file_name().to_string_lossy().starts_with(".ferry-tmp-") {
                    1
                } else {
                    0
                }
            })
            .sum()
    }
    walk(&hub.data_dir.join("blobs"))
}

/// A fresh personal dataset (appsession + biosample + dataset) in the demo project.
pub async fn new_dataset(hub: &TestHub, token: &str, name: &str) -> String {
    let project = demo_project_id(hub, token).await;
    let (status, session) = post_json(
        hub,
        token,
        "/v2/appsessions",
        serde_json::json!({"Name": "test upload"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let (status, dataset) = post_json(
        hub,
        token,
        &format!("/v2/projects/{project}/datasets"),
        serde_json::json!({"Name": name, "AppSessionId": session["Id"], "DatasetTypeId": "common.files"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{dataset}");
    dataset["Id"].as_str().unwrap().to_string()
}

/// Deterministic test bytes.
pub fn bytes_of(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + seed as usize * 7) % 251) as u8).collect()
}

/// Signs in to `hub`'s device page with `browser` (which keeps the cookies): the answer.
pub async fn device_sign_in(
    hub: &TestHub,
    browser: &reqwest::Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let html = browser
        .get(format!("{}/oauth/device", hub.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = ferry_hub::testing::hidden_value(&html, "csrf").unwrap();
    browser
        .post(format!("{}/oauth/device/login", hub.url))
        .form(&[("email", email), ("password", password), ("csrf", &csrf)])
        .send()
        .await
        .unwrap()
}

/// Signs in to `hub`'s device page with a wrong password (a fresh browser each time); the status
/// of the answer.
pub async fn wrong_password(hub: &TestHub) -> StatusCode {
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    device_sign_in(hub, &browser, ferry_hub::demo::DEMO_EMAIL, "wrong")
        .await
        .status()
}
