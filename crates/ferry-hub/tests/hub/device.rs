//! Device login end to end: a scripted client polls while the test approves through the hub's
//! real web page; denial, expiry, slow_down, single use, revocation, rate limits.

use std::time::Duration;

use ferry_hub::demo;
use ferry_hub::testing::{TestHub, hidden_value};
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::*;

async fn authorize(hub: &TestHub, scope: &str) -> Value {
    let response = client()
        .post(format!("{}/v1pre3/oauthv2/deviceauthorization", hub.url))
        .form(&[
            ("client_id", "test-client"),
            ("response_type", "device_code"),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn poll(hub: &TestHub, fields: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}/v1pre3/oauthv2/token", hub.url))
        .form(fields)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

/// Polls like `bs auth` until a token or a terminal error, honouring the interval.
async fn poll_until_done(hub: &TestHub, device_code: &str, interval: u64) -> (StatusCode, Value) {
    for _ in 0..60 {
        let (status, body) = poll(
            hub,
            &[
                ("client_id", "test-client"),
                ("grant_type", "device"),
                ("code", device_code),
            ],
        )
        .await;
        if body["error"] != "authorization_pending" {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_secs(interval)).await;
    }
    panic!("device login never finished");
}

#[tokio::test]
async fn device_login_approved_in_the_web_page_gives_a_workgroup_token_once() {
    let hub = TestHub::start().await;
    let grant = authorize(&hub, "READ GLOBAL, CREATE GLOBAL, BROWSE GLOBAL").await;
    let user_code = grant["user_code"].as_str().unwrap().to_string();
    let device_code = grant["device_code"].as_str().unwrap().to_string();
    assert_eq!(grant["verification_uri"], format!("{}/oauth/device", hub.url));
    assert_eq!(
        grant["verification_with_code_uri"],
        format!("{}/oauth/device?code={user_code}", hub.url)
    );
    assert_eq!(grant["expires_in"], 1800);
    let interval = grant["interval"].as_u64().unwrap();
    assert!(interval >= 1);

    let poller = {
        let url = hub.url.clone();
        let device_code = device_code.clone();
        tokio::spawn(async move {
            let hub_url = url;
            let mut pending_seen = 0;
            for _ in 0..60 {
                let response = client()
                    .post(format!("{hub_url}/v1pre3/oauthv2/token"))
                    .form(&[("grant_type", "device"), ("code", device_code.as_str())])
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let body: Value = response.json().await.unwrap();
                if body["error"] == "authorization_pending" {
                    assert_eq!(status, StatusCode::BAD_REQUEST);
                    pending_seen += 1;
                    tokio::time::sleep(Duration::from_secs(interval)).await;
                    continue;
                }
                return (status, body, pending_seen);
            }
            panic!("no token");
        })
    };
    tokio::time::sleep(Duration::from_millis(1200)).await;
    hub.approve_device_code(
        &user_code,
        demo::DEMO_EMAIL,
        demo::DEMO_PASSWORD,
        Some(demo::DEMO_WORKGROUP),
    )
    .await;
    let (status, body, pending_seen) = poller.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(pending_seen >= 1, "the client polled while pending");
    let token = body["access_token"].as_str().unwrap().to_string();
    assert!(body["expires_in"].as_u64().is_some());

    let me = get_ok(&hub, &token, "/v2/users/current").await;
    assert_eq!(me["IsWorkgroup"], true);
    assert_eq!(me["Name"], demo::DEMO_WORKGROUP);
    let details = get_ok(&hub, &token, "/v1pre3/oauthv2/token/current").await;
    assert_eq!(
        details["Response"]["Scopes"],
        serde_json::json!(["READ GLOBAL", "CREATE GLOBAL", "BROWSE GLOBAL"])
    );

    tokio::time::sleep(Duration::from_secs(interval)).await;
    let (status, again) = poll(&hub, &[("grant_type", "device"), ("code", &device_code)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(again["error"], "invalid_grant", "a device code is single-use: {again}");

    let response = client()
        .delete(format!("{}/v2/oauthv2tokens/current", hub.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _) = get(&hub, &token, "/v2/users/current").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked token stops working");
}

#[tokio::test]
async fn device_login_denied_expired_too_fast_and_rfc_spelling() {
    let hub = TestHub::start().await;
    // Denied.
    let grant = authorize(&hub, "READ GLOBAL").await;
    hub.deny_device_code(
        grant["user_code"].as_str().unwrap(),
        demo::DEMO_EMAIL,
        demo::DEMO_PASSWORD,
    )
    .await;
    let (status, body) = poll_until_done(&hub, grant["device_code"].as_str().unwrap(), 1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("access_denied"))
    );

    // Polling faster than the interval.
    let grant = authorize(&hub, "READ GLOBAL").await;
    let device_code = grant["device_code"].as_str().unwrap();
    let fields = [("grant_type", "device"), ("code", device_code)];
    let (_, first) = poll(&hub, &fields).await;
    assert_eq!(first["error"], "authorization_pending");
    let (status, second) = poll(&hub, &fields).await;
    assert_eq!(
        (status, second["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("slow_down"))
    );

    // The RFC 8628 spelling, approved in the personal context.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    hub.approve_device_code(
        grant["user_code"].as_str().unwrap(),
        demo::DEMO_EMAIL,
        demo::DEMO_PASSWORD,
        None,
    )
    .await;
    let (status, body) = poll(
        &hub,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let me = get_ok(&hub, body["access_token"].as_str().unwrap(), "/v2/users/current").await;
    assert_eq!(me["IsWorkgroup"], false);

    // Expired: the code's lifetime ran out before approval.
    let grant = authorize(&hub, "READ GLOBAL").await;
    sqlx::query("UPDATE device_codes SET expires = 1 WHERE user_code = $1")
        .bind(grant["user_code"].as_str().unwrap())
        .execute(&hub.hub().db().pool)
        .await
        .unwrap();
    let (status, body) = poll(
        &hub,
        &[
            ("grant_type", "device"),
            ("code", grant["device_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("expired_token"))
    );

    // Bad requests.
    let (status, body) = poll(&hub, &[("grant_type", "password"), ("code", "x")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    let (_, body) = poll(&hub, &[("grant_type", "device"), ("code", "not-a-code")]).await;
    assert_eq!(body["error"], "invalid_grant");
    let response = client()
        .post(format!(
            "{}/v1pre3/oauthv2/deviceauthorization?scope=FLY%20GLOBAL",
            hub.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
}

#[tokio::test]
async fn web_page_requires_csrf_and_rate_limits_wrong_codes_and_passwords() {
    let hub = TestHub::start().await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(format!("{}/oauth/device", hub.url)).send().await.unwrap();
    let set_cookie = page.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let html = page.text().await.unwrap();
    let csrf = hidden_value(&html, "csrf").unwrap();

    // Without the CSRF value, sign-in is refused.
    let response = browser
        .post(format!("{}/oauth/device/login", hub.url))
        .form(&[
            ("email", demo::DEMO_EMAIL),
            ("password", demo::DEMO_PASSWORD),
            ("csrf", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Wrong passwords are limited.
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        last = wrong_password(&hub).await;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let _ = csrf;

    // Wrong codes are limited too (a fresh hub, signed in).
    let hub = TestHub::start().await;
    let grant = authorize(&hub, "READ GLOBAL").await;
    hub.add_user("guesser@example.org", "pw").await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = device_sign_in(&hub, &browser, "guesser@example.org", "pw").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let mut statuses = Vec::new();
    for guess in 0..11 {
        let code = format!("BCDF-GH{:02}", guess)
            .replace('0', "3")
            .replace('1', "4")
            .replace('2', "6")
            .replace('5', "7");
        let response = browser
            .get(format!("{}/oauth/device?code={code}", hub.url))
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
    }
    assert_eq!(statuses[0], StatusCode::NOT_FOUND);
    assert_eq!(*statuses.last().unwrap(), StatusCode::TOO_MANY_REQUESTS);
    // Even the right code is refused while limited.
    let right = browser
        .get(format!(
            "{}/oauth/device?code={}",
            hub.url,
            grant["user_code"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Signs in to the device page as a client at `client` (sent as `X-Forwarded-For`).
async fn sign_in_from(hub: &TestHub, client: &str, email: &str, password: &str) -> reqwest::Response {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = browser
        .get(format!("{}/oauth/device", hub.url))
        .header("x-forwarded-for", client)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden_value(&html, "csrf").unwrap();
    browser
        .post(format!("{}/oauth/device/login", hub.url))
        .header("x-forwarded-for", client)
        .form(&[("email", email), ("password", password), ("csrf", &csrf)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_strangers_wrong_passwords_never_lock_the_owner_out() {
    let hub = TestHub::start_trusting(&["127.0.0.1/32"]).await;
    let stranger = "203.0.113.9";
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(sign_in_from(&hub, stranger, demo::DEMO_EMAIL, "guess").await.status());
    }
    let refused = sign_in_from(&hub, stranger, demo::DEMO_EMAIL, demo::DEMO_PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&wait), "Retry-After {wait}");
    assert!(refused.text().await.unwrap().contains("Too many wrong passwords"));

    // The owner, from another address, signs in at once with the right password.
    let owner = sign_in_from(&hub, "198.51.100.7", demo::DEMO_EMAIL, demo::DEMO_PASSWORD).await;
    assert_eq!(owner.status(), StatusCode::SEE_OTHER);
    // And a wrong password of the owner's is an ordinary wrong password, not a lockout.
    let typo = sign_in_from(&hub, "198.51.100.7", demo::DEMO_EMAIL, "demo-typo").await;
    assert_eq!(typo.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    // Without --trusted-proxy the header is the client's own words: guesses sent with a new
    // X-Forwarded-For each time still come from one address and are slowed down.
    let hub = TestHub::start().await;
    let mut last = StatusCode::OK;
    for n in 0..12 {
        last = sign_in_from(&hub, &format!("198.51.100.{n}"), demo::DEMO_EMAIL, "guess")
            .await
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);

    // Behind a trusted proxy, each forwarded address is its own client.
    let hub = TestHub::start_trusting(&["127.0.0.0/8"]).await;
    for n in 0..12 {
        let status = sign_in_from(&hub, &format!("198.51.100.{n}"), demo::DEMO_EMAIL, "guess")
            .await
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "client {n}");
    }
    // A client cannot pretend to be another by writing addresses before the proxy's.
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        last = sign_in_from(&hub, "192.0.2.1, 203.0.113.50", demo::DEMO_EMAIL, "guess")
            .await
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn device_authorization_is_rate_limited_per_client() {
    let hub = TestHub::start_trusting(&["127.0.0.1"]).await;
    let start = |client: &'static str| {
        let url = format!("{}/v1pre3/oauthv2/deviceauthorization", hub.url);
        async move {
            reqwest::Client::new()
                .post(url)
                .header("x-forwarded-for", client)
                .form(&[("client_id", "flood"), ("response_type", "device_code")])
                .send()
                .await
                .unwrap()
        }
    };
    let limit = ferry_hub::DEVICE_AUTHORIZATIONS_PER_MINUTE;
    for n in 0..limit {
        assert_eq!(start("203.0.113.9").await.status(), StatusCode::OK, "request {n}");
    }
    let refused = start("203.0.113.9").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "slow_down");
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM device_codes WHERE client_id = 'flood'")
        .fetch_one(&hub.hub().db().pool)
        .await
        .unwrap();
    assert_eq!(pending, i64::from(limit), "refused requests store nothing");
    assert_eq!(
        start("198.51.100.7").await.status(),
        StatusCode::OK,
        "other clients go on"
    );
}

/// A browser-like client (cookies kept, redirects not followed) signed in on the device page.
async fn signed_in_browser(hub: &TestHub, user_code: &str) -> reqwest::Client {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser
        .get(format!("{}/oauth/device?code={user_code}", hub.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden_value(&page, "csrf").unwrap();
    let response = browser
        .post(format!("{}/oauth/device/login", hub.url))
        .form(&[
            ("email", demo::DEMO_EMAIL),
            ("password", demo::DEMO_PASSWORD),
            ("code", user_code),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    browser
}

#[tokio::test]
async fn browsers_get_a_landing_page_readable_scopes_sign_out_and_the_granted_context() {
    let hub = TestHub::start().await;

    // `GET /`: a page for browsers, the usual JSON 404 for API clients.
    let page = client()
        .get(format!("{}/", hub.url))
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = page.text().await.unwrap();
    assert!(page.contains(&format!("bs auth --api-server {}", hub.url)), "{page}");
    assert!(page.contains("href=\"/oauth/device\""));
    for accept in [None, Some("application/json"), Some("*/*")] {
        let mut request = client().get(format!("{}/", hub.url));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{accept:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), "BASESPACE.COMMON.NOT_FOUND");
    }

    // The approval page says what each scope allows, the raw scope beside it, and offers to sign out.
    let grant = authorize(&hub, "READ GLOBAL, MOVETOTRASH GLOBAL").await;
    let user_code = grant["user_code"].as_str().unwrap().to_string();
    let browser = signed_in_browser(&hub, &user_code).await;
    let page_url = format!("{}/oauth/device?code={user_code}", hub.url);
    let page = browser.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Read and download all your data"), "{page}");
    assert!(page.contains("Move to the trash all your data <code class=\"scope\">MOVETOTRASH GLOBAL</code>"));
    assert!(page.contains("Not you?") && page.contains("action=\"/oauth/device/logout\""));

    // Accepted for the workgroup: the page says which data was granted.
    let csrf = hidden_value(&page, "csrf").unwrap();
    let marker = format!("> Workgroup: {}", demo::DEMO_WORKGROUP);
    let at = page.find(&marker).expect("the workgroup is offered");
    let value_at = page[..at].rfind("value=\"").unwrap() + "value=\"".len();
    let context = &page[value_at..value_at + page[value_at..].find('"').unwrap()];
    let done = browser
        .post(format!("{}/oauth/device/approve", hub.url))
        .form(&[
            ("code", user_code.as_str()),
            ("context", context),
            ("decision", "accept"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        done.contains("Access granted") && done.contains(&format!("your workgroup {} data", demo::DEMO_WORKGROUP)),
        "{done}"
    );

    // Sign out: needs the session's CSRF token, then the page asks to sign in again.
    let grant = authorize(&hub, "READ GLOBAL").await;
    let user_code = grant["user_code"].as_str().unwrap().to_string();
    let page_url = format!("{}/oauth/device?code={user_code}", hub.url);
    let page = browser.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Allow access?"), "still signed in: {page}");
    let csrf = hidden_value(&page, "csrf").unwrap();
    let forged = browser
        .post(format!("{}/oauth/device/logout", hub.url))
        .form(&[("code", user_code.as_str()), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let response = browser
        .post(format!("{}/oauth/device/logout", hub.url))
        .form(&[("code", user_code.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        format!("/oauth/device?code={user_code}")
    );
    let page = browser.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("Sign in to the Ferry hub") && !page.contains("Allow access?"),
        "{page}"
    );
}
