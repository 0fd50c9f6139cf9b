//! `ferry up`, the README's main command, run as a process: both servers answer at the
//! addresses it prints, the demo login works on the hub, and SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A plain HTTP/1.1 GET; returns the status code and the body.
fn get(base: &str, path: &str) -> (u16, String) {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
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
