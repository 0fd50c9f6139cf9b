//! Device login through the hub's web page.

use std::time::Duration;

use ferry_hub::demo::{DEMO_EMAIL, DEMO_PASSWORD};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::Env;

async fn start_auth(env: &Env, args: &[&str]) -> (tokio::process::Child, String, tokio::task::JoinHandle<String>) {
    let mut child = env.command(args).spawn().expect("spawn bs auth");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("bs auth printed no URL within 30 s")
        .expect("read stdout")
        .expect("a line");
    let url = line
        .strip_prefix("Please go to this URL to authenticate: ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    let code = url.split("code=").nth(1).expect("a code in the URL").to_string();
    // Keep reading the rest of stdout in the background so the pipe never fills.
    let rest = tokio::spawn(async move {
        let mut text = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    (child, code, rest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_writes_profile_and_refuses_to_overwrite() {
    let env = Env::new().await;
    let url = env.hub.url.clone();
    let (child, code, rest) = start_auth(&env, &["-c", "lab", "auth", "--api-server", &url]).await;
    assert!(url.starts_with("http://127.0.0.1:"));
    env.hub
        .approve_device_code(&code, DEMO_EMAIL, DEMO_PASSWORD, None)
        .await;
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("bs auth did not finish")
        .expect("wait");
    assert!(
        output.status.success(),
        "bs auth failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = env.basespace_dir().join("lab.cfg");
    let printed = rest.await.unwrap();
    assert_eq!(printed, format!("Created config file {}\n", path.display()));
    let text = std::fs::read_to_string(&path).expect("profile written");
    assert!(text.contains(&format!("apiServer   = {url}")), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("accessToken = ") && l.len() > 20),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(env.basespace_dir()).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    // The new token works.
    let me = env.json(&["-c", "lab", "whoami", "-f", "json"]).await;
    assert_eq!(me["Email"], DEMO_EMAIL);
    // A second login into the same profile is refused without --force, and the file is kept.
    let stderr = env.fails(&["-c", "lab", "auth", "--api-server", &url]).await;
    assert!(stderr.contains("--force") && stderr.contains("lab"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_login_fails_and_writes_nothing() {
    let env = Env::new().await;
    let url = env.hub.url.clone();
    let (child, code, _rest) = start_auth(&env, &["-c", "denied", "auth", "--api-server", &url]).await;
    env.hub.deny_device_code(&code, DEMO_EMAIL, DEMO_PASSWORD).await;
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("bs auth did not finish")
        .expect("wait");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(!env.basespace_dir().join("denied.cfg").exists());
}
