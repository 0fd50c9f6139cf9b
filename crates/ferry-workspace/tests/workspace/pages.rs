//! Page behaviour over plain HTTP (no browser): forms that keep what was typed, confirmations
//! before destructive actions, a revoked token, readable times and units.

use reqwest::StatusCode;
use reqwest::header::LOCATION;

use super::common::{Web, demo_token, start};
use ferry_hub::testing::TestHub;

/// Signs up and links the hub's demo account through the Profile form; returns (csrf, token).
async fn linked(web: &Web, hub: &TestHub, email: &str) -> (String, String) {
    let csrf = web.sign_up(email).await;
    let token = demo_token(hub).await;
    let response = web
        .post(
            "/profile/basespace",
            &[
                ("csrf", &csrf),
                ("access_token", &token),
                ("region", "custom"),
                ("api_server", &hub.url),
            ],
        )
        .await;
    assert_eq!(response.headers()[LOCATION], "/profile?done=linked");
    (csrf, token)
}

/// Waits (polling the JSON API with the browser session) until an import ends; its status.
async fn wait_import(web: &Web, id: &str) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, body) = web.get(&format!("/api/v1/imports/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        let state = body["status"].as_str().unwrap_or("").to_string();
        if matches!(state.as_str(), "completed" | "failed" | "cancelled") {
            return state;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "import {id} did not finish: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The value of the first `name="project_ids"` checkbox of the import page.
fn first_project_id(page: &str) -> String {
    let marker = "name=\"project_ids\" value=\"";
    let start = page.find(marker).expect("a project is listed") + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end].to_string()
}

#[tokio::test]
async fn a_region_with_a_custom_url_is_refused_and_the_token_must_be_pasted_again() {
    let (hub, workspace) = start().await;
    let web = Web::new(&workspace);
    let csrf = web.sign_up("region@example.org").await;
    let token = demo_token(&hub).await;
    let response = web
        .post(
            "/profile/basespace",
            &[
                ("csrf", &csrf),
                ("access_token", &token),
                ("region", "USE1"),
                ("api_server", &hub.url),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("You chose the region USE1 and also gave the API server URL")
            && page.contains("Custom API server"),
        "{page}"
    );
    assert!(page.contains("Paste the token again"), "{page}");
    assert!(!page.contains(&token), "the token is never sent back");
    assert!(!page.contains("id=\"basespace-link\""), "nothing linked");
    // The URL typed is kept, with "Custom API server" offered.
    assert!(page.contains(&format!("value=\"{}\"", hub.url)));
    // Region labels read well: no "APS4 APS4".
    assert!(
        page.contains("United States (USE1)") && !page.contains("APS4 APS4"),
        "{page}"
    );
}

#[tokio::test]
async fn import_form_errors_keep_the_selection_and_replace_asks_first() {
    let (hub, workspace) = start().await;
    let web = Web::new(&workspace);
    let (csrf, _) = linked(&web, &hub, "forms@example.org").await;
    let (status, page) = web.get("/samples/import").await;
    assert_eq!(status, StatusCode::OK);
    let project = first_project_id(&page);

    // Nothing selected: the form again, with the message, the navigation and the choices made.
    let response = web
        .post(
            "/samples/import",
            &[
                ("csrf", &csrf),
                ("genome", "hg38"),
                ("data_type", "wgs"),
                ("on_conflict", "rename"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("id=\"form-error\"") && page.contains("Nothing is selected"),
        "{page}"
    );
    assert!(page.contains("aria-label=\"Main\""), "navigation is there");
    assert!(page.contains("value=\"hg38\"") && page.contains("value=\"wgs\" selected"));
    assert!(page.contains("value=\"rename\" selected"));

    // Merge without a name: the project stays ticked.
    let response = web
        .post(
            "/samples/import",
            &[
                ("csrf", &csrf),
                ("project_ids", &project),
                ("grouping", "merge"),
                ("merge_name", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(page.contains("give that sample a name"), "{page}");
    let ticked = format!("name=\"project_ids\" value=\"{project}\"");
    let at = page.find(&ticked).expect("the project is listed");
    let tag_end = page[at..].find('>').unwrap() + at;
    assert!(
        page[at..tag_end].contains(" checked"),
        "the project stays ticked: {}",
        &page[at..tag_end]
    );
    assert!(page.contains("value=\"merge\" checked"));

    // Import once, then import again replacing: the page asks first, naming the sample at stake.
    let response = web
        .post(
            "/samples/import",
            &[
                ("csrf", &csrf),
                ("project_ids", &project),
                ("grouping", "merge"),
                ("merge_name", "All of it"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let import = response.headers()[LOCATION]
        .to_str()
        .unwrap()
        .trim_start_matches("/imports/")
        .to_string();
    assert_eq!(wait_import(&web, &import).await, "completed");
    let replace = [
        ("csrf", csrf.as_str()),
        ("project_ids", project.as_str()),
        ("grouping", "merge"),
        ("merge_name", "All of it"),
        ("on_conflict", "replace"),
    ];
    let response = web.post("/samples/import", &replace).await;
    assert_eq!(response.status(), StatusCode::OK, "asks instead of importing");
    let page = response.text().await.unwrap();
    assert!(
        page.contains("Replace existing samples?") && page.contains("<strong>All of it</strong>"),
        "{page}"
    );
    assert!(page.contains("cannot be undone") && page.contains("name=\"confirmed\" value=\"yes\""));
    let (_, samples) = web.get("/samples").await;
    assert_eq!(samples.matches("All of it").count(), 1, "nothing replaced yet");
    // "Back" shows the form again with the choices kept.
    let mut back = replace.to_vec();
    back.push(("confirmed", "back"));
    let page = web.post("/samples/import", &back).await.text().await.unwrap();
    assert!(
        page.contains("value=\"replace\" selected") && page.contains("value=\"All of it\""),
        "{page}"
    );
    // Confirmed: the import starts.
    let mut confirmed = replace.to_vec();
    confirmed.push(("confirmed", "yes"));
    let response = web.post("/samples/import", &confirmed).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers()[LOCATION].to_str().unwrap().starts_with("/imports/"));
}

#[tokio::test]
async fn a_revoked_token_leads_to_setting_a_new_one() {
    let (hub, workspace) = start().await;
    let web = Web::new(&workspace);
    let (csrf, token) = linked(&web, &hub, "revoked@example.org").await;
    let (_, page) = web.get("/profile").await;
    assert!(!page.contains("id=\"token-rejected\""));
    assert!(
        page.contains("linked as"),
        "the collapsed section says it is linked: {page}"
    );

    // Revoked elsewhere (as `bs auth --force` or `bs revoke` would).
    ferry_client::Client::new(&hub.url, &token)
        .unwrap()
        .revoke_token()
        .await
        .unwrap();
    let (status, page) = web.get("/samples/import").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("rejected the linked access token"), "{page}");
    assert!(
        page.contains("href=\"/profile?edit=1#basespace\" id=\"set-new-token\""),
        "{page}"
    );
    assert!(!page.contains("id=\"import-form\""), "no import form to fill in");
    assert!(page.contains("~/.basespace/") && page.contains("NAME.cfg"), "{page}");
    assert!(!page.contains("`"), "no literal backticks: {page}");

    // Profile warns.
    let (_, page) = web.get("/profile").await;
    assert!(
        page.contains("id=\"token-rejected\"") && page.contains("Set a new token"),
        "{page}"
    );
    assert!(page.contains("linked, token rejected"));

    // A new token clears the warning.
    let fresh = demo_token(&hub).await;
    let response = web
        .post(
            "/profile/basespace",
            &[
                ("csrf", &csrf),
                ("access_token", &fresh),
                ("region", "custom"),
                ("api_server", &hub.url),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = web.get("/profile").await;
    assert!(!page.contains("id=\"token-rejected\""), "{page}");
    let (_, page) = web.get("/samples/import").await;
    assert!(page.contains("id=\"import-form\""));
}

#[tokio::test]
async fn pages_show_readable_times_binary_units_pairs_and_biosample_search() {
    let (hub, workspace) = start().await;
    let web = Web::new(&workspace);
    let (csrf, _) = linked(&web, &hub, "readable@example.org").await;
    let (_, page) = web.get("/samples/import").await;
    let project = first_project_id(&page);
    // The header has a user menu with Profile, API keys and Log out.
    assert!(
        page.contains("id=\"user-menu\"") && page.contains("href=\"/profile#api-keys\"") && page.contains("Log out")
    );
    assert!(page.contains("class=\"skip\" href=\"#main\""));
    assert!(page.contains("aria-controls=\"tab-runs\""));
    // Sizes BaseSpace did not report right are not shown in the lists.
    assert!(!page.contains(" 0 B<"), "{page}");

    // Searching a biosample name finds it; the search can be cleared.
    let (_, fragment) = web.get(&format!("/samples/import/projects/{project}")).await;
    assert!(fragment.contains("KiB") || fragment.contains("MiB"), "{fragment}");
    let name_marker = "aria-label=\"Import biosample ";
    let start = fragment.find(name_marker).unwrap() + name_marker.len();
    let biosample = &fragment[start..start + fragment[start..].find('"').unwrap()];
    let (_, page) = web
        .get(&format!(
            "/samples/import?q={}",
            url::form_urlencoded::byte_serialize(biosample.as_bytes()).collect::<String>()
        ))
        .await;
    assert!(
        page.contains("id=\"biosample-hits\"") && page.contains(&format!("Import biosample {biosample}\"")),
        "{page}"
    );
    assert!(page.contains("id=\"clear-search\""));

    // Import it as WGS; the samples list shows pairs, the label WGS, a readable time.
    let response = web
        .post(
            "/samples/import",
            &[("csrf", &csrf), ("project_ids", &project), ("data_type", "wgs")],
        )
        .await;
    let import = response.headers()[LOCATION]
        .to_str()
        .unwrap()
        .trim_start_matches("/imports/")
        .to_string();
    assert_eq!(wait_import(&web, &import).await, "completed");
    let (_, page) = web.get("/samples").await;
    assert!(
        page.contains("<td>WGS</td>") && !page.contains("<td>wgs</td>"),
        "{page}"
    );
    assert!(page.contains(" pairs</td>"), "{page}");
    assert!(
        page.contains("<time datetime=\"") && page.contains(" UTC</time>"),
        "{page}"
    );
    assert!(page.contains("KiB") || page.contains("MiB"));
    assert!(!page.contains(" KB<") && !page.contains(" MB<"));
}

#[tokio::test]
async fn cancelling_an_import_asks_first_says_what_stops_and_the_sample_can_be_resumed() {
    use ferry_workspace::testing::{TestOptions, TestWorkspace};
    let hub = TestHub::start().await;
    // No workers: the import waits in the queue while the user decides.
    let workspace = TestWorkspace::start_with(TestOptions {
        workers: false,
        allowed_api_servers: vec![hub.url.clone()],
        ..TestOptions::default()
    })
    .await;
    let web = Web::new(&workspace);
    let (csrf, _) = linked(&web, &hub, "cancel@example.org").await;
    let (_, projects) = web.get("/api/v1/basespace/projects").await;
    let projects: serde_json::Value = serde_json::from_str(&projects).unwrap();
    let project = projects["items"][0]["id"].as_str().unwrap().to_string();
    let started = web
        .post("/samples/import", &[("csrf", &csrf), ("project_ids", &project)])
        .await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let page = started.headers()[LOCATION].to_str().unwrap().to_string();
    let id = page.trim_start_matches("/imports/").to_string();

    // Planned (samples and files queued), nothing transferred yet.
    assert!(
        workspace.workspace.imports().run_one().await.unwrap(),
        "the import is planned"
    );

    // The first press shows what will stop, and changes nothing.
    let asked = web.post(&format!("{page}/cancel"), &[("csrf", &csrf)]).await;
    assert_eq!(asked.status(), StatusCode::OK);
    let text = asked.text().await.unwrap();
    assert!(
        text.contains("Cancel this import?") && text.contains("will not be imported"),
        "{text}"
    );
    assert!(text.contains("Keep importing"), "{text}");
    let (_, status) = web.get(&format!("/api/v1/imports/{id}")).await;
    assert!(status.contains("\"status\":\"queued\""), "{status}");

    // Confirmed, it stops.
    let confirmed = web
        .post(&format!("{page}/cancel"), &[("csrf", &csrf), ("confirmed", "1")])
        .await;
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    assert_eq!(wait_import(&web, &id).await, "cancelled");

    // A cancelled sample says how much of it is stored, and can be resumed.
    let (_, samples) = web.get("/api/v1/samples").await;
    let samples: serde_json::Value = serde_json::from_str(&samples).unwrap();
    let sample = samples["items"][0]["id"].as_str().unwrap().to_string();
    let (_, page) = web.get(&format!("/samples/{sample}")).await;
    assert!(
        page.contains("0 B of "),
        "the size stored, not the size expected: {page}"
    );
    assert!(page.contains("Resume import"), "{page}");
    let resumed = web.post(&format!("/samples/{sample}/resume"), &[("csrf", &csrf)]).await;
    assert_eq!(resumed.status(), StatusCode::SEE_OTHER);
    let again = resumed.headers()[LOCATION]
        .to_str()
        .unwrap()
        .trim_start_matches("/imports/")
        .to_string();
    assert_ne!(again, id, "a new import, the cancelled one stays as it was");
    while workspace.workspace.imports().run_one().await.unwrap() {}
    assert_eq!(wait_import(&web, &again).await, "completed");
    let (_, detail) = web.get(&format!("/api/v1/samples/{sample}")).await;
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["status"], "completed", "the same sample, now complete: {detail}");
    assert_eq!(
        wait_import(&web, &id).await,
        "cancelled",
        "the record of the first import is kept"
    );
}
