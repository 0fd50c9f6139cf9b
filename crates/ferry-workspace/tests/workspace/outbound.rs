//! The workspace fetches URLs only where it may: users link to Illumina's regions and the servers
//! the administrator allowed, never to loopback or private services through any spelling, a
//! fragment, a redirect or a content URL; and no upstream bytes come back to the user.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferry_hub::testing::TestHub;
use ferry_workspace::testing::TestWorkspace;
use futures_util::TryStreamExt;
use serde_json::{Value, json};

use super::common::{Api, Web, demo_token};

/// What an internal service would answer: a secret that must never reach a workspace user.
const INTERNAL_SECRET: &str = "internal-secret-9f2c";

/// An internal service on loopback that counts the requests reaching it.
struct Canary {
    url: String,
    port: u16,
    hits: Arc<AtomicUsize>,
}

async fn listen() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    (listener, address)
}

fn serve(listener: tokio::net::TcpListener, router: Router) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
}

async fn canary() -> Canary {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let router = Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            INTERNAL_SECRET
        }
    });
    let (listener, address) = listen().await;
    serve(listener, router);
    Canary {
        url: format!("http://{address}"),
        port: address.port(),
        hits,
    }
}

/// What the hostile server answers where a real one gives a file's content URL.
#[derive(Clone)]
struct Hostile {
    hub: String,
    content_url: String,
    users_current: Option<(StatusCode, &'static str)>,
    redirect_to: String,
}

/// A BaseSpace server the administrator allowed, that turns hostile: it passes every request on
/// to a real hub, except that it hands out content URLs of its choosing (`/v2/files/…/content`;
/// `{self}` stands for its own URL), redirects `/hop` to `redirect_to`, and may answer
/// `/v2/users/current` with anything.
async fn hostile_server(hostile: Hostile) -> String {
    async fn handle(State(hostile): State<Hostile>, request: Request) -> Response {
        let path = request.uri().path().to_string();
        if path == "/hop" {
            return (StatusCode::FOUND, [(header::LOCATION, hostile.redirect_to.clone())]).into_response();
        }
        if path == "/v2/users/current"
            && let Some((status, body)) = hostile.users_current
        {
            return (status, [(header::CONTENT_TYPE, "text/html")], body).into_response();
        }
        if path.starts_with("/v2/files/") && path.ends_with("/content") {
            return axum::Json(json!({"HrefContent": hostile.content_url, "SupportsRange": true})).into_response();
        }
        let target = format!(
            "{}{}",
            hostile.hub,
            request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/")
        );
        let method = request.method().clone();
        let headers: HeaderMap = request.headers().clone();
        let body = axum::body::to_bytes(request.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        let mut forwarded = reqwest::Client::new().request(method, target).body(body);
        if let Some(auth) = headers.get(header::AUTHORIZATION) {
            forwarded = forwarded.header(header::AUTHORIZATION, auth);
        }
        if let Some(kind) = headers.get(header::CONTENT_TYPE) {
            forwarded = forwarded.header(header::CONTENT_TYPE, kind);
        }
        let answer = forwarded.send().await.unwrap();
        let status = answer.status();
        let kind = answer.headers().get(header::CONTENT_TYPE).cloned();
        let bytes: Bytes = answer.bytes().await.unwrap_or_default();
        let mut response = (status, bytes).into_response();
        if let Some(kind) = kind {
            response.headers_mut().insert(header::CONTENT_TYPE, kind);
        }
        response
    }
    let (listener, address) = listen().await;
    let own = format!("http://{address}");
    let hostile = Hostile {
        content_url: hostile.content_url.replace("{self}", &own),
        ..hostile
    };
    serve(listener, Router::new().fallback(handle).with_state(hostile));
    own
}

async fn link(api: &Api, token: &str, server: &str) -> (StatusCode, Value) {
    api.put(
        "/api/v1/basespace-account",
        json!({"access_token": token, "api_server": server}),
    )
    .await
}

#[tokio::test]
async fn a_custom_server_must_be_allowed_and_no_spelling_reaches_loopback() {
    let internal = canary().await;
    let workspace = TestWorkspace::start().await;
    let api = Api::new(&workspace, &workspace.user("lab@example.org").await);
    let port = internal.port;
    for server in [
        internal.url.clone(),
        format!("http://localhost:{port}"),
        format!("http://0x7f000001:{port}"),
        format!("http://2130706433:{port}"),
        format!("http://[::1]:{port}"),
        format!("http://127.1:{port}/any/path"),
    ] {
        let (status, body) = link(&api, "t0ken", &server).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{server}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains("--allow-api-server"), "{message}");
    }
    // The fragment trick (`#` swallows the path the client appends), queries and credentials.
    for server in [
        format!("http://127.0.0.1:{port}/any/path#"),
        format!("https://api.basespace.illumina.com/#@127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}/?x=1"),
        format!("http://user:pw@127.0.0.1:{port}"),
    ] {
        let (status, body) = link(&api, "t0ken", &server).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{server}: {body}");
    }
    // The same through the profile page.
    let web = Web::new(&workspace);
    let csrf = web.sign_up("page@example.org").await;
    let answer = web
        .post(
            "/profile/basespace",
            &[
                ("csrf", &csrf),
                ("region", "custom"),
                ("api_server", &format!("http://127.0.0.1:{port}/any/path#")),
                ("access_token", "t0ken"),
            ],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let page = answer.text().await.unwrap();
    assert!(page.contains("fragment"), "the page says why");
    assert_eq!(
        internal.hits.load(Ordering::SeqCst),
        0,
        "nothing reached the internal service"
    );
}

#[tokio::test]
async fn an_allowed_server_cannot_redirect_or_echo_into_the_workspace() {
    let internal = canary().await;
    let hub = TestHub::start().await;
    // An allowed server whose /v2/users/current redirects to the internal service …
    let redirecting = hostile_server(Hostile {
        hub: hub.url.clone(),
        content_url: String::new(),
        users_current: Some((StatusCode::FOUND, "")),
        redirect_to: internal.url.clone(),
    })
    .await;
    // … and one that answers with an internal page's bytes.
    let echoing = hostile_server(Hostile {
        hub: hub.url.clone(),
        content_url: String::new(),
        users_current: Some((StatusCode::OK, INTERNAL_SECRET)),
        redirect_to: internal.url.clone(),
    })
    .await;
    let failing = hostile_server(Hostile {
        hub: hub.url.clone(),
        content_url: String::new(),
        users_current: Some((StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_SECRET)),
        redirect_to: internal.url.clone(),
    })
    .await;
    let workspace = TestWorkspace::start_allowing(&[&redirecting, &echoing, &failing]).await;
    let api = Api::new(&workspace, &workspace.user("lab@example.org").await);
    for server in [&redirecting, &echoing, &failing] {
        let (status, body) = link(&api, "t0ken", server).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{server}: {body}");
        assert!(!body.to_string().contains(INTERNAL_SECRET), "no upstream bytes: {body}");
    }
    let web = Web::new(&workspace);
    let csrf = web.sign_up("page@example.org").await;
    let answer = web
        .post(
            "/profile/basespace",
            &[
                ("csrf", &csrf),
                ("region", "custom"),
                ("api_server", &echoing),
                ("access_token", "t0ken"),
            ],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::BAD_GATEWAY);
    let page = answer.text().await.unwrap();
    assert!(!page.contains(INTERNAL_SECRET), "no upstream bytes on the page");
    assert!(page.contains("not BaseSpace"), "the page says what went wrong");
    assert_eq!(internal.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn imports_never_fetch_internal_content_urls_directly_or_through_a_redirect() {
    let internal = canary().await;
    let hub = TestHub::start().await;
    let token = demo_token(&hub).await;
    let project = ferry_client::Client::new(&hub.url, &token)
        .unwrap()
        .projects(None)
        .try_next()
        .await
        .unwrap()
        .expect("the demo hub has a project");
    // The content URL points at the internal service, or at a hop that redirects there.
    let direct = hostile_server(Hostile {
        hub: hub.url.clone(),
        content_url: format!("{}/secret.fastq.gz", internal.url),
        users_current: None,
        redirect_to: internal.url.clone(),
    })
    .await;
    let redirecting = hostile_server(Hostile {
        hub: hub.url.clone(),
        content_url: "{self}/hop".to_string(),
        users_current: None,
        redirect_to: format!("{}/secret.fastq.gz", internal.url),
    })
    .await;
    let workspace = TestWorkspace::start_allowing(&[&direct, &redirecting]).await;
    for (n, server) in [&direct, &redirecting].into_iter().enumerate() {
        let api = Api::new(&workspace, &workspace.user(&format!("user{n}@example.org")).await);
        let (status, body) = link(&api, &token, server).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, created) = api
            .post("/api/v1/imports", json!({"project_ids": [project.id.clone()]}))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{created}");
        let done = api
            .wait_for_import(created["id"].as_str().unwrap(), Duration::from_secs(60))
            .await;
        assert_eq!(done["status"], "failed", "{done}");
        let text = done.to_string();
        assert!(text.contains("internal"), "the import says why: {text}");
        assert!(!text.contains(INTERNAL_SECRET), "{text}");
    }
    assert_eq!(
        internal.hits.load(Ordering::SeqCst),
        0,
        "no request reached the internal service"
    );
}
