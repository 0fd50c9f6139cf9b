//! Isolation across two users and a workgroup: another context's resources answer exactly like
//! unknown IDs through every endpoint, content URL and signed URL.

use ferry_hub::demo;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

/// Asserts `path` answers like an unknown ID would (404 with the same code and message shape).
async fn hidden(hub: &ferry_hub::testing::TestHub, token: &str, path: &str, id: &str) {
    let (status, body) = get(hub, token, path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{path} must not be visible: {body}");
    let unknown_path = path.replace(id, "99999999999");
    let (unknown_status, unknown) = get(hub, token, &unknown_path).await;
    assert_eq!(unknown_status, StatusCode::NOT_FOUND, "{unknown_path}: {unknown}");
    assert_eq!(error_code(&body), error_code(&unknown));
    assert_eq!(
        body["ErrorMessage"].as_str().unwrap().replace(id, "X"),
        unknown["ErrorMessage"].as_str().unwrap().replace("99999999999", "X"),
        "the message must not reveal that {id} exists"
    );
}

#[tokio::test]
async fn another_user_and_other_contexts_see_nothing() {
    let (hub, demo_token) = demo().await;
    hub.add_user("bob@example.org", "bob-pw").await;
    hub.add_workgroup("Bob Lab", &["bob@example.org"]).await;
    let bob = hub.token("bob@example.org", None).await;
    let bob_lab = hub.token("bob@example.org", Some("Bob Lab")).await;
    let demo_lab = hub.token(demo::DEMO_EMAIL, Some(demo::DEMO_WORKGROUP)).await;

    // Demo's resources.
    let project = demo_project_id(&hub, &demo_token).await;
    let datasets = dataset_ids(&hub, &demo_token, &project).await;
    let dataset = datasets[0].clone();
    let sample = get_ok(&hub, &demo_token, &format!("/v2/datasets/{dataset}")).await["V1pre3Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("sample.")
        .to_string();
    let file = files_of(&hub, &demo_token, &dataset).await[0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let biosample = get_ok(&hub, &demo_token, "/v2/biosamples").await["Items"][0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = get_ok(&hub, &demo_token, "/v2/runs").await["Items"][0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let session = get_ok(&hub, &demo_token, "/v2/appsessions").await["Items"][0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    // Demo's session read demo's biosample and run, and ran the Test App.
    hub.record_app_session(
        &session,
        ferry_hub::apps::TEST_APP_ID,
        &[("input.biosample", &biosample), ("input.run", &run)],
        &[],
    )
    .await;
    for query in [
        format!("input.biosamples={biosample}"),
        format!("input.runs={run}"),
        format!("output.projects={project}"),
    ] {
        let found = get_ok(&hub, &demo_token, &format!("/v2/appsessions?{query}")).await;
        assert_eq!(found["Items"][0]["Id"], session.as_str(), "{query}: {found}");
    }
    let me = get_ok(&hub, &demo_token, "/v2/users/current").await["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let group = get_ok(&hub, &demo_lab, "/v2/users/current").await["Id"]
        .as_str()
        .unwrap()
        .to_string();

    for token in [&bob, &bob_lab, &demo_lab] {
        for path in [
            "/v1pre3/users/current/projects",
            "/v1pre3/users/current/runs",
            "/v2/biosamples",
            "/v2/datasets",
            "/v2/runs",
            "/v2/appsessions",
        ] {
            let body = get_ok(&hub, token, path).await;
            let items = body["Items"]
                .as_array()
                .or(body["Response"]["Items"].as_array())
                .unwrap();
            let ids: Vec<&str> = items.iter().map(|i| i["Id"].as_str().unwrap()).collect();
            for id in [&project, &dataset, &biosample, &run, &session] {
                assert!(!ids.contains(&id.as_str()), "{path} leaked {id}");
            }
        }
        hidden(&hub, token, &format!("/v2/projects/{project}"), &project).await;
        hidden(&hub, token, &format!("/v1pre3/projects/{project}"), &project).await;
        hidden(&hub, token, &format!("/v1pre3/projects/{project}/samples"), &project).await;
        hidden(&hub, token, &format!("/v2/projects/{project}/datasets"), &project).await;
        hidden(&hub, token, &format!("/v2/datasets/{dataset}"), &dataset).await;
        hidden(&hub, token, &format!("/v2/datasets/{dataset}/files"), &dataset).await;
        hidden(&hub, token, &format!("/v1pre3/samples/{sample}"), &sample).await;
        hidden(&hub, token, &format!("/v1pre3/samples/{sample}/files"), &sample).await;
        hidden(&hub, token, &format!("/v2/biosamples/{biosample}"), &biosample).await;
        hidden(&hub, token, &format!("/v2/runs/{run}"), &run).await;
        hidden(&hub, token, &format!("/v2/runs/{run}/files"), &run).await;
        hidden(&hub, token, &format!("/v1pre3/runs/{run}"), &run).await;
        hidden(&hub, token, &format!("/v1pre3/runs/{run}/files"), &run).await;
        hidden(&hub, token, &format!("/v2/appsessions/{session}"), &session).await;
        hidden(&hub, token, &format!("/v2/appsessions/{session}/logfiles"), &session).await;
        hidden(&hub, token, &format!("/v2/appsessions/{session}/properties"), &session).await;
        hidden(&hub, token, &format!("/v2/projects/{project}/properties"), &project).await;
        hidden(&hub, token, &format!("/v2/datasets/{dataset}/properties"), &dataset).await;
        hidden(
            &hub,
            token,
            &format!("/v2/biosamples/{biosample}/properties"),
            &biosample,
        )
        .await;
        hidden(&hub, token, &format!("/v2/runs/{run}/properties"), &run).await;
        for path in [
            format!("/v1pre3/projects/{project}/properties"),
            format!("/v1pre3/runs/{run}/properties"),
            format!("/v1pre3/samples/{sample}/properties"),
            format!("/v2/appsessions/{session}/properties"),
        ] {
            let (status, _) = post_json(
                &hub,
                token,
                &path,
                json!({"Properties": [{"Name": "Evil.x", "Content": "x"}]}),
            )
            .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        hidden(&hub, token, &format!("/v2/files/{file}"), &file).await;
        hidden(&hub, token, &format!("/v1pre3/files/{file}"), &file).await;
        hidden(&hub, token, &format!("/v2/files/{file}/content"), &file).await;
        hidden(
            &hub,
            token,
            &format!("/v1pre3/files/{file}/content?redirect=meta"),
            &file,
        )
        .await;
        hidden(
            &hub,
            token,
            &format!("/v2/datasets/{dataset}/file-upload-info?filepath=x&uploadpartcount=2"),
            &dataset,
        )
        .await;
        let filtered = get_ok(
            &hub,
            token,
            &format!("/v2/datasets?projectid={project}&inputruns={run}"),
        )
        .await;
        assert_eq!(filtered["Paging"]["TotalCount"], 0);
        // Appsession filters naming demo's project, biosample and run find nothing here.
        for query in [
            format!("output.projects={project}"),
            format!("input.biosamples={biosample}"),
            format!("input.runs={run}"),
            format!("appid={}", ferry_hub::apps::TEST_APP_ID),
        ] {
            let found = get_ok(&hub, token, &format!("/v2/appsessions?{query}")).await;
            assert_eq!(found["Paging"]["TotalCount"], 0, "{query} leaked: {found}");
        }
        // The application catalog is the same for every context.
        let catalog = get_ok(&hub, token, "/v2/applications").await;
        assert_eq!(catalog["Paging"]["TotalCount"], 3);

        // Writes into demo's resources fail the same way.
        let (status, _) = post_json(
            &hub,
            token,
            &format!("/v2/projects/{project}/datasets"),
            json!({"Name": "x"}),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = post_json(
            &hub,
            token,
            "/v2/biosamples",
            json!({"BioSampleName": "x", "DefaultProjectId": project}),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = post_json(
            &hub,
            token,
            &format!("/v2/datasets/{dataset}"),
            json!({"UploadStatus": "Complete"}),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = post_json(
            &hub,
            token,
            &format!("/v2/appsessions/{session}"),
            json!({"StatusSummary": "x"}),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let legacy = get_ok(&hub, token, "/v1pre3/users/current/appsessions?Limit=1000").await;
        assert!(!legacy.to_string().contains(&session), "legacy session list");
        let (status, _) = post_json(
            &hub,
            token,
            &format!("/v1pre3/projects/{project}/samples?appsessionid={session}"),
            json!({"Name": "x"}),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = post_json(&hub, token, &format!("/v2/appsessions/{session}/stop"), json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let deleted = client()
            .delete(format!("{}/v2/appsessions/{session}", hub.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), StatusCode::NOT_FOUND);
        // A launch may not name another context's project, biosample or dataset as input or output.
        for (field, id) in [
            ("project-id", &project),
            ("sample-id", &biosample),
            ("dataset-id", &dataset),
        ] {
            let (status, body) = post_json(
                &hub,
                token,
                &format!("/v1pre3/applications/{}/appsessions", ferry_hub::apps::FASTQ_QC_ID),
                json!({"Properties": [{"Name": format!("Input.{field}"), "Content": id}]}),
            )
            .await;
            assert_eq!(status, StatusCode::CONFLICT, "{field}");
            assert!(
                body.to_string().contains("is visible to this access token"),
                "{field}: {body}"
            );
        }
        let response = client()
            .post(format!("{}/v1pre3/datasets/{dataset}/files?name=x.txt", hub.url))
            .bearer_auth(token)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let (status, _) = post_json(&hub, token, "/v1pre3/projects", json!({"Name": demo::DEMO_PROJECT})).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "a same-named project in another context is a new project"
        );
    }
    // Users and workgroups.
    hidden(&hub, &bob, &format!("/v2/users/{me}"), &me).await;
    hidden(&hub, &bob, &format!("/v2/workgroups/{group}"), &group).await;
    let bob_groups = get_ok(&hub, &bob, "/v2/users/current/workgroups").await;
    assert_eq!(bob_groups["Items"][0]["Name"], "Bob Lab");
    assert_eq!(bob_groups["Paging"]["TotalCount"], 1);

    // The personal token does not see the workgroup's project, nor the reverse.
    let personal = get_ok(&hub, &demo_token, "/v1pre3/users/current/projects").await;
    let lab = get_ok(&hub, &demo_lab, "/v1pre3/users/current/projects").await;
    let names = |list: &Value| -> Vec<(String, String)> {
        list["Response"]["Items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["Id"].as_str().unwrap().to_string(),
                    p["Name"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (personal, lab) = (names(&personal), names(&lab));
    assert_eq!(personal, vec![(project.clone(), demo::DEMO_PROJECT.to_string())]);
    assert!(lab.iter().any(|(_, name)| name == demo::DEMO_WORKGROUP_PROJECT));
    assert!(lab.iter().all(|(id, _)| *id != project), "{lab:?}");

    // Leaving a workgroup ends its tokens.
    sqlx::query("DELETE FROM memberships WHERE user_id = (SELECT id FROM users WHERE email = 'bob@example.org')")
        .execute(&hub.hub().db().pool)
        .await
        .unwrap();
    let (status, _) = get(&hub, &bob_lab, "/v2/users/current").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signed_urls_refuse_tampering_expiry_and_other_files() {
    let (hub, token) = demo().await;
    let project = demo_project_id(&hub, &token).await;
    let datasets = dataset_ids(&hub, &token, &project).await;
    let files = files_of(&hub, &token, &datasets[0]).await;
    let (a, b) = (files[0]["Id"].as_str().unwrap(), files[1]["Id"].as_str().unwrap());
    let meta = get_ok(&hub, &token, &format!("/v2/files/{a}/content?redirect=meta")).await;
    let url = meta["Response"]["HrefContent"].as_str().unwrap().to_string();
    assert_eq!(client().get(&url).send().await.unwrap().status(), StatusCode::OK);

    let refused = |url: String| async move {
        let response = client().get(&url).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, body)
    };
    let sig_at = url.find("sig=").unwrap() + 4;
    let mut flipped = url.clone();
    let c = if &url[sig_at..sig_at + 1] == "0" { "1" } else { "0" };
    flipped.replace_range(sig_at..sig_at + 1, c);
    let (status, body) = refused(flipped).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["ErrorMessage"].as_str().unwrap().contains("not valid"));
    let expires_at = url.find("expires=").unwrap() + 8;
    let mut later = url.clone();
    later.replace_range(expires_at..expires_at + 1, "9");
    assert_eq!(
        refused(later).await.0,
        StatusCode::FORBIDDEN,
        "extending the expiry breaks the signature"
    );
    let other = url.replacen(&format!("/content/{a}/"), &format!("/content/{b}/"), 1);
    assert_eq!(
        refused(other).await.0,
        StatusCode::FORBIDDEN,
        "a signature covers one file"
    );
    let unsigned = url[..url.find('?').unwrap()].to_string();
    assert_eq!(refused(unsigned).await.0, StatusCode::FORBIDDEN);
    let unknown = url.replacen(&format!("/content/{a}/"), "/content/12345678901/", 1);
    assert_eq!(
        refused(unknown).await.0,
        StatusCode::FORBIDDEN,
        "unknown files look like bad signatures"
    );

    let expired = hub
        .signed_content_url(a, ferry_api::dates::now_millis() / 1000 - 10)
        .await;
    let (status, body) = refused(expired).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["ErrorMessage"].as_str().unwrap().contains("expired"), "{body}");
}
