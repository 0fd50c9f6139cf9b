//! Test harness: a hub, a temporary HOME, and helpers to run `bs` as a process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use ferry_hub::demo::DEMO_EMAIL;
use ferry_hub::testing::TestHub;
use serde_json::Value;

pub struct Env {
    pub hub: TestHub,
    pub home: tempfile::TempDir,
    pub token: String,
}

pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl Env {
    /// A hub with the default demo data and a `default` profile for the demo user.
    pub async fn new() -> Env {
        Self::from_hub(TestHub::start().await).await
    }

    pub async fn from_hub(hub: TestHub) -> Env {
        let token = hub.token(DEMO_EMAIL, None).await;
        let env = Env {
            hub,
            home: tempfile::tempdir().expect("temp home"),
            token,
        };
        env.write_profile(
            "default",
            &format!("apiServer   = {}\naccessToken = {}\n", env.hub.url, env.token),
        );
        env
    }

    pub fn basespace_dir(&self) -> PathBuf {
        self.home.path().join(".basespace")
    }

    pub fn write_profile(&self, name: &str, text: &str) {
        std::fs::create_dir_all(self.basespace_dir()).unwrap();
        std::fs::write(self.basespace_dir().join(format!("{name}.cfg")), text).unwrap();
    }

    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bs"));
        command
            .args(args)
            .env("HOME", self.home.path())
            .env_remove("BASESPACE_API_SERVER")
            .env_remove("BASESPACE_ACCESS_TOKEN")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    pub async fn run_with(&self, mut command: tokio::process::Command) -> Out {
        let output = tokio::time::timeout(Duration::from_secs(120), command.output())
            .await
            .expect("bs did not finish within 120 s")
            .expect("cannot run bs");
        Out {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).to_string(),
        }
    }

    pub async fn run(&self, args: &[&str]) -> Out {
        self.run_with(self.command(args)).await
    }

    /// Runs and asserts success; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.success(),
            "bs {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.code,
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    /// Runs and asserts failure; returns stderr.
    pub async fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            !out.success(),
            "bs {args:?} should have failed:\nstdout: {}\nstderr: {}",
            out.stdout,
            out.stderr
        );
        out.stderr
    }

    pub async fn json(&self, args: &[&str]) -> Value {
        let stdout = self.ok(args).await;
        serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("bs {args:?} printed no JSON ({err}): {stdout}"))
    }
}

/// All regular files under `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    out.push(path.strip_prefix(root).unwrap().to_string_lossy().to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(data))
}

/// Polls `condition` every 5 ms until it holds or `timeout` passes.
pub async fn wait_for(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    condition()
}

pub fn ids(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|item| item["Id"].as_str().expect("an Id").to_string())
        .collect()
}
