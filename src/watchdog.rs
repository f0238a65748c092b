//! A container's life limit, enforced from outside the container.
//!
//! The main process of our containers ([`crate::docker::container::MAIN_PROCESS`]) ends itself
//! after the limit, but it runs the image's own `sh` and `sleep`: a hostile or broken image can
//! ignore it. So every container a run creates also gets a watchdog: a small pixi-airgap process
//! of its own (`pixi-airgap watch-container`, hidden), started in a new session so that it
//! outlives the run even after a SIGKILL. It asks the engine about the container every
//! [`TICK`]; at the limit it kills the container through the engine (which then removes it,
//! unless it was kept with `--keep-container`), and it ends as soon as the container is gone.
//! Nothing in the image is involved.

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
pub fn spawn(container_id: &str, life: Duration, keep: bool) {
    let Ok(exe) = std::env::current_exe() else {
        tracing::warn!("cannot locate this binary: no watchdog for the container's life limit");
        return;
    };
    let is_us = exe
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(env!("CARGO_PKG_NAME")));
    if !is_us {
        return;
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
        // Not waited for: it outlives us by design; once we are gone, init reaps it.
        Ok(child) => tracing::debug!(
            "watchdog {} enforces the life limit of container {}",
            child.id(),
            &container_id[..container_id.len().min(12)]
        ),
        Err(err) => tracing::warn!(
            "could not start the watchdog for the container's life limit: {err}; the container's own timer and `pixi-airgap clean` remain"
        ),
    }
}

/// The watchdog's loop: ends when the container is gone, or kills it at its limit.
pub async fn run(args: &WatchArgs) -> anyhow::Result<Status> {
    let docker = Docker::connect()
        .await
        .context("the watchdog cannot reach the engine")?;
    loop {
        let now = unix_now();
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
        tokio::time::sleep(left.min(TICK)).await;
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
