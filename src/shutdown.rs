//! Ctrl-C and SIGTERM, handled once for the whole process.
//!
//! [`install`] listens for the signals from the start of a run. The first one marks the run as
//! stopping: async work waiting in [`until_stopped`] is dropped (so container guards and cleanup
//! code run), and blocking loops (copies, hashing, archive writing) end at their next
//! [`check`]. A second signal exits at once.
//!
//! Handling signals in one place matters: once a process has a handler, the default "die on
//! Ctrl-C" is gone for its whole life, so every phase must listen, not only the ones with
//! containers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use tokio::sync::Notify;

/// The run was stopped by a signal; cleanup has already happened when this is returned.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {0}")]
pub struct Interrupted(pub &'static str);

static STOPPED: AtomicBool = AtomicBool::new(false);
static SIGNAL: OnceLock<&'static str> = OnceLock::new();
static NOTIFY: OnceLock<Notify> = OnceLock::new();

fn notify() -> &'static Notify {
    NOTIFY.get_or_init(Notify::new)
}

/// Starts listening for SIGINT and SIGTERM (Ctrl-C elsewhere). Call once, inside the runtime.
pub fn install() {
    tokio::spawn(async {
        loop {
            let name = next_signal().await;
            if STOPPED.swap(true, Ordering::SeqCst) {
                eprintln!("error: {name} again: exiting now without cleaning up");
                std::process::exit(130);
            }
            let _ = SIGNAL.set(name);
            tracing::warn!(
                "received {name}: stopping and cleaning up (send it again to exit at once)"
            );
            notify().notify_waiters();
        }
    });
}

async fn next_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            // Without handlers the default disposition (terminate) stays in force.
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Whether a stop was asked for.
pub fn is_stopped() -> bool {
    STOPPED.load(Ordering::SeqCst)
}

/// For blocking loops: an [`Interrupted`] error once a stop was asked for.
pub fn check() -> Result<(), Interrupted> {
    if is_stopped() {
        Err(Interrupted(SIGNAL.get().copied().unwrap_or("a signal")))
    } else {
        Ok(())
    }
}

/// Resolves when a stop is asked for, with the signal's name.
pub async fn stopped() -> &'static str {
    loop {
        // Registered before the check, so a signal in between is not missed.
        let notified = notify().notified();
        if is_stopped() {
            return SIGNAL.get().copied().unwrap_or("a signal");
        }
        notified.await;
    }
}

/// Runs `work` until it ends or a stop is asked for; then the work is dropped (so its guards
/// clean up) and [`Interrupted`] is returned.
pub async fn until_stopped<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::select! {
        result = work => result,
        name = stopped() => Err(Interrupted(name).into()),
    }
}
