//! One way to run the binary under test, in the shape of ripgrep's `TestCommand`: build the
//! command, run it, and check "exit code N and message M" in one call. Every run is logged to the
//! test's output (command line, exit code, stderr), so a failing assertion shows what happened.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

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
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pixi-airgap"));
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

    /// Starts the command with stdout and stderr piped (collect both with `wait_with_output`).
    pub fn spawn_piped(&mut self) -> std::process::Child {
        self.cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start pixi-airgap")
    }

    /// Runs the command and asserts its exit code and that stderr contains `message`.
    pub fn assert_exit(&mut self, code: i32, message: &str) -> Output {
        let output = self.output();
        assert_exit(&output, code, message);
        output
    }

    /// Runs the command, asserts exit 0 and returns stdout.
    pub fn stdout(&mut self) -> String {
        let output = self.assert_exit(0, "");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// Exit code `code`, and `message` somewhere in stderr (an empty message checks the code only).
#[track_caller]
pub fn assert_exit(output: &Output, code: i32, message: &str) {
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
}
