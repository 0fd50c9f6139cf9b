//! The JSON API flow against a real hub: link, browse, import, verify, isolation, unlink.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::{Api, assert_schema, demo_token, hub_file_facts, openapi, start};

/// A demo project with biosamples, from the API.
async fn demo_project(api: &Api) -> Value {
    let (status, projects) = api.get("/api/v1/basespace/projects").await;
    assert_eq!(status, StatusCode::OK, "{projects}");
    projects["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["biosample_count"].as_u64().unwrap_or(0) > 0)
        .cloned()
        .unwrap_or_else(|| panic!("a demo project with biosamples: {projects}"))
}

#[tokio::test]
async fn linking_checks_the_token_and_never_returns_it() {
    let (hub, workspace) = start().await;
    let api = Api::new(&workspace, &workspace.user("lab@example.org").await);

    let (status, body) = api.get("/api/v1/basespace-account").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, body) = api
        .put(
            "/api/v1/basespace-account",
            json!({"access_token": "not-a-real-token", "api_server": hub.url}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("not accepted by") && message.contains(&hub.url),
        "{message}"
    );
    assert!(message.contains("another region"), "{message}");

    let (status, body) = api
        .put(
            "/api/v1/basespace-account",
            json!({"access_token": "abc", "api_server": "http://127.0.0.1:1"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a server not on the allow-list: {body}");
    assert!(body["error"].as_str().unwrap().contains("--allow-api-server"), "{body}");

    let (status, body) = api
        .put(
            "/api/v1/basespace-account",
            json!({"access_token": "abc", "region": "MARS1"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api.put("/api/v1/basespace-account", json!({"region": "USE1"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A URL with one of Illumina's regions is refused, not silently ignored.
    let (status, body) = api
        .put(
            "/api/v1/basespace-account",
            json!({"access_token": "abc", "region": "USE1", "api_server": hub.url}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Custom API server"), "{body}");
    let (status, _) = api.call(reqwest::Method::PUT, "/api/v1/basespace-account", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let token = demo_token(&hub).await;
    let (status, body) = api
        .put(
            "/api/v1/basespace-account",
            json!({"access_token": token, "api_server": format!("{}/", hub.url)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["basespace_user"]["email"], ferry_hub::demo::DEMO_EMAIL);
    assert_eq!(body["api_server"], hub.url.as_str());
    assert_eq!(body["region"], "custom");
    assert_eq!(body["context"], "Personal");
    assert_eq!(body["token_last4"], token[token.len() - 4..]);
    assert!(!body.to_string().contains(&token));
    // Times are RFC 3339 strings like every other time in the API.
    let linked_at = body["linked_at"].as_str().expect("linked_at is a string");
    assert!(
        time::OffsetDateTime::parse(linked_at, &time::format_description::well_known::Rfc3339).is_ok(),
        "{linked_at}"
    );
    assert!(body["token_rejected_at"].is_null(), "{body}");

    let (status, body) = api.get("/api/v1/basespace-account").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["linked"], true);
    assert!(!body.to_string().contains(&token), "GET never shows the token");

    // Unlink with revocation: the hub no longer accepts the token.
    let (status, body) = api.delete("/api/v1/basespace-account?revoke=true").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked"], true, "{body}");
    let document = openapi(&workspace).await;
    assert_schema(&document, "Unlinked", &body);
    assert_schema(&document, "Error", &serde_json::json!({"error": "x"}));
    let client = ferry_client::Client::new(&hub.url, &token).unwrap();
    let error = client.current_user().await.expect_err("revoked token is refused");
    assert!(error.is_unauthorized(), "{error}");
    let (status, _) = api.get("/api/v1/basespace-account").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.delete("/api/v1/basespace-account").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn import_a_demo_project_through_the_api() {
    let (hub, workspace) = start().await;
    let api = Api::new(&workspace, &workspace.user("lab@example.org").await);

    // Importing needs a linked account.
    let (status, body) = api.post("/api/v1/imports", json!({"project_ids": ["1"]})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let token = api.link_demo(&hub).await;

    let project = demo_project(&api).await;
    let project_id = project["id"].as_str().unwrap();
    let (status, biosamples) = api
        .get(&format!("/api/v1/basespace/projects/{project_id}/biosamples"))
        .await;
    assert_eq!(status, StatusCode::OK, "{biosamples}");
    let biosamples = biosamples["items"].as_array().unwrap().clone();
    assert_eq!(biosamples.len() as u64, project["biosample_count"].as_u64().unwrap());
    let with_data: Vec<&Value> = biosamples
        .iter()
        .filter(|b| !b["datasets"].as_array().unwrap().is_empty())
        .filter(|b| !b["name"].as_str().unwrap().eq_ignore_ascii_case("undetermined"))
        .collect();
    assert!(
        !with_data.is_empty(),
        "demo biosamples have FASTQ datasets: {biosamples:?}"
    );
    assert!(
        with_data.iter().all(|b| !b["lanes"].as_array().unwrap().is_empty()),
        "lanes are known"
    );

    let (status, body) = api.post("/api/v1/imports", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api
        .post(
            "/api/v1/imports",
            json!({"project_ids": [project_id], "on_conflict": "sideways"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, created) = api
        .post(
            "/api/v1/imports",
            json!({"project_ids": [project_id], "genome": "hg38", "data_type": "rna-seq"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let import_id = created["id"].as_str().unwrap().to_string();
    let done = api.wait_for_import(&import_id, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["files_done"], done["files_total"]);
    assert_eq!(done["bytes_done"], done["bytes_total"]);
    assert!(done["errors"].as_array().unwrap().is_empty(), "{done}");

    // Every answer has the shape the OpenAPI document declares.
    let document = openapi(&workspace).await;
    assert_schema(&document, "ImportStatus", &done);
    assert_schema(&document, "ImportCreated", &created);
    assert_schema(&document, "BsProject", &project);
    for biosample in &biosamples {
        assert_schema(&document, "BsBiosample", biosample);
    }
    let (_, account) = api.get("/api/v1/basespace-account").await;
    assert_schema(&document, "BaseSpaceAccount", &account);
    let (_, imports) = api.get("/api/v1/imports").await;
    for import in imports["items"].as_array().unwrap() {
        assert_schema(&document, "ImportStatus", import);
    }

    let (status, samples) = api.get("/api/v1/samples").await;
    assert_eq!(status, StatusCode::OK);
    let samples = samples["items"].as_array().unwrap().clone();
    assert_eq!(
        samples.len(),
        with_data.len(),
        "one sample per biosample with data: {samples:?}"
    );
    let mut checked_files = 0;
    for summary in &samples {
        let (status, sample) = api
            .get(&format!("/api/v1/samples/{}", summary["id"].as_str().unwrap()))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(sample["status"], "completed", "{sample}");
        assert_schema(&document, "SampleSummary", summary);
        assert_schema(&document, "SampleDetail", &sample);
        assert_eq!(sample["genome"], "hg38");
        assert_eq!(sample["source"]["api_server"], hub.url.as_str());
        for file in sample["files"].as_array().unwrap() {
            let file_id = file["source"]["file_id"].as_str().unwrap();
            let (md5, size, stats) = hub_file_facts(&hub.url, &token, file_id).await;
            assert_eq!(file["md5"], md5.as_str(), "{file}");
            assert_eq!(file["size"], size, "{file}");
            assert_eq!(file["reads"], stats.reads, "read count of {}", file["name"]);
            assert_eq!(file["bases"], stats.bases, "bases of {}", file["name"]);
            assert_eq!(file["sha256"].as_str().unwrap().len(), 64);
            assert!(file["read"] == 1 || file["read"] == 2, "{file}");
            checked_files += 1;
        }
    }
    assert!(checked_files >= 2, "files were checked");

    // Download one file through the API: the same bytes.
    let sample = &samples[0];
    let (_, detail) = api
        .get(&format!("/api/v1/samples/{}", sample["id"].as_str().unwrap()))
        .await;
    let file = &detail["files"][0];
    let url = format!(
        "{}/api/v1/samples/{}/files/{}/content",
        workspace.url,
        detail["id"].as_str().unwrap(),
        file["id"].as_str().unwrap()
    );
    let bytes = api
        .http
        .get(url)
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    {
        use md5::Digest;
        assert_eq!(hex::encode(md5::Md5::digest(&bytes)), file["md5"].as_str().unwrap());
    }

    // The same import again creates nothing twice.
    let (status, again) = api.post("/api/v1/imports", json!({"project_ids": [project_id]})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let again = api
        .wait_for_import(again["id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(again["status"], "completed", "{again}");
    let (_, after) = api.get("/api/v1/samples").await;
    assert_eq!(
        after["items"].as_array().unwrap().len(),
        samples.len(),
        "no duplicate samples"
    );

    // Delete a sample.
    let id = sample["id"].as_str().unwrap();
    let (status, _) = api.delete(&format!("/api/v1/samples/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = api.get(&format!("/api/v1/samples/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn two_workspace_users_see_nothing_of_each_other() {
    let (hub, workspace) = start().await;
    let alice = Api::new(&workspace, &workspace.user("alice@example.org").await);
    let bob = Api::new(&workspace, &workspace.user("bob@example.org").await);
    alice.link_demo(&hub).await;
    let project = demo_project(&alice).await;
    let (_, created) = alice
        .post("/api/v1/imports", json!({"project_ids": [project["id"]]}))
        .await;
    let import_id = created["id"].as_str().unwrap().to_string();
    alice.wait_for_import(&import_id, Duration::from_secs(120)).await;
    let (_, samples) = alice.get("/api/v1/samples").await;
    let sample_id = samples["items"][0]["id"].as_str().unwrap().to_string();
    let (_, sample) = alice.get(&format!("/api/v1/samples/{sample_id}")).await;
    let file_id = sample["files"][0]["id"].as_str().unwrap().to_string();

    // Bob has no link, no imports, no samples, and Alice's IDs are unknown to him.
    for path in ["/api/v1/basespace-account", "/api/v1/basespace/projects"] {
        let (status, body) = bob.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (_, imports) = bob.get("/api/v1/imports").await;
    assert_eq!(imports["items"], json!([]));
    let (_, samples) = bob.get("/api/v1/samples").await;
    assert_eq!(samples["items"], json!([]));
    for path in [
        format!("/api/v1/imports/{import_id}"),
        format!("/api/v1/samples/{sample_id}"),
        format!("/api/v1/samples/{sample_id}/files/{file_id}/content"),
    ] {
        let (status, _) = bob.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = bob
        .post(&format!("/api/v1/imports/{import_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = bob.delete(&format!("/api/v1/samples/{sample_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = alice.get(&format!("/api/v1/samples/{sample_id}")).await;
    assert_eq!(status, StatusCode::OK, "Alice's sample is still there");
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint() {
    let (_hub, workspace) = start().await;
    let document: Value = reqwest::get(format!("{}/api/openapi.json", workspace.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let expected = [
        ("/api/v1/basespace-account", vec!["get", "put", "delete"]),
        ("/api/v1/basespace/projects", vec!["get"]),
        ("/api/v1/basespace/projects/{id}/biosamples", vec!["get"]),
        ("/api/v1/basespace/runs", vec!["get"]),
        ("/api/v1/basespace/runs/{id}/datasets", vec!["get"]),
        ("/api/v1/imports", vec!["get", "post"]),
        ("/api/v1/imports/{id}", vec!["get"]),
        ("/api/v1/imports/{id}/cancel", vec!["post"]),
        ("/api/v1/samples", vec!["get"]),
        ("/api/v1/samples/{id}", vec!["get", "delete"]),
        ("/api/v1/samples/{id}/resume", vec!["post"]),
        ("/api/v1/samples/{id}/files/{file_id}/content", vec!["get"]),
        ("/api/v1/api-keys", vec!["get", "post"]),
        ("/api/v1/api-keys/{id}", vec!["delete"]),
    ];
    let paths = document["paths"].as_object().unwrap();
    assert_eq!(paths.len(), expected.len(), "no undocumented or stale paths");
    for (path, methods) in expected {
        for method in methods {
            assert!(
                document["paths"][path][method].is_object(),
                "{method} {path} documented"
            );
        }
    }
    // Every $ref points at a schema that exists.
    let text = document.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(document["components"]["schemas"][name].is_object(), "schema {name}");
    }
    let status_fields = &document["components"]["schemas"]["ImportStatus"]["required"];
    for field in [
        "id",
        "status",
        "files_total",
        "files_done",
        "bytes_total",
        "bytes_done",
        "samples",
        "errors",
    ] {
        assert!(status_fields.as_array().unwrap().contains(&json!(field)), "{field}");
    }
}

#[tokio::test]
async fn runs_and_workgroup_contexts_can_be_browsed() {
    let (hub, workspace) = start().await;
    let api = Api::new(&workspace, &workspace.user("core@example.org").await);
    api.link_demo(&hub).await;

    let (status, runs) = api.get("/api/v1/basespace/runs").await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    let run = runs["items"][0].clone();
    assert_eq!(run["experiment_name"], ferry_hub::demo::DEMO_RUN, "{runs}");
    let (_, found) = api.get("/api/v1/basespace/runs?q=demo%20RUN").await;
    assert_eq!(
        found["items"].as_array().unwrap().len(),
        1,
        "search matches the experiment name: {found}"
    );
    let (status, datasets) = api
        .get(&format!(
            "/api/v1/basespace/runs/{}/datasets",
            run["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{datasets}");
    let datasets = datasets["items"].as_array().unwrap();
    assert!(!datasets.is_empty());
    let document = openapi(&workspace).await;
    assert_schema(&document, "BsRun", &run);
    for dataset in datasets {
        assert_schema(&document, "BsDataset", dataset);
    }
    assert!(
        datasets
            .iter()
            .all(|d| d["lane"].is_u64() && d["size"].as_u64().unwrap() > 0),
        "{datasets:?}"
    );
    let (status, found) = api.get("/api/v1/basespace/runs?q=no-such-run").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["items"], json!([]));

    // A workgroup token: the context is shown, and only that workgroup's data is listed.
    let token = hub
        .token(ferry_hub::demo::DEMO_EMAIL, Some(ferry_hub::demo::DEMO_WORKGROUP))
        .await;
    let (status, body) = api
        .put(
            "/api/v1/basespace-account",
            json!({"access_token": token, "api_server": hub.url}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["context"],
        format!("Workgroup: {}", ferry_hub::demo::DEMO_WORKGROUP)
    );
    assert_eq!(
        body["basespace_user"]["email"],
        ferry_hub::demo::DEMO_EMAIL,
        "the person behind the workgroup token"
    );
    let (_, projects) = api.get("/api/v1/basespace/projects").await;
    let names: Vec<&str> = projects["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, vec![ferry_hub::demo::DEMO_WORKGROUP_PROJECT]);
}

#[tokio::test]
async fn datasets_picked_one_by_one_import_only_their_files() {
    let (hub, workspace) = start().await;
    let api = Api::new(&workspace, &workspace.user("lanes@example.org").await);
    api.link_demo(&hub).await;
    let project = demo_project(&api).await;
    let (_, biosamples) = api
        .get(&format!(
            "/api/v1/basespace/projects/{}/biosamples",
            project["id"].as_str().unwrap()
        ))
        .await;
    let biosample = biosamples["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["datasets"].as_array().unwrap().len() >= 2)
        .cloned()
        .expect("a demo biosample with two lanes");
    let lane = &biosample["datasets"][0];
    let (status, created) = api.post("/api/v1/imports", json!({"dataset_ids": [lane["id"]]})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let done = api
        .wait_for_import(created["id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["title"], format!("Dataset {}", lane["name"].as_str().unwrap()));
    let (_, samples) = api.get("/api/v1/samples").await;
    let samples = samples["items"].as_array().unwrap();
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert_eq!(
        samples[0]["name"], biosample["name"],
        "named after the sample its files name"
    );
    let (_, detail) = api
        .get(&format!("/api/v1/samples/{}", samples[0]["id"].as_str().unwrap()))
        .await;
    let files = detail["files"].as_array().unwrap();
    assert!(!files.is_empty());
    for file in files {
        assert_eq!(file["source"]["dataset_id"], lane["id"], "only the picked lane: {file}");
    }
}

#[tokio::test]
async fn a_token_rejected_during_a_background_import_marks_the_link() {
    let (hub, workspace) = start().await;
    let api = Api::new(&workspace, &workspace.user("revoked@example.org").await);
    let token = api.link_demo(&hub).await;
    let project = demo_project(&api).await;
    let (_, account) = api.get("/api/v1/basespace-account").await;
    assert!(account["token_rejected_at"].is_null(), "{account}");
    // Revoked at BaseSpace after the import was asked for.
    ferry_client::Client::new(&hub.url, &token)
        .unwrap()
        .revoke_token()
        .await
        .unwrap();
    let (status, created) = api
        .post("/api/v1/imports", json!({"project_ids": [project["id"]]}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let done = api
        .wait_for_import(created["id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(done.to_string().contains("rejected the linked access token"), "{done}");
    let (_, account) = api.get("/api/v1/basespace-account").await;
    assert!(
        account["token_rejected_at"].is_string(),
        "the pages now ask for a new token: {account}"
    );
}
