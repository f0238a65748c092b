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
    /// Text to look for in the output as it streams ([`ExecOutput::expect_found`]): found however
    /// long the output is, though only its tail is kept.
    pub expect: Option<String>,
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

    /// Looks for `text` in the output as it streams (see [`ExecOutput::expect_found`]).
    pub fn expect(mut self, text: Option<String>) -> Self {
        self.expect = text;
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

/// Environment variable bounding what one command may write to its log (bytes; see
/// [`LogLimit`]).
pub const MAX_LOG_BYTES_VAR: &str = crate::settings::MAX_LOG_BYTES.name;

/// The last bytes of a command's output kept in memory (for error messages and the log's end).
pub const OUTPUT_TAIL_BYTES: usize = 256 * 1024;

/// The stdout kept in memory for commands whose output is data (`pixi info --json`, a version):
/// data that large is not what those commands print.
pub const STDOUT_LIMIT_BYTES: usize = 4 * 1024 * 1024;

/// How much of a command's output goes to its log: the first `max_bytes`, then one line saying
/// how much was cut, then the last part (at most 64 KiB). Memory stays flat however much a
/// command prints: the output is streamed, never gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimit {
    pub max_bytes: u64,
}

impl Default for LogLimit {
    fn default() -> Self {
        Self {
            max_bytes: 16 << 20,
        }
    }
}

impl LogLimit {
    /// The default, or `PIXI_AIRGAP_MAX_LOG_BYTES` when set (a whole number of bytes).
    pub fn from_env() -> Result<Self, String> {
        Ok(
            match crate::settings::MAX_LOG_BYTES.whole_number("a whole number of bytes")? {
                Some(max_bytes) => Self { max_bytes },
                None => Self::default(),
            },
        )
    }
}

/// The result of a finished exec.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_code: i64,
    /// The end of stdout and stderr interleaved as they arrived (at most
    /// [`OUTPUT_TAIL_BYTES`]; `output_bytes` says how much there was).
    pub output: Vec<u8>,
    /// Every byte the command wrote, stdout and stderr.
    pub output_bytes: u64,
    /// stdout alone (for commands whose output is data, like `pixi info --json`), its first
    /// [`STDOUT_LIMIT_BYTES`].
    pub stdout: Vec<u8>,
    /// Whether [`ExecSpec::expect`] was seen in the whole output (`None` when nothing was asked).
    pub expect_found: Option<bool>,
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
    run_exec(docker, id, spec, None, LogLimit::default()).await
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
        run_exec(self.docker(), self.id(), spec, log, LogLimit::default()).await
    }

    /// [`Container::exec`] with the log bounded by `limit` (commands whose output the user
    /// controls: installs, verifications).
    pub async fn exec_capped(
        &self,
        spec: &ExecSpec,
        log: &mut (dyn Write + Send),
        limit: LogLimit,
    ) -> Result<ExecOutput, DockerError> {
        run_exec(self.docker(), self.id(), spec, Some(log), limit).await
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
    limit: LogLimit,
) -> Result<ExecOutput, DockerError> {
    let exec_err = |source| DockerError::Exec {
        container: crate::docker::short_id(id).to_string(),
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
    let mut sink = OutputSink::new(spec.expect.as_deref(), limit);
    if let StartExecResults::Attached {
        output: mut stream, ..
    } = raw.start_exec(&created.id, None).await.map_err(exec_err)?
    {
        while let Some(item) = stream.next().await {
            let (bytes, is_stdout) = match item.map_err(exec_err)? {
                LogOutput::StdOut { message } | LogOutput::Console { message } => (message, true),
                LogOutput::StdErr { message } => (message, false),
                LogOutput::StdIn { .. } => continue,
            };
            sink.take(&bytes, is_stdout, &mut log);
        }
    }
    sink.finish_log(&mut log);
    let inspect = raw.inspect_exec(&created.id).await.map_err(exec_err)?;
    let exit_code = inspect.exit_code.unwrap_or(-1);
    tracing::debug!("`{}` exited with {exit_code}", spec.display());
    Ok(sink.into_output(exit_code))
}

/// Where a command's output goes as it arrives: the log (up to its limit), a bounded tail and a
/// bounded stdout in memory, and the search for the expected text.
struct OutputSink {
    tail: Vec<u8>,
    stdout: Vec<u8>,
    total: u64,
    logged: u64,
    limit: LogLimit,
    expect: Option<Vec<u8>>,
    /// The last `expect.len() - 1` bytes, so a match across two chunks is found.
    carry: Vec<u8>,
    found: bool,
}

impl OutputSink {
    fn new(expect: Option<&str>, limit: LogLimit) -> Self {
        Self {
            tail: Vec::new(),
            stdout: Vec::new(),
            total: 0,
            logged: 0,
            limit,
            expect: expect.map(|t| t.as_bytes().to_vec()),
            carry: Vec::new(),
            found: false,
        }
    }

    fn take(&mut self, bytes: &[u8], is_stdout: bool, log: &mut Option<&mut (dyn Write + Send)>) {
        self.total += bytes.len() as u64;
        if is_stdout && self.stdout.len() < STDOUT_LIMIT_BYTES {
            let room = STDOUT_LIMIT_BYTES - self.stdout.len();
            self.stdout
                .extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        if let Some(needle) = self.expect.as_deref() {
            if !self.found && !needle.is_empty() {
                self.carry.extend_from_slice(bytes);
                self.found = self.carry.windows(needle.len()).any(|w| w == needle);
                let keep = needle.len() - 1;
                if self.carry.len() > keep {
                    self.carry.drain(..self.carry.len() - keep);
                }
            }
        }
        // The tail: compacted when it reaches twice its size, so each byte is moved at most once.
        self.tail.extend_from_slice(bytes);
        if self.tail.len() > 2 * OUTPUT_TAIL_BYTES {
            self.tail.drain(..self.tail.len() - OUTPUT_TAIL_BYTES);
        }
        if let Some(sink) = log.as_mut() {
            let room = self.limit.max_bytes.saturating_sub(self.logged);
            let part = &bytes[..bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX))];
            if !part.is_empty() {
                // A log that cannot be written must not abort the build; say so once.
                if let Err(err) = sink.write_all(part) {
                    tracing::warn!("failed to write a log file, output is no longer logged: {err}");
                    *log = None;
                    return;
                }
                self.logged += part.len() as u64;
            }
        }
    }

    /// Says in the log what was cut, then writes the output's last part.
    fn finish_log(&mut self, log: &mut Option<&mut (dyn Write + Send)>) {
        let Some(sink) = log.as_mut() else { return };
        if self.total <= self.logged {
            return;
        }
        let after_head = self.total - self.logged;
        let shown = (64 * 1024_u64).min(after_head).min(self.tail.len() as u64);
        let cut = after_head - shown;
        let note = format!(
            "\n[pixi-airgap: the output ({} bytes) passed the log limit of {} bytes \
             ({MAX_LOG_BYTES_VAR}); {cut} bytes were left out here, the last {shown} follow]\n",
            self.total, self.limit.max_bytes
        );
        let start = self.tail.len() - shown as usize;
        let written = sink
            .write_all(note.as_bytes())
            .and_then(|()| sink.write_all(&self.tail[start..]));
        if let Err(err) = written {
            tracing::warn!("failed to write a log file: {err}");
        }
        tracing::warn!(
            "a command printed {} bytes; its log keeps the first {} and the last {shown} \
             (raise {MAX_LOG_BYTES_VAR} to keep more)",
            self.total,
            self.logged
        );
    }

    fn into_output(mut self, exit_code: i64) -> ExecOutput {
        if self.tail.len() > OUTPUT_TAIL_BYTES {
            self.tail.drain(..self.tail.len() - OUTPUT_TAIL_BYTES);
        }
        ExecOutput {
            exit_code,
            output: self.tail,
            output_bytes: self.total,
            stdout: self.stdout,
            expect_found: self.expect.as_ref().map(|n| n.is_empty() || self.found),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(chunks: &[&[u8]], expect: Option<&str>, max: u64) -> (ExecOutput, Vec<u8>) {
        let mut log: Vec<u8> = Vec::new();
        let mut sink = OutputSink::new(expect, LogLimit { max_bytes: max });
        {
            let mut w: Option<&mut (dyn Write + Send)> = Some(&mut log);
            for c in chunks {
                sink.take(c, true, &mut w);
            }
            sink.finish_log(&mut w);
        }
        (sink.into_output(0), log)
    }

    #[test]
    fn the_log_is_cut_at_its_limit_and_says_so() {
        let (out, log) = feed(&[b"0123456789", b"abcdefghij"], None, 12);
        let text = String::from_utf8_lossy(&log);
        assert!(
            text.starts_with("0123456789ab\n[pixi-airgap: the output (20 bytes)"),
            "{text}"
        );
        assert!(text.contains("PIXI_AIRGAP_MAX_LOG_BYTES"), "{text}");
        assert!(text.ends_with("the last 8 follow]\ncdefghij"), "{text}");
        assert_eq!(out.output_bytes, 20);
        assert_eq!(out.output, b"0123456789abcdefghij");
        // Under the limit, the log is the output, byte for byte.
        let (_, log) = feed(&[b"0123456789"], None, 12);
        assert_eq!(log, b"0123456789");
    }

    #[test]
    fn memory_holds_only_a_tail_and_the_expected_text_is_found_across_chunks() {
        let chunk = vec![b'y'; 64 * 1024];
        let mut chunks: Vec<&[u8]> = vec![b"start EXPE", b"CTED "];
        for _ in 0..64 {
            chunks.push(&chunk);
        }
        chunks.push(b"end");
        let (out, log) = feed(&chunks, Some("EXPECTED"), 1024);
        assert_eq!(out.expect_found, Some(true));
        assert!(out.output.len() <= OUTPUT_TAIL_BYTES);
        assert!(out.output.ends_with(b"yyyend"));
        assert!(out.stdout.len() <= STDOUT_LIMIT_BYTES);
        assert!(log.len() < 1024 + 65 * 1024 + 200, "{}", log.len());
        let (out, _) = feed(&[b"nothing here"], Some("EXPECTED"), 1024);
        assert_eq!(out.expect_found, Some(false));
        let (out, _) = feed(&[b"x"], None, 1024);
        assert_eq!(out.expect_found, None);
    }
}
