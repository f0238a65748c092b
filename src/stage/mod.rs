//! Staging: everything that happens in the build container once it runs, shared by `stage-host`
//! and `stage-container`: preflight, upload of the filtered project, `pixi install` with the cache
//! in the work folder, version records, the verifications, and the copy back into the workdir.
//! What is staged is decided by [`filter`] and applied by [`walk`]; the container itself is a
//! [`crate::session::Session`], and what staging leaves is a [`crate::workdir::Workdir`] with its
//! record ([`crate::workdir::report`]), which is all the product side sees of it.
//!
//! Logs are written on the host (`WORKDIR/out/`) as the output arrives, so a failed or interrupted
//! run still shows what it did.

pub mod filter;
pub mod provenance;
pub mod seed;
pub mod walk;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::docker::ExecSpec;
use crate::exit::{InfraError, InputError};
use crate::pixi::{self, LockInfo, ProjectManifest};
use crate::session::Session;
use crate::tar::write::{Owner, TarEntry};
use crate::verification::{Verification, VerificationPlace, VerificationReport};
use crate::workdir::report::{ExclusionReport, StageReport, StageResult, StepReport};
use crate::workdir::{Staging, Workdir};
use filter::StageFilter;

mod bundle_pixi;
use bundle_pixi::*;

mod copy_back;
use copy_back::*;

/// Where the project comes from.
#[derive(Debug, Clone)]
pub enum ProjectSource {
    /// Folders on this host (`stage-host`).
    Host {
        project_dir: PathBuf,
        resources_dir: Option<PathBuf>,
    },
    /// A folder inside the build container itself (`stage-container`): streamed out through the
    /// engine, filtered on the host as it passes, and streamed back in.
    Container { path: String },
}

/// Everything a staging run needs, validated.
#[derive(Debug, Clone)]
pub struct StagePlan {
    pub source: ProjectSource,
    pub manifest: ProjectManifest,
    pub lock: LockInfo,
    /// Absolute POSIX path inside the container.
    pub container_workdir: String,
    pub workdir: Workdir,
    pub environments: Vec<String>,
    /// `KEY=VALUE` pairs for every exec in the container.
    pub env: Vec<String>,
    pub filter: StageFilter,
    /// Each runs in its environment, in this order.
    pub verifications: Vec<Verification>,
    /// The host-side pre-flight check; the version checks are added once the container's pixi
    /// is known.
    pub preflight: crate::check::PreflightReport,
    /// Copy the container's pixi into `WORKDIR/pixi-bin/pixi` for the product.
    pub bundle_pixi: bool,
    /// Run installs and verifications under this pid file in the container, so that they can be
    /// stopped on the way out (stage-container: the user's container outlives us).
    pub pid_file: Option<String>,
    /// `--cache-from`: the cache to seed the container's with (else the workdir's own, when it
    /// has one from its last staging).
    pub cache_from: Option<seed::CacheSeed>,
}

impl StagePlan {
    fn cw(&self) -> &str {
        self.container_workdir.trim_end_matches('/')
    }
    fn container_project(&self) -> String {
        format!("{}/{}/{}", self.cw(), Workdir::PROJECT, self.manifest.name)
    }
    fn container_resources(&self) -> String {
        format!("{}/{}", self.cw(), Workdir::RESOURCES)
    }
    fn container_cache(&self) -> String {
        format!("{}/{}", self.cw(), Workdir::PIXI_CACHE)
    }

    /// Variables for every exec: the user's, then the cache redirection (which wins).
    fn exec_env(&self) -> Vec<String> {
        let mut env = self.env.clone();
        for var in pixi::CACHE_VARS {
            env.push(format!("{var}={}", self.container_cache()));
        }
        env
    }

    /// The folders every staged container workdir has, relative to it.
    fn skeleton() -> Vec<TarEntry> {
        Workdir::CONTAINER_FOLDERS
            .into_iter()
            .map(TarEntry::dir)
            .collect()
    }

    fn project_prefix(&self) -> PathBuf {
        PathBuf::from(Workdir::PROJECT).join(&self.manifest.name)
    }

    /// Plans the upload from host folders: project under `project/<name>`, resources under
    /// `resources`, and an empty `pixi-cache`, all relative to the container workdir.
    fn plan_host_upload(
        &self,
        project_dir: &Path,
        resources_dir: Option<&Path>,
    ) -> anyhow::Result<(Vec<TarEntry>, ExclusionReport)> {
        let workdir_inside_project = self
            .workdir
            .root()
            .strip_prefix(project_dir)
            .ok()
            .map(Path::to_path_buf);
        let project_prefix = self.project_prefix();
        let mut entries = Self::skeleton();
        let (project, mut report) =
            walk::plan_filtered(project_dir, &project_prefix, &self.filter)?;
        // A workdir inside the project (e.g. the default ./tmp/... run from the project folder)
        // must not be staged into itself.
        let project = match workdir_inside_project {
            Some(rel) => {
                let skip = project_prefix.join(rel);
                project
                    .into_iter()
                    .filter(|e| !e.path.starts_with(&skip))
                    .collect()
            }
            None => project,
        };
        entries.extend(project);
        if let Some(res) = resources_dir {
            let (mut resources, res_report) =
                walk::plan_filtered(res, Path::new(Workdir::RESOURCES), &self.filter)?;
            // The resources root itself is already listed above.
            resources.retain(|e| e.path != Path::new(Workdir::RESOURCES));
            entries.extend(resources);
            report.merge(res_report);
        }
        Ok((entries, report))
    }
}

/// Runs the staging steps in a started container. Returns the report; a failed verification is a
/// result (not an error), everything else that fails is an error with its kind.
///
/// Everything is written into `into` (a [`crate::workdir::Staging`] folder the caller swaps into
/// `plan.workdir` once this succeeded), so a run that fails leaves the last staging whole.
pub async fn run_in_container(
    session: &Session,
    plan: &StagePlan,
    into: &Workdir,
    command_name: &str,
) -> anyhow::Result<StageReport> {
    let container = session.container();
    let image = session.image();
    let started_at = now();
    let out = into.out();
    let pixi_version = session.pixi_version().await?;
    tracing::info!("{pixi_version} in container {}", container.short_id());
    // Can this pixi read the lock and meet requires-pixi? Known only now; still before upload.
    let mut checked = plan.preflight.clone();
    checked.add_pixi_version(&pixi_version);
    if checked.errors() > plan.preflight.errors() {
        checked.log();
        return Err(checked.error());
    }

    // The container workdir, with our marker: a later --force deletes only a folder that has it.
    let mkdir = container
        .exec(
            &ExecSpec::new([
                "sh",
                "-c",
                "mkdir -p -- \"$1\" && printf '%s' \"$2\" >\"$1/$3\"",
                "sh",
                plan.cw(),
                crate::workdir::MARKER_TEXT.as_str(),
                crate::workdir::MARKER,
            ]),
            None,
        )
        .await?;
    if !mkdir.success() {
        return Err(InfraError::new(format!(
            "could not create `{}` in the container: {}",
            plan.cw(),
            mkdir.tail(5)
        ))
        .into());
    }
    let (excluded, went_in) = upload_project(session, plan, into).await?;
    excluded.log("staging");
    // Warm re-staging: what an earlier run downloaded goes in before the install.
    let lock = crate::lockfile::Lock::read(&plan.lock.path)?;
    let seed = match plan
        .cache_from
        .clone()
        .or_else(|| seed::CacheSeed::own(&plan.workdir, &plan.manifest.name))
    {
        Some(seed) => Some(seed::seed_cache(session, plan, &seed, &lock).await?),
        None => None,
    };

    let env = plan.exec_env();
    let mut installs = Vec::new();
    for environment in &plan.environments {
        installs.push(install(session, plan, &env, environment, &out).await?);
    }

    crate::nofollow::write_output_file(
        &out.join("pixi-version.txt"),
        format!("{pixi_version}\n").as_bytes(),
    )?;
    let info = container
        .exec(
            &ExecSpec::new(["pixi", "info", "--json"])
                .env(&env)
                .working_dir(plan.container_project()),
            None,
        )
        .await?;
    if !info.success() {
        tracing::warn!(
            "`pixi info --json` failed (exit {}): {}",
            info.exit_code,
            info.tail(5)
        );
    }
    crate::nofollow::write_output_file(&out.join("pixi-info.json"), &info.stdout)?;
    let platform = serde_json::from_slice::<serde_json::Value>(&info.stdout)
        .ok()
        .and_then(|v| {
            v.get("platform")
                .and_then(|p| p.as_str())
                .map(str::to_string)
        });
    // Recorded in the product's manifest and SBOM: only a plain platform name.
    if let Some(platform) = &platform {
        let plain = !platform.is_empty()
            && platform.len() <= 32
            && platform
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !plain {
            return Err(crate::exit::InputError::new(format!(
                "`pixi info --json` in the container reports platform `{}`, which is not a platform name",
                platform.escape_debug()
            ))
            .into());
        }
    }

    let (cache, stale) = seed::cache_report(plan, &lock, platform.as_deref(), seed);

    // Every verification runs, and is recorded, even after one has failed.
    let mut verifications = Vec::new();
    for (index, verification) in plan.verifications.iter().enumerate() {
        let log_name = crate::verification::log_name(
            "verify",
            index,
            plan.verifications.len(),
            &verification.environment,
        );
        verifications
            .push(run_verification(session, plan, verification, &env, &out, &log_name).await?);
    }

    copy_back(container, plan, into, stale).await?;
    // The project that came back must be the one that went in (plus what pixi creates).
    let project_rel = plan.project_prefix();
    went_in.check(
        &into.root().join(&project_rel),
        &project_rel.display().to_string(),
    )?;
    let bundled_pixi = if plan.bundle_pixi {
        Some(copy_pixi(container, into, &pixi_version).await?)
    } else {
        None
    };

    let result = if verifications.iter().all(|v| v.verdict.passed) {
        StageResult::Success
    } else {
        StageResult::VerificationFailed
    };
    let report = StageReport {
        format_version: crate::records::stage::FORMAT_VERSION,
        tool_version: crate::records::tool_version(),
        command: command_name.to_string(),
        project_name: plan.manifest.name.clone(),
        manifest: plan.manifest.kind.file_name().to_string(),
        environments: plan.environments.clone(),
        image: crate::records::FlatImage(image.into()),
        pixi_version,
        platform,
        container_workdir: plan.container_workdir.clone(),
        lock_sha256: plan.lock.sha256.clone(),
        lock_version: plan.lock.version,
        excluded: (&excluded).into(),
        preflight: (&checked).into(),
        project_dir: match &plan.source {
            ProjectSource::Host { project_dir, .. } => Some(project_dir.clone()),
            ProjectSource::Container { .. } => None,
        },
        resources_dir: match &plan.source {
            ProjectSource::Host { resources_dir, .. } => resources_dir.clone(),
            ProjectSource::Container { .. } => None,
        },
        installs,
        verification: verifications.first().map(Into::into),
        verifications: verifications.iter().map(Into::into).collect(),
        bundled_pixi,
        cache: Some(cache),
        workdir: plan.workdir.root().to_path_buf(),
        started_at,
        finished_at: now(),
        result,
    };
    report.write(into)?;
    Ok(report)
}

/// After a failed run: its logs go where the user looks (see [`Staging::keep_logs`]); the rest
/// of its folder is removed and the last staging stays whole.
pub fn keep_failed_logs(staging: Staging, workdir: &Workdir) {
    if let Some(logs) = staging.keep_logs(workdir) {
        tracing::info!("logs of the failed run: {}", logs.display());
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Streams the filtered project (and resources) into the container workdir.
async fn upload_project(
    session: &Session,
    plan: &StagePlan,
    into: &Workdir,
) -> anyhow::Result<(ExclusionReport, provenance::Provenance)> {
    let container = session.container();
    let docker = session.docker();
    match &plan.source {
        ProjectSource::Host {
            project_dir,
            resources_dir,
        } => {
            let (entries, excluded) =
                plan.plan_host_upload(project_dir, resources_dir.as_deref())?;
            tracing::info!(
                "copying {} entries into {}:{}",
                entries.len(),
                container.short_id(),
                plan.cw()
            );
            let went_in = provenance::Provenance::from_plan(&entries, &plan.project_prefix())?;
            let bytes = crate::tar::write::content_size(&entries);
            session
                .upload(
                    Box::new(crate::tar::write::planned(entries)),
                    bytes,
                    Owner::ROOT,
                    plan.cw(),
                    "staging",
                )
                .await
                .context("failed to stage the project into the container")?;
            Ok((excluded, went_in))
        }
        ProjectSource::Container { path } => {
            // The engine serialises archive operations on one container, so the filtered tar
            // cannot flow straight back in while it is still being read out: it is spooled to a
            // temporary file in the workdir (disk, not memory) and uploaded from there.
            tracing::info!(
                "copying {}:{path} to {} through a filter",
                container.short_id(),
                plan.cw()
            );
            let root = into.root();
            let spool = tempfile::Builder::new()
                .prefix(crate::workdir::SPOOL_PREFIX)
                .suffix(".tar")
                .tempfile_in(root)
                .with_context(|| {
                    format!("failed to create a spool file in `{}`", root.display())
                })?;
            let file = spool.reopen().context("failed to open the spool file")?;
            let bar = crate::progress::bytes("reading the project", None);
            let source = crate::tar::stream::boxed(crate::progress::track(
                docker.download(container.id(), path),
                bar.clone(),
            ));
            let filtered = walk::refilter_stream(
                source,
                StagePlan::skeleton(),
                plan.project_prefix(),
                plan.filter.clone(),
                std::io::BufWriter::new(file),
            )
            .await;
            bar.finish_and_clear();
            let (file, excluded) = filtered.with_context(|| {
                format!(
                    "failed to copy {}:{path} out of the container",
                    container.short_id()
                )
            })?;
            drop(file);
            let reader = tokio::fs::File::open(spool.path())
                .await
                .context("failed to read the spool file")?;
            let size = reader.metadata().await.map(|m| m.len()).ok();
            let bar = crate::progress::bytes("staging", size);
            let uploaded = docker
                .upload(
                    container.id(),
                    plan.cw(),
                    crate::progress::track(tokio_util::io::ReaderStream::new(reader), bar.clone()),
                )
                .await;
            bar.finish_and_clear();
            uploaded.context("failed to stage the project into the container")?;
            let went_in = provenance::Provenance::from_tar(spool.path(), &plan.project_prefix())?;
            Ok((excluded, went_in))
        }
    }
}

async fn install(
    session: &Session,
    plan: &StagePlan,
    env: &[String],
    environment: &str,
    out: &Path,
) -> anyhow::Result<StepReport> {
    let log_name = format!("install-{environment}.log");
    let mut cmd = vec![
        "pixi".to_string(),
        "install".to_string(),
        "--locked".to_string(),
    ];
    cmd.extend(pixi::environment_args(environment));
    let spec = ExecSpec::new(cmd)
        .env(env)
        .working_dir(plan.container_project())
        .pid_file(plan.pid_file.clone());
    tracing::info!("installing environment `{environment}`: {}", spec.display());
    let (result, seconds) = session.exec_logged(&spec, out, &log_name).await?;
    if !result.success() {
        let text = result.text();
        if pixi::is_stale_lock_output(&text) {
            return Err(InputError::new(format!(
                "pixi.lock is not up to date with {} (environment `{environment}`)",
                plan.manifest.kind.file_name()
            ))
            .with_hint("run `pixi install` (or `pixi lock`) online first, commit the new pixi.lock, then stage again")
            .into());
        }
        // The log is moved out of the run's folder when the run fails: name where it will be.
        return Err(InfraError::new(format!(
            "`{}` failed with exit code {} (log: {})\n{}",
            spec.display(),
            result.exit_code,
            plan.workdir.failed_logs().join(&log_name).display(),
            result.tail(15)
        ))
        .into());
    }
    tracing::info!("environment `{environment}` installed in {seconds:.1}s");
    Ok(StepReport {
        environment: environment.to_string(),
        command: spec.display(),
        exit_code: result.exit_code,
        seconds,
        log: format!("out/{log_name}"),
    })
}

async fn run_verification(
    session: &Session,
    plan: &StagePlan,
    verification: &Verification,
    env: &[String],
    out: &Path,
    log_name: &str,
) -> anyhow::Result<VerificationReport> {
    let Verification { environment, spec } = verification;
    let project = plan.container_project();
    let resources = plan.container_resources();
    let place = VerificationPlace {
        project_dir: &project,
        resources_dir: &resources,
    };
    let exec = ExecSpec::new(spec.command(environment, "--locked", &place))
        .env(env)
        .working_dir(project.clone())
        .pid_file(plan.pid_file.clone());
    let report = session
        // A failed verification is a result: the run's out/ is swapped in, where its log then is.
        .verify(spec, environment, &exec, out, log_name, &plan.workdir.out())
        .await?;
    Ok(VerificationReport {
        log: format!("out/{log_name}"),
        ..report
    })
}

#[cfg(test)]
mod tests;
