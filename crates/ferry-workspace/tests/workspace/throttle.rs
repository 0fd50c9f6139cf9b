//! Wrong passwords slow down the client that sends them, never the account's owner elsewhere;
//! `X-Forwarded-For` names the client only when it comes from a trusted proxy.

use ferry_workspace::testing::{TEST_PASSWORD, TestOptions, TestWorkspace};
use reqwest::StatusCode;

use super::common::csrf_of;

/// Logs in through the real form as a client at `client` (sent as `X-Forwarded-For`).
async fn log_in_from(workspace: &TestWorkspace, client: &str, email: &str, password: &str) -> reqwest::Response {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser
        .get(format!("{}/login", workspace.url))
        .header("x-forwarded-for", client)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    browser
        .post(format!("{}/login", workspace.url))
        .header("x-forwarded-for", client)
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

async fn behind_proxy() -> TestWorkspace {
    let workspace = TestWorkspace::start_with(TestOptions {
        trusted_proxies: vec!["127.0.0.1".to_string()],
        ..TestOptions::default()
    })
    .await;
    workspace
        .workspace
        .add_user("owner@example.org", TEST_PASSWORD)
        .await
        .unwrap();
    workspace
}

#[tokio::test]
async fn a_strangers_wrong_passwords_do_not_lock_the_owner_out() {
    let workspace = behind_proxy().await;
    let stranger = "203.0.113.9";
    for _ in 0..ferry_security::throttle::FREE_FAILURES_PER_ACCOUNT {
        let answer = log_in_from(&workspace, stranger, "owner@example.org", "guess").await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = log_in_from(&workspace, stranger, "owner@example.org", TEST_PASSWORD).await;
    assert_eq!(
        refused.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the failing client waits"
    );
    assert!(refused.headers().contains_key("retry-after"));
    let owner = log_in_from(&workspace, "198.51.100.7", "owner@example.org", TEST_PASSWORD).await;
    assert_eq!(
        owner.status(),
        StatusCode::SEE_OTHER,
        "the owner logs in from elsewhere"
    );
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    // No trusted proxy: a new X-Forwarded-For per guess changes nothing.
    let workspace = TestWorkspace::start().await;
    workspace
        .workspace
        .add_user("owner@example.org", TEST_PASSWORD)
        .await
        .unwrap();
    let mut last = StatusCode::OK;
    for n in 0..=ferry_security::throttle::FREE_FAILURES_PER_ACCOUNT {
        last = log_in_from(&workspace, &format!("198.51.100.{n}"), "owner@example.org", "guess")
            .await
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);

    // Behind a trusted proxy each forwarded address is its own client.
    let workspace = behind_proxy().await;
    for n in 0..=ferry_security::throttle::FREE_FAILURES_PER_ACCOUNT {
        let answer = log_in_from(&workspace, &format!("198.51.100.{n}"), "owner@example.org", "guess").await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "client {n}");
    }
}
