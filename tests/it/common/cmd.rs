//! One way to run the binary under test, in the shape of ripgrep's `TestCommand`: build the
//! command, run it, and check "exit code N and message M" in one call. Every run is logged to the
//! test's output (command line, exit code, stderr), so a failing assertion shows what happened.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// The binary cargo built for this test run, for the few tests that must name it themselves (copied
/// next to a helper script, run under `unshare` or a pseudo-terminal, piped by a shell).
pub const BIN: &str = env!("CARGO_BIN_EXE_pixi-airgap");

/// The `pixi-airgap` binary with arguments and environment being built.
pub struct TestCommand {
    cmd: Command,
}

impl Default for TestCommand {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCommand {
    /// The binary cargo built for this test run, run from the crate's folder, without the
    /// caller's `RUST_LOG`.
    pub fn new() -> Self {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("RUST_LOG");
        Self { cmd }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// `--flag path`, the shape of most of our arguments.
    pub fn path_arg(&mut self, flag: &str, path: &Path) -> &mut Self {
        self.cmd.arg(flag).arg(path);
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    pub fn envs<'a>(
        &mut self,
        vars: impl IntoIterator<Item = &'a (&'a str, &'a str)>,
    ) -> &mut Self {
        self.cmd.envs(vars.into_iter().copied());
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env_remove(key);
        self
    }

    pub fn current_dir(&mut self, dir: &Path) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    /// A Docker daemon that cannot answer: for the checks that must come before any engine work.
    pub fn without_docker(&mut self) -> &mut Self {
        self.env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    }

    /// Runs the command and logs it; no assertion.
    pub fn output(&mut self) -> Output {
        let output = self.cmd.output().expect("run pixi-airgap");
        eprintln!(
            "pixi-airgap {}\n--- exit: {:?}\n--- stderr:\n{}",
            self.cmd
                .get_args()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Starts the command with stderr piped, for tests that act while it runs.
    pub fn spawn(&mut self) -> std::process::Child {
        self.cmd
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start pixi-airgap")
    }

    /// Starts the command with these stdout and stderr.
    pub fn spawn_with(
        &mut self,
        stdout: std::process::Stdio,
        stderr: std::process::Stdio,
    ) -> std::process::Child {
        self.cmd
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start pixi-airgap")
    }

    /// Starts the command with stdout and stderr piped (collect both with `wait_with_output`).
    pub fn spawn_piped(&mut self) -> std::process::Child {
        self.cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start pixi-airgap")
    }

    /// Runs the command and asserts its exit code and that stderr contains `message` (see
    /// [`assert_exit`]).
    #[track_caller]
    pub fn assert_exit(&mut self, code: i32, message: &str) -> Output {
        let output = self.output();
        assert_exit(&output, code, message);
        output
    }

    /// Runs the command and asserts that it succeeded (see [`assert_success`]).
    #[track_caller]
    pub fn assert_success(&mut self) -> Output {
        let output = self.output();
        assert_success(&output);
        output
    }

    /// Runs the command, asserts that it succeeded and returns stdout.
    #[track_caller]
    pub fn stdout(&mut self) -> String {
        let output = self.assert_success();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs the command and returns its whole outcome as one text for a snapshot: the exit code,
    /// stdout and stderr, with `filters` (text, replacement) applied to both, then the crate's
    /// folder (`[CRATE]`), every temp folder (`[TMP]`) and what differs between runs (see
    /// [`outcome`]).
    pub fn outcome(&mut self, filters: &[(&str, &str)]) -> String {
        outcome(&self.output(), filters)
    }
}

/// The whole outcome of a run as one text (see [`TestCommand::outcome`]).
pub fn outcome(output: &Output, filters: &[(&str, &str)]) -> String {
    let filter = |bytes: &[u8]| {
        let mut text = String::from_utf8_lossy(bytes).into_owned();
        for (from, to) in filters {
            text = text.replace(from, to);
        }
        text = text.replace(env!("CARGO_MANIFEST_DIR"), "[CRATE]");
        let tmp = std::env::temp_dir().display().to_string();
        let text = tmp_paths(&text, tmp.trim_end_matches('/'));
        // Random folder names, and sizes that change with every edit of a product's scripts.
        let text = mask_after(
            &text,
            ".partial-",
            |c| c.is_ascii_alphanumeric(),
            "[RANDOM]",
        );
        mask_after(&text, "\"size_bytes\": ", |c| c.is_ascii_digit(), "[SIZE]")
    };
    format!(
        "exit: {:?}\n--- stdout:\n{}--- stderr:\n{}",
        output.status.code(),
        filter(&output.stdout),
        filter(&output.stderr)
    )
}

/// `text` with the run of characters of `class` after each `marker` replaced by `mask`.
fn mask_after(text: &str, marker: &str, class: impl Fn(char) -> bool, mask: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        out.push_str(&rest[..at + marker.len()]);
        let after = &rest[at + marker.len()..];
        let len = after.find(|c: char| !class(c)).unwrap_or(after.len());
        out.push_str(if len > 0 { mask } else { "" });
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// `text` with each `TMP/.tmpXXXXXX` (a `tempfile` folder) replaced by `[TMP]`.
fn tmp_paths(text: &str, tmp: &str) -> String {
    let prefix = format!("{tmp}/.tmp");
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(&prefix) {
        out.push_str(&rest[..at]);
        let after = &rest[at + prefix.len()..];
        let name_len = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        out.push_str("[TMP]");
        rest = &after[name_len..];
    }
    out.push_str(rest);
    out
}

/// Exit code `code`, `message` somewhere in stderr, and no panic. The message is required: a
/// failure is asserted by what it says; a success by [`assert_success`].
#[track_caller]
pub fn assert_exit(output: &Output, code: i32, message: &str) {
    assert!(
        !message.is_empty(),
        "assert_exit needs the message to look for (a success: assert_success)"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "expected exit {code}, got {:?}\n--- stderr:\n{stderr}\n--- stdout:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        stderr.contains(message),
        "exit {code} as expected, but stderr lacks {message:?}:\n{stderr}"
    );
    assert!(!stderr.contains("panicked at"), "a panic:\n{stderr}");
}

/// A success as a whole: exit 0, no error message or error-level log line, and no panic.
#[track_caller]
pub fn assert_success(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "expected success, got exit {:?}\n--- stderr:\n{stderr}\n--- stdout:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout)
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            line.starts_with("error:") || line.starts_with("ERROR ") || line.contains("panicked at")
        })
        .collect();
    assert!(
        errors.is_empty(),
        "exit 0, but it reported errors:\n{}\n--- stderr:\n{stderr}",
        errors.join("\n")
    );
}
