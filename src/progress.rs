//! Progress bars on stderr for long copies and installs, only when stderr is a terminal (and not
//! with `-q`); in CI logs and pipes there are only the plain log lines.
//!
//! Log lines and bars share stderr: the log writer suspends the bars while it writes, so a line
//! never lands in the middle of a bar.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

static MULTI: OnceLock<MultiProgress> = OnceLock::new();
static ENABLED: OnceLock<bool> = OnceLock::new();

/// Decides once whether bars are drawn: stderr is a terminal and the user did not ask for quiet.
pub fn init(quiet: bool) {
    let _ = ENABLED.set(!quiet && std::io::stderr().is_terminal());
}

fn multi() -> &'static MultiProgress {
    MULTI.get_or_init(|| {
        if *ENABLED.get().unwrap_or(&false) {
            MultiProgress::with_draw_target(ProgressDrawTarget::stderr())
        } else {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        }
    })
}

fn enabled() -> bool {
    *ENABLED.get().unwrap_or(&false)
}

/// A bar counting bytes (with a total when known).
pub fn bytes(message: impl Into<String>, total: Option<u64>) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        ),
        None => ProgressBar::no_length().with_style(
            ProgressStyle::with_template("{spinner} {msg} {bytes} ({bytes_per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    let bar = multi().add(bar.with_message(crate::term::escape(&message.into()).into_owned()));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A spinner with elapsed time, for steps whose size is unknown (installs, verifications).
pub fn spinner(message: impl Into<String>) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let bar = multi().add(bar.with_message(crate::term::escape(&message.into()).into_owned()));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The stderr writer for logs: suspends the bars while a line is written.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Container output and file names in a line never reach the terminal raw.
        let line = crate::term::escape_log_line(buf, std::io::stderr().is_terminal());
        if enabled() {
            multi().suspend(|| std::io::stderr().write_all(&line))?;
        } else {
            std::io::stderr().write_all(&line)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Counts the bytes of a stream on `bar` as they pass.
pub fn track<S, E>(
    stream: S,
    bar: ProgressBar,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, E>>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>>,
{
    use futures_util::StreamExt;
    stream.inspect(move |item| {
        if let Ok(chunk) = item {
            bar.inc(chunk.len() as u64);
        }
    })
}
