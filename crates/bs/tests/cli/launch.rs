//! Launching applications that really run on the hub, awaiting, stopping and collecting them:
//! `bs launch application`, `bs await appsession`, `bs kill appsession`, `bs logs appsession`,
//! `bs download appsession`, as scripts call them.

use std::time::Duration;

use ferry_hub::apps;
use ferry_hub::demo::{DEMO_PROJECT, DEMO_WORKGROUP};
use serde_json::{Value, json};

use crate::support::*;

/// The ID of the demo user's project.
pub async fn demo_project(env: &Env) -> String {
    let projects = env.json(&["list", "projects", "-f", "json"]).await;
    projects
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Name"] == DEMO_PROJECT)
        .and_then(|p| p["Id"].as_str())
        .expect("the demo project")
        .to_string()
}

/// Launches Test App into `project` for `seconds`, with more `-o` options; the session's ID.
async fn test_app(env: &Env, project: &str, seconds: u32, more: &[&str]) -> String {
    let (project, seconds) = (format!("project-id:{project}"), format!("seconds:{seconds}"));
    let mut args = vec!["-n", "Test App", "-o", project.as_str(), "-o", seconds.as_str()];
    for option in more {
        args.extend(["-o", option]);
    }
    launch(env, &args).await
}

/// Launches with `bs … --terse` and returns the new session's ID.
pub async fn launch(env: &Env, args: &[&str]) -> String {
    let mut all = vec!["launch", "application"];
    all.extend_from_slice(args);
    all.push("--terse");
    let id = env.ok(&all).await.trim().to_string();
    assert!(
        id.chars().all(|c| c.is_ascii_digit()) && !id.is_empty(),
        "not an ID: {id:?}"
    );
    id
}

/// Sends a request to the hub with `token` (and a JSON body, if any).
async fn hub_send(
    env: &Env,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", env.hub.url))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn hub_get(env: &Env, token: &str, path: &str) -> reqwest::Response {
    hub_send(env, reqwest::Method::GET, token, path, None).await
}

/// The path that launches `application`.
fn launch_path(application: &str) -> String {
    format!("/v1pre3/applications/{application}/appsessions")
}

async fn session_count(env: &Env) -> usize {
    env.json(&["list", "appsessions", "-f", "json"])
        .await
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn test_app_launches_completes_and_its_outputs_download_verified() {
    let env = Env::new().await;
    let project = demo_project(&env).await;
    let before = session_count(&env).await;
    let id = launch(
        &env,
        &[
            "-n",
            "Test App",
            "-o",
            &format!("project-id:{project}"),
            "-o",
            "seconds:1",
            "-l",
            "nightly check",
        ],
    )
    .await;
    let session = env.json(&["get", "appsession", &id, "-f", "json"]).await;
    assert_eq!(session["Name"], "nightly check");
    assert_eq!(session["Application"]["Id"], apps::TEST_APP_ID);
    assert_eq!(session["Application"]["Name"], "Test App");
    assert_eq!(session_count(&env).await, before + 1);

    let awaited = env.ok(&["await", "appsession", &id, "--poll-interval", "0.2"]).await;
    assert!(awaited.contains("Complete"), "{awaited}");
    let done = env.json(&["get", "appsession", "-i", &id, "-f", "json"]).await;
    assert_eq!(done["ExecutionStatus"], "Complete");
    assert!(done["DateCompleted"].is_string(), "{done}");

    // The server filters by output project and status; the session is listed under both.
    let by_project = env
        .json(&[
            "list",
            "appsessions",
            "--project-id",
            &project,
            "--exec-status",
            "Complete",
            "-f",
            "json",
        ])
        .await;
    assert!(ids(&by_project).contains(&id), "{by_project}");
    let by_name = env
        .ok(&["list", "appsessions", "--project-name", DEMO_PROJECT, "--terse"])
        .await;
    assert!(by_name.lines().any(|line| line == id), "{by_name}");

    // Outputs: one dataset with the report, in Illumina's layout, verified.
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("out");
    let summary = env
        .ok(&[
            "download",
            "appsession",
            "-i",
            &id,
            "-o",
            target.to_str().unwrap(),
            "--summary",
        ])
        .await;
    let files = files_under(&target);
    let report = files
        .iter()
        .find(|f| f.ends_with("test-app-report.json"))
        .unwrap_or_else(|| panic!("no report in {files:?}"));
    assert!(
        report.contains("_ds."),
        "Illumina's <dataset>_ds.<id>/ layout: {report}"
    );
    let text: Value = serde_json::from_slice(&std::fs::read(target.join(report)).unwrap()).unwrap();
    assert_eq!(text["AppSession"], id.as_str());
    assert!(
        summary.contains("verified") || summary.contains("Verified"),
        "{summary}"
    );
    let datasets = env.json(&["list", "datasets", "-f", "json"]).await;
    let outputs: Vec<&Value> = datasets
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["AppSession"]["Id"] == id.as_str())
        .collect();
    assert_eq!(outputs.len(), 1, "exactly one output dataset");

    // The log ends with the outcome.
    let log = env.ok(&["logs", "appsession", "-i", &id]).await;
    assert!(log.contains("Running for 1 s"), "{log}");
    assert!(log.trim_end().ends_with("Complete: Finished after 1 s"), "{log}");
    let properties = hub_get(&env, &env.token, &format!("/v2/appsessions/{id}/properties")).await;
    let properties: Value = properties.json().await.unwrap();
    let names: Vec<&str> = properties["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Input.project-id") && names.contains(&"Input.seconds"),
        "{properties}"
    );
}

#[tokio::test]
async fn a_launch_with_bad_options_names_every_problem_and_creates_nothing() {
    let env = Env::new().await;
    let project = demo_project(&env).await;
    let before = session_count(&env).await;
    let err = env
        .fails(&[
            "launch",
            "application",
            "-n",
            "Test App",
            "-o",
            "colour:red",
            "-o",
            "seconds:soon",
            "-o",
            "outcome:Maybe",
        ])
        .await;
    for problem in [
        "nothing was launched",
        "colour",
        "project-id",
        "required",
        "seconds",
        "not a number",
        "outcome",
        "Maybe",
    ] {
        assert!(err.contains(problem), "{problem} missing:\n{err}");
    }
    // The hub checks too, and says the same in BaseSpace's shape: 409, every problem listed.
    let response = hub_send(
        &env,
        reqwest::Method::POST,
        &env.token,
        &launch_path(apps::TEST_APP_ID),
        Some(json!({"Name": "x", "Properties": [
            {"Name": "Input.project-id", "Type": "project", "Content": "v1pre3/projects/99999"},
            {"Name": "Input.seconds", "Type": "string", "Content": "-4"},
            {"Name": "Input.colour", "Type": "string", "Content": "red"}
        ]})),
    )
    .await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    let message = body["ResponseStatus"]["Message"].as_str().unwrap();
    assert!(message.starts_with("Form validation found some errors"), "{body}");
    let items: Vec<&str> = body["Notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["Item"].as_str().unwrap())
        .collect();
    assert!(items.iter().any(|i| i.starts_with("colour:")), "{items:?}");
    assert!(
        items
            .iter()
            .any(|i| i.starts_with("seconds:") && i.contains("smallest")),
        "{items:?}"
    );
    // A project the token cannot see (here: none such) is a problem of its own once the form fits.
    let unknown = env
        .fails(&[
            "launch",
            "application",
            "-i",
            apps::TEST_APP_ID,
            "-o",
            "project-id:99999",
        ])
        .await;
    assert!(unknown.contains("project-id") && unknown.contains("99999"), "{unknown}");
    assert_eq!(session_count(&env).await, before, "nothing was created");

    // A token without START APPLICATIONS may not launch.
    let reader = env
        .hub
        .token_with_scopes(
            ferry_hub::demo::DEMO_EMAIL,
            None,
            Some("READ GLOBAL, BROWSE GLOBAL, WRITE GLOBAL"),
        )
        .await;
    let refused = hub_send(
        &env,
        reqwest::Method::POST,
        &reader,
        &launch_path(apps::TEST_APP_ID),
        Some(json!({"Properties": [{"Name": "Input.project-id", "Content": project}]})),
    )
    .await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("START APPLICATIONS"));
}

#[tokio::test]
async fn kill_aborts_a_running_session_and_await_fails() {
    let env = Env::new().await;
    let project = demo_project(&env).await;
    let id = launch(
        &env,
        &[
            "-i",
            apps::TEST_APP_ID,
            "-o",
            &format!("project-id:{project}"),
            "-o",
            "seconds:120",
        ],
    )
    .await;
    // Wait until a worker runs it (its summary counts seconds).
    let mut started = false;
    for _ in 0..200 {
        let session = env.json(&["get", "appsession", &id, "-f", "json"]).await;
        if session["StatusSummary"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Running")
        {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started, "the session never started");
    // While it runs there is nothing to download and no log yet, and `bs` says why.
    let running = env
        .fails(&["download", "appsession", "-i", &id, "-o", "/tmp/ferry-unused"])
        .await;
    assert!(running.contains("still Running"), "{running}");
    let no_log = env.fails(&["logs", "appsession", &id]).await;
    assert!(no_log.contains("no log files yet"), "{no_log}");
    let killed = env.json(&["kill", "appsession", "-i", &id, "-f", "json"]).await;
    assert_eq!(killed["ExecutionStatus"], "Aborted");
    assert!(
        killed["StatusSummary"].as_str().unwrap().starts_with("Stopped by"),
        "{killed}"
    );
    let awaited = env.run(&["await", "appsession", &id, "--poll-interval", "0.2"]).await;
    assert!(!awaited.success());
    assert!(awaited.stderr.contains("ended Aborted"), "{}", awaited.stderr);
    // Stopping again is refused with the status; nothing was published.
    let again = env.fails(&["kill", "appsession", &id]).await;
    assert!(again.contains("Aborted") && again.contains("not Running"), "{again}");
    let none = env
        .fails(&["download", "appsession", "-i", &id, "-o", "/tmp/ferry-unused"])
        .await;
    assert!(none.contains("no output datasets"), "{none}");
    let log = env.ok(&["logs", "appsession", &id]).await;
    assert!(log.contains("Aborted: Stopped by"), "{log}");
    // The worker stops within a moment and leaves no staged bytes behind.
    let db = env.hub.hub().db().clone();
    let mut clean = false;
    for _ in 0..100 {
        let staged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM app_job_blobs")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let running: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM app_jobs WHERE state = 'queued'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        if staged == 0 && running == 0 {
            clean = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(clean, "staged outputs or a queued job remain after kill");
}

#[tokio::test]
async fn sessions_that_need_attention_fail_await_with_their_message() {
    let env = Env::new().await;
    let project = demo_project(&env).await;
    let id = test_app(
        &env,
        &project,
        0,
        &["outcome:NeedsAttention", "message:reference genome missing"],
    )
    .await;
    let out = env
        .run(&["await", "appsession", "-i", &id, "--poll-interval", "0.2"])
        .await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("ended NeedsAttention: reference genome missing"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("NeedsAttention"),
        "the session is printed too: {}",
        out.stdout
    );
    // --timeout gives up on a session that runs on, and says so.
    let slow = test_app(&env, &project, 60, &[]).await;
    let timed = env
        .run(&["await", "appsession", &slow, "--timeout", "1", "--poll-interval", "0.2"])
        .await;
    assert_eq!(timed.code, Some(1));
    assert!(timed.stderr.contains("still Running after 1 s"), "{}", timed.stderr);
    env.ok(&["kill", "appsession", &slow]).await;
}

#[tokio::test]
async fn sessions_stay_in_their_context() {
    let env = Env::new().await;
    let project = demo_project(&env).await;
    let id = test_app(&env, &project, 30, &[]).await;
    let stranger_email = "stranger@example.org";
    env.hub
        .hub()
        .add_user(stranger_email, "correct horse battery", None)
        .await
        .unwrap();
    let stranger = env.hub.token(stranger_email, None).await;
    let workgroup = env.hub.token(ferry_hub::demo::DEMO_EMAIL, Some(DEMO_WORKGROUP)).await;
    for token in [&stranger, &workgroup] {
        for path in [
            format!("/v2/appsessions/{id}"),
            format!("/v2/appsessions/{id}/logfiles"),
            format!("/v2/appsessions/{id}/properties"),
        ] {
            assert_eq!(hub_get(&env, token, &path).await.status(), 404, "{path}");
        }
        let listed: Value = hub_get(&env, token, "/v2/appsessions").await.json().await.unwrap();
        assert!(!listed.to_string().contains(&id), "listed in another context");
        let stop = hub_send(
            &env,
            reqwest::Method::POST,
            token,
            &format!("/v2/appsessions/{id}/stop"),
            None,
        )
        .await;
        assert_eq!(stop.status(), 404);
        let delete = hub_send(
            &env,
            reqwest::Method::DELETE,
            token,
            &format!("/v2/appsessions/{id}"),
            None,
        )
        .await;
        assert_eq!(delete.status(), 404);
        // Nor can another context launch into this context's project.
        let into =
            json!({"Properties": [{"Name": "Input.project-id", "Content": format!("v1pre3/projects/{project}")}]});
        let launch = hub_send(
            &env,
            reqwest::Method::POST,
            token,
            &launch_path(apps::TEST_APP_ID),
            Some(into),
        )
        .await;
        assert_eq!(launch.status(), 409);
    }
    // Its owner cannot end it by writing its status either: it ends with its app, or is stopped.
    let forced = hub_send(
        &env,
        reqwest::Method::POST,
        &env.token,
        &format!("/v2/appsessions/{id}"),
        Some(json!({"ExecutionStatus": "Complete"})),
    )
    .await;
    assert_eq!(forced.status(), 409);
    assert!(forced.text().await.unwrap().contains("stop it"));
    let session = env.json(&["get", "appsession", &id, "-f", "json"]).await;
    assert_eq!(session["ExecutionStatus"], "Running", "untouched by the others");
    // Its owner deletes it once stopped: it is neither listed nor served any more.
    let path = format!("/v2/appsessions/{id}");
    let running = hub_send(&env, reqwest::Method::DELETE, &env.token, &path, None).await;
    assert_eq!(running.status(), 409, "a running session is stopped first");
    env.ok(&["kill", "appsession", &id]).await;
    let deleted = hub_send(&env, reqwest::Method::DELETE, &env.token, &path, None).await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(
        hub_get(&env, &env.token, &format!("/v2/appsessions/{id}"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn a_script_written_for_illuminas_bs_runs_unchanged() {
    let env = Env::new().await;
    let project = demo_project(&env).await;
    let work = tempfile::tempdir().unwrap();
    let script = format!(
        r#"set -euo pipefail
ID=$(bs launch application -n "Test App" -o project-id:{project} -o seconds:1 -l "script run" --terse)
echo "launched $ID"
bs await appsession $ID --poll-interval 0.2 > status.txt
bs download appsession -i $ID -o out
ls out/*/test-app-report.json
"#
    );
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_bs"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut command = tokio::process::Command::new("bash");
    command
        .arg("-c")
        .arg(&script)
        .current_dir(work.path())
        .env("HOME", env.home.path())
        .env("PATH", path)
        .env_remove("BASESPACE_API_SERVER")
        .env_remove("BASESPACE_ACCESS_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = env.run_with(command).await;
    assert!(out.success(), "script failed:\n{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("launched "), "{}", out.stdout);
    let status = std::fs::read_to_string(work.path().join("status.txt")).unwrap();
    assert!(status.contains("Complete"), "{status}");
}

#[tokio::test]
async fn a_session_past_the_hubs_time_limit_ends_timed_out() {
    let hub = ferry_hub::testing::TestHub::start_with_app_runner(ferry_hub::jobs::AppRunnerOptions {
        timeout: Duration::from_secs(1),
        ..ferry_hub::jobs::AppRunnerOptions::default()
    })
    .await;
    let env = Env::from_hub(hub).await;
    let project = demo_project(&env).await;
    let id = test_app(&env, &project, 60, &[]).await;
    let out = env.run(&["await", "appsession", &id, "--poll-interval", "0.2"]).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .contains("ended TimedOut: Ran longer than this hub allows (1 s"),
        "{}",
        out.stderr
    );
    let none = env
        .fails(&["download", "appsession", "-i", &id, "-o", "/tmp/ferry-unused"])
        .await;
    assert!(none.contains("no output datasets"), "{none}");
}
