//! Every implemented v2 endpoint's answer checked against Illumina's v2 API definition
//! (`../shared/reference/basespace-v2-swagger.json`, beside the repository): each property sent
//! must be declared in the referenced definition with the right JSON type (following `$ref`), and
//! dates must parse. Properties the real service sends beyond the definition are allowed only from
//! an explicit list. Skipped, with a note, when the definition is not there.

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

/// Properties the real service sends that the definition lacks (recorded traffic), or that Ferry
/// adds on purpose.
const ALLOWED_EXTRAS: &[&str] = &[
    "Attributes",    // datasets: common_fastq (real traffic)
    "IdAsLong",      // files (real traffic)
    "UploadStatus",  // files completed via file-upload-info (V1pre3File has it; the compact form not)
    "HrefParts",     // same
    "Description",   // workgroups (Ferry extension)
    "Form",          // application settings: the version's launch form (Ferry extension)
    "Notifications", // v1pre3-style envelopes (`/applications/{id}/versions`; real traffic)
];

fn swagger() -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/basespace-v2-swagger.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("the swagger file is JSON")),
        Err(_) => {
            eprintln!("note: {} not found; swagger conformance skipped", path.display());
            None
        }
    }
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/definitions/");
            &spec["definitions"][name]
        }
        None => schema,
    }
}

fn check(spec: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    if value.is_null() {
        problems.push(format!("{at}: null (empty fields must be left out)"));
        return;
    }
    let kind = schema.get("type").and_then(Value::as_str);
    let properties = schema.get("properties").and_then(Value::as_object);
    match (kind, value) {
        (Some("string"), Value::String(text)) => {
            if schema.get("format").and_then(Value::as_str) == Some("date-time")
                && ferry_api::dates::parse(text).is_none()
            {
                problems.push(format!("{at}: {text:?} is not a date"));
            }
        }
        (Some("integer"), Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        (Some("number"), Value::Number(_)) => {}
        (Some("boolean"), Value::Bool(_)) => {}
        (Some("array"), Value::Array(items)) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(spec, item_schema, item, &format!("{at}[{i}]"), problems);
                }
            }
        }
        (Some("object") | None, Value::Object(map)) if properties.is_some() => {
            let properties = properties.unwrap();
            for (name, item) in map {
                match properties.get(name) {
                    Some(property) => check(spec, property, item, &format!("{at}.{name}"), problems),
                    None if ALLOWED_EXTRAS.contains(&name.as_str()) => {}
                    None => problems.push(format!("{at}.{name}: not declared in the definition")),
                }
            }
        }
        (Some("object") | None, Value::Object(_)) => {} // free-form object
        (kind, value) => problems.push(format!("{at}: expected {kind:?}, got {value}")),
    }
}

#[tokio::test]
async fn v2_answers_conform_to_the_swagger_definitions() {
    let Some(spec) = swagger() else { return };
    let (hub, token) = demo().await;
    let project = demo_project_id(&hub, &token).await;
    let dataset = dataset_ids(&hub, &token, &project).await[0].clone();
    let me = get_ok(&hub, &token, "/v2/users/current").await["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let group_token = hub
        .token(ferry_hub::demo::DEMO_EMAIL, Some(ferry_hub::demo::DEMO_WORKGROUP))
        .await;
    let group = get_ok(&hub, &group_token, "/v2/users/current").await["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let biosample = get_ok(&hub, &token, "/v2/biosamples").await["Items"][0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = get_ok(&hub, &token, "/v2/runs").await["Items"][0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let session = get_ok(&hub, &token, "/v2/appsessions").await["Items"][0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let new_dataset = new_dataset(&hub, &token, "swagger").await;
    // Launched sessions: one ended (log files, properties, delete), one running (stop).
    let launch = |seconds: &'static str| {
        let (hub_url, token, project) = (hub.url.clone(), token.clone(), project.clone());
        async move {
            let answer: Value = client()
                .post(format!(
                    "{hub_url}/v1pre3/applications/{}/appsessions",
                    ferry_hub::apps::TEST_APP_ID
                ))
                .bearer_auth(&token)
                .json(&json!({"Properties": [
                    {"Name": "Input.project-id", "Content": project},
                    {"Name": "Input.seconds", "Content": seconds}
                ]}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["Response"]["Id"].as_str().unwrap().to_string()
        }
    };
    let (_, _) = post_json(
        &hub,
        &token,
        &format!("/v1pre3/projects/{project}/properties"),
        json!({"Properties": [{"Name": "Swagger.tags", "Items": ["a", "b"]}]}),
    )
    .await;
    let ended = launch("0").await;
    let running = launch("60").await;
    let mut waited = 0;
    while get_ok(&hub, &token, &format!("/v2/appsessions/{ended}")).await["ExecutionStatus"] == "Running" {
        waited += 1;
        assert!(waited < 400, "the launched session never ended");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // (method, spec path, our path, body)
    let calls: Vec<(Method, &str, String, Option<Value>)> = vec![
        (Method::GET, "/users/current", "/v2/users/current".into(), None),
        (
            Method::GET,
            "/users/{id}/workgroups",
            format!("/v2/users/{me}/workgroups"),
            None,
        ),
        (Method::GET, "/workgroups/{id}", format!("/v2/workgroups/{group}"), None),
        (Method::GET, "/projects/{id}", format!("/v2/projects/{project}"), None),
        (
            Method::POST,
            "/projects",
            "/v2/projects?name=Swagger%20Project".into(),
            None,
        ),
        (Method::GET, "/biosamples", "/v2/biosamples".into(), None),
        (
            Method::GET,
            "/biosamples/{id}",
            format!("/v2/biosamples/{biosample}"),
            None,
        ),
        (
            Method::POST,
            "/biosamples",
            "/v2/biosamples".into(),
            Some(json!({"BioSampleName": "SwaggerSample", "DefaultProjectId": project})),
        ),
        (Method::GET, "/datasets", "/v2/datasets".into(), None),
        (
            Method::GET,
            "/projects/{id}/datasets",
            format!("/v2/projects/{project}/datasets"),
            None,
        ),
        (Method::GET, "/datasets/{id}", format!("/v2/datasets/{dataset}"), None),
        (
            Method::POST,
            "/projects/{id}/datasets",
            format!("/v2/projects/{project}/datasets"),
            Some(json!({"Name": "SwaggerDataset", "DatasetTypeId": "illumina.fastq.v1.8"})),
        ),
        (
            Method::POST,
            "/datasets/{id}",
            format!("/v2/datasets/{new_dataset}"),
            Some(json!({"UploadStatusSummary": "checking"})),
        ),
        (
            Method::GET,
            "/datasets/{id}/files",
            format!("/v2/datasets/{dataset}/files"),
            None,
        ),
        (
            Method::GET,
            "/datasets/{id}/file-upload-info",
            format!("/v2/datasets/{new_dataset}/file-upload-info?filepath=a.txt&uploadpartcount=2"),
            None,
        ),
        (
            Method::GET,
            "/datasettypes/{id}",
            "/v2/datasettypes/illumina.fastq.v1.8".into(),
            None,
        ),
        (Method::GET, "/runs", "/v2/runs".into(), None),
        (Method::GET, "/runs/{id}", format!("/v2/runs/{run}"), None),
        (Method::GET, "/runs/{id}/files", format!("/v2/runs/{run}/files"), None),
        (Method::GET, "/appsessions", "/v2/appsessions".into(), None),
        (
            Method::GET,
            "/appsessions",
            format!("/v2/appsessions?output.projects={project}&executionstatus=Complete&sortby=AppName"),
            None,
        ),
        (
            Method::GET,
            "/applications",
            "/v2/applications?allversions=true".into(),
            None,
        ),
        (
            Method::GET,
            "/applications/{id}",
            format!("/v2/applications/{}", ferry_hub::apps::TEST_APP_ID),
            None,
        ),
        (
            Method::GET,
            "/applications/{id}/versions",
            format!("/v2/applications/{}/versions", ferry_hub::apps::FASTQ_TOOLKIT_ID),
            None,
        ),
        (
            Method::GET,
            "/applications/{id}/settings",
            format!("/v2/applications/{}/settings", ferry_hub::apps::TEST_APP_ID),
            None,
        ),
        (
            Method::GET,
            "/appsessions/{id}",
            format!("/v2/appsessions/{session}"),
            None,
        ),
        (
            Method::POST,
            "/appsessions",
            "/v2/appsessions".into(),
            Some(json!({"Name": "Swagger"})),
        ),
        (
            Method::POST,
            "/appsessions/{id}",
            format!("/v2/appsessions/{session}"),
            Some(json!({"StatusSummary": "ok"})),
        ),
        (
            Method::GET,
            "/appsessions/{id}/logfiles",
            format!("/v2/appsessions/{ended}/logfiles"),
            None,
        ),
        (
            Method::GET,
            "/appsessions/{id}/properties",
            format!("/v2/appsessions/{ended}/properties"),
            None,
        ),
        (
            Method::GET,
            "/datasets",
            format!("/v2/datasets?appsessionids={ended}"),
            None,
        ),
        (
            Method::GET,
            "/projects/{id}/properties",
            format!("/v2/projects/{project}/properties"),
            None,
        ),
        (
            Method::GET,
            "/projects/{id}/properties/{name}",
            format!("/v2/projects/{project}/properties/Swagger.tags"),
            None,
        ),
        (
            Method::GET,
            "/projects/{id}/properties/{name}/items",
            format!("/v2/projects/{project}/properties/Swagger.tags/items"),
            None,
        ),
        (
            Method::POST,
            "/appsessions/{id}/properties",
            format!("/v2/appsessions/{ended}/properties"),
            Some(json!({"Properties": [{"Name": "Output.note", "Content": "x"}]})),
        ),
        (
            Method::GET,
            "/appsessions/{id}/properties/{name}",
            format!("/v2/appsessions/{ended}/properties/Output.note"),
            None,
        ),
        (
            Method::POST,
            "/appsessions/{id}/stop",
            format!("/v2/appsessions/{running}/stop"),
            None,
        ),
        (
            Method::DELETE,
            "/appsessions/{id}",
            format!("/v2/appsessions/{ended}"),
            None,
        ),
    ];
    let mut problems = Vec::new();
    for (method, spec_path, path, body) in calls {
        let operation = &spec["paths"][spec_path][method.as_str().to_ascii_lowercase()];
        assert!(operation.is_object(), "{method} {spec_path} is not in the swagger file");
        let mut request = client()
            .request(method.clone(), format!("{}{path}", hub.url))
            .bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16().to_string();
        let answer: Value = response.json().await.unwrap();
        let Some(schema) = operation["responses"][&status].get("schema") else {
            problems.push(format!(
                "{method} {spec_path}: status {status} is not a declared answer: {answer}"
            ));
            continue;
        };
        check(&spec, schema, &answer, &format!("{method} {spec_path}"), &mut problems);
    }

    // The file a completed upload answers (V1pre3FileCompact) and a form upload (V1pre3File).
    let info = get_ok(
        &hub,
        &token,
        &format!("/v2/datasets/{new_dataset}/file-upload-info?filepath=b.txt&uploadpartcount=1"),
    )
    .await;
    client()
        .put(info["SinglePartUrl"].as_str().unwrap())
        .body("b")
        .send()
        .await
        .unwrap();
    let (_, file) = post_json(
        &hub,
        &token,
        &format!("/v2/datasets/{new_dataset}/file-upload-info"),
        json!({"FilePath": "b.txt"}),
    )
    .await;
    let schema = &spec["paths"]["/datasets/{id}/file-upload-info"]["post"]["responses"]["200"]["schema"];
    check(
        &spec,
        schema,
        &file,
        "POST /datasets/{id}/file-upload-info",
        &mut problems,
    );
    assert!(
        problems.is_empty(),
        "answers that do not conform:\n{}",
        problems.join("\n")
    );
}
