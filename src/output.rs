//! The one path to stdout: reports (`--json`) and other data a command prints for scripts. Logs and
//! progress go to stderr through `tracing`; nothing else in the crate writes to stdout (clippy's
//! `print_stdout` lint is denied everywhere but here).
//!
//! A closed pipe (`pixi-airgap ... --json | head -1`) is not a failure of the command: it becomes a
//! [`BrokenPipe`] error, which the exit code mapping turns into a quiet exit 0, as ripgrep does.

use std::io::Write;

use anyhow::Context;

/// The reader of our stdout went away; the work itself is done.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed")]
pub struct BrokenPipe;

/// Writes bytes to stdout and flushes.
pub fn write(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let written = out.write_all(bytes).and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Err(BrokenPipe.into()),
        Err(err) => Err(anyhow::Error::new(err).context("failed to write to stdout")),
    }
}

/// Prints a report as pretty JSON with a final newline.
pub fn json<T: serde::Serialize>(report: &T) -> anyhow::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(report).context("failed to encode the report")?;
    bytes.push(b'\n');
    write(&bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_broken_pipe_is_its_own_error() {
        let err: anyhow::Error = super::BrokenPipe.into();
        assert!(err.is::<super::BrokenPipe>());
    }
}
