//! Staging: everything that happens in the build container once it runs, shared by `stage-host`
//! and `stage-container`: the pixi version check, upload of the filtered project ([`walk`],
//! [`filter`]), `pixi install` with the cache in the work folder, version records, the
//! verification, the copy back into the workdir, and the record of it all (`out/stage.json`).
//! The container's lifecycle is the caller's [`Session`].
//!
//! Logs are written on the host (`WORKDIR/out/`) as the output arrives, so a failed or interrupted
//! run still shows what it did.

pub mod filter;
pub mod walk;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::docker::ExecSpec;
use crate::exit::{InfraError, InputError};
use crate::pixi::{self, LockInfo, Manifest};
use crate::session::Session;
use crate::tar::write::{Owner, TarEntry};
use crate::verify::{VerificationReport, VerifyPlace, VerifySpec};
use crate::workdir::report::{ExclusionReport, StageReport, StageResult, StepReport};
use crate::workdir::Workdir;
use filter::StageFilter;

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
    pub manifest: Manifest,
    pub lock: LockInfo,
    /// Absolute POSIX path inside the container.
    pub container_workdir: String,
    pub workdir: Workdir,
    pub environments: Vec<String>,
    /// `KEY=VALUE` pairs for every exec in the container.
    pub env: Vec<String>,
    pub filter: StageFilter,
    pub verify: Option<VerifySpec>,
    /// The host-side pre-flight check; the version checks are added once the container's pixi
    /// is known.
    pub preflight: crate::check::CheckReport,
}

impl StagePlan {
    fn cw(&self) -> &str {
        self.container_workdir.trim_end_matches('/')
    }
    fn container_project(&self) -> String {
        format!("{}/{}/{}", self.cw(), Workdir::PROJECTS, self.manifest.name)
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

    /// The environment the verification runs in: `default` when it is staged, else the first one.
    pub fn verify_environment(&self) -> &str {
        crate::verify::environment(&self.environments)
    }

    /// The folders every staged container workdir has, relative to it.
    fn skeleton() -> Vec<TarEntry> {
        Workdir::CONTAINER_FOLDERS
            .into_iter()
            .map(TarEntry::dir)
            .collect()
    }

    fn project_prefix(&self) -> PathBuf {
        PathBuf::from(Workdir::PROJECTS).join(&self.manifest.name)
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
pub async fn run_in_container(
    session: &Session,
    plan: &StagePlan,
    command_name: &str,
) -> anyhow::Result<StageReport> {
    let started_at = now();
    let out = plan.workdir.out();
    let pixi_version = session.pixi_version().await?;
    let image = session.image();
    tracing::info!(
        "{pixi_version} in container {}",
        session.container().short_id()
    );
    // Can this pixi read the lock and meet requires-pixi? Known only now; still before upload.
    let mut checked = plan.preflight.clone();
    checked.add_pixi_version(&pixi_version);
    if checked.errors() > plan.preflight.errors() {
        checked.log();
        return Err(checked.error());
    }

    let mkdir = session
        .exec(&ExecSpec::new(["mkdir", "-p", "--", plan.cw()]))
        .await?;
    if !mkdir.success() {
        return Err(InfraError::new(format!(
            "could not create `{}` in the container: {}",
            plan.cw(),
            mkdir.tail(5)
        ))
        .into());
    }
    let excluded = upload_project(session, plan).await?;
    excluded.log("staging");

    let env = plan.exec_env();
    let mut installs = Vec::new();
    for environment in &plan.environments {
        installs.push(install(session, plan, &env, environment, &out).await?);
    }

    std::fs::write(out.join("pixi-version.txt"), format!("{pixi_version}\n"))
        .context("failed to write out/pixi-version.txt")?;
    let info = session
        .exec(
            &ExecSpec::new(["pixi", "info", "--json"])
                .env(&env)
                .working_dir(plan.container_project()),
        )
        .await?;
    if !info.success() {
        tracing::warn!(
            "`pixi info --json` failed (exit {}): {}",
            info.exit_code,
            info.tail(5)
        );
    }
    std::fs::write(out.join("pixi-info.json"), &info.stdout)
        .context("failed to write out/pixi-info.json")?;
    let platform = serde_json::from_slice::<serde_json::Value>(&info.stdout)
        .ok()
        .and_then(|v| {
            v.get("platform")
                .and_then(|p| p.as_str())
                .map(str::to_string)
        });

    let verification = match &plan.verify {
        Some(spec) => Some(run_verification(session, plan, spec, &env, &out).await?),
        None => None,
    };

    copy_back(session, plan).await?;

    let result = match &verification {
        Some(v) if !v.verdict.passed => StageResult::VerificationFailed,
        _ => StageResult::Success,
    };
    let report = StageReport {
        format_version: 1,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        command: command_name.to_string(),
        project_name: plan.manifest.name.clone(),
        manifest: plan.manifest.kind.file_name().to_string(),
        environments: plan.environments.clone(),
        image: image.name.clone(),
        image_id: image.id.clone(),
        image_repo_digests: image.repo_digests.clone(),
        pixi_version,
        platform,
        container_workdir: plan.container_workdir.clone(),
        lock_sha256: plan.lock.sha256.clone(),
        lock_version: plan.lock.version,
        excluded,
        preflight: checked,
        installs,
        verification,
        workdir: plan.workdir.root().to_path_buf(),
        started_at,
        finished_at: now(),
        result,
    };
    report.write(&plan.workdir)?;
    Ok(report)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Streams the filtered project (and resources) into the container workdir.
async fn upload_project(session: &Session, plan: &StagePlan) -> anyhow::Result<ExclusionReport> {
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
            session
                .upload(entries, Owner::ROOT, plan.cw(), "staging")
                .await
                .context("failed to stage the project into the container")?;
            Ok(excluded)
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
            let root = plan.workdir.root();
            let spool = tempfile::Builder::new()
                .prefix(".stage-spool-")
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
            Ok(excluded)
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
        .working_dir(plan.container_project());
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
        return Err(InfraError::new(format!(
            "`{}` failed with exit code {} (log: {})\n{}",
            spec.display(),
            result.exit_code,
            out.join(&log_name).display(),
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
        log: format!("{}/{log_name}", Workdir::OUT),
    })
}

async fn run_verification(
    session: &Session,
    plan: &StagePlan,
    spec: &VerifySpec,
    env: &[String],
    out: &Path,
) -> anyhow::Result<VerificationReport> {
    let environment = plan.verify_environment().to_string();
    let project = plan.container_project();
    let resources = plan.container_resources();
    let place = VerifyPlace {
        project_dir: &project,
        resources_dir: &resources,
    };
    let exec = ExecSpec::new(spec.command(&environment, "--locked", &place))
        .env(env)
        .working_dir(project.clone());
    let verification = session.verify(spec, &environment, &exec, out).await?;
    // Reports name their logs relative to the workdir.
    Ok(VerificationReport {
        log: format!("{}/{}", Workdir::OUT, verification.log),
        ..verification
    })
}

/// Copies the container workdir back into the host workdir, without the environments.
async fn copy_back(session: &Session, plan: &StagePlan) -> anyhow::Result<()> {
    let container = session.container();
    let envs = format!("{}/.pixi/envs", plan.container_project());
    // Environments are not relocatable and can be large: drop them before the copy. Best effort;
    // the extraction below leaves them out anyway.
    let _ = session
        .exec(&ExecSpec::new(["rm", "-rf", "--", envs.as_str()]))
        .await;
    let root = plan.workdir.root();
    std::fs::create_dir_all(root)
        .with_context(|| format!("failed to create `{}`", root.display()))?;
    let incoming = tempfile::Builder::new()
        .prefix(".incoming-")
        .tempdir_in(root)
        .with_context(|| {
            format!(
                "failed to create a temporary folder in `{}`",
                root.display()
            )
        })?;
    let base = Path::new(plan.cw())
        .file_name()
        .map(PathBuf::from)
        .context("the container workdir has no name")?;
    let skip_envs = base
        .join(Workdir::PROJECTS)
        .join(&plan.manifest.name)
        .join(".pixi/envs");
    tracing::info!(
        "copying {}:{} back to {}",
        container.short_id(),
        plan.cw(),
        root.display()
    );
    let bar = crate::progress::bytes("copying back", None);
    let stream = crate::progress::track(
        container.docker().download(container.id(), plan.cw()),
        bar.clone(),
    );
    let extracted = crate::tar::extract::extract_stream(
        crate::tar::stream::boxed(stream),
        incoming.path().to_path_buf(),
        move |p| p.starts_with(&skip_envs),
    )
    .await;
    bar.finish_and_clear();
    let stats = extracted.with_context(|| {
        format!(
            "failed to copy {}:{} back to `{}`",
            container.short_id(),
            plan.cw(),
            root.display()
        )
    })?;
    tracing::info!(
        "copied back {} entries ({:.1} MiB)",
        stats.entries,
        stats.bytes as f64 / (1024.0 * 1024.0)
    );
    for folder in Workdir::CONTAINER_FOLDERS {
        let from = incoming.path().join(&base).join(folder);
        if from.exists() {
            crate::atomic::replace_dir(&from, &root.join(folder))?;
        }
    }
    Ok(())
}
