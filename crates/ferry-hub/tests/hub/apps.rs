//! Applications (`/v2/applications…`, `/v1pre3/applications…`, `ferry hub app …`) and the
//! appsession list's filters and sort keys.

use clap::Parser;
use ferry_hub::apps;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

fn ids(list: &Value) -> Vec<String> {
    list["Items"]
        .as_array()
        .or(list["Response"]["Items"].as_array())
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item["Id"].as_str().unwrap().to_string())
        .collect()
}

fn names(list: &Value) -> Vec<String> {
    list["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["Name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn applications_are_listed_filtered_sorted_and_paged() {
    let (hub, token) = demo().await;
    let list = get_ok(&hub, &token, "/v2/applications").await;
    assert_eq!(names(&list), ["FASTQ QC", "FASTQ Toolkit", "Test App"], "{list}");
    assert_eq!(list["Paging"]["TotalCount"], 3);
    assert_eq!(list["Paging"]["SortBy"], "Id");
    let toolkit = &list["Items"][1];
    assert_eq!(toolkit["Id"], apps::FASTQ_TOOLKIT_ID, "the latest version is listed");
    assert_eq!(toolkit["VersionNumber"], "2.2.6");
    assert_eq!(toolkit["AppFamilySlug"], "ferry.fastq-toolkit");
    assert_eq!(toolkit["AppVersionSlug"], "ferry.fastq-toolkit.2.2.6");
    assert_eq!(toolkit["Category"], "Native");
    assert_eq!(toolkit["CompanyName"], "Ferry");
    assert!(toolkit["Href"].as_str().unwrap().ends_with("/v2/applications/9100003"));

    let all = get_ok(&hub, &token, "/v2/applications?allversions=true").await;
    assert_eq!(all["Paging"]["TotalCount"], 4);
    let other = get_ok(&hub, &token, "/v2/applications?category=other").await;
    assert_eq!(names(&other), ["Test App"]);
    let by_id = get_ok(&hub, &token, &format!("/v2/applications?id={}", apps::FASTQ_QC_ID)).await;
    assert_eq!(names(&by_id), ["FASTQ QC"]);
    let none = get_ok(&hub, &token, "/v2/applications?references=ferry.fastq-qc").await;
    assert_eq!(
        none["Paging"]["TotalCount"], 0,
        "no workflows are made from Ferry's apps"
    );
    let sorted = get_ok(
        &hub,
        &token,
        "/v2/applications?sortby=Name&sortdir=Desc&limit=2&offset=0",
    )
    .await;
    assert_eq!(names(&sorted), ["Test App", "FASTQ Toolkit"]);
    assert_eq!(sorted["Paging"]["TotalCount"], 3);
    assert_eq!(sorted["Paging"]["DisplayedCount"], 2);
    assert_eq!(sorted["Paging"]["SortBy"], "Name");
    assert_eq!(sorted["Paging"]["SortDir"], "Desc");
    for key in ["DateCreated", "DatePublished", "Id", "Name", "VersionNumber"] {
        get_ok(&hub, &token, &format!("/v2/applications?sortby={key}")).await;
    }

    let (status, body) = get(&hub, &token, "/v2/applications?sortby=Popularity").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "BASESPACE.COMMON.INVALID_PARAMETER");
    assert!(
        body["ErrorMessage"].as_str().unwrap().contains("VersionNumber"),
        "{body}"
    );

    let v1 = get_ok(&hub, &token, "/v1pre3/applications?limit=1").await;
    assert_eq!(v1["Response"]["TotalCount"], 3);
    assert_eq!(v1["Response"]["Items"][0]["Href"], "v1pre3/applications/9100001");

    let (status, _) = get(&hub, "not-a-token", "/v2/applications").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_application_its_versions_and_its_launch_form() {
    let (hub, token) = demo().await;
    let app = get_ok(&hub, &token, &format!("/v2/applications/{}", apps::TEST_APP_ID)).await;
    assert_eq!(app["Name"], "Test App");
    assert_eq!(app["VersionNumber"], "1.0.0");
    assert!(app["LongDescription"].as_str().unwrap().contains("seconds"));
    assert!(
        app["HrefSettings"]
            .as_str()
            .unwrap()
            .ends_with("/v2/applications/9100004/settings")
    );
    let v1 = get_ok(&hub, &token, &format!("/v1pre3/applications/{}", apps::TEST_APP_ID)).await;
    assert_eq!(v1["Response"]["Name"], "Test App");

    let versions = get_ok(
        &hub,
        &token,
        &format!("/v2/applications/{}/versions", apps::FASTQ_TOOLKIT_ID),
    )
    .await;
    assert_eq!(ids(&versions), [apps::FASTQ_TOOLKIT_OLD_ID, apps::FASTQ_TOOLKIT_ID]);
    assert_eq!(versions["Response"]["TotalCount"], 2);
    let newest_first = get_ok(
        &hub,
        &token,
        &format!(
            "/v2/applications/{}/versions?sortby=VersionNumber&sortdir=Desc",
            apps::FASTQ_TOOLKIT_OLD_ID
        ),
    )
    .await;
    assert_eq!(newest_first["Response"]["Items"][0]["VersionNumber"], "2.2.6");

    let settings = get_ok(
        &hub,
        &token,
        &format!("/v2/applications/{}/settings", apps::TEST_APP_ID),
    )
    .await;
    let fields = settings["Form"]["Fields"].as_array().unwrap();
    let field = |id: &str| {
        fields
            .iter()
            .find(|f| f["Id"] == id)
            .unwrap_or_else(|| panic!("no {id}: {settings}"))
    };
    assert_eq!(field("project-id")["Type"], "project");
    assert_eq!(field("project-id")["Required"], true);
    assert_eq!(field("sample-id")["Type"], "biosample");
    assert_eq!(
        field("outcome")["Choices"],
        json!(["Complete", "NeedsAttention", "Aborted"])
    );
    assert_eq!(field("outcome")["Default"], "Complete");
    assert_eq!(field("seconds")["Type"], "number");
    assert_eq!(field("message")["Type"], "text");
    assert_eq!(field("app-session-name")["Required"], false);
    let toolkit = get_ok(
        &hub,
        &token,
        &format!("/v2/applications/{}/settings", apps::FASTQ_TOOLKIT_ID),
    )
    .await;
    let toolkit_fields: Vec<&str> = toolkit["Form"]["Fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["Id"].as_str().unwrap())
        .collect();
    for id in [
        "sample-id",
        "quality-threshold",
        "adapter-sequence",
        "minimum-length",
        "subsample-reads",
        "output-suffix",
    ] {
        assert!(toolkit_fields.contains(&id), "{id} missing from {toolkit_fields:?}");
    }

    for path in [
        "/v2/applications/123",
        "/v2/applications/123/settings",
        "/v2/applications/123/versions",
        "/v1pre3/applications/123",
    ] {
        let (status, body) = get(&hub, &token, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(error_code(&body), "BASESPACE.COMMON.NOT_FOUND");
    }
}

#[tokio::test]
async fn disabled_applications_are_neither_listed_nor_served() {
    let (hub, token) = demo().await;
    apps::set_disabled(hub.hub().db(), apps::FASTQ_QC_ID, true)
        .await
        .unwrap();
    let list = get_ok(&hub, &token, "/v2/applications").await;
    assert_eq!(names(&list), ["FASTQ Toolkit", "Test App"]);
    let v1 = get_ok(&hub, &token, "/v1pre3/applications").await;
    assert_eq!(v1["Response"]["TotalCount"], 2);
    let (status, _) = get(&hub, &token, &format!("/v2/applications/{}", apps::FASTQ_QC_ID)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    apps::set_disabled(hub.hub().db(), apps::FASTQ_TOOLKIT_OLD_ID, true)
        .await
        .unwrap();
    let versions = get_ok(
        &hub,
        &token,
        &format!("/v2/applications/{}/versions", apps::FASTQ_TOOLKIT_ID),
    )
    .await;
    assert_eq!(ids(&versions), [apps::FASTQ_TOOLKIT_ID]);
    apps::set_disabled(hub.hub().db(), apps::FASTQ_QC_ID, false)
        .await
        .unwrap();
    let list = get_ok(&hub, &token, "/v2/applications").await;
    assert_eq!(list["Paging"]["TotalCount"], 3);
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    hub: ferry_hub::cli::HubArgs,
}

#[tokio::test]
async fn admin_app_commands_disable_and_enable_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub");
    let data = data.to_str().unwrap().to_string();
    let database_url = ferry_db::testing::fresh_database_url(dir.path()).await;
    let run = |args: Vec<&str>| {
        let mut full = vec![
            "ferry-hub",
            "--data-dir",
            &data,
            "--database-url",
            database_url.as_str(),
        ];
        full.extend(args);
        let cli = Cli::try_parse_from(full).unwrap();
        ferry_hub::cli::run(cli.hub, std::future::pending())
    };
    if let Some(path) = ferry_db::sqlite_file(&database_url) {
        assert!(
            run(vec!["app", "list"]).await.is_err(),
            "no database yet: nothing is created"
        );
        std::fs::write(path, b"").unwrap();
    }
    run(vec!["app", "list"]).await.unwrap();
    run(vec!["app", "disable", apps::TEST_APP_ID]).await.unwrap();
    let error = run(vec!["app", "disable", "42"]).await.unwrap_err();
    assert!(error.to_string().contains("ferry hub app list"), "{error}");

    // Reopening (which writes the built-in catalog again) keeps the admin's choice.
    run(vec!["app", "list"]).await.unwrap();
    let db = ferry_db::Db::connect(&database_url).await.unwrap();
    let state = |id: &'static str| {
        let db = db.clone();
        async move {
            apps::list_all(&db)
                .await
                .unwrap()
                .into_iter()
                .find(|app| app.id == id)
                .unwrap()
                .disabled
        }
    };
    assert!(state(apps::TEST_APP_ID).await);
    assert!(!state(apps::FASTQ_QC_ID).await);
    run(vec!["app", "enable", apps::TEST_APP_ID]).await.unwrap();
    assert!(!state(apps::TEST_APP_ID).await);
}

/// A new upload session writing one dataset into `project`; returns its ID.
async fn session_into(hub: &ferry_hub::testing::TestHub, token: &str, name: &str, project: &str) -> String {
    let (status, session) = post_json(hub, token, "/v2/appsessions", json!({"Name": name})).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let id = session["Id"].as_str().unwrap().to_string();
    let (status, body) = post_json(
        hub,
        token,
        &format!("/v2/projects/{project}/datasets"),
        json!({"Name": format!("{name} output"), "AppSessionId": id}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

async fn create_project(hub: &ferry_hub::testing::TestHub, token: &str, name: &str) -> String {
    let (status, body) = post_json(hub, token, "/v1pre3/projects", json!({"Name": name})).await;
    assert!(status.is_success(), "{body}");
    body["Response"]["Id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn appsessions_are_filtered_by_project_input_status_app_and_name() {
    let (hub, token) = demo().await;
    let demo_project = demo_project_id(&hub, &token).await;
    let other_project = create_project(&hub, &token, "Other").await;
    let biosample = get_ok(&hub, &token, "/v2/biosamples").await["Items"][0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = get_ok(&hub, &token, "/v2/runs").await["Items"][0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let demo_session = get_ok(&hub, &token, "/v2/appsessions").await["Items"][0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let first = session_into(&hub, &token, "first", &other_project).await;
    let second = session_into(&hub, &token, "second", &other_project).await;
    hub.record_app_session(
        &second,
        apps::TEST_APP_ID,
        &[("input.biosample", &biosample), ("input.run", &run)],
        &[],
    )
    .await;
    let (status, body) = post_json(
        &hub,
        &token,
        &format!("/v2/appsessions/{second}"),
        json!({"ExecutionStatus": "NeedsAttention"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let listed = |query: String| {
        let (hub, token) = (&hub, &token);
        async move {
            let mut ids = ids(&get_ok(hub, token, &format!("/v2/appsessions?{query}")).await);
            ids.sort();
            ids
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        listed(format!("output.projects={demo_project}")).await,
        vec![demo_session.clone()]
    );
    assert_eq!(
        listed(format!("output.projects={other_project}")).await,
        sorted(vec![first.clone(), second.clone()])
    );
    assert_eq!(
        listed(format!("output.projects={demo_project},{other_project}"))
            .await
            .len(),
        3
    );
    assert_eq!(
        listed(format!("input.biosamples={biosample}")).await,
        vec![second.clone()]
    );
    assert_eq!(listed(format!("input.runs={run}")).await, vec![second.clone()]);
    assert_eq!(listed("input.runs=404".into()).await, Vec::<String>::new());
    assert_eq!(
        listed("executionstatus=NeedsAttention".into()).await,
        vec![second.clone()]
    );
    assert_eq!(listed("executionstatus=needsattention,Complete".into()).await.len(), 2);
    assert_eq!(
        listed(format!("appid={}", apps::TEST_APP_ID)).await,
        vec![second.clone()]
    );
    assert_eq!(listed("appid=1375375".into()).await.len(), 2);
    assert_eq!(listed("name=first".into()).await, vec![first.clone()]);
    assert_eq!(
        listed(format!("output.projects={other_project}&executionstatus=Running")).await,
        vec![first.clone()]
    );
    let (status, body) = get(&hub, &token, "/v2/appsessions?executionstatus=Sleeping").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // The session names its application.
    let shown = get_ok(&hub, &token, &format!("/v2/appsessions/{second}")).await;
    assert_eq!(shown["Application"]["Name"], "Test App");
    assert_eq!(shown["Application"]["Id"], apps::TEST_APP_ID);
    assert_eq!(shown["Purpose"], "AppTrigger");
    let upload = get_ok(&hub, &token, &format!("/v2/appsessions/{first}")).await;
    assert_eq!(upload["Application"]["Name"], "BaseSpace CLI");

    // Every sort key of the definition is accepted; others are refused.
    for key in [
        "Name",
        "Id",
        "AppId",
        "ExecutionStatus",
        "ModifiedOn",
        "DateCreated",
        "AppName",
        "TotalSize",
        "QcStatus",
        "DeliveryStatus",
    ] {
        let list = get_ok(&hub, &token, &format!("/v2/appsessions?sortby={key}&sortdir=Desc")).await;
        assert_eq!(list["Paging"]["SortBy"], key);
        assert_eq!(list["Paging"]["TotalCount"], 3);
    }
    let by_app = get_ok(&hub, &token, "/v2/appsessions?sortby=AppName&sortdir=Desc").await;
    assert_eq!(
        by_app["Items"][0]["Id"],
        second.as_str(),
        "Test App sorts after BaseSpace CLI"
    );
    let (status, body) = get(&hub, &token, "/v2/appsessions?sortby=Size").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "BASESPACE.COMMON.INVALID_PARAMETER");
    assert!(body["ErrorMessage"].as_str().unwrap().contains("DeliveryStatus"));
}
