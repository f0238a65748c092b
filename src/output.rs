//! The one path to stdout. stdout carries data only (the `--json` reports, shell completions);
//! everything else goes to stderr, through `tracing` or [`Printer::summary`]. A reader that
//! closes stdout early (`pixi-airgap ... --json | head`) ends the run quietly with exit 0, as
//! ripgrep does: writes then fail with [`StdoutClosed`], which the exit mapping recognises.
//!
//! The rest of the crate may not print to stdout (`clippy::print_stdout` is denied crate-wide).

use std::io::{self, Write};

use anyhow::Context;

/// stdout was closed by its reader; not a failure of ours.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed")]
pub struct StdoutClosed;

/// Where reports and summaries go.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    json: bool,
}

impl Printer {
    /// `json`: print reports on stdout (`--json`).
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Prints `report` as pretty JSON on stdout when `--json` was given.
    pub fn report<T: serde::Serialize>(&self, report: &T) -> anyhow::Result<()> {
        if !self.json {
            return Ok(());
        }
        let mut text =
            serde_json::to_string_pretty(report).context("failed to encode the report")?;
        text.push('\n');
        self.data(text.as_bytes())
    }

    /// Writes raw data on stdout.
    pub fn data(&self, bytes: &[u8]) -> anyhow::Result<()> {
        let mut out = io::stdout().lock();
        let written = out.write_all(bytes).and_then(|()| out.flush());
        match written {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
            Err(err) => Err(anyhow::Error::new(err).context("failed to write to stdout")),
        }
    }

    /// Lines for the user on stderr, whatever `--json` says (a summary is never data).
    pub fn summary(&self, lines: &[String]) {
        let mut err = io::stderr().lock();
        for line in lines {
            // stderr gone too: nothing left to tell anyone.
            let _ = writeln!(err, "{line}");
        }
    }
}
