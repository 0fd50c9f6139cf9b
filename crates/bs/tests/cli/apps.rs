//! `bs list applications`, `bs get application`, and `bs list appsessions` filtered by the server.

use ferry_hub::apps;
use ferry_hub::demo::DEMO_PROJECT;
use serde_json::{Value, json};

use crate::support::*;

/// POSTs JSON to the hub as the demo user.
async fn post(env: &Env, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", env.hub.url))
        .bearer_auth(&env.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.unwrap()
}

/// A session that wrote a dataset into `project`; returns its ID.
async fn session_into(env: &Env, name: &str, project: &str) -> String {
    let session = post(env, "/v2/appsessions", json!({"Name": name})).await;
    let id = session["Id"].as_str().unwrap().to_string();
    post(
        env,
        &format!("/v2/projects/{project}/datasets"),
        json!({"Name": format!("{name} output"), "AppSessionId": id}),
    )
    .await;
    id
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item["Name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn list_and_get_applications() {
    let env = Env::new().await;
    let table = env.ok(&["list", "applications"]).await;
    for text in [
        "Name",
        "VersionNumber",
        "FASTQ QC",
        "FASTQ Toolkit",
        "Test App",
        "2.2.6",
    ] {
        assert!(table.contains(text), "{text} missing:\n{table}");
    }
    assert!(!table.contains("2.2.5"), "only the latest version by default:\n{table}");
    let all = env
        .json(&["list", "applications", "--all-versions", "-f", "json"])
        .await;
    assert_eq!(all.as_array().unwrap().len(), 4);
    let other = env
        .json(&["list", "applications", "--category", "Other", "-f", "json"])
        .await;
    assert_eq!(names(&other), ["Test App"]);
    let terse = env.ok(&["list", "applications", "--terse"]).await;
    assert_eq!(
        terse.lines().collect::<Vec<_>>(),
        [apps::FASTQ_QC_ID, apps::FASTQ_TOOLKIT_ID, apps::TEST_APP_ID]
    );
    let csv = env
        .ok(&["list", "applications", "-f", "csv", "-F", "Id", "-F", "Name"])
        .await;
    assert_eq!(csv.lines().next().unwrap(), "Id,Name");
    assert!(csv.contains(&format!("{},Test App", apps::TEST_APP_ID)), "{csv}");

    // By name (the latest version, or --app-version), by ID; with the launch form.
    let app = env
        .json(&["get", "application", "-n", "FASTQ Toolkit", "-f", "json"])
        .await;
    assert_eq!(app["Id"], apps::FASTQ_TOOLKIT_ID);
    let fields: Vec<&str> = app["Form"]["Fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["Id"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"quality-threshold"), "{app}");
    let old = env
        .json(&[
            "get",
            "application",
            "-n",
            "FASTQ Toolkit",
            "--app-version",
            "2.2.5",
            "-f",
            "json",
        ])
        .await;
    assert_eq!(old["Id"], apps::FASTQ_TOOLKIT_OLD_ID);
    let by_id = env
        .json(&[
            "get",
            "application",
            "-i",
            apps::FASTQ_TOOLKIT_ID,
            "--app-version",
            "2.2.5",
            "-f",
            "json",
        ])
        .await;
    assert_eq!(by_id["Id"], apps::FASTQ_TOOLKIT_OLD_ID);
    let test_app = env.ok(&["get", "application", "-i", apps::TEST_APP_ID]).await;
    assert!(test_app.contains("Test App"), "{test_app}");
    assert!(test_app.contains("Launch options"), "{test_app}");
    for text in ["project-id", "outcome", "Complete|NeedsAttention|Aborted", "seconds"] {
        assert!(test_app.contains(text), "{text} missing:\n{test_app}");
    }
    let terse = env.ok(&["get", "application", "-n", "Test App", "--terse"]).await;
    assert_eq!(terse.trim(), apps::TEST_APP_ID);

    let error = env
        .fails(&["get", "application", "-n", "FASTQ Toolkit", "--app-version", "9"])
        .await;
    assert!(error.contains("2.2.5") && error.contains("2.2.6"), "{error}");
    let error = env.fails(&["get", "application", "-n", "Nope"]).await;
    assert!(error.contains("bs list applications"), "{error}");
    let error = env
        .fails(&["list", "applications", "--project-name", DEMO_PROJECT])
        .await;
    assert!(error.contains("--category"), "{error}");
}

#[tokio::test]
async fn list_appsessions_is_filtered_by_the_server() {
    let env = Env::new().await;
    let demo_sessions = env.json(&["list", "appsessions", "-f", "json"]).await;
    assert_eq!(demo_sessions.as_array().unwrap().len(), 1, "{demo_sessions}");
    let other = env.json(&["create", "project", "-n", "Other", "-f", "json"]).await;
    let other = other["Id"].as_str().unwrap().to_string();
    let first = session_into(&env, "first", &other).await;
    let second = session_into(&env, "second", &other).await;
    let biosample = env.json(&["list", "biosamples", "-f", "json"]).await[0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    env.hub
        .record_app_session(&second, apps::TEST_APP_ID, &[("input.biosample", &biosample)], &[])
        .await;
    post(
        &env,
        &format!("/v2/appsessions/{second}"),
        json!({"ExecutionStatus": "Complete"}),
    )
    .await;

    let by_name = env
        .json(&["list", "appsessions", "--project-name", "Other", "-f", "json"])
        .await;
    let mut listed = names(&by_name);
    listed.sort();
    assert_eq!(listed, ["first", "second"]);
    let by_demo = env
        .ok(&["list", "appsessions", "--project-name", DEMO_PROJECT, "--terse"])
        .await;
    assert_eq!(by_demo.lines().count(), 1, "{by_demo}");
    assert!(!by_demo.contains(&first) && !by_demo.contains(&second));
    let by_id = env
        .json(&["list", "appsessions", "--project-id", &other, "-f", "json"])
        .await;
    assert_eq!(by_id.as_array().unwrap().len(), 2);
    let complete = env
        .json(&[
            "list",
            "appsessions",
            "--project-name",
            "Other",
            "--exec-status",
            "Complete",
            "-f",
            "json",
        ])
        .await;
    assert_eq!(names(&complete), ["second"]);
    let running = env
        .ok(&["list", "appsessions", "--exec-status", "Running", "--terse"])
        .await;
    assert_eq!(running.trim(), first);
    let by_input = env
        .ok(&["list", "appsessions", "--input-biosample", &biosample, "--terse"])
        .await;
    assert_eq!(by_input.trim(), second);
    let by_app = env
        .ok(&["list", "appsessions", "--app-id", apps::TEST_APP_ID, "--terse"])
        .await;
    assert_eq!(by_app.trim(), second);

    let error = env
        .fails(&["list", "appsessions", "--project-name", "No Such Project"])
        .await;
    assert!(
        error.contains("No Such Project") && error.contains("bs list projects"),
        "{error}"
    );
    let error = env.fails(&["list", "appsessions", "--exec-status", "Sleeping"]).await;
    assert!(error.contains("Sleeping"), "{error}");

    // get appsession: -i ID or the ID alone.
    let got = env.json(&["get", "appsession", "-i", &second, "-f", "json"]).await;
    assert_eq!(got["Application"]["Name"], "Test App");
    let positional = env.json(&["get", "appsession", &second, "-f", "json"]).await;
    assert_eq!(positional["Id"], second.as_str());
    let table = env.ok(&["appsession", "get", &first]).await;
    assert!(table.contains("first") && table.contains("Running"), "{table}");
}
