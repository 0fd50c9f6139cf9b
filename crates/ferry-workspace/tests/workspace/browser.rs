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

    async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.cmd(reqwest::Method::GET, &format!("/element/{element}/text"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
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
    driver.screenshot("workspace-sign-up.png").await;
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
    driver.screenshot("workspace-profile-wrong-token.png").await;

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
    driver.screenshot("workspace-profile-linked.png").await;

    // Import from BaseSpace: open a project, see its biosamples, select the project.
    driver.goto(&format!("{web}/samples/import")).await;
    driver.click("#projects button.expand").await;
    driver.find("#projects input[name=biosample_ids]").await;
    driver.screenshot("workspace-import-select.png").await;
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
    driver.screenshot("workspace-import-done.png").await;

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
    driver.screenshot("workspace-sample.png").await;
    driver.goto(&format!("{web}/samples")).await;
    driver.find("#samples").await;
    driver.screenshot("workspace-samples.png").await;
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
    driver.goto(&url).await;
    driver.find("form").await;
    driver.screenshot("hub-device-login.png").await;
    // After signing in: the scopes and the context picker, then Accept.
    driver.type_into("#email", ferry_hub::demo::DEMO_EMAIL).await;
    driver.type_into("#password", ferry_hub::demo::DEMO_PASSWORD).await;
    driver.click("button[type=submit]").await;
    driver.find("input[name=context]").await;
    driver.screenshot("hub-device-approve.png").await;
    driver.click("button[value=accept]").await;
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
