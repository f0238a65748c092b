//! Containers we create: how they are made, and a guard that removes them.
//!
//! Every container we create has a bounded life: its main process ([`MAIN_PROCESS`]) ends by
//! itself after [`max_life`] (default 24 hours, `PIXI_AIRGAP_CONTAINER_MAX_LIFE`), and the engine
//! then removes it (auto-remove). So a pixi-airgap that is killed outright leaves nothing running
//! for ever; its labels ([`crate::process::Creator`]) let `pixi-airgap clean` find it sooner.
//! Nothing copies out of a container after its main process has ended: every copy happens while
//! it waits, and the guard removes it explicitly (auto-remove only covers what the guard could not).

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};

use super::{Docker, DockerError, LABEL_COMMAND, LABEL_EXPIRES, LABEL_IMAGE_ID, LABEL_MANAGED};

/// The main process of every container we create (see the module documentation).
pub const MAIN_PROCESS: &str = include_str!("main-process.sh");

/// The variable that sets how long a container may live, e.g. `3600`, `90m`, `24h`, `2d`.
pub const MAX_LIFE_VAR: &str = crate::settings::CONTAINER_MAX_LIFE.name;
/// The default life of a container: far longer than any staging or proof.
pub const DEFAULT_MAX_LIFE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// `PIXI_AIRGAP_CONTAINER_MAX_LIFE` holds something that is not a duration.
#[derive(Debug, thiserror::Error)]
#[error("{MAX_LIFE_VAR}=`{0}` is not a duration (a whole number of seconds, or with s, m, h or d: `90m`, `24h`)")]
pub struct BadMaxLife(pub String);

/// How long a container may live: `PIXI_AIRGAP_CONTAINER_MAX_LIFE` (seconds, or a number with
/// `s`, `m`, `h` or `d`), else 24 hours. (The commands check it before anything starts, as bad
/// input: see `session::max_life`.)
pub fn max_life() -> Result<std::time::Duration, BadMaxLife> {
    match std::env::var(MAX_LIFE_VAR) {
        Ok(text) => parse_life(&text).ok_or(BadMaxLife(text)),
        Err(_) => Ok(DEFAULT_MAX_LIFE),
    }
}

fn parse_life(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return None,
    };
    let seconds = number.parse::<u64>().ok()?.checked_mul(factor)?;
    (seconds > 0).then(|| std::time::Duration::from_secs(seconds))
}

/// What to create. The main process only waits (all work happens through exec), for at most
/// `max_life`.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub image: String,
    pub labels: Vec<(String, String)>,
    /// Network mode: `None` = engine default (bridge), `Some("none")` = no network at all,
    /// anything else = the named network.
    pub network: Option<String>,
    /// The life limit; default: [`max_life`] (a bad `PIXI_AIRGAP_CONTAINER_MAX_LIFE` is warned
    /// about here; the commands check it before starting anything).
    pub max_life: Option<std::time::Duration>,
    /// Keep the container once its main process has ended, instead of letting the engine remove
    /// it (`--keep-container`, and tests that need a stopped container).
    pub keep_after_exit: bool,
    /// A folder in the container that is a fresh anonymous volume (carrying our labels, nothing
    /// copied from the image, removed with the container) instead of part of the container's own
    /// file system. Trees we upload and install into go there: a volume is a plain folder of the
    /// engine's host, while the container's own file system goes through the storage driver
    /// (measured with fuse-overlayfs: 100,000 files uploaded in 7.5 s instead of 60-82 s, and
    /// installed by pixi in 4.5 s instead of 57 s).
    pub scratch: Option<String>,
    /// Capabilities dropped and limits set (the build container); `None`: the engine's defaults.
    pub confinement: Option<Confinement>,
}

/// Capabilities the build container runs without: pixi downloads, unpacks, links and runs
/// tasks as the container's root, which needs file ownership and permission overrides (CHOWN,
/// DAC_OVERRIDE, FOWNER, FSETID), SETUID/SETGID and KILL, and none of these: raw sockets (ARP
/// and ICMP tricks on the bridge), device nodes, chroot, changing capabilities, file
/// capabilities, the audit log, or binding ports below 1024.
pub const DROPPED_CAPS: [&str; 7] = [
    "NET_RAW",
    "MKNOD",
    "SYS_CHROOT",
    "SETPCAP",
    "SETFCAP",
    "AUDIT_WRITE",
    "NET_BIND_SERVICE",
];

/// What an untrusted image's container is held to (the build container): [`DROPPED_CAPS`]
/// dropped, no new privileges (setuid binaries do not raise), and limits on memory and on the
/// number of processes (`None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confinement {
    /// Memory limit in bytes (swap included: no swap beyond it).
    pub memory_bytes: Option<u64>,
    /// Most processes and threads at once.
    pub pids: Option<u32>,
}

impl Confinement {
    /// Default memory limit of the build container: 8 GiB.
    pub const DEFAULT_MEMORY: u64 = 8 << 30;
    /// Default process limit of the build container.
    pub const DEFAULT_PIDS: u32 = 4096;
}

impl Default for Confinement {
    fn default() -> Self {
        Self {
            memory_bytes: Some(Self::DEFAULT_MEMORY),
            pids: Some(Self::DEFAULT_PIDS),
        }
    }
}

/// A container created by pixi-airgap. Call [`Container::remove`] when done; if it is dropped
/// without that (a panic, an early return), it is removed from a helper thread, unless kept.
pub struct Container {
    docker: Docker,
    id: String,
    keep: bool,
    removed: bool,
    /// False for the user's containers (`stage-container`): those are never stopped or removed.
    owned: bool,
}

impl Docker {
    /// Creates and starts a container for `spec`.
    pub async fn start_container(&self, spec: &ContainerSpec) -> Result<Container, DockerError> {
        let mut labels: HashMap<String, String> = spec.labels.iter().cloned().collect();
        labels.insert(LABEL_MANAGED.to_string(), "true".to_string());
        labels.extend(crate::process::Creator::current().labels());
        labels
            .entry(LABEL_COMMAND.to_string())
            .or_insert_with(process_name);
        let life = match spec.max_life {
            Some(life) => life,
            None => max_life().unwrap_or_else(|err| {
                tracing::warn!("{err:#}; using {}s", DEFAULT_MAX_LIFE.as_secs());
                DEFAULT_MAX_LIFE
            }),
        };
        let expires =
            chrono::Utc::now() + chrono::Duration::from_std(life).unwrap_or(chrono::Duration::MAX);
        labels.insert(
            LABEL_EXPIRES.to_string(),
            expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        let local = self.local_name(&spec.image).await?;
        if let Some(id) = self.image(&local).await?.and_then(|image| image.id) {
            labels.insert(LABEL_IMAGE_ID.to_string(), id);
        }
        // `sh -c SCRIPT NAME LIFE`: the script sees the life as $1.
        let cmd = vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            MAIN_PROCESS.to_string(),
            "pixi-airgap-main".to_string(),
            life.as_secs().to_string(),
        ];
        let body = ContainerCreateBody {
            image: Some(local),
            cmd: Some(cmd),
            entrypoint: Some(vec![]),
            labels: Some(labels.clone()),
            network_disabled: Some(spec.network.as_deref() == Some("none")),
            host_config: Some(HostConfig {
                network_mode: spec.network.clone(),
                auto_remove: Some(!spec.keep_after_exit),
                mounts: spec.scratch.as_ref().map(|target| {
                    vec![Mount {
                        target: Some(target.clone()),
                        typ: Some(MountType::VOLUME),
                        volume_options: Some(MountVolumeOptions {
                            no_copy: Some(true),
                            labels: Some(labels.clone()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]
                }),
                cap_drop: spec
                    .confinement
                    .map(|_| DROPPED_CAPS.iter().map(|c| c.to_string()).collect()),
                security_opt: spec
                    .confinement
                    .map(|_| vec!["no-new-privileges".to_string()]),
                memory: spec
                    .confinement
                    .and_then(|c| c.memory_bytes)
                    .and_then(|b| i64::try_from(b).ok()),
                memory_swap: spec
                    .confinement
                    .and_then(|c| c.memory_bytes)
                    .and_then(|b| i64::try_from(b).ok()),
                pids_limit: spec.confinement.and_then(|c| c.pids).map(i64::from),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().build();
        let created = self
            .raw()
            .create_container(Some(options), body)
            .await
            .map_err(|source| DockerError::CreateContainer {
                image: spec.image.clone(),
                source,
            })?;
        let container = Container {
            docker: self.clone(),
            id: created.id,
            keep: false,
            removed: false,
            owned: true,
        };
        self.raw()
            .start_container(&container.id, None)
            .await
            .map_err(|source| {
                let id = container.id.clone();
                if super::engine::is_rlimit_error(&source) {
                    DockerError::StartRlimits { id, source }
                } else {
                    DockerError::StartContainer { id, source }
                }
            })?;
        tracing::debug!(
            "started container {} from {}",
            container.short_id(),
            spec.image
        );
        Ok(container)
    }

    /// A handle on a running container that pixi-airgap does not own: it is never removed.
    pub async fn attach_container(&self, id: &str) -> Result<Container, DockerError> {
        let info = match self.inspect_settled(id).await {
            Ok(info) => info,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Err(DockerError::NoSuchContainer { id: id.to_string() }),
            Err(source) => {
                return Err(DockerError::InspectContainer {
                    id: id.to_string(),
                    source,
                })
            }
        };
        let state = info.state.as_ref();
        if state.and_then(|s| s.running) != Some(true) {
            let status = state
                .and_then(|s| s.status.as_ref())
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unknown".to_string());
            return Err(DockerError::ContainerNotRunning {
                id: id.to_string(),
                state: status,
            });
        }
        Ok(Container {
            docker: self.clone(),
            id: info.id.unwrap_or_else(|| id.to_string()),
            keep: true,
            removed: false,
            owned: false,
        })
    }

    /// Full inspection of any container (ours or the user's).
    pub async fn inspect_container(
        &self,
        id: &str,
    ) -> Result<bollard::models::ContainerInspectResponse, DockerError> {
        self.inspect_settled(id)
            .await
            .map_err(|source| DockerError::InspectContainer {
                id: id.to_string(),
                source,
            })
    }

    /// Inspects a container, waiting out Podman's transient `stopped` state (between the main
    /// process's exit and its cleanup), which is not a state of the Docker API and which the client
    /// cannot decode; it turns into `exited` within moments.
    async fn inspect_settled(
        &self,
        id: &str,
    ) -> Result<bollard::models::ContainerInspectResponse, bollard::errors::Error> {
        let mut attempts = 0;
        loop {
            match self.raw().inspect_container(id, None).await {
                Err(bollard::errors::Error::JsonDataError { message, .. })
                    if attempts < 100 && message.contains("unknown variant `stopped`") =>
                {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                other => return other,
            }
        }
    }

    /// Force-removes a container with its anonymous volumes.
    pub async fn remove_container(&self, id: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.raw().remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            // The engine is already removing it (auto-remove after its main process ended).
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message,
            }) if message.contains("already in progress") => Ok(()),
            Err(source) => Err(DockerError::RemoveContainer {
                id: id.to_string(),
                source,
            }),
        }
    }
}

/// The running program's file name, for the command label of containers that name none.
fn process_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "pixi-airgap".to_string())
}

impl Container {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn short_id(&self) -> &str {
        crate::docker::short_id(&self.id)
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Leave the container in place when this guard goes away (`--keep-container`).
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Removes the container now (or, if kept, just says where it is).
    pub async fn remove(mut self) -> Result<(), DockerError> {
        self.removed = true;
        if !self.owned {
            return Ok(());
        }
        if self.keep {
            tracing::info!("keeping container {} (as asked)", self.short_id());
            return Ok(());
        }
        self.docker.remove_container(&self.id).await
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.removed || self.keep || !self.owned {
            return;
        }
        // Async cleanup cannot run in Drop; a short-lived thread with its own runtime can.
        let docker = self.docker.clone();
        let id = self.id.clone();
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => {
                    if let Err(err) = rt.block_on(docker.remove_container(&id)) {
                        tracing::warn!("could not remove container {id}: {err}");
                    }
                }
                Err(err) => tracing::warn!("could not remove container {id}: {err}"),
            }
        });
        let _ = handle.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_scripts_pass_shellcheck() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/docker");
        for name in [
            "main-process.sh",
            "run-with-pid-file.sh",
            "stop-pid-file.sh",
        ] {
            let out = std::process::Command::new("shellcheck")
                .args(["--shell=sh", "--severity=style"])
                .arg(name)
                .current_dir(&dir)
                .output()
                .expect(
                    "shellcheck is needed for this test: run scripts/testbed.sh (it installs it)",
                );
            assert!(
                out.status.success(),
                "{name} fails shellcheck:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }

    /// The pid-file wrapper and its stopper, run here with `sh`: the stopper ends the command and
    /// what it started, and leaves a pid file that names someone else's process alone.
    #[test]
    fn a_command_under_a_pid_file_is_stopped_with_its_children() {
        use super::super::exec::{RUN_WITH_PID_FILE, STOP_PID_FILE};
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("run.pid");
        let pf = pid_file.display().to_string();
        let child = std::process::Command::new("sh")
            .args(["-c", RUN_WITH_PID_FILE, "pixi-airgap-run", &pf])
            .args(["sh", "-c", "sleep 3131 & sleep 3132; echo never"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !pid_file.exists() {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        let stop = std::process::Command::new("sh")
            .args(["-c", STOP_PID_FILE, "pixi-airgap-stop", &pf])
            .status()
            .unwrap();
        assert!(stop.success());
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success(), "the wrapper was stopped");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("never"));
        assert!(!pid_file.exists());
        // Both sleeps are gone (a zombie has no command line left).
        let survivors = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.starts_with("sleep 313"))
            .count();
        assert_eq!(survivors, 0);
        // A pid file that names a process which is not our wrapper: left alone.
        std::fs::write(&pid_file, format!("{}\n", std::process::id())).unwrap();
        let stop = std::process::Command::new("sh")
            .args(["-c", STOP_PID_FILE, "pixi-airgap-stop", &pf])
            .status()
            .unwrap();
        assert!(stop.success(), "and this test process still runs");
    }

    #[test]
    fn lives() {
        let secs = |t: &str| parse_life(t).map(|d| d.as_secs());
        assert_eq!(secs("3600"), Some(3600));
        assert_eq!(secs("90m"), Some(5400));
        assert_eq!(secs("24h"), Some(86400));
        assert_eq!(secs("2d"), Some(172800));
        assert_eq!(secs(" 5s "), Some(5));
        for bad in ["", "0", "h", "-1", "1.5h", "3w", "12 h"] {
            assert_eq!(secs(bad), None, "{bad}");
        }
    }
}
