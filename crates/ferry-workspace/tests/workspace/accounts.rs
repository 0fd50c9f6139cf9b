//! Accounts in the browser: sign-up, login, logout, session cookies, CSRF on every form, API keys.

use ferry_workspace::testing::{TEST_PASSWORD, TestWorkspace};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};

use super::common::{Api, Web, capture_logs, csrf_of};

fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("ferry_session="))
        .expect("a session cookie is set")
        .to_string()
}

#[tokio::test]
async fn sign_up_log_out_and_log_in_again_with_safe_cookies() {
    capture_logs();
    let workspace = TestWorkspace::start().await;
    let web = Web::new(&workspace);

    // Pages need a login, and come back after it.
    let (status, _) = web.get("/samples").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let (_, page) = web.get("/signup").await;
    let csrf = csrf_of(&page);
    let response = web
        .post(
            "/signup",
            &[
                ("csrf", &csrf),
                ("email", "Ada@Example.org"),
                ("password", TEST_PASSWORD),
                ("password_again", TEST_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&response);
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http on localhost: {cookie}");

    let (status, page) = web.get("/profile").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("ada@example.org"), "email shown, normalised");
    assert!(page.contains("BaseSpace Account Details"));

    // The same email cannot sign up twice (and the answer does not say the email has an account).
    let other = Web::new(&workspace);
    let (_, page) = other.get("/signup").await;
    let response = other
        .post(
            "/signup",
            &[
                ("csrf", &csrf_of(&page)),
                ("email", "ada@example.org"),
                ("password", "another-password"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("We could not create an account")
    );

    // Log out needs the session's CSRF token.
    let csrf = web.csrf().await;
    let response = web.post("/logout", &[("csrf", "wrong")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = web.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let target = response.headers()[LOCATION].to_str().unwrap().to_string();
    let (status, _) = web.get("/profile").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "logged out");
    // The login page it leads to says so.
    let (_, page) = web.get(&target).await;
    assert!(page.contains("You have logged out"), "{target}: {page}");

    // Wrong password, then the right one; `next` brings the user back, but never off-site.
    let (_, page) = web.get("/login?next=/imports").await;
    let csrf = csrf_of(&page);
    let response = web
        .post(
            "/login",
            &[("csrf", &csrf), ("email", "ada@example.org"), ("password", "nope")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().await.unwrap().contains("Wrong email or password"));
    let response = web
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "ada@example.org"),
                ("password", TEST_PASSWORD),
                ("next", "/imports"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/imports");
    let (_, page) = web.get("/login").await;
    let response = web
        .post(
            "/login",
            &[
                ("csrf", &csrf_of(&page)),
                ("email", "ada@example.org"),
                ("password", TEST_PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(response.headers()[LOCATION], "/samples");
}

#[tokio::test]
async fn cookies_are_secure_behind_a_tls_proxy() {
    let workspace = TestWorkspace::start().await;
    let web = Web::new(&workspace);
    let page = web
        .http
        .get(format!("{}/login", workspace.url))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = page
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let csrf = csrf_of(&page.text().await.unwrap());
    assert!(
        cookies.iter().all(|c| c.contains("Secure") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    workspace
        .workspace
        .add_user("tls@example.org", TEST_PASSWORD)
        .await
        .unwrap();
    let response = web
        .http
        .post(format!("{}/login", workspace.url))
        .header("x-forwarded-proto", "https")
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "tls@example.org"),
            ("password", TEST_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&response);
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}

#[tokio::test]
async fn every_form_rejects_a_missing_or_wrong_csrf_token() {
    let workspace = TestWorkspace::start().await;

    // Login and sign-up forms: the token must match the double-submit cookie.
    let web = Web::new(&workspace);
    workspace
        .workspace
        .add_user("eve@example.org", TEST_PASSWORD)
        .await
        .unwrap();
    let _ = web.get("/login").await;
    for path in ["/login", "/signup"] {
        let response = web
            .post(path, &[("email", "eve@example.org"), ("password", TEST_PASSWORD)])
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path} without token");
        let response = web
            .post(
                path,
                &[
                    ("csrf", "forged"),
                    ("email", "eve@example.org"),
                    ("password", TEST_PASSWORD),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path} with a forged token");
    }
    // A token from another browser's page does not work with this browser's cookie.
    let other = Web::new(&workspace);
    let (_, page) = other.get("/login").await;
    let response = web
        .post(
            "/login",
            &[
                ("csrf", &csrf_of(&page)),
                ("email", "eve@example.org"),
                ("password", TEST_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Logged-in forms: the session's token.
    let web = Web::new(&workspace);
    let csrf = web.sign_up("mallory@example.org").await;
    let forms = [
        "/logout",
        "/profile/basespace",
        "/profile/basespace/unlink",
        "/samples/import",
        "/samples/some-sample/delete",
        "/imports/some-import/cancel",
        "/profile/api-keys",
        "/profile/api-keys/some-key/revoke",
    ];
    for path in forms {
        for token in [None, Some("forged")] {
            let mut fields = vec![("access_token", "x"), ("region", "USE1"), ("project_ids", "1")];
            if let Some(token) = token {
                fields.push(("csrf", token));
            }
            let response = web.post(path, &fields).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path} with {token:?}");
            assert!(response.text().await.unwrap().contains("CSRF"));
        }
    }
    // Still logged in: the forged logout did nothing.
    assert_eq!(web.csrf().await, csrf);
}

#[tokio::test]
async fn the_api_needs_a_valid_key_and_changes_need_a_key_not_a_cookie() {
    let workspace = TestWorkspace::start().await;
    let key = workspace.user("api@example.org").await;
    assert!(key.len() >= 40, "long random key");

    let http = reqwest::Client::new();
    let response = http
        .get(format!("{}/api/v1/samples", workspace.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("Bearer"));

    let wrong = Api::new(&workspace, "fwk_not-a-key");
    let (status, body) = wrong.get("/api/v1/samples").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"].is_string());

    let api = Api::new(&workspace, &key);
    let (status, body) = api.get("/api/v1/samples").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"], serde_json::json!([]));
    let (status, body) = api.get("/api/v1/no-such-thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());

    // A browser session may read the API (the import page polls it) but not change anything.
    let web = Web::new(&workspace);
    web.sign_up("cookie@example.org").await;
    let response = web
        .http
        .get(format!("{}/api/v1/imports", workspace.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = web
        .http
        .post(format!("{}/api/v1/imports", workspace.url))
        .json(&serde_json::json!({"project_ids": ["1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Keys are stored only as hashes.
    let user_keys = workspace.workspace.create_api_key("api@example.org").await.unwrap();
    assert_ne!(user_keys, key, "every key is new");
}

#[tokio::test]
async fn link_set_a_new_token_and_unlink_with_revocation_in_the_browser() {
    let (hub, workspace) = super::common::start().await;
    let web = Web::new(&workspace);
    let csrf = web.sign_up("forms@example.org").await;
    let first = super::common::demo_token(&hub).await;
    let link = |token: String| {
        let web = &web;
        let csrf = csrf.clone();
        let url = hub.url.clone();
        async move {
            web.post(
                "/profile/basespace",
                &[
                    ("csrf", &csrf),
                    ("access_token", &token),
                    ("region", "custom"),
                    ("api_server", &url),
                ],
            )
            .await
        }
    };
    let response = link(first.clone()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/profile?done=linked");

    // Linked: no token field until "Set new token".
    let (_, page) = web.get("/profile").await;
    assert!(page.contains("Set new token") && !page.contains("name=\"access_token\""));
    let (_, page) = web.get("/profile?edit=1").await;
    assert!(page.contains("name=\"access_token\""));

    // A second token replaces the first.
    let second = super::common::demo_token(&hub).await;
    assert_eq!(link(second.clone()).await.status(), StatusCode::SEE_OTHER);
    let (_, page) = web.get("/profile").await;
    assert!(page.contains(&format!("…{}", &second[second.len() - 4..])));

    // Unlink and revoke asks first, saying that `bs` is logged out too; nothing changes until confirmed.
    let response = web
        .post("/profile/basespace/unlink", &[("csrf", &csrf), ("revoke", "on")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("Revoke the BaseSpace token?")
            && page.contains("<code>bs</code> stops working")
            && page.contains("name=\"confirmed\" value=\"yes\""),
        "{page}"
    );
    assert!(
        ferry_client::Client::new(&hub.url, &second)
            .unwrap()
            .current_user()
            .await
            .is_ok(),
        "not revoked before confirming"
    );
    let (_, page) = web.get("/profile").await;
    assert!(page.contains("id=\"basespace-link\""), "still linked before confirming");

    // Confirmed: the hub refuses the token afterwards; the first token still works.
    let response = web
        .post(
            "/profile/basespace/unlink",
            &[("csrf", &csrf), ("revoke", "on"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(response.headers()[LOCATION], "/profile?done=revoked");
    let (_, page) = web.get("/profile?done=revoked").await;
    assert!(page.contains("unlinked and the token revoked") && page.contains("name=\"access_token\""));
    let revoked = ferry_client::Client::new(&hub.url, &second)
        .unwrap()
        .current_user()
        .await;
    assert!(revoked.is_err_and(|e| e.is_unauthorized()));
    assert!(
        ferry_client::Client::new(&hub.url, &first)
            .unwrap()
            .current_user()
            .await
            .is_ok()
    );

    // The import page asks to link first.
    let (_, page) = web.get("/samples/import").await;
    assert!(page.contains("Link your BaseSpace account first"));
}

#[tokio::test]
async fn password_guessing_is_slowed_down() {
    let workspace = TestWorkspace::start().await;
    workspace
        .workspace
        .add_user("target@example.org", TEST_PASSWORD)
        .await
        .unwrap();
    let web = Web::new(&workspace);
    let (_, page) = web.get("/login").await;
    let csrf = csrf_of(&page);
    for _ in 0..ferry_security::throttle::FREE_FAILURES_PER_ACCOUNT {
        let response = web
            .post(
                "/login",
                &[("csrf", &csrf), ("email", "target@example.org"), ("password", "guess")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = web
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "target@example.org"),
                ("password", TEST_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(response.text().await.unwrap().contains("Too many wrong passwords"));
}
