//! Browser tests in real headless Chromium, driven over W3C WebDriver by `chromedriver`.
//!
//! A minimal WebDriver client over reqwest (already a dependency) is used instead of a WebDriver
//! crate: the handful of commands needed here do not justify fantoccini's extra dependency tree
//! (hyper-rustls, cookie, webdriver types) on a 2-core build machine.
//!
//! Run with `cargo test -p ferry-workspace -- --ignored browser_` (or nextest `--run-ignored all`);
//! needs `apt-get install -y chromium chromium-driver`. Screenshots go to target/screenshots/, or to $FERRY_SCREENSHOT_DIR
//! (`FERRY_SCREENSHOT_DIR=$PWD/docs/screenshots` refreshes the documentation's).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use ferry_workspace::testing::TEST_PASSWORD;
use serde_json::{Value, json};

use super::common::{Api, demo_token, hub_file_facts, start, start_with_reads};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    child: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Driver {
    async fn start() -> Driver {
        let port = {
            let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            socket.local_addr().unwrap().port()
        };
        let child =
            tokio::process::Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("chromedriver runs (apt-get install -y chromium chromium-driver)");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = http.get(format!("{base}/status")).send().await
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let chrome = std::env::var("CHROME").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chrome,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    "--window-size=1280,900", format!("--user-data-dir={}", profile.path().display())
                ]
            }
        }}});
        let response: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .unwrap();
        let session = response["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("WebDriver session: {response}"))
            .to_string();
        Driver {
            http,
            base,
            session,
            child,
            _profile: profile,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        } else {
            request = request.json(&json!({}));
        }
        let response: Value = request.send().await.expect("WebDriver answers").json().await.unwrap();
        if let Some(error) = response["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", response["value"]["message"]);
        }
        response["value"].clone()
    }

    async fn try_find(&self, css: &str) -> Option<String> {
        let url = format!("{}/session/{}/element", self.base, self.session);
        let response: Value = self
            .http
            .post(url)
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        response["value"][ELEMENT].as_str().map(str::to_string)
    }

    async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits for an element to exist.
    async fn find(&self, css: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(element) = self.try_find(css).await {
                return element;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no element {css} on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{element}/click"), None)
            .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{element}/clear"), None)
            .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// The text of an element; found again when a page change made the first one stale.
    async fn text(&self, css: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let element = self.find(css).await;
            let url = format!("{}/session/{}/element/{element}/text", self.base, self.session);
            let response: Value = self
                .http
                .get(url)
                .send()
                .await
                .expect("WebDriver answers")
                .json()
                .await
                .unwrap();
            match response["value"]["error"].as_str() {
                None => return response["value"].as_str().unwrap_or("").to_string(),
                Some("stale element reference") if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Some(error) => panic!("WebDriver text of {css}: {error}: {}", response["value"]["message"]),
            }
        }
    }

    /// Waits until an element's text contains `needle` (a page that changes after a click).
    async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.text(css).await;
            if text.contains(needle) {
                return text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{css} never said {needle:?}: {text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn script(&self, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn screenshot(&self, name: &str) {
        use base64::Engine as _;
        let data = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        // Screenshots land in target/ unless FERRY_SCREENSHOT_DIR asks for another place
        // (`FERRY_SCREENSHOT_DIR=docs/screenshots` refreshes the ones in the docs).
        let dir = match std::env::var_os("FERRY_SCREENSHOT_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots"),
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    /// Whether an element is shown (WebDriver's "is displayed", which follows CSS).
    async fn displayed(&self, css: &str) -> bool {
        let element = self.find(css).await;
        self.cmd(reqwest::Method::GET, &format!("/element/{element}/displayed"), None)
            .await
            .as_bool()
            .unwrap_or(false)
    }

    /// Sets the window's width (CSS pixels; headless Chromium has no minimum).
    async fn set_width(&self, width: u32) {
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": 900})),
        )
        .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.script("return window.innerWidth").await.as_u64().unwrap_or(0) != u64::from(width) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "window did not resize to {width}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Screenshots `NAME.png` at 1280 px and `NAME-phone.png` at 400 px wide, checking that the
    /// page does not scroll sideways on the phone (wide tables scroll inside their own box).
    async fn screenshots(&self, name: &str) {
        self.screenshot(&format!("{name}.png")).await;
        self.set_width(400).await;
        let overflow = self
            .script("return document.documentElement.scrollWidth - window.innerWidth")
            .await
            .as_i64()
            .unwrap_or(0);
        assert!(overflow <= 0, "{name} scrolls sideways by {overflow} px at 400 px wide");
        self.screenshot(&format!("{name}-phone.png")).await;
        self.set_width(1280).await;
    }

    async fn quit(mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
        let _ = self.child.kill().await;
    }
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver (run with --run-ignored all)"]
async fn browser_sign_up_link_import_and_read_counts() {
    // Files of about 11 MB (multipart ETags), so the import takes long enough to watch.
    let (hub, workspace) = start_with_reads(100_000).await;
    let token = demo_token(&hub).await;
    let email = "browser@example.org";
    let driver = Driver::start().await;
    let web = &workspace.url;

    // Sign up.
    driver.goto(&format!("{web}/signup")).await;
    driver.type_into("#email", email).await;
    driver.type_into("#password", TEST_PASSWORD).await;
    driver.type_into("#password_again", TEST_PASSWORD).await;
    driver.screenshots("workspace-sign-up").await;
    driver.click("#submit").await;
    driver.find("#basespace[open]").await;
    assert!(driver.url().await.ends_with("/profile"));

    // A wrong token: a clear error, nothing linked.
    driver.type_into("#access_token", "this-is-not-a-token").await;
    driver.click("#region option[value=custom]").await;
    driver.type_into("#api_server", &hub.url).await;
    driver.click("#save-token").await;
    let error = driver.text("#link-error").await;
    assert!(error.contains("not accepted by") && error.contains(&hub.url), "{error}");
    assert!(driver.try_find("#basespace-link").await.is_none());
    driver.screenshots("workspace-profile-wrong-token").await;

    // The hub token: linked, only the last 4 characters shown.
    driver.type_into("#access_token", &token).await;
    driver.click("#save-token").await;
    let last4 = driver.text("#token-last4").await;
    assert_eq!(last4, format!("…{}", &token[token.len() - 4..]));
    assert!(driver.text("#bs-user").await.contains(ferry_hub::demo::DEMO_EMAIL));
    assert_eq!(driver.text("#bs-context").await, "Personal");
    let source: String = driver
        .script("return document.documentElement.outerHTML")
        .await
        .as_str()
        .unwrap()
        .into();
    assert!(!source.contains(&token), "the page never holds the token");
    driver.screenshots("workspace-profile-linked").await;

    // Import from BaseSpace: open a project, see its biosamples, select the project.
    driver.goto(&format!("{web}/samples/import")).await;
    driver.click("#projects button.expand").await;
    driver.find("#projects input[name=biosample_ids]").await;
    driver.screenshots("workspace-import-select").await;
    driver.click("#projects input[name=project_ids]").await;
    assert!(driver.text("#selection-summary").await.contains("1 project"));
    driver.click("#start-import").await;
    driver.find("#progress").await;
    assert!(driver.url().await.contains("/imports/"));

    // Live progress: the page updates itself (no reload), showing data arriving, until the end.
    driver
        .script(
            "window.__same_page = true; window.__seen = []; \
             new MutationObserver(function () { window.__seen.push(document.getElementById('progress-bar').value); }) \
               .observe(document.getElementById('progress'), {subtree: true, childList: true, characterData: true, attributes: true}); \
             return null",
        )
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut captured_midway = false;
    loop {
        let state = driver
            .script("return [document.getElementById('progress-bar').value, document.getElementById('import-status').textContent]")
            .await;
        let percent = state[0].as_f64().unwrap_or(0.0);
        if !captured_midway && percent > 0.0 && percent < 100.0 {
            driver.screenshot("workspace-import-progress.png").await;
            captured_midway = true;
        }
        if state[1] == "completed" || state[1] == "failed" || state[1] == "cancelled" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "import did not finish: {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let problems = driver
        .script("return document.getElementById('errors').textContent")
        .await;
    assert_eq!(driver.text("#import-status").await, "completed", "problems: {problems}");
    assert_eq!(
        driver.script("return window.__same_page === true").await,
        json!(true),
        "updated in place"
    );
    let seen = driver.script("return window.__seen").await;
    let midway = seen
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .filter(|p| *p > 0.0 && *p < 100.0)
        .count();
    assert!(
        captured_midway && midway > 0,
        "the page showed the import part-way: {seen}"
    );
    let files = driver.text("#progress-files").await;
    let (done, total) = files.split_once(" of ").unwrap();
    assert_eq!(done, total.trim_end_matches(" files"), "{files}");
    assert!(done.parse::<u64>().unwrap() > 0);
    driver.find("#report a").await;
    driver.screenshots("workspace-import-done").await;

    // The sample page shows the right read counts (the hub's own files, counted independently).
    let api = Api::new(&workspace, &workspace.workspace.create_api_key(email).await.unwrap());
    driver.click("#report a").await;
    driver.find("#files").await;
    let name = driver.text("#sample-name").await;
    let (_, samples) = api.get("/api/v1/samples").await;
    let sample = samples["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name.as_str())
        .unwrap()
        .clone();
    let (_, detail) = api
        .get(&format!("/api/v1/samples/{}", sample["id"].as_str().unwrap()))
        .await;
    for file in detail["files"].as_array().unwrap() {
        let (_, _, stats) = hub_file_facts(&hub.url, &token, file["source"]["file_id"].as_str().unwrap()).await;
        let shown = driver
            .script(&format!(
                "return document.querySelector('tr[data-file=\"{}\"]').dataset.reads",
                file["name"].as_str().unwrap()
            ))
            .await;
        assert_eq!(shown, json!(stats.reads.to_string()), "reads of {}", file["name"]);
    }
    driver.screenshots("workspace-sample").await;
    driver.goto(&format!("{web}/samples")).await;
    driver.find("#samples").await;
    driver.screenshots("workspace-samples").await;
    driver.quit().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver (run with --run-ignored all)"]
async fn browser_hub_device_login_page() {
    let (hub, _workspace) = start().await;
    let authorization = ferry_client::device::start(&hub.url, "ferry-screenshot", "READ GLOBAL")
        .await
        .expect("device authorization");
    let url = authorization
        .verification_with_code_uri
        .clone()
        .unwrap_or_else(|| format!("{}?code={}", authorization.verification_uri, authorization.user_code));
    let driver = Driver::start().await;
    // The hub's own URL shows a page for people (API clients still get JSON).
    driver.goto(&format!("{}/", hub.url)).await;
    assert!(driver.text("main").await.contains("bs auth --api-server"));
    driver.screenshots("hub-landing").await;
    driver.goto(&url).await;
    driver.find("form").await;
    driver.screenshots("hub-device-login").await;
    // After signing in: the scopes and the context picker, then Accept.
    driver.type_into("#email", ferry_hub::demo::DEMO_EMAIL).await;
    driver.type_into("#password", ferry_hub::demo::DEMO_PASSWORD).await;
    driver.click("button[type=submit]").await;
    driver.find("input[name=context]").await;
    assert!(driver.text("#scopes").await.contains("Read and download all your data"));
    assert!(driver.displayed("#sign-out").await, "Not you? Sign out");
    driver.screenshots("hub-device-approve").await;
    driver.click("button[value=accept]").await;
    let granted = driver.wait_for_text("main", "Access granted").await;
    assert!(
        granted.contains("Access granted") && granted.contains("your personal"),
        "{granted}"
    );
    driver.screenshots("hub-device-granted").await;
    let token = ferry_client::device::poll(
        &hub.url,
        "ferry-screenshot",
        None,
        &authorization,
        Duration::from_secs(30),
    )
    .await
    .expect("approved in the browser");
    let me = ferry_client::Client::new(&hub.url, &token.access_token)
        .unwrap()
        .current_user()
        .await
        .unwrap();
    assert_eq!(me.email.as_deref(), Some(ferry_hub::demo::DEMO_EMAIL));
    driver.quit().await;
}

/// Signs up in the browser; lands on the Profile page with the token form open.
async fn browser_sign_up(driver: &Driver, web: &str, email: &str) {
    driver.goto(&format!("{web}/signup")).await;
    driver.type_into("#email", email).await;
    driver.type_into("#password", TEST_PASSWORD).await;
    driver.type_into("#password_again", TEST_PASSWORD).await;
    driver.click("#submit").await;
    driver.find("#basespace[open]").await;
}

/// Links the hub with `token` through the Profile form ("Custom API server").
async fn browser_link(driver: &Driver, web: &str, hub_url: &str, token: &str) {
    driver.goto(&format!("{web}/profile?edit=1")).await;
    driver.type_into("#access_token", token).await;
    driver.click("#region option[value=custom]").await;
    driver.type_into("#api_server", hub_url).await;
    driver.click("#save-token").await;
    driver.find("#token-last4").await;
}

fn hub_accepts(hub_url: &str, token: &str) -> impl std::future::Future<Output = bool> {
    let client = ferry_client::Client::new(hub_url, token).unwrap();
    async move { client.current_user().await.is_ok() }
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver (run with --run-ignored all)"]
async fn browser_custom_server_field_and_confirmed_revocation() {
    let (hub, workspace) = start().await;
    let driver = Driver::start().await;
    let web = &workspace.url;
    browser_sign_up(&driver, web, "custom@example.org").await;

    // The custom URL field shows only with "Custom API server".
    assert_eq!(
        driver.script("return document.getElementById('region').value").await,
        json!("USE1")
    );
    assert!(
        !driver.displayed("#api_server").await,
        "no URL field while USE1 is selected"
    );
    driver.screenshots("workspace-profile-link-form").await;
    driver.click("#region option[value=custom]").await;
    assert!(
        driver.displayed("#api_server").await,
        "URL field with Custom API server"
    );
    driver.click("#region option[value=EUC1]").await;
    assert!(!driver.displayed("#api_server").await);

    // Linked, then unlink with "Also revoke": a confirmation page that says `bs` is logged out too.
    let token = demo_token(&hub).await;
    browser_link(&driver, web, &hub.url, &token).await;
    driver.find("#basespace-link").await;
    driver.click("#revoke").await;
    driver.click("#unlink").await;
    let text = driver.text("#confirm-text").await;
    assert!(
        text.contains("bs stops working") && text.contains("cannot be undone"),
        "{text}"
    );
    assert!(hub_accepts(&hub.url, &token).await, "the token works until confirmed");
    driver.screenshots("workspace-confirm-revoke").await;
    // Cancel keeps the link.
    driver.click("#cancel").await;
    driver.find("#basespace-link").await;
    assert!(hub_accepts(&hub.url, &token).await);
    // Confirm revokes.
    driver.click("#revoke").await;
    driver.click("#unlink").await;
    driver.click("#confirm").await;
    assert!(driver.text("#notice").await.contains("token revoked"));
    assert!(!hub_accepts(&hub.url, &token).await, "revoked once confirmed");
    driver.quit().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver (run with --run-ignored all)"]
async fn browser_replace_asks_first_and_a_revoked_token_leads_to_a_new_one() {
    let (hub, workspace) = start().await;
    let driver = Driver::start().await;
    let web = &workspace.url;
    browser_sign_up(&driver, web, "replace@example.org").await;
    let token = demo_token(&hub).await;
    browser_link(&driver, web, &hub.url, &token).await;

    // An empty selection: the form again with the message (not a bare error page).
    driver.goto(&format!("{web}/samples/import")).await;
    driver.click("#start-import").await;
    assert!(driver.text("#form-error").await.contains("Nothing is selected"));
    driver.find("#import-form").await;

    // Import the demo project as one merged sample.
    driver.click("#projects button.expand").await;
    driver.find("#projects input[name=biosample_ids]").await;
    driver.click("#projects input[name=project_ids]").await;
    driver.click("input[name=grouping][value=merge]").await;
    driver.type_into("#merge_name", "Everything").await;
    driver.click("#start-import").await;
    driver.find("#progress").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while driver.text("#import-status").await != "completed" {
        assert!(tokio::time::Instant::now() < deadline, "import did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_import = driver.url().await;
    let first_files = driver.text("#progress-files").await;
    let first_bytes = driver.text("#progress-bytes").await;
    let title = driver.text("#import-title").await;
    assert!(
        title.starts_with("Project "),
        "an import page names what it imports: {title}"
    );

    // The same with "replace the existing sample": a confirmation naming the sample at stake.
    driver.goto(&format!("{web}/samples/import")).await;
    driver.click("#projects input[name=project_ids]").await;
    driver.click("input[name=grouping][value=merge]").await;
    driver.type_into("#merge_name", "Everything").await;
    driver.click("#on_conflict option[value=replace]").await;
    driver.click("#start-import").await;
    assert!(driver.text("#losses").await.contains("Everything"));
    assert!(driver.text("#confirm-text").await.contains("cannot be undone"));
    driver.screenshots("workspace-confirm-replace").await;
    driver.click("#back").await;
    driver.find("#import-form").await;
    assert_eq!(
        driver
            .script("return document.getElementById('merge_name').value")
            .await,
        json!("Everything"),
        "back keeps the choices"
    );
    driver.click("#start-import").await;
    driver.click("#confirm").await;
    driver.find("#progress").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while driver.text("#import-status").await != "completed" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replacing import did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The samples list shows readable times in the browser's zone.
    driver.goto(&format!("{web}/samples")).await;
    let shown = driver.text("#samples time").await;
    assert!(
        !shown.contains('T') || shown.contains("ago") || shown.contains("just now"),
        "{shown}"
    );

    // Revoked elsewhere: the Import page offers "Set a new token" and no form; Profile warns.
    ferry_client::Client::new(&hub.url, &token)
        .unwrap()
        .revoke_token()
        .await
        .unwrap();
    driver.goto(&format!("{web}/samples/import")).await;
    assert!(
        driver
            .text("#browse-error")
            .await
            .contains("rejected the linked access token")
    );
    assert!(driver.try_find("#import-form").await.is_none());
    driver.screenshots("workspace-import-token-rejected").await;
    driver.click("#set-new-token").await;
    assert!(
        driver
            .text("#token-rejected")
            .await
            .contains("rejected your linked access token")
    );
    driver.find("#access_token").await;
    driver.script("window.scrollTo(0, 0); return null").await;
    driver.screenshots("workspace-profile-token-rejected").await;

    // The first import's record is what happened then, whatever became of its sample since:
    // delete the sample, and the record stays.
    driver.goto(&first_import).await;
    driver.click("#report a").await;
    driver.find("#delete-sample").await;
    driver
        .script("window.confirm = function () { return true; }; return null")
        .await;
    driver.click("#delete-sample").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !driver.url().await.contains("done=deleted") {
        assert!(tokio::time::Instant::now() < deadline, "the sample was not deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    driver.goto(&first_import).await;
    assert_eq!(driver.text("#progress-files").await, first_files);
    assert_eq!(driver.text("#progress-bytes").await, first_bytes);
    assert_eq!(driver.text("#import-status").await, "completed");
    assert!(driver.text("#report").await.contains("deleted or replaced since"));
    assert!(
        driver.try_find("#report a").await.is_none(),
        "no link to a sample that is gone"
    );
    driver.screenshots("workspace-import-record").await;

    // Imports are told apart by name and options, not by IDs.
    driver.goto(&format!("{web}/imports")).await;
    let list = driver.text("#imports").await;
    assert!(list.contains(&title), "{list}");
    assert!(list.contains("existing samples replaced"), "{list}");
    assert!(list.contains("merged into one sample \"Everything\""), "{list}");
    driver.screenshots("workspace-imports").await;

    // The user menu leads to Profile, API keys and Log out; logging out says so.
    driver.click("#user-menu summary").await;
    assert!(driver.displayed("#log-out").await);
    driver.click("#log-out").await;
    assert!(driver.text("#form-notice").await.contains("logged out"));
    driver.screenshots("workspace-logged-out").await;
    driver.quit().await;
}
