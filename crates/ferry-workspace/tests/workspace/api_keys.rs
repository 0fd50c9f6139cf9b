//! API keys that expire and can be revoked (CLI-made, API-made and Profile-page keys), sign-up
//! modes, and sign-up that does not tell which emails have accounts.

use std::time::Duration;

use ferry_workspace::SignupMode;
use ferry_workspace::testing::{TEST_PASSWORD, TestOptions, TestWorkspace};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use super::common::{Api, Web, assert_schema, capture_logs, csrf_of, openapi};

/// The id of the user's key named `name`, from the JSON API.
async fn key_id(api: &Api, name: &str) -> String {
    let (status, keys) = api.get("/api/v1/api-keys").await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["name"] == name)
        .unwrap_or_else(|| panic!("no key named {name}: {keys}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Moves a key's expiry into the past, as time passing would.
async fn expire(workspace: &TestWorkspace, id: &str) {
    let db = ferry_db::Db::connect(&workspace.database_url).await.unwrap();
    let past = ferry_api::dates::now_millis() - 1000;
    let updated = sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
        .bind(past)
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 1);
}

fn assert_refused(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    for part in [what, "Profile page", "ferry workspace api-key"] {
        assert!(error.contains(part), "the error names {part:?}: {error}");
    }
}

#[tokio::test]
async fn keys_expire_are_revoked_and_record_their_last_use() {
    capture_logs();
    let workspace = TestWorkspace::start().await;
    let admin_key = workspace.user("keys@example.org").await;
    let admin = Api::new(&workspace, &admin_key);
    let document = openapi(&workspace).await;

    let ci = workspace
        .workspace
        .create_named_api_key("keys@example.org", "ci", Some(Duration::from_secs(30 * 86400)))
        .await
        .unwrap();
    let ci_api = Api::new(&workspace, &ci.key);
    let (status, _) = ci_api.get("/api/v1/samples").await;
    assert_eq!(status, StatusCode::OK);

    // The list shows names, expiry, last use and status; never the keys.
    let (status, keys) = admin.get("/api/v1/api-keys").await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    assert!(!keys.to_string().contains(&ci.key) && !keys.to_string().contains(&admin_key));
    let items = keys["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{keys}");
    for item in items {
        assert_schema(&document, "ApiKey", item);
        assert_eq!(item["status"], "active");
    }
    let listed = items.iter().find(|k| k["id"] == ci.info.id.as_str()).unwrap();
    assert_eq!(listed["name"], "ci");
    assert!(listed["expires_at"].is_string(), "{listed}");
    let first_use = listed["last_used_at"].clone();
    assert!(first_use.is_string(), "using the key recorded it: {listed}");
    // Within a minute, further use does not write again.
    ci_api.get("/api/v1/samples").await;
    let (_, again) = admin.get("/api/v1/api-keys").await;
    let again = again["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == ci.info.id.as_str())
        .cloned();
    assert_eq!(again.unwrap()["last_used_at"], first_use);

    // An expired key gets 401 saying so, and what to do.
    expire(&workspace, &ci.info.id).await;
    let (status, body) = ci_api.get("/api/v1/samples").await;
    assert_refused(status, &body, "expired");
    assert_eq!(key_id(&admin, "ci").await, ci.info.id);
    let (_, keys) = admin.get("/api/v1/api-keys").await;
    assert!(
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["status"] == "expired"),
        "{keys}"
    );

    // Keys made through the API: shown once, with the same rules.
    let (status, created) = admin
        .post("/api/v1/api-keys", json!({"name": "nightly", "expires_in": "12h"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_schema(&document, "CreatedApiKey", &created);
    let nightly = Api::new(&workspace, created["key"].as_str().unwrap());
    assert_eq!(nightly.get("/api/v1/samples").await.0, StatusCode::OK);
    let (status, body) = admin.post("/api/v1/api-keys", json!({"expires_in": "3y"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("unknown unit"), "{body}");
    // An expiring key cannot make a key that outlives it.
    let (status, body) = nightly.post("/api/v1/api-keys", json!({"name": "forever"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = nightly
        .post("/api/v1/api-keys", json!({"name": "short", "expires_in": "1h"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Revoking: the key gets 401 from then on; other keys keep working.
    let (status, revoked) = admin
        .delete(&format!("/api/v1/api-keys/{}", created["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_schema(&document, "ApiKey", &revoked);
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string());
    let (status, body) = nightly.get("/api/v1/samples").await;
    assert_refused(status, &body, "revoked");
    assert_eq!(admin.get("/api/v1/samples").await.0, StatusCode::OK);

    // Another user's key: 404, and it keeps working.
    let other = Api::new(&workspace, &workspace.user("other@example.org").await);
    let (status, body) = other
        .delete(&format!("/api/v1/api-keys/{}", key_id(&admin, "").await))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(admin.get("/api/v1/samples").await.0, StatusCode::OK);
    let (_, theirs) = other.get("/api/v1/api-keys").await;
    assert_eq!(
        theirs["items"].as_array().unwrap().len(),
        1,
        "only their own keys: {theirs}"
    );

    // The admin CLI's revocation (by id, any user's key).
    let (email, key) = workspace
        .workspace
        .revoke_api_key(&key_id(&other, "").await)
        .await
        .unwrap()
        .expect("the key exists");
    assert_eq!(email, "other@example.org");
    assert!(key.revoked_at.is_some());
    let (status, body) = other.get("/api/v1/samples").await;
    assert_refused(status, &body, "revoked");
    assert!(
        workspace
            .workspace
            .revoke_api_key("no-such-id")
            .await
            .unwrap()
            .is_none()
    );
}

/// The value of the new key shown on the Profile page.
fn shown_key(page: &str) -> Option<String> {
    let marker = "id=\"new-key-value\">";
    let start = page.find(marker)? + marker.len();
    let end = page[start..].find('<')? + start;
    Some(page[start..end].to_string())
}

#[tokio::test]
async fn the_profile_page_creates_shows_once_and_revokes_keys() {
    let workspace = TestWorkspace::start().await;
    let web = Web::new(&workspace);
    let csrf = web.sign_up("profile-keys@example.org").await;
    let (_, page) = web.get("/profile").await;
    assert!(page.contains("API keys") && page.contains("No API keys yet"));
    for choice in ["Never", "30 days", "90 days", "1 year"] {
        assert!(page.contains(choice), "expiry choice {choice}");
    }

    let response = web
        .post(
            "/profile/api-keys",
            &[("csrf", &csrf), ("name", "laptop"), ("expires_in", "30d")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    let key = shown_key(&page).expect("the new key is shown");
    assert!(
        key.starts_with("fwk_") && page.contains("shown only this once"),
        "{page}"
    );
    let api = Api::new(&workspace, &key);
    assert_eq!(api.get("/api/v1/samples").await.0, StatusCode::OK);

    // Shown once: the page lists the key, never the key itself again.
    let (_, page) = web.get("/profile").await;
    assert!(!page.contains(&key) && shown_key(&page).is_none());
    assert!(page.contains("laptop") && page.contains("status-active"), "{page}");
    assert!(
        page.contains("Scripts using it will stop working"),
        "the revoke button warns"
    );

    // A refused form keeps what was typed and says why.
    let response = web
        .post(
            "/profile/api-keys",
            &[("csrf", &csrf), ("name", "bad"), ("expires_in", "3y")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("id=\"key-error\"") && page.contains("unknown unit"),
        "{page}"
    );

    // Another user's key cannot be revoked from this account.
    let stranger = workspace.user("stranger@example.org").await;
    let stranger_api = Api::new(&workspace, &stranger);
    let stranger_key = key_id(&stranger_api, "").await;
    let response = web
        .post(&format!("/profile/api-keys/{stranger_key}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(stranger_api.get("/api/v1/samples").await.0, StatusCode::OK);

    // Revoking one's own key.
    let id = key_id(&api, "laptop").await;
    let response = web
        .post(&format!("/profile/api-keys/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/profile?done=key-revoked");
    let (_, page) = web.get("/profile?done=key-revoked").await;
    assert!(
        page.contains("API key revoked") && page.contains("status-revoked"),
        "{page}"
    );
    assert!(
        !page.contains(&format!("/profile/api-keys/{id}/revoke")),
        "no revoke button any more"
    );
    let (status, body) = api.get("/api/v1/samples").await;
    assert_refused(status, &body, "revoked");
}

#[tokio::test]
async fn closed_sign_up_says_whom_to_ask_and_creates_no_account() {
    let workspace = TestWorkspace::start_with(TestOptions {
        signup: SignupMode::Closed,
        ..TestOptions::default()
    })
    .await;
    let web = Web::new(&workspace);
    let (status, page) = web.get("/signup").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("Sign-up is closed") && page.contains("ferry workspace user add"),
        "{page}"
    );
    assert!(!page.contains("name=\"password\""), "no sign-up form");
    let (status, page) = web.get("/login").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !page.contains("href=\"/signup\""),
        "the login page does not offer sign-up: {page}"
    );
    assert!(page.contains("administrator"));

    // Posting the form anyway (with a valid CSRF pair) creates nothing.
    let csrf = csrf_of(&page);
    let fields = [
        ("csrf", csrf.as_str()),
        ("email", "walk-in@example.org"),
        ("password", TEST_PASSWORD),
        ("password_again", TEST_PASSWORD),
    ];
    let response = web.post("/signup", &fields).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("Sign-up is closed"));
    let response = web.post("/login", &fields).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "no account was made");

    // Administrators' accounts log in as usual.
    workspace
        .workspace
        .add_user("member@example.org", TEST_PASSWORD)
        .await
        .unwrap();
    let response = web
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "member@example.org"),
                ("password", TEST_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // Open (as TestWorkspace and `ferry up` run it): the login page offers sign-up.
    let open = TestWorkspace::start().await;
    let (status, page) = Web::new(&open).get("/login").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("href=\"/signup\""));
}

#[tokio::test]
async fn a_taken_email_looks_like_any_other_refused_sign_up() {
    let workspace = TestWorkspace::start().await;
    workspace
        .workspace
        .add_user("known@example.org", TEST_PASSWORD)
        .await
        .unwrap();
    let attempt = |email: &'static str, password: &'static str| {
        let web = Web::new(&workspace);
        async move {
            let (_, page) = web.get("/signup").await;
            let response = web
                .post(
                    "/signup",
                    &[
                        ("csrf", &csrf_of(&page)),
                        ("email", email),
                        ("password", password),
                        ("password_again", password),
                    ],
                )
                .await;
            (response.status(), response.text().await.unwrap())
        }
    };
    let (taken_status, taken) = attempt("Known@example.org", "another long password").await;
    let (short_status, _) = attempt("new@example.org", "short").await;
    let (invalid_status, _) = attempt("not-an-email", "another long password").await;
    assert_eq!(taken_status, StatusCode::BAD_REQUEST);
    assert_eq!(taken_status, short_status, "the same status as a refused password");
    assert_eq!(taken_status, invalid_status, "the same status as a refused email");
    assert!(
        taken.contains("We could not create an account with these details. If you already have an account, log in."),
        "{taken}"
    );
    assert!(
        !taken.contains("already exists") && !taken.contains("already has"),
        "{taken}"
    );
}
