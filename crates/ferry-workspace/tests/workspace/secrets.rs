//! The BaseSpace token appears in plain text nowhere: not in the database, the data folder, the
//! logs, any page or any API response.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use sqlx::{Column, Row};

use super::common::{Web, demo_token, logs, start};

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Every text value in every table of the workspace database.
async fn database_text(database_url: &str) -> Vec<String> {
    let db = ferry_db::Db::connect(database_url).await.unwrap();
    let tables_sql = match db.engine {
        ferry_db::Engine::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
        ferry_db::Engine::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()"
        }
    };
    let tables: Vec<String> = sqlx::query(tables_sql)
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect();
    assert!(tables.iter().any(|t| t == "basespace_links"), "{tables:?}");
    let mut values = Vec::new();
    for table in tables
        .iter()
        // sqlx's own bookkeeping table holds only migration metadata (in types Any cannot read).
        .filter(|t| !t.starts_with("_sqlx") && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(&db.pool)
            .await
            .unwrap();
        for row in rows {
            for column in row.columns() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(column.ordinal()) {
                    values.push(text);
                }
            }
        }
    }
    values
}

#[tokio::test]
async fn the_token_is_in_plain_text_nowhere() {
    let (hub, workspace) = start().await;
    let token = demo_token(&hub).await;
    let wrong_token = format!("wrong{}", &token[..token.len().min(20)]).replace(['+', '/', '='], "x");
    let web = Web::new(&workspace);
    let csrf = web.sign_up("secret-keeper@example.org").await;
    let mut seen: Vec<String> = Vec::new();

    // A wrong token's error does not echo it.
    let response = web
        .post(
            "/profile/basespace",
            &[
                ("csrf", &csrf),
                ("access_token", &wrong_token),
                ("region", "custom"),
                ("api_server", &hub.url),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains("not accepted by"), "{page}");
    seen.push(page);

    // Link through the profile form.
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
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await.unwrap()
    );
    let (_, profile) = web.get("/profile?done=linked").await;
    assert!(
        profile.contains(&format!("…{}", &token[token.len() - 4..])),
        "last 4 characters shown"
    );
    assert!(profile.contains(ferry_hub::demo::DEMO_EMAIL), "BaseSpace user shown");
    seen.push(profile);

    // Import a demo project through the page.
    let (_, select) = web.get("/samples/import").await;
    let marker = "name=\"project_ids\" value=\"";
    let start = select.find(marker).expect("a project to import") + marker.len();
    let project_id = select[start..start + select[start..].find('"').unwrap()].to_string();
    seen.push(select);
    let (status, fragment) = web.get(&format!("/samples/import/projects/{project_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(fragment.contains("biosample_ids"), "{fragment}");
    seen.push(fragment);
    let response = web
        .post(
            "/samples/import",
            &[
                ("csrf", &csrf),
                ("project_ids", &project_id),
                ("skip_undetermined", "on"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[LOCATION].to_str().unwrap().to_string();
    let import_id = location.trim_start_matches("/imports/").to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        let (code, body) = web.get(&format!("/api/v1/imports/{import_id}")).await;
        assert_eq!(
            code,
            StatusCode::OK,
            "the page's own poll works with the session cookie"
        );
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        seen.push(body);
        if matches!(status["status"].as_str(), Some("completed" | "failed" | "cancelled")) {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "import did not finish: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["status"], "completed", "{status}");
    let sample_id = status["samples"][0]["id"].as_str().unwrap().to_string();
    for path in [
        "/profile".to_string(),
        "/profile?edit=1".to_string(),
        "/samples".to_string(),
        "/imports".to_string(),
        location.clone(),
        format!("/samples/{sample_id}"),
        "/api/v1/basespace-account".to_string(),
        "/api/v1/basespace/projects".to_string(),
        "/api/v1/imports".to_string(),
        "/api/v1/samples".to_string(),
        format!("/api/v1/samples/{sample_id}"),
        "/api/openapi.json".to_string(),
    ] {
        let (code, body) = web.get(&path).await;
        assert_eq!(code, StatusCode::OK, "{path}");
        seen.push(body);
    }
    for (i, text) in seen.iter().enumerate() {
        assert!(!text.contains(&token), "response {i} shows the token");
        assert!(!text.contains(&wrong_token), "response {i} shows the wrong token");
    }

    // Not in any file of the data folder (SQLite database and WAL, key file, imported files)...
    let mut files = Vec::new();
    files_under(&workspace.data_dir, &mut files);
    assert!(files.iter().any(|f| f.ends_with("workspace.key")));
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(!contains(&bytes, &token), "{} holds the token", file.display());
        assert!(
            !contains(&bytes, &wrong_token),
            "{} holds the wrong token",
            file.display()
        );
    }
    // ... nor in any text value of the database (PostgreSQL included) ...
    let values = database_text(&workspace.database_url).await;
    assert!(!values.is_empty());
    for value in &values {
        assert!(!value.contains(&token), "a database value holds the token");
    }
    // ... nor in the logs, which did record the linking.
    let logs = logs();
    assert!(contains(&logs, "linked a BaseSpace account"), "logs were captured");
    assert!(!contains(&logs, &token), "the logs hold the token");
    assert!(!contains(&logs, &wrong_token), "the logs hold the wrong token");
}
