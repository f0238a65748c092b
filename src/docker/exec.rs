//! Running commands in a container: create the exec, drain its output as it arrives, then ask the
//! engine for the exit code.
//!
//! The engine has no call that ends an exec: a command keeps running in the container when we stop
//! waiting for it. In containers we do not own (stage-container), long commands therefore run
//! under a pid file ([`ExecSpec::pid_file`]), and [`ExecSpec::stop`] ends them through a second
//! exec.

use std::io::Write;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;

use super::{Container, DockerError};

/// A command to run inside a container.
#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    /// Run the command under this pid file (`run-with-pid-file.sh`), so that it can be stopped.
    pub pid_file: Option<String>,
}

/// Runs a command with the wrapper's pid in a file (`$1`), removed when the command ends.
pub const RUN_WITH_PID_FILE: &str = include_str!("run-with-pid-file.sh");
/// Stops what runs under a pid file (`$1`) and everything below it.
pub const STOP_PID_FILE: &str = include_str!("stop-pid-file.sh");

impl ExecSpec {
    pub fn new<I, S>(cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            cmd: cmd.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }

    pub fn env(mut self, env: &[String]) -> Self {
        self.env.extend(env.iter().cloned());
        self
    }

    pub fn working_dir(mut self, dir: impl Into<String>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    pub fn user(mut self, user: Option<String>) -> Self {
        self.user = user;
        self
    }

    /// Runs the command under `pid_file`, so that [`ExecSpec::stop`] can end it.
    pub fn pid_file(mut self, pid_file: Option<String>) -> Self {
        self.pid_file = pid_file;
        self
    }

    /// The exec that stops what runs under `pid_file` (and what it started).
    pub fn stop(pid_file: &str) -> Self {
        Self::new(["sh", "-c", STOP_PID_FILE, "pixi-airgap-stop", pid_file])
    }

    /// The command line the engine runs: the command, or the pid-file wrapper around it.
    fn engine_cmd(&self) -> Vec<String> {
        match &self.pid_file {
            None => self.cmd.clone(),
            Some(pid_file) => ["sh", "-c", RUN_WITH_PID_FILE, "pixi-airgap-run", pid_file]
                .into_iter()
                .map(String::from)
                .chain(self.cmd.iter().cloned())
                .collect(),
        }
    }

    /// The command as a user would type it, for logs and error messages.
    pub fn display(&self) -> String {
        self.cmd
            .iter()
            .map(|a| {
                if !a.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c))
                {
                    a.clone()
                } else {
                    format!("'{}'", a.replace('\'', r"'\''"))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The result of a finished exec.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_code: i64,
    /// stdout and stderr interleaved as they arrived.
    pub output: Vec<u8>,
    /// stdout alone (for commands whose output is data, like `pixi info --json`).
    pub stdout: Vec<u8>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// The last `n` lines of the output, for error messages.
    pub fn tail(&self, n: usize) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Runs a command in any container by ID (tests and `stage-container` use containers we do not own).
pub async fn exec_raw(
    docker: &super::Docker,
    id: &str,
    spec: &ExecSpec,
) -> Result<ExecOutput, DockerError> {
    run_exec(docker, id, spec, None).await
}

impl Container {
    /// Runs a command and collects its output, also writing it to `log` as it arrives.
    /// Output is kept in memory too: use it for commands whose output is small (logs of installs
    /// and verifications are).
    pub async fn exec(
        &self,
        spec: &ExecSpec,
        log: Option<&mut (dyn Write + Send)>,
    ) -> Result<ExecOutput, DockerError> {
        run_exec(self.docker(), self.id(), spec, log).await
    }

    /// Whether `path` is a plain file in the container, not a link to one (how a workdir's marker
    /// is told apart from something that only looks like it).
    pub async fn has_plain_file(&self, path: &str) -> Result<bool, DockerError> {
        let spec = ExecSpec::new(["sh", "-c", "test -f \"$1\" && ! test -L \"$1\"", "sh", path]);
        Ok(self.exec(&spec, None).await?.exit_code == 0)
    }
}

async fn run_exec(
    docker: &super::Docker,
    id: &str,
    spec: &ExecSpec,
    mut log: Option<&mut (dyn Write + Send)>,
) -> Result<ExecOutput, DockerError> {
    let exec_err = |source| DockerError::Exec {
        container: id[..id.len().min(12)].to_string(),
        command: spec.display(),
        source,
    };
    let options = CreateExecOptions {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(spec.engine_cmd()),
        env: (!spec.env.is_empty()).then(|| spec.env.clone()),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        ..Default::default()
    };
    let raw = docker.raw();
    let created = raw.create_exec(id, options).await.map_err(exec_err)?;
    let mut output = Vec::new();
    let mut stdout = Vec::new();
    if let StartExecResults::Attached {
        output: mut stream, ..
    } = raw.start_exec(&created.id, None).await.map_err(exec_err)?
    {
        while let Some(item) = stream.next().await {
            let bytes = match item.map_err(exec_err)? {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    stdout.extend_from_slice(&message);
                    message
                }
                LogOutput::StdErr { message } => message,
                LogOutput::StdIn { .. } => continue,
            };
            if let Some(sink) = log.as_mut() {
                // A log that cannot be written must not abort the build; say so once.
                if let Err(err) = sink.write_all(&bytes) {
                    tracing::warn!("failed to write a log file, output is no longer logged: {err}");
                    log = None;
                }
            }
            output.extend_from_slice(&bytes);
        }
    }
    let inspect = raw.inspect_exec(&created.id).await.map_err(exec_err)?;
    let exit_code = inspect.exit_code.unwrap_or(-1);
    tracing::debug!("`{}` exited with {exit_code}", spec.display());
    Ok(ExecOutput {
        exit_code,
        output,
        stdout,
    })
}
