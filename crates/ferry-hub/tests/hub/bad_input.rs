//! Bad input answers a clear BaseSpace error, never a panic, and leaves nothing behind.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

async fn post_raw(
    hub: &ferry_hub::testing::TestHub,
    token: &str,
    path: &str,
    body: &'static str,
) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}{path}", hub.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn malformed_json_wrong_types_and_missing_fields() {
    let (hub, token) = demo().await;
    let project = demo_project_id(&hub, &token).await;
    let dataset = new_dataset(&hub, &token, "bad-input").await;
    let cases: Vec<(String, &'static str)> = vec![
        ("/v2/appsessions".into(), "{not json"),
        ("/v2/appsessions".into(), r#"{"Name": 5}"#),
        (
            "/v2/biosamples".into(),
            r#"{"BioSampleName": ["x"], "DefaultProjectId": "1"}"#,
        ),
        ("/v2/biosamples".into(), r#"{"BioSampleName": "x"}"#),
        (format!("/v2/projects/{project}/datasets"), r#"{"Name": {"a": 1}}"#),
        (format!("/v2/projects/{project}/datasets"), r#"{}"#),
        (
            format!("/v2/projects/{project}/datasets"),
            r#"{"Name": "x", "DatasetTypeId": "../../etc"}"#,
        ),
        (
            format!("/v2/projects/{project}/datasets"),
            r#"{"Name": "x", "Attributes": "nope"}"#,
        ),
        (format!("/v2/datasets/{dataset}"), r#"{"UploadStatus": "Sideways"}"#),
        (
            format!("/v2/datasets/{dataset}/file-upload-info"),
            r#"{"FilePath": "a", "PartEtags": "x"}"#,
        ),
        (
            format!("/v2/datasets/{dataset}/file-upload-info"),
            r#"{"FilePath": "never-started.txt"}"#,
        ),
        ("/v2/projects".into(), r#"{"Name": ""}"#),
        ("/v1pre3/projects".into(), r#"[1, 2, 3]"#),
    ];
    for (path, body) in cases {
        let (status, answer) = post_raw(&hub, &token, &path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "POST {path} {body}: {answer}");
        error_code(&answer);
    }
    let huge = "x".repeat(2 * 1024 * 1024);
    let response = client()
        .post(format!("{}/v2/appsessions", hub.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!("{{\"Name\": \"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let answer: Value = response.json().await.unwrap();
    error_code(&answer);
    assert_eq!(get_ok(&hub, &token, "/health").await["status"], "ok", "still serving");
}

#[tokio::test]
async fn paging_parameters_and_unknown_ids_and_paths() {
    let (hub, token) = demo().await;
    let dataset = dataset_ids(&hub, &token, &demo_project_id(&hub, &token).await).await[0].clone();
    for path in [
        "/v2/datasets?Limit=100000".to_string(),
        "/v2/datasets?Limit=1025".to_string(),
        "/v2/datasets?limit=ten".to_string(),
        "/v2/datasets?Offset=-1".to_string(),
        "/v2/biosamples?SortDir=Sideways".to_string(),
        "/v1pre3/users/current/projects?Limit=-5".to_string(),
        format!("/v2/datasets/{dataset}/files?Limit=1001"),
        format!("/v2/datasets/{dataset}/files?includesubdirectories=maybe&directory=x"),
        format!("/v2/datasets/{dataset}/file-upload-info?filepath=a&uploadpartcount=20000"),
        format!("/v2/datasets/{dataset}/file-upload-info?filepath=a&uploadpartcount=-1"),
        format!("/v2/datasets/{dataset}/file-upload-info"),
    ] {
        let (status, body) = get(&hub, &token, &path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let code = error_code(&body);
        assert!(code.starts_with("BASESPACE."), "{code}");
    }
    let ok = get_ok(&hub, &token, "/v2/datasets?Limit=1024").await;
    assert_eq!(ok["Paging"]["Limit"], 1024);
    get_ok(&hub, &token, &format!("/v2/datasets/{dataset}/files?Limit=1000")).await;

    for path in [
        "/v2/projects/1",
        "/v1pre3/projects/abc",
        "/v2/datasets/ds.0000",
        "/v2/biosamples/%2e%2e",
        "/v2/files/-1",
        "/v1pre3/files/1/content",
        "/v2/runs/r.abc",
        "/v2/appsessions/0",
        "/v2/datasets/ds.x/files",
    ] {
        let (status, body) = get(&hub, &token, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(error_code(&body), "BASESPACE.COMMON.NOT_FOUND");
    }
    let (status, body) = get(&hub, &token, "/v2/nothing/here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["ResponseStatus"]["Message"]
            .as_str()
            .unwrap()
            .contains("recognized path")
    );
    let response = client()
        .delete(format!("{}/v2/datasets", hub.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    error_code(&response.json().await.unwrap());
    let response = client()
        .put(format!("{}/v1pre3/files/123/parts/0", hub.url))
        .bearer_auth(&token)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "part numbers start at 1");
    let response = client()
        .put(format!("{}/uploads/abc/parts/1?expires=notanumber&sig=zz", hub.url))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(leftover_temp_files(&hub), 0);
}

#[tokio::test]
async fn scopes_limit_what_a_token_may_do() {
    let (hub, _) = demo().await;
    let browse = hub
        .token_with_scopes(ferry_hub::demo::DEMO_EMAIL, None, Some("BROWSE GLOBAL"))
        .await;
    let project = demo_project_id(&hub, &browse).await;
    let dataset = dataset_ids(&hub, &browse, &project).await[0].clone();
    let file = files_of(&hub, &browse, &dataset).await[0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = get(&hub, &browse, &format!("/v2/files/{file}/content")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "BROWSE cannot download: {body}");
    let (status, _) = post_json(&hub, &browse, "/v2/appsessions", json!({"Name": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "BROWSE cannot create");
    let nothing = hub.token_with_scopes(ferry_hub::demo::DEMO_EMAIL, None, Some("")).await;
    get_ok(&hub, &nothing, "/v2/users/current").await;
    let (status, _) = get(&hub, &nothing, "/v2/datasets").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no scope: basic user info only");
}

#[tokio::test]
async fn every_route_takes_a_trailing_slash_as_basespace_does() {
    let hub = ferry_hub::testing::TestHub::start().await;
    let token = hub.token(ferry_hub::demo::DEMO_EMAIL, None).await;
    let me = get_ok(&hub, &token, "/v2/users/current/").await;
    assert_eq!(me["Email"], ferry_hub::demo::DEMO_EMAIL);
    // A legacy client creates projects with `POST /v1pre3/projects/`.
    let response = client()
        .post(format!("{}/v1pre3/projects/", hub.url))
        .bearer_auth(&token)
        .json(&json!({"Name": "Slashed"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["Response"]["Name"], "Slashed", "{created}");
}
