//! Logging to stderr through `tracing`; stdout stays free for data (`--json` reports).
//!
//! `-v`/`-q` pick the level; `RUST_LOG`, when set, wins over both.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(verbose: u8, quiet: bool) {
    crate::progress::init(quiet);
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("pixi_airgap={level},warn")));
    let detailed = verbose > 0;
    // A second init (tests call into the library repeatedly) is harmless: keep the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::progress::LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(detailed)
        .without_time()
        .with_level(true)
        .try_init();
}
