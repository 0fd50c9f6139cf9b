//! The `ferry` binary run as a process: `ferry up`, the README's main command (both servers
//! answer at the addresses it prints, the demo login works on the hub, SIGTERM stops it cleanly);
//! the admin commands (passwords on standard input, API keys, flags after subcommands); and the
//! data folders of `ferry up`, `ferry hub` and `ferry workspace`, which only their user can read
//! (folders 0700, files 0600), also when an older version left them wider.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Sends a whole HTTP/1.1 request (`Connection: close`) to `base`; the status code and the body.
fn exchange(base: &str, request: &str) -> (u16, String) {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(request.replace("{host}", address).as_bytes()).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A plain HTTP/1.1 GET; returns the status code and the body.
fn get(base: &str, path: &str) -> (u16, String) {
    exchange(
        base,
        &format!("GET {path} HTTP/1.1\r\nHost: {{host}}\r\nConnection: close\r\n\r\n"),
    )
}

fn url_after(banner: &str, label: &str) -> String {
    banner
        .lines()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {label} URL in the banner:\n{banner}"))
        .to_string()
}

#[test]
fn up_starts_hub_and_workspace_with_demo_data_and_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--hub-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data.path())
        // A machine with Rust and nothing else: no `bs` anywhere on the PATH.
        .env("PATH", data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, banner_lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = String::new();
    while !banner.contains("Press Ctrl-C to stop") {
        match banner_lines.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => {
                banner.push_str(&line);
                banner.push('\n');
            }
            Err(_) => {
                let _ = child.kill();
                panic!("ferry up printed no complete banner in time:\n{banner}");
            }
        }
    }
    let hub = url_after(&banner, "Hub");
    let workspace = url_after(&banner, "Workspace");
    assert!(
        banner.contains("bs auth --api-server"),
        "next steps name bs auth:\n{banner}"
    );
    // Where `bs` comes from: the copy built beside `ferry`, or the one command that installs it.
    let hint = banner
        .lines()
        .skip_while(|line| !line.contains("No `bs` on your PATH"))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    let beside = std::path::Path::new(env!("CARGO_BIN_EXE_ferry")).with_file_name("bs");
    if beside.is_file() {
        assert!(hint.contains(&beside.display().to_string()), "{banner}");
    } else {
        let install = hint
            .split("cargo install --locked --path ")
            .nth(1)
            .unwrap_or_else(|| panic!("no install command in:\n{banner}"));
        assert!(
            std::path::Path::new(install.trim()).join("Cargo.toml").is_file(),
            "the command names bs's source folder:\n{banner}"
        );
    }
    assert!(
        banner.contains("demo@example.org"),
        "the banner gives the demo login:\n{banner}"
    );

    let (status, body) = get(&hub, "/health");
    assert_eq!(status, 200, "hub health: {body}");
    let (status, _) = get(&hub, "/v2/users/current");
    assert_eq!(status, 401, "the hub's API wants a token");
    let (status, body) = get(&workspace, "/login");
    assert_eq!(status, 200, "workspace login page: {body}");
    assert!(body.contains("<form"), "the login page has a form");

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "ferry up exits 0 on SIGTERM, not {status}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "ferry up did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(data.path().join("hub").exists() && data.path().join("workspace").exists());
}

/// Runs `ferry ARGS` with `stdin` piped in; returns (success, stdout, stderr).
fn ferry(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .env_remove("FERRY_WORKSPACE_PASSWORD")
        .env_remove("FERRY_HUB_PASSWORD")
        .env_remove("FERRY_WORKSPACE_SIGNUP")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A server started as `ferry ARGS`, stopped when dropped.
struct Server {
    child: std::process::Child,
    url: String,
}

impl Server {
    /// Starts it and waits for the line on stderr that gives its URL.
    fn start(args: &[&str]) -> Server {
        let mut server = Server {
            child: Command::new(env!("CARGO_BIN_EXE_ferry"))
                .args(args)
                .env_remove("FERRY_WORKSPACE_SIGNUP")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
            url: String::new(),
        };
        let stderr = server.child.stderr.take().unwrap();
        let (lines, received) = mpsc::channel();
        // Reads stderr to the end: a server writing to a closed pipe would fail.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        while server.url.is_empty() {
            let line = received
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("ferry {args:?} printed no URL in time"));
            if let Some(url) = line.split_whitespace().find(|word| word.starts_with("http://")) {
                server.url = url.to_string();
            }
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `ferry` process; its stdout and stderr lines arrive on `lines`. Killed if dropped.
struct Ferry {
    child: Child,
    lines: mpsc::Receiver<String>,
    output: String,
}

impl Ferry {
    fn start(args: &[&str], data_dir: &Path) -> Ferry {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .env("FERRY_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (sender, lines) = mpsc::channel();
        let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
        let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
        for stream in [stdout, stderr] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ferry {
            child,
            lines,
            output: String::new(),
        }
    }

    /// Waits for a line containing `text`; returns it.
    fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.output.push_str(&line);
                    self.output.push('\n');
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!("ferry printed no line with {text:?}; its output:\n{}", self.output),
            }
        }
    }

    /// Stops it with SIGTERM; everything it printed.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = self.child.wait().unwrap();
        // The output threads end at the end of the streams.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(30)) {
            self.output.push_str(&line);
            self.output.push('\n');
        }
        assert!(
            status.success(),
            "ferry exits 0 on SIGTERM, not {status}:\n{}",
            self.output
        );
        std::mem::take(&mut self.output)
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Logs in through a server's real form: GET `page` (a CSRF cookie named `cookie` and a `csrf`
/// field), then POST `action`. Returns the status of the POST (303: logged in).
fn form_login(base: &str, page: &str, action: &str, cookie: &str, email: &str, password: &str) -> u16 {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "GET {page} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let prefix = format!("{cookie}=");
    let token = text
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, value)| value.trim().strip_prefix(prefix.as_str()))
        .and_then(|value| value.split(';').next())
        .unwrap_or_else(|| panic!("no {cookie} cookie from {page}:\n{text}"))
        .to_string();
    let marker = "name=\"csrf\" value=\"";
    let start = text.find(marker).expect("a CSRF field") + marker.len();
    let csrf = &text[start..start + text[start..].find('"').unwrap()];
    let body = format!(
        "csrf={}&email={}&password={}",
        form_encode(csrf),
        form_encode(email),
        form_encode(password)
    );
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let request = format!(
        "POST {action} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nCookie: {cookie}={token}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer to POST {action}: {answer:?}"))
}

/// Spaces inside and around are part of the password; only the line ending is not.
const STDIN_PASSWORD: &str = " a long secret with spaces ";

#[test]
fn workspace_admin_commands_read_passwords_from_stdin_and_manage_api_keys() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("workspace");
    let dir = dir.to_str().unwrap();
    let email = "admin@example.org";

    // An admin command never creates a workspace: in the wrong folder it says so.
    let (ok, _, stderr) = ferry(
        &["workspace", "user", "add", email, "--password-stdin", "--data-dir", dir],
        &format!("{STDIN_PASSWORD}\n"),
    );
    assert!(!ok && stderr.contains("no workspace database at"), "{stderr}");
    assert!(!Path::new(dir).exists(), "nothing was created");
    drop(Server::start(&[
        "workspace",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir,
    ]));

    // --data-dir after the subcommand; the password from standard input.
    let (ok, _, stderr) = ferry(
        &["workspace", "user", "add", email, "--password-stdin", "--data-dir", dir],
        &format!("{STDIN_PASSWORD}\r\n"),
    );
    assert!(ok, "user add --password-stdin: {stderr}");
    let (ok, _, stderr) = ferry(
        &[
            "workspace",
            "user",
            "add",
            "b@example.org",
            "--password",
            "x",
            "--password-stdin",
            "--data-dir",
            dir,
        ],
        "",
    );
    assert!(
        !ok && stderr.contains("--password-stdin"),
        "the two are exclusive: {stderr}"
    );
    let (ok, _, stderr) = ferry(
        &[
            "workspace",
            "user",
            "add",
            "b@example.org",
            "--password-stdin",
            "--data-dir",
            dir,
        ],
        "",
    );
    assert!(!ok && stderr.contains("no password on standard input"), "{stderr}");

    // API keys: create (prints only the key), list, revoke.
    let (ok, key, stderr) = ferry(
        &[
            "workspace",
            "api-key",
            "--user",
            email,
            "--name",
            "ci",
            "--expires-in",
            "30d",
            "--data-dir",
            dir,
        ],
        "",
    );
    assert!(ok, "api-key: {stderr}");
    assert!(
        key.starts_with("fwk_") && key.trim().lines().count() == 1,
        "only the key: {key}"
    );
    let (ok, _, stderr) = ferry(
        &[
            "workspace",
            "api-key",
            "--user",
            email,
            "--expires-in",
            "3y",
            "--data-dir",
            dir,
        ],
        "",
    );
    assert!(!ok && stderr.contains("unknown unit"), "{stderr}");
    let (ok, table, stderr) = ferry(
        &["workspace", "api-key", "list", "--user", email, "--data-dir", dir],
        "",
    );
    assert!(ok, "api-key list: {stderr}");
    assert!(table.starts_with("ID") && table.contains("LAST USED"), "{table}");
    let row = table
        .lines()
        .find(|line| line.contains(" ci "))
        .expect("the ci key is listed");
    assert!(row.ends_with("active") && !table.contains(key.trim()), "{table}");
    let id = row.split_whitespace().next().unwrap();
    let (ok, _, stderr) = ferry(&["workspace", "api-key", "revoke", id, "--data-dir", dir], "");
    assert!(ok && stderr.contains("Revoked API key"), "api-key revoke: {stderr}");
    let (_, table, _) = ferry(
        &["workspace", "api-key", "list", "--user", email, "--data-dir", dir],
        "",
    );
    assert!(
        table
            .lines()
            .any(|line| line.contains(" ci ") && line.ends_with("revoked")),
        "{table}"
    );
    let (ok, _, stderr) = ferry(
        &["workspace", "api-key", "revoke", "no-such-key", "--data-dir", dir],
        "",
    );
    assert!(!ok && stderr.contains("api-key list"), "{stderr}");

    // A plain `ferry workspace`: sign-up closed; the stdin password logs in, exactly as given.
    let server = Server::start(&["workspace", "--listen", "127.0.0.1:0", "--data-dir", dir]);
    let (status, page) = get(&server.url, "/signup");
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("Sign-up is closed"), "{page}");
    let login = |password: &str| form_login(&server.url, "/login", "/login", "ferry_login_csrf", email, password);
    assert_eq!(login(STDIN_PASSWORD.trim()), 401, "spaces are kept");
    assert_eq!(login(STDIN_PASSWORD), 303, "the password from stdin logs in");
}

#[test]
fn hub_user_add_reads_the_password_from_stdin() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("hub");
    let dir = dir.to_str().unwrap();
    let email = "lab@example.org";
    let (ok, _, stderr) = ferry(&["hub", "token", "--user", email, "--data-dir", dir], "");
    assert!(!ok && stderr.contains("no hub database at"), "{stderr}");
    assert!(!Path::new(dir).exists(), "nothing was created");
    drop(Server::start(&["hub", "--listen", "127.0.0.1:0", "--data-dir", dir]));
    let (ok, _, stderr) = ferry(
        &["hub", "user", "add", email, "--password-stdin", "--data-dir", dir],
        &format!("{STDIN_PASSWORD}\n"),
    );
    assert!(ok, "hub user add --password-stdin: {stderr}");
    let (ok, _, stderr) = ferry(
        &[
            "hub",
            "user",
            "add",
            "b@example.org",
            "--password",
            "x",
            "--password-stdin",
            "--data-dir",
            dir,
        ],
        "",
    );
    assert!(!ok && stderr.contains("--password-stdin"), "{stderr}");
    let (ok, token, stderr) = ferry(&["hub", "token", "--user", email, "--data-dir", dir], "");
    assert!(ok && !token.trim().is_empty(), "hub token: {stderr}");

    let server = Server::start(&["hub", "--listen", "127.0.0.1:0", "--data-dir", dir]);
    let login = |password: &str| {
        form_login(
            &server.url,
            "/oauth/device",
            "/oauth/device/login",
            "ferry_hub_csrf",
            email,
            password,
        )
    };
    assert_eq!(login(STDIN_PASSWORD.trim()), 401, "spaces are kept");
    assert_eq!(login(STDIN_PASSWORD), 303, "the password from stdin logs in");
}

/// The first `http://` URL in `line`.
fn url_in(line: &str) -> String {
    line.split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string()
}

/// Waits until the server at `url` answers `/health` (then it also stops on SIGTERM).
fn assert_healthy(url: &str) {
    let (status, body) = get(url, "/health");
    assert_eq!(status, 200, "{url}/health: {body}");
}

/// Every folder and file under `root` (itself included), with its permission bits.
fn modes(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut found = vec![(
        root.to_path_buf(),
        std::fs::metadata(root).unwrap().permissions().mode() & 0o777,
    )];
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let Ok(meta) = entry.metadata() else {
                continue; // a temporary removed meanwhile
            };
            if meta.is_dir() {
                pending.push(entry.path());
            }
            found.push((entry.path(), meta.permissions().mode() & 0o777));
        }
    }
    found
}

/// Asserts every folder under `root` is 0700 and every file 0600, and that `expected` (paths
/// relative to `root`) are among them (waiting for those a server makes after starting).
fn assert_private(root: &Path, expected: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(missing) = expected.iter().find(|path| !root.join(path).exists()) {
        assert!(
            Instant::now() < deadline,
            "{missing} never appeared in {}: {:?}",
            root.display(),
            modes(root)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let wrong: Vec<String> = modes(root)
        .into_iter()
        .filter(|(path, mode)| *mode != if path.is_dir() { 0o700 } else { 0o600 })
        .map(|(path, mode)| format!("{} is {mode:o}", path.display()))
        .collect();
    assert!(wrong.is_empty(), "not private:\n{}", wrong.join("\n"));
}

/// What an older Ferry left: folders 0755, files 0644.
fn widen(root: &Path) {
    for (path, _) in modes(root) {
        let mode = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    assert_eq!(std::fs::metadata(root).unwrap().permissions().mode() & 0o777, 0o755);
}

/// A blob under `blobs/objects` (the demo data's files), relative to the hub data folder.
fn some_blob(hub_dir: &Path) -> String {
    let objects = hub_dir.join("blobs/objects");
    let mut pending = vec![objects];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                return entry.path().strip_prefix(hub_dir).unwrap().display().to_string();
            }
        }
    }
    panic!("no demo blob in {}", hub_dir.display());
}

const HUB_FILES: &[&str] = &[
    "hub.db",
    "hub.db-wal",
    "hub.db-shm",
    "blobs/objects",
    "blobs/uploads",
    "blobs/partial",
];
const WORKSPACE_FILES: &[&str] = &[
    "workspace.db",
    "workspace.db-wal",
    "workspace.db-shm",
    "workspace.key",
    "worker.id",
    "files/objects",
];
const TIGHTENED: &str = "could be read by other users";

#[test]
fn hub_keeps_its_data_private_and_tightens_an_older_data_folder() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("hub-data");
    let args = ["hub", "--listen", "127.0.0.1:0", "--demo-reads", "20"];

    let mut hub = Ferry::start(&args, &data);
    assert_healthy(&url_in(&hub.wait_for("Ferry hub serving the BaseSpace API at")));
    let blob = some_blob(&data);
    assert_private(&data, &[HUB_FILES, &[blob.as_str()]].concat());
    let output = hub.stop();
    assert!(
        !output.contains(TIGHTENED),
        "nothing to tighten in a new folder:\n{output}"
    );

    widen(&data);
    let mut hub = Ferry::start(&args, &data);
    assert_healthy(&url_in(&hub.wait_for("Ferry hub serving the BaseSpace API at")));
    assert_private(&data, &[HUB_FILES, &[blob.as_str()]].concat());
    let output = hub.stop();
    assert!(output.contains(TIGHTENED), "the hub says what it tightened:\n{output}");
}

#[test]
fn workspace_keeps_its_data_private_and_tightens_an_older_data_folder() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("workspace-data");
    let args = ["workspace", "--listen", "127.0.0.1:0"];

    let mut workspace = Ferry::start(&args, &data);
    assert_healthy(&url_in(&workspace.wait_for("Ferry workspace at http://")));
    assert_private(&data, WORKSPACE_FILES);
    workspace.stop();

    widen(&data);
    let mut workspace = Ferry::start(&args, &data);
    assert_healthy(&url_in(&workspace.wait_for("Ferry workspace at http://")));
    assert_private(&data, WORKSPACE_FILES);
    let output = workspace.stop();
    assert!(
        output.contains(TIGHTENED),
        "the workspace says what it tightened:\n{output}"
    );
}

#[test]
fn up_keeps_its_data_private_and_tightens_an_older_data_folder() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("ferry-data");
    let args = [
        "up",
        "--listen",
        "127.0.0.1:0",
        "--hub-listen",
        "127.0.0.1:0",
        "--demo-reads",
        "20",
    ];
    let expected = || {
        let blob = format!("hub/{}", some_blob(&data.join("hub")));
        let mut all: Vec<String> = HUB_FILES.iter().map(|path| format!("hub/{path}")).collect();
        all.extend(WORKSPACE_FILES.iter().map(|path| format!("workspace/{path}")));
        all.push(blob);
        all
    };

    let mut up = Ferry::start(&args, &data);
    up.wait_for("Press Ctrl-C to stop");
    assert_healthy(&url_after(&up.output, "Hub"));
    assert_healthy(&url_after(&up.output, "Workspace"));
    let files = expected();
    assert_private(&data, &files.iter().map(String::as_str).collect::<Vec<_>>());
    up.stop();

    widen(&data);
    let mut up = Ferry::start(&args, &data);
    up.wait_for("Press Ctrl-C to stop");
    assert_healthy(&url_after(&up.output, "Hub"));
    assert_healthy(&url_after(&up.output, "Workspace"));
    assert_private(&data, &files.iter().map(String::as_str).collect::<Vec<_>>());
    let output = up.stop();
    assert!(output.contains(TIGHTENED), "ferry up says what it tightened:\n{output}");
}

/// A plain HTTP/1.1 request with a bearer token and an optional JSON body; the status and the
/// body as JSON (`Null` when it is not JSON).
fn call(base: &str, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let body = body.unwrap_or("");
    let (status, text) = exchange(
        base,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

#[test]
fn a_hub_killed_in_the_middle_of_an_app_finishes_it_once_after_a_restart() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("hub-data");
    let args = [
        "hub",
        "--listen",
        "127.0.0.1:0",
        "--demo-reads",
        "20",
        "--app-lease-seconds",
        "2",
    ];
    let mut hub = Ferry::start(&args, &data);
    let url = url_in(&hub.wait_for("Ferry hub serving the BaseSpace API at"));
    let (ok, token, err) = ferry(
        &[
            "hub",
            "token",
            "--user",
            "demo@example.org",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        "",
    );
    assert!(ok, "{err}");
    let token = token.trim().to_string();
    let (_, projects) = call(&url, "GET", "/v1pre3/users/current/projects", &token, None);
    let project = projects["Response"]["Items"][0]["Id"].as_str().unwrap().to_string();
    let launch = format!(
        r#"{{"Name":"survives a kill","Properties":[{{"Name":"Input.project-id","Content":"{project}"}},
            {{"Name":"Input.seconds","Content":"3"}}]}}"#
    );
    let (status, launched) = call(
        &url,
        "POST",
        "/v1pre3/applications/9100004/appsessions",
        &token,
        Some(&launch),
    );
    assert_eq!(status, 201, "{launched}");
    let id = launched["Response"]["Id"].as_str().unwrap().to_string();
    let blobs_before = walk_files(&data.join("blobs/objects")).len();

    // Kill it (no chance to clean up) while the app runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, session) = call(&url, "GET", &format!("/v2/appsessions/{id}"), &token, None);
        if session["StatusSummary"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Running:")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the app never started: {session}");
        std::thread::sleep(Duration::from_millis(50));
    }
    hub.child.kill().unwrap();
    hub.child.wait().unwrap();
    drop(hub);

    // Started again, the hub takes the job over once its lease has expired and finishes it.
    let mut hub = Ferry::start(&args, &data);
    let url = url_in(&hub.wait_for("Ferry hub serving the BaseSpace API at"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let session = loop {
        let (_, session) = call(&url, "GET", &format!("/v2/appsessions/{id}"), &token, None);
        if session["ExecutionStatus"] != "Running" {
            break session;
        }
        assert!(Instant::now() < deadline, "the session never ended: {session}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(session["ExecutionStatus"], "Complete", "{session}");
    let (_, outputs) = call(&url, "GET", &format!("/v2/datasets?appsessionids={id}"), &token, None);
    assert_eq!(
        outputs["Paging"]["TotalCount"], 1,
        "exactly one set of outputs: {outputs}"
    );
    let (_, logs) = call(&url, "GET", &format!("/v2/appsessions/{id}/logfiles"), &token, None);
    assert_eq!(logs["Paging"]["TotalCount"], 1, "{logs}");
    // Nothing of the killed attempt stays behind in the store: one report and the log.
    let blobs_after = walk_files(&data.join("blobs/objects")).len();
    assert_eq!(blobs_after, blobs_before + 2, "the report and the log, nothing else");
    let (_, log) = call(&url, "GET", &format!("/v2/appsessions/{id}/properties"), &token, None);
    assert!(log.to_string().contains("Input.seconds"), "{log}");
    hub.stop();
}

/// Every file under `dir` (recursively).
fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                found.push(entry.path());
            }
        }
    }
    found
}
