//! Profile files as Illumina's tools write them, and flag/environment precedence.

use ferry_hub::demo::DEMO_EMAIL;

use crate::support::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn illumina_profiles_and_precedence() {
    let env = Env::new().await;
    let url = env.hub.url.clone();
    let token = env.token.clone();
    let bad = "ffffffffffffffffffffffffffffffff";

    // [DEFAULT] section, trailing slash, extra keys (older Python tools).
    env.write_profile(
        "python",
        &format!("[DEFAULT]\napiServer = {url}/\napiVersion = v1pre3\naccessToken = {token}\n"),
    );
    let me = env.json(&["-c", "python", "whoami", "-f", "json"]).await;
    assert_eq!(me["Email"], DEMO_EMAIL);

    // Environment beats the profile file; flags beat the environment.
    env.write_profile("stale", &format!("apiServer = {url}\naccessToken = {bad}\n"));
    let mut command = env.command(&["-c", "stale", "whoami", "-f", "json"]);
    command.env("BASESPACE_ACCESS_TOKEN", &token);
    let out = env.run_with(command).await;
    assert!(out.success(), "env token should win over the file: {}", out.stderr);
    let mut command = env.command(&["-c", "stale", "--access-token", bad, "whoami"]);
    command.env("BASESPACE_ACCESS_TOKEN", &token);
    let out = env.run_with(command).await;
    assert!(!out.success(), "the flag should win over the environment");
    assert!(
        out.stderr.contains("--access-token/BASESPACE_ACCESS_TOKEN"),
        "{}",
        out.stderr
    );

    // Environment only, no profile file at all (containers).
    std::fs::remove_dir_all(env.basespace_dir()).unwrap();
    let mut command = env.command(&["whoami", "-f", "json"]);
    command
        .env("BASESPACE_ACCESS_TOKEN", &token)
        .env("BASESPACE_API_SERVER", &url);
    assert!(env.run_with(command).await.success());

    // No token anywhere: say how to log in.
    let stderr = env.fails(&["whoami"]).await;
    assert!(stderr.contains("bs auth"), "{stderr}");
    let stderr = env.fails(&["-c", "nope", "whoami"]).await;
    assert!(
        stderr.contains("'nope'") && stderr.contains("bs -c nope auth"),
        "{stderr}"
    );

    // load config and list configs.
    env.write_profile("default", &format!("apiServer   = {url}\naccessToken = {token}\n"));
    let exports = env.ok(&["load", "config"]).await;
    assert_eq!(
        exports,
        format!("export BASESPACE_API_SERVER={url}\nexport BASESPACE_ACCESS_TOKEN={token}\n")
    );
    let configs = env.json(&["list", "configs", "-f", "json"]).await;
    assert_eq!(configs[0]["Name"], "default");
    assert_eq!(configs[0]["ApiServer"], url.as_str());

    // Completion scripts and version.
    let bash = env.ok(&["completion", "bash"]).await;
    assert!(bash.contains("_bs"), "{bash}");
    let version = env.ok(&["--version"]).await;
    assert!(version.starts_with("bs "), "{version}");
}

#[tokio::test]
async fn a_reader_that_stops_reading_ends_bs_quietly() {
    // `bs completion bash | head -3`: the reader is gone before bs has written everything.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bs"))
        .args(["completion", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "no panic, no backtrace: {stderr}");
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
    assert_eq!(
        output.status.code(),
        Some(141),
        "the status of a command ended by SIGPIPE"
    );
}
