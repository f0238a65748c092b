//! A container session: the one container lifecycle shared by staging and the offline proof.
//! It creates a container from a spec with our labels (or attaches to the user's), checks that
//! pixi runs in it, runs commands with their output logged on the host as it arrives, runs and
//! judges a verification, uploads planned trees, and removes the container on every path.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::docker::{
    Container, ContainerSpec, Docker, ExecOutput, ExecSpec, ImageInfo, LABEL_COMMAND, LABEL_WORKDIR,
};
use crate::exit::{InfraError, InputError};
use crate::tar::extract::{ExtractLimits, ExtractStats};
use crate::tar::stream::Entries;
use crate::tar::write::Owner;
use crate::verification::{Verification, VerificationReport, VerificationSpec};

/// A container to create for one run.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    pub image: String,
    /// Fetch the image when it is not local.
    pub pull: bool,
    /// The subcommand, recorded in a label.
    pub command: &'static str,
    /// The host folder the run works for (unique per run), recorded in a label.
    pub host_dir: PathBuf,
    /// `None` = engine default, `Some("none")` = no network at all, else a named network.
    pub network: Option<String>,
    /// Leave the container in place when the session ends.
    pub keep: bool,
    /// How long the container may live (see [`max_life`]).
    pub max_life: Duration,
    /// A folder of the container that is a scratch volume (see [`ContainerSpec::scratch`]).
    pub scratch: Option<String>,
    /// Dropped capabilities and limits (see [`ContainerSpec::confinement`]).
    pub confinement: Option<crate::docker::Confinement>,
}

/// Where [`Session::download_into`] extracts to: a fresh folder, the archive's top folder to strip
/// (`None`: keep it), the absolute path the archive's links may name as their own root, and the
/// bounds on what may be written.
pub struct DownloadTo {
    pub dest: PathBuf,
    pub strip: Option<PathBuf>,
    pub abs_root: Option<PathBuf>,
    pub limits: ExtractLimits,
}

/// The life limit of the containers a command creates (`PIXI_AIRGAP_CONTAINER_MAX_LIFE`, default
/// 24 hours); a bad value is bad input, refused before anything starts.
pub fn max_life() -> anyhow::Result<Duration> {
    crate::docker::max_life().map_err(|err| InputError::new(err.to_string()).into())
}

/// A container being removed in the background (see [`Session::close_deferred`]).
#[must_use = "the removal must be awaited before the program ends"]
pub struct PendingRemoval(tokio::task::JoinHandle<Result<(), crate::docker::DockerError>>);

impl PendingRemoval {
    /// Waits until the container is gone.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.0
            .await
            .context("the container removal task failed")??;
        Ok(())
    }
}

/// The user the commands of a session run as, numeric (`UID[:GID]`); files uploaded for them are
/// owned by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u64,
    pub gid: u64,
}

impl RunAs {
    /// The `user` of an exec.
    pub fn exec_user(&self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }

    /// The owner of uploaded files.
    pub fn owner(&self) -> Owner {
        Owner {
            uid: self.uid,
            gid: self.gid,
        }
    }
}

/// A started (or attached) container and the image it runs.
pub struct Session {
    /// Stopped before the container is removed; declared first, so that it is also dropped
    /// (stopped) first.
    watchdog: Option<crate::watchdog::Watchdog>,
    container: Container,
    image: ImageInfo,
}

impl Session {
    /// Connects to the engine, requires the image and starts a labelled container from it.
    pub async fn create(spec: &SessionSpec) -> anyhow::Result<Self> {
        let docker = Docker::connect().await?;
        Self::create_with(&docker, spec).await
    }

    /// [`Session::create`] on an engine already connected.
    pub async fn create_with(docker: &Docker, spec: &SessionSpec) -> anyhow::Result<Self> {
        let image = docker.require_image(&spec.image, spec.pull).await?;
        let container_spec = ContainerSpec {
            image: spec.image.clone(),
            labels: vec![
                (LABEL_COMMAND.to_string(), spec.command.to_string()),
                (
                    LABEL_WORKDIR.to_string(),
                    spec.host_dir.display().to_string(),
                ),
            ],
            network: spec.network.clone(),
            max_life: Some(spec.max_life),
            keep_after_exit: spec.keep,
            scratch: spec.scratch.clone(),
            confinement: spec.confinement,
        };
        let mut container = docker.start_container(&container_spec).await?;
        // The life limit, enforced from outside the image too.
        let watchdog = crate::watchdog::spawn(container.id(), spec.max_life, spec.keep);
        if spec.keep {
            container.keep();
        }
        Ok(Self {
            watchdog,
            container,
            image,
        })
    }

    /// A session in the user's running container, which is never stopped or removed.
    pub async fn attach(docker: &Docker, id: &str) -> anyhow::Result<Self> {
        let container = docker.attach_container(id).await?;
        let info = docker.inspect_container(container.id()).await?;
        let image = ImageInfo {
            name: info.config.as_ref().and_then(|c| c.image.clone()),
            id: info.image.clone(),
            repo_digests: Vec::new(),
        };
        Ok(Self {
            watchdog: None,
            container,
            image,
        })
    }

    /// Stops the watchdog before the container is removed (see [`crate::watchdog::spawn`]).
    async fn stop_watchdog(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.stop().await;
        }
    }

    pub fn container(&self) -> &Container {
        &self.container
    }

    pub fn docker(&self) -> &Docker {
        self.container.docker()
    }

    pub fn image(&self) -> &ImageInfo {
        &self.image
    }

    /// Ends the session like [`Session::close`], but after a success the container is removed
    /// on a task of its own while the caller goes on (removing a container that holds a large
    /// package cache takes seconds): the caller must [`PendingRemoval::wait`] for it before it
    /// ends. After a failure the removal is awaited here.
    pub async fn close_deferred<T>(
        mut self,
        result: anyhow::Result<T>,
    ) -> anyhow::Result<(T, PendingRemoval)> {
        self.stop_watchdog().await;
        match result {
            Ok(value) => {
                let removal = tokio::spawn(self.container.remove());
                Ok((value, PendingRemoval(removal)))
            }
            Err(err) => {
                let _ = self.container.remove().await;
                Err(err)
            }
        }
    }

    /// Ends the session: the container is removed (unless kept or not ours) whatever `result`
    /// is, then `result` is returned; its error comes first.
    pub async fn close<T>(mut self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        self.stop_watchdog().await;
        let removed = self.container.remove().await;
        let value = result?;
        removed?;
        Ok(value)
    }

    /// Runs a command and collects its output (no log).
    pub async fn exec(&self, spec: &ExecSpec) -> anyhow::Result<ExecOutput> {
        Ok(self.container.exec(spec, None).await?)
    }

    /// `pixi --version` in the container; exit 126/127 mean there is no pixi to run.
    pub async fn pixi_version(&self) -> anyhow::Result<String> {
        let name = self.image.name.as_deref().unwrap_or("of this container");
        let version = self.exec(&ExecSpec::new(["pixi", "--version"])).await?;
        if matches!(version.exit_code, 126 | 127)
            || version.text().contains("executable file not found")
        {
            return Err(InfraError::new(format!("image {name} has no `pixi` on PATH"))
                .with_hint("use an image with pixi installed (e.g. scripts/testbed.sh builds one), or add pixi to PATH")
                .into());
        }
        if !version.success() {
            return Err(InfraError::new(format!(
                "`pixi --version` failed in image {name} (exit {}): {}",
                version.exit_code,
                version.tail(5)
            ))
            .into());
        }
        // The version goes into the product's scripts and manifest: a strict pattern, so that
        // an image cannot hand us shell text or a line break there.
        let text = String::from_utf8_lossy(&version.stdout).trim().to_string();
        crate::names::check_pixi_version(&text, &format!("in image {name}"))?;
        Ok(text)
    }

    /// Runs `exec`, writing the command line and then its output to `out/<log_name>` as it
    /// arrives. Returns the output and the seconds it took.
    pub async fn exec_logged(
        &self,
        exec: &ExecSpec,
        out: &Path,
        log_name: &str,
    ) -> anyhow::Result<(ExecOutput, f64)> {
        // Checked before the log exists: a bad value is the user's input, not a failed run.
        let limit = crate::docker::LogLimit::from_env().map_err(InputError::new)?;
        let path = out.join(log_name);
        // Never through a link planted in the output folder (`--out-dir` is the user's).
        let mut log = crate::nofollow::create_output_file(&path)?;
        writeln!(log, "$ {}", exec.display())
            .with_context(|| format!("failed to write `{}`", path.display()))?;
        let started = Instant::now();
        let spinner = crate::progress::spinner(exec.display());
        let result = self.container.exec_capped(exec, &mut log, limit).await;
        spinner.finish_and_clear();
        Ok((result?, started.elapsed().as_secs_f64()))
    }

    /// Runs each verification with the command `exec` makes for it, in order, and judges it; every
    /// one runs and is recorded even after one has failed. Logs are `out/<PREFIX>.log`, or with
    /// several `out/<PREFIX>-<n>-<environment>.log` ([`crate::verification::log_name`]);
    /// `shown_out` is where the user will find them.
    pub async fn verify_each(
        &self,
        verifications: &[Verification],
        log_prefix: &str,
        out: &Path,
        shown_out: &Path,
        exec: impl Fn(&Verification) -> ExecSpec,
    ) -> anyhow::Result<Vec<VerificationReport>> {
        let mut reports = Vec::new();
        for (index, verification) in verifications.iter().enumerate() {
            let log_name = crate::verification::log_name(
                log_prefix,
                index,
                verifications.len(),
                &verification.environment,
            );
            let spec = &verification.spec;
            let run = exec(verification);
            reports.push(
                self.verify(
                    spec,
                    &verification.environment,
                    &run,
                    out,
                    &log_name,
                    shown_out,
                )
                .await?,
            );
        }
        Ok(reports)
    }

    /// Runs a verification command, logs it to `out/<log_name>` and judges it. A failed
    /// verification is a report, not an error; its `log` is `log_name`.
    pub async fn verify(
        &self,
        spec: &VerificationSpec,
        environment: &str,
        exec: &ExecSpec,
        out: &Path,
        log_name: &str,
        shown_out: &Path,
    ) -> anyhow::Result<VerificationReport> {
        tracing::info!("verifying in `{environment}` with {}", spec.describe());
        // The expected text is looked for as the output streams: only its tail is kept.
        let exec = exec.clone().expect(spec.expect.clone());
        let (result, seconds) = self.exec_logged(&exec, out, log_name).await?;
        let verdict = spec.verdict(result.exit_code, result.expect_found);
        if verdict.passed {
            tracing::info!("verification passed");
        } else {
            tracing::error!(
                "verification failed: {} (log: {})\n{}",
                verdict.reason(),
                shown_out.join(log_name).display(),
                result.tail(15)
            );
        }
        Ok(VerificationReport {
            spec: spec.clone(),
            environment: environment.to_string(),
            command: exec.display(),
            verdict,
            seconds,
            log: log_name.to_string(),
        })
    }

    /// Streams `path` out of the container into `to.dest` through the defensive extractor (every
    /// tar from a container is hostile), with a progress bar saying `what`; `skip` leaves entries
    /// out by their path in the archive.
    pub async fn download_into(
        &self,
        path: &str,
        what: &str,
        to: DownloadTo,
        skip: impl Fn(&Path) -> bool + Send + 'static,
    ) -> anyhow::Result<ExtractStats> {
        let bar = crate::progress::bytes(what, None);
        let stream = crate::progress::track(
            self.docker().download(self.container.id(), path),
            bar.clone(),
        );
        let extracted = crate::tar::extract::extract_stream(
            crate::tar::stream::boxed(stream),
            to.dest,
            to.strip,
            to.abs_root,
            to.limits,
            skip,
        )
        .await;
        bar.finish_and_clear();
        extracted
    }

    /// Streams `entries` as a tar owned by `owner` into `dest` (a folder that exists in the
    /// container), with a progress bar named `what` that counts up to `content_bytes`.
    pub async fn upload(
        &self,
        entries: Entries,
        content_bytes: u64,
        owner: Owner,
        dest: &str,
        what: &str,
    ) -> anyhow::Result<()> {
        let bar = crate::progress::bytes(what, Some(content_bytes));
        let stream = crate::tar::stream::tar_stream(entries, owner);
        let failure = stream.failure();
        let uploaded = self
            .docker()
            .upload(
                self.container.id(),
                dest,
                crate::progress::track(stream, bar.clone()),
            )
            .await;
        bar.finish_and_clear();
        // The writer's own error (an unreadable file, an interruption) explains a failed upload.
        if let Some(err) = failure.take() {
            return Err(err);
        }
        Ok(uploaded?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_as_user_is_the_exec_user_and_the_owner_of_uploads() {
        let user = RunAs {
            uid: 1000,
            gid: 100,
        };
        assert_eq!(user.exec_user(), "1000:100");
        assert_eq!((user.owner().uid, user.owner().gid), (1000, 100));
    }
}
