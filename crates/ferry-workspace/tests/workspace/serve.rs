//! `Workspace::serve`, as the `ferry` binary runs it: health, security headers, graceful stop.

use ferry_workspace::{Workspace, WorkspaceConfig};
use reqwest::StatusCode;

#[tokio::test]
async fn serve_answers_until_shutdown_then_returns() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let config = WorkspaceConfig {
        listen: address,
        data_dir: dir.path().join("workspace"),
        database_url: Some(ferry_db::testing::fresh_database_url(dir.path()).await),
        public_url: Some("https://workspace.example.org".parse().unwrap()),
        storage_url: None,
        allowed_api_servers: Vec::new(),
        trusted_proxies: Vec::new(),
        signup: ferry_workspace::SignupMode::Closed,
    };
    let workspace = Workspace::open(config.clone()).await.unwrap();
    workspace.ensure_user("demo@example.org", "demo").await.unwrap();
    workspace
        .ensure_user("demo@example.org", "demo")
        .await
        .expect("idempotent");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(workspace.serve(listener, async {
        let _ = stopped.await;
    }));

    let base = format!("http://{address}");
    let health: serde_json::Value = reqwest::get(format!("{base}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let traced = reqwest::Client::new()
        .get(format!("{base}/health"))
        .header("x-request-id", "support-ticket-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        traced.headers()["x-request-id"],
        "support-ticket-42",
        "a caller's ID is kept"
    );
    let page = reqwest::get(format!("{base}/login")).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers();
    assert_eq!(
        headers["x-request-id"].to_str().unwrap().len(),
        36,
        "every answer carries a request ID (a UUID) for support and logs"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("Secure"),
        "an https public URL makes every cookie Secure: {cookie}"
    );
    let css = reqwest::get(format!("{base}/static/app.css")).await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        reqwest::get(format!("{base}/static/../Cargo.toml"))
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    stop.send(()).unwrap();
    server.await.unwrap().expect("serve ends cleanly after shutdown");
    assert!(
        reqwest::get(format!("{base}/health")).await.is_err(),
        "no longer listening"
    );

    // Reopening the same folder keeps the key and the users.
    let again = Workspace::open(config).await.unwrap();
    assert!(
        again
            .create_api_key("demo@example.org")
            .await
            .unwrap()
            .starts_with("fwk_")
    );
    assert!(again.create_api_key("nobody@example.org").await.is_err());
}

#[tokio::test]
async fn an_unsupported_storage_url_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = WorkspaceConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("workspace"),
        database_url: Some(ferry_db::testing::fresh_database_url(dir.path()).await),
        public_url: None,
        storage_url: Some("ftp://files.example.org/ferry".to_string()),
        allowed_api_servers: Vec::new(),
        trusted_proxies: Vec::new(),
        signup: ferry_workspace::SignupMode::Closed,
    };
    let error = Workspace::open(config)
        .await
        .err()
        .expect("an ftp:// file store is refused");
    let message = format!("{error:#}");
    for part in ["ftp://files.example.org/ferry", "--storage-url", "s3://bucket/prefix"] {
        assert!(message.contains(part), "the error names {part:?}: {message}");
    }
}
