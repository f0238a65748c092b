//! A container's life limit, enforced from outside the container.
//!
//! The main process of our containers (`src/docker/main-process.sh`) ends itself
//! after the limit, but it runs the image's own `sh` and `sleep`: a hostile or broken image can
//! ignore it. So every container a run creates also gets a watchdog: a small pixi-airgap process
//! of its own (`pixi-airgap watch-container`, hidden), started in a new session so that it
//! outlives the run even after a SIGKILL. It asks the engine about the container every
//! [`TICK`]; at the limit it kills the container through the engine (which then removes it,
//! unless it was kept with `--keep-container`), and it ends as soon as the container is gone.
//! Nothing in the image is involved.
//!
//! The watchdog is also the run's heartbeat, which `pixi-airgap clean` reads through the engine.
//! A creator's pid and start time only say something in the creator's own PID namespace on its
//! own host: CI jobs that share one engine from separate namespaces (and the same host name) see
//! each other's live runs as "creator gone". So while the run that started it lives (its parent,
//! checked in its own namespace), the watchdog renames the container every [`TICK`] to
//! `pixi-airgap-hb-<unix seconds>-<short id>` (a name is the one thing of a container the engine
//! lets us change, and every client of the engine sees it); when the run ends it renames it to
//! `pixi-airgap-run-ended-<short id>` at once. `clean` never removes a container whose heartbeat
//! it sees renewed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::docker::Docker;
use crate::exit::Status;

/// How often the watchdog looks at its container.
pub const TICK: Duration = Duration::from_secs(2);

/// What the watchdog is told (the hidden subcommand's arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    /// The container to watch
    #[arg(long)]
    pub container: String,
    /// When it must be gone, in seconds since the Unix epoch
    #[arg(long)]
    pub expires: u64,
    /// The run that created it (its pid in this process's namespace)
    #[arg(long)]
    pub parent: u32,
    /// The container is kept after it ends (`--keep-container`): stop it, do not remove it
    #[arg(long)]
    pub keep: bool,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Starts the watchdog for a container this process just created. Only the pixi-airgap binary
/// starts one (a test binary calling the library does not run itself as a watchdog); a watchdog
/// that cannot start is a warning (the in-image limit and `clean` remain).
///
/// The run stops it ([`Watchdog::stop`]) before it removes the container itself: a rename racing
/// with the engine's removal can leave the removal failing.
pub fn spawn(container_id: &str, life: Duration, keep: bool) -> Option<Watchdog> {
    let Ok(exe) = std::env::current_exe() else {
        tracing::warn!("cannot locate this binary: no watchdog for the container's life limit");
        return None;
    };
    let is_us = exe
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(env!("CARGO_PKG_NAME")));
    if !is_us {
        return None;
    }
    let expires = unix_now().saturating_add(life.as_secs());
    let mut command = std::process::Command::new(exe);
    command
        .args(["watch-container", "--container", container_id])
        .args(["--expires", &expires.to_string()])
        .args(["--parent", &std::process::id().to_string()])
        .args(keep.then_some("--keep"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .env_remove("RUST_LOG");
    // Its own session: a Ctrl-C or a SIGKILL of the run's process group does not reach it.
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            libc::setsid();
            Ok(())
        });
    }
    match command.spawn() {
        // It outlives us by design when we are killed; once we are gone, init reaps it.
        Ok(child) => {
            tracing::debug!(
                "watchdog {} enforces the life limit of container {}",
                child.id(),
                crate::docker::short_id(container_id)
            );
            Some(Watchdog { child: Some(child) })
        }
        Err(err) => {
            tracing::warn!(
                "could not start the watchdog for the container's life limit: {err}; the container's own timer and `pixi-airgap clean` remain"
            );
            None
        }
    }
}

/// A running watchdog, stopped before its container is removed (and on drop).
#[derive(Debug)]
pub struct Watchdog {
    child: Option<std::process::Child>,
}

impl Watchdog {
    /// Asks the watchdog to end (SIGTERM: it finishes the engine call it is in, then ends) and
    /// waits for it, at most a few seconds.
    pub async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: a signal to our own child, which we have not reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        for _ in 0..100 {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How the run's parent is looked at between two heartbeats.
const PARENT_CHECK: Duration = Duration::from_millis(200);

/// The container name that says "the run that uses me was alive at `unix`".
pub fn heartbeat_name(unix: u64, container_id: &str) -> String {
    format!(
        "pixi-airgap-hb-{unix}-{}",
        crate::docker::short_id(container_id)
    )
}

/// The heartbeat a container name carries (see [`heartbeat_name`]).
pub fn heartbeat_of(name: &str) -> Option<u64> {
    let rest = name
        .trim_start_matches('/')
        .strip_prefix("pixi-airgap-hb-")?;
    rest.split('-').next()?.parse().ok()
}

/// Whether the run that started this watchdog still runs: it is our parent until it ends (then
/// we are handed to init or a subreaper), a question asked in our own PID namespace.
fn parent_alive(parent: u32) -> bool {
    // SAFETY: getppid has no preconditions.
    let now = unsafe { libc::getppid() };
    u32::try_from(now).is_ok_and(|p| p == parent)
}

async fn rename(docker: &Docker, id: &str, name: &str) {
    let options = bollard::query_parameters::RenameContainerOptionsBuilder::default()
        .name(name)
        .build();
    let _ = docker.raw().rename_container(id, options).await;
}

/// The watchdog's loop: ends when the container is gone, or kills it at its limit; renews the
/// heartbeat while the run lives.
pub async fn run(args: &WatchArgs) -> anyhow::Result<Status> {
    let docker = Docker::connect()
        .await
        .context("the watchdog cannot reach the engine")?;
    let mut beating = parent_alive(args.parent);
    loop {
        // The run asked us to end (it is about to remove the container itself).
        if crate::shutdown::is_stopped() {
            return Ok(Status::Success);
        }
        let now = unix_now();
        if beating {
            rename(
                &docker,
                &args.container,
                &heartbeat_name(now, &args.container),
            )
            .await;
        }
        match docker.raw().inspect_container(&args.container, None).await {
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(Status::Success),
            // The engine may be restarting: try again until well past the limit.
            Err(_) if now < args.expires.saturating_add(3600) => {}
            Err(err) => return Err(err).context("the watchdog lost the engine"),
            Ok(info) => {
                let running = info.state.as_ref().and_then(|s| s.running) == Some(true);
                if !running {
                    // Ended (and kept, or being removed): nothing left to enforce.
                    return Ok(Status::Success);
                }
                if now >= args.expires {
                    end(&docker, args).await;
                    return Ok(Status::Success);
                }
            }
        }
        let left = Duration::from_secs(args.expires.saturating_sub(now).max(1));
        let until = tokio::time::Instant::now() + left.min(TICK);
        while tokio::time::Instant::now() < until && !crate::shutdown::is_stopped() {
            if beating && !parent_alive(args.parent) {
                // The run is gone: say so now rather than let the heartbeat age.
                beating = false;
                let short = crate::docker::short_id(&args.container);
                rename(
                    &docker,
                    &args.container,
                    &format!("pixi-airgap-run-ended-{short}"),
                )
                .await;
            }
            tokio::time::sleep(PARENT_CHECK).await;
        }
    }
}

/// Kills the container from outside (the engine removes it unless kept).
async fn end(docker: &Docker, args: &WatchArgs) {
    let options = bollard::query_parameters::KillContainerOptionsBuilder::default()
        .signal("SIGKILL")
        .build();
    let _ = docker
        .raw()
        .kill_container(&args.container, Some(options))
        .await;
    if !args.keep {
        let _ = docker.remove_container(&args.container).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_names_round_trip() {
        let id = "0123456789abcdef0123";
        assert_eq!(
            heartbeat_name(1700000000, id),
            "pixi-airgap-hb-1700000000-0123456789ab"
        );
        assert_eq!(
            heartbeat_of(&heartbeat_name(1700000000, id)),
            Some(1700000000)
        );
        assert_eq!(heartbeat_of("/pixi-airgap-hb-5-abc"), Some(5));
        for other in [
            "gifted_mcclintock",
            "pixi-airgap-run-ended-abc",
            "pixi-airgap-hb-x-1",
        ] {
            assert_eq!(heartbeat_of(other), None, "{other}");
        }
    }
}
