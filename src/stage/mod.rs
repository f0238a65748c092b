//! Staging: everything that happens in the build container once it runs, shared by `stage-host`
//! (and later `stage-container`): preflight, upload of the filtered project, `pixi install` with the
//! cache in the work folder, version records, the verification, and the copy back to the host.
//!
//! Logs are written on the host (`WORKDIR/out/`) as the output arrives, so a failed or interrupted
//! run still shows what it did.

pub mod archive;
pub mod filter;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use crate::docker::{Container, ExecSpec};
use crate::exit::{InfraError, InputError};
use crate::pixi::{self, LockInfo, Manifest};
use crate::verify::{Verification, VerifyPlace, VerifySpec, VerifyVerdict};
use crate::workdir::Workdir;
use archive::{ExclusionReport, TarEntry};
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
    /// Each runs in its environment, in this order.
    pub verifications: Vec<Verification>,
    /// The host-side pre-flight check; the version checks are added once the container's pixi
    /// is known.
    pub preflight: crate::check::CheckReport,
    /// Copy the container's pixi into `WORKDIR/pixi-bin/pixi` for the product.
    pub bundle_pixi: bool,
    /// Run installs and verifications under this pid file in the container, so that they can be
    /// stopped on the way out (stage-container: the user's container outlives us).
    pub pid_file: Option<String>,
}

/// What a staging run did; written to `out/stage.json` and printed with `--json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StageReport {
    pub format_version: u32,
    pub tool_version: String,
    pub command: String,
    pub project_name: String,
    pub manifest: String,
    pub environments: Vec<String>,
    pub image: Option<String>,
    pub image_id: Option<String>,
    pub image_repo_digests: Vec<String>,
    pub pixi_version: String,
    pub platform: Option<String>,
    pub container_workdir: String,
    pub lock_sha256: String,
    pub lock_version: Option<u64>,
    pub excluded: ExclusionReport,
    /// What the pre-flight check found ("will this work offline?"); older reports lack it.
    #[serde(default)]
    pub preflight: crate::check::CheckReport,
    /// The host project and resources folders (stage-host), which make-product never writes over.
    #[serde(default)]
    pub project_dir: Option<PathBuf>,
    #[serde(default)]
    pub resources_dir: Option<PathBuf>,
    pub installs: Vec<StepReport>,
    /// The first of `verifications` (what format-1 readers know).
    pub verification: Option<VerificationReport>,
    /// Every verification, each in its environment (older reports lack it).
    #[serde(default)]
    pub verifications: Vec<VerificationReport>,
    /// The build container's pixi, copied with `--bundle-pixi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundled_pixi: Option<BundledPixi>,
    pub workdir: PathBuf,
    pub started_at: String,
    pub finished_at: String,
    pub result: StageResult,
}

impl StageReport {
    /// The exit status this run ends with.
    pub fn status(&self) -> crate::exit::Status {
        match self.result {
            StageResult::Success => crate::exit::Status::Success,
            StageResult::VerificationFailed => crate::exit::Status::VerificationFailed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageResult {
    Success,
    VerificationFailed,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StepReport {
    pub environment: String,
    pub command: String,
    pub exit_code: i64,
    pub seconds: f64,
    pub log: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VerificationReport {
    pub spec: VerifySpec,
    pub environment: String,
    pub command: String,
    #[serde(flatten)]
    pub verdict: VerifyVerdict,
    pub seconds: f64,
    pub log: String,
}

/// The build container's pixi binary, copied to the workdir with `--bundle-pixi`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BundledPixi {
    /// In the workdir, `/`-separated.
    pub path: String,
    /// Where it was in the container.
    pub source: String,
    /// `pixi --version` of that binary.
    pub version: String,
    pub sha256: String,
    pub size: u64,
}

/// Where the image came from, for the report.
#[derive(Debug, Clone, Default)]
pub struct ImageRecord {
    pub name: Option<String>,
    pub id: Option<String>,
    pub repo_digests: Vec<String>,
}

impl ImageRecord {
    /// A local image, by the name the user gave and what the engine says about it.
    pub fn local(name: &str, info: &crate::docker::ImageInfo) -> Self {
        Self {
            name: Some(name.to_string()),
            id: Some(info.id.clone()),
            repo_digests: info.repo_digests.clone(),
        }
    }
}

impl StagePlan {
    fn cw(&self) -> &str {
        self.container_workdir.trim_end_matches('/')
    }
    fn container_project(&self) -> String {
        format!("{}/project/{}", self.cw(), self.manifest.name)
    }
    fn container_resources(&self) -> String {
        format!("{}/resources", self.cw())
    }
    fn container_cache(&self) -> String {
        format!("{}/pixi-cache", self.cw())
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
        ["project", "pixi-cache", "resources"]
            .into_iter()
            .map(|dir| TarEntry {
                path: PathBuf::from(dir),
                kind: archive::EntryKind::Dir,
            })
            .collect()
    }

    fn project_prefix(&self) -> PathBuf {
        PathBuf::from("project").join(&self.manifest.name)
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
            archive::plan_dir(project_dir, &project_prefix, Some(&self.filter))?;
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
                archive::plan_dir(res, Path::new("resources"), Some(&self.filter))?;
            // The resources root itself is already listed above.
            resources.retain(|e| e.path != Path::new("resources"));
            entries.extend(resources);
            report.merge(res_report);
        }
        Ok((entries, report))
    }
}

/// Runs the staging steps in a started container. Returns the report; a failed verification is a
/// result (not an error), everything else that fails is an error with its kind.
pub async fn run_in_container(
    container: &Container,
    plan: &StagePlan,
    image: &ImageRecord,
    command_name: &str,
) -> anyhow::Result<StageReport> {
    let started_at = now();
    let out = plan.workdir.out();
    let pixi_version = preflight(container, image).await?;
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
                crate::workdir::MARKER_TEXT,
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
    let excluded = upload_project(container, plan).await?;
    excluded.log("staging");

    let env = plan.exec_env();
    let mut installs = Vec::new();
    for environment in &plan.environments {
        installs.push(install(container, plan, &env, environment, &out).await?);
    }

    std::fs::write(out.join("pixi-version.txt"), format!("{pixi_version}\n"))
        .context("failed to write out/pixi-version.txt")?;
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
    std::fs::write(out.join("pixi-info.json"), &info.stdout)
        .context("failed to write out/pixi-info.json")?;
    let platform = serde_json::from_slice::<serde_json::Value>(&info.stdout)
        .ok()
        .and_then(|v| {
            v.get("platform")
                .and_then(|p| p.as_str())
                .map(str::to_string)
        });

    // Every verification runs, and is recorded, even after one has failed.
    let mut verifications = Vec::new();
    for (index, verification) in plan.verifications.iter().enumerate() {
        let log_name = crate::verify::log_name(
            "verify",
            index,
            plan.verifications.len(),
            &verification.environment,
        );
        verifications
            .push(run_verification(container, plan, verification, &env, &out, &log_name).await?);
    }

    copy_back(container, plan).await?;
    write_helpers(&plan.workdir, &plan.manifest.name)?;
    let bundled_pixi = if plan.bundle_pixi {
        Some(copy_pixi(container, &plan.workdir, &pixi_version).await?)
    } else {
        None
    };

    let result = if verifications.iter().all(|v| v.verdict.passed) {
        StageResult::Success
    } else {
        StageResult::VerificationFailed
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
        project_dir: match &plan.source {
            ProjectSource::Host { project_dir, .. } => Some(project_dir.clone()),
            ProjectSource::Container { .. } => None,
        },
        resources_dir: match &plan.source {
            ProjectSource::Host { resources_dir, .. } => resources_dir.clone(),
            ProjectSource::Container { .. } => None,
        },
        installs,
        verification: verifications.first().cloned(),
        verifications,
        bundled_pixi,
        workdir: plan.workdir.root().to_path_buf(),
        started_at,
        finished_at: now(),
        result,
    };
    let json = serde_json::to_vec_pretty(&report).context("failed to encode the stage report")?;
    std::fs::write(out.join("stage.json"), json).context("failed to write out/stage.json")?;
    Ok(report)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Streams the filtered project (and resources) into the container workdir.
async fn upload_project(
    container: &Container,
    plan: &StagePlan,
) -> anyhow::Result<ExclusionReport> {
    let docker = container.docker();
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
            let bar = crate::progress::bytes("staging", Some(archive::content_size(&entries)));
            let stream = archive::tar_stream(entries, archive::Owner::ROOT);
            let uploaded = docker
                .upload(
                    container.id(),
                    plan.cw(),
                    crate::progress::track(stream, bar.clone()),
                )
                .await;
            bar.finish_and_clear();
            uploaded.context("failed to stage the project into the container")?;
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
            let source = archive::boxed(crate::progress::track(
                docker.download(container.id(), path),
                bar.clone(),
            ));
            let filtered = archive::refilter_stream(
                source,
                StagePlan::skeleton(),
                plan.project_prefix(),
                plan.filter.clone(),
                std::io::BufWriter::new(file),
            )
            .await;
            bar.finish_and_clear();
            let (file, excluded) = filtered.map_err(|err| {
                crate::docker::download_error(container.id(), path, format!("{err:#}"))
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

/// `pixi --version` in the container; exit 126/127 mean there is no pixi to run.
pub async fn preflight(container: &Container, image: &ImageRecord) -> anyhow::Result<String> {
    let name = image.name.as_deref().unwrap_or("of this container");
    let version = container
        .exec(&ExecSpec::new(["pixi", "--version"]), None)
        .await?;
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
    Ok(String::from_utf8_lossy(&version.stdout).trim().to_string())
}

fn create_log(out: &Path, name: &str) -> anyhow::Result<File> {
    let path = out.join(name);
    File::create(&path).with_context(|| format!("failed to create `{}`", path.display()))
}

async fn install(
    container: &Container,
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
    let (result, seconds) = exec_logged(container, &spec, out, &log_name).await?;
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
        log: format!("out/{log_name}"),
    })
}

async fn run_verification(
    container: &Container,
    plan: &StagePlan,
    verification: &Verification,
    env: &[String],
    out: &Path,
    log_name: &str,
) -> anyhow::Result<VerificationReport> {
    let Verification { environment, spec } = verification;
    let project = plan.container_project();
    let resources = plan.container_resources();
    let place = VerifyPlace {
        project_dir: &project,
        resources_dir: &resources,
    };
    let exec = ExecSpec::new(spec.command(environment, "--locked", &place))
        .env(env)
        .working_dir(project.clone())
        .pid_file(plan.pid_file.clone());
    let report = verify_in_container(container, spec, environment, &exec, out, log_name).await?;
    Ok(VerificationReport {
        log: format!("out/{log_name}"),
        ..report
    })
}

/// Runs a verification command, logs it to `out/<log_name>` and judges it. A failed verification
/// is a report, not an error; its `log` is `log_name`.
pub async fn verify_in_container(
    container: &Container,
    spec: &VerifySpec,
    environment: &str,
    exec: &ExecSpec,
    out: &Path,
    log_name: &str,
) -> anyhow::Result<VerificationReport> {
    tracing::info!("verifying in `{environment}` with {}", spec.describe());
    let (result, seconds) = exec_logged(container, exec, out, log_name).await?;
    let verdict = spec.judge(result.exit_code, &result.text());
    if verdict.passed {
        tracing::info!("verification passed");
    } else {
        tracing::error!(
            "verification failed: {} (log: {})\n{}",
            verdict.reason(),
            out.join(log_name).display(),
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

/// Runs `exec`, writing the command line and then its output to `out/<log_name>` as it arrives.
pub async fn exec_logged(
    container: &Container,
    exec: &ExecSpec,
    out: &Path,
    log_name: &str,
) -> anyhow::Result<(crate::docker::ExecOutput, f64)> {
    let mut log = create_log(out, log_name)?;
    writeln!(log, "$ {}", exec.display()).with_context(|| format!("failed to write {log_name}"))?;
    let started = Instant::now();
    let spinner = crate::progress::spinner(exec.display());
    let result = container.exec(exec, Some(&mut log)).await;
    spinner.finish_and_clear();
    Ok((result?, started.elapsed().as_secs_f64()))
}

/// `WORKDIR/helpers/`: this pixi-airgap binary and `make-archive-ready-product.sh`, so a workdir
/// copied to another machine can still make its product without installing anything.
pub fn write_helpers(workdir: &Workdir, project_name: &str) -> anyhow::Result<()> {
    let helpers = workdir.helpers();
    std::fs::create_dir_all(&helpers)
        .with_context(|| format!("failed to create `{}`", helpers.display()))?;
    let exe = std::env::current_exe().context("cannot locate the running pixi-airgap binary")?;
    let binary = helpers.join("pixi-airgap");
    std::fs::copy(&exe, &binary).with_context(|| {
        format!(
            "failed to copy `{}` to `{}`",
            exe.display(),
            binary.display()
        )
    })?;
    let script = helpers.join("make-archive-ready-product.sh");
    let text = crate::product::templates::make_archive_ready_sh(project_name)?;
    std::fs::write(&script, text)
        .with_context(|| format!("failed to write `{}`", script.display()))?;
    crate::fsutil::set_mode(&script, 0o755)?;
    Ok(())
}

/// Copies the pixi that ran in the container (`command -v pixi`, links resolved) to
/// `WORKDIR/pixi-bin/pixi` through the engine's archive API: the very binary that filled the
/// cache, never a download. The tar is treated as hostile: one regular file, or nothing.
async fn copy_pixi(
    container: &Container,
    workdir: &Workdir,
    version: &str,
) -> anyhow::Result<BundledPixi> {
    let locate = container
        .exec(
            &ExecSpec::new([
                "sh",
                "-c",
                "p=$(command -v pixi) || exit 127; readlink -f \"$p\" 2>/dev/null || printf '%s\\n' \"$p\"",
            ]),
            None,
        )
        .await?;
    let source = String::from_utf8_lossy(&locate.stdout).trim().to_string();
    if !locate.success() || !source.starts_with('/') || source.contains('\n') {
        return Err(InfraError::new(format!(
            "--bundle-pixi: cannot locate pixi in container {} (exit {}): {}",
            container.short_id(),
            locate.exit_code,
            locate.tail(5)
        ))
        .into());
    }
    let base = Path::new(&source)
        .file_name()
        .map(PathBuf::from)
        .context("pixi's path in the container has no file name")?;
    let root = workdir.root();
    let incoming = tempfile::Builder::new()
        .prefix(".pixi-bin-incoming-")
        .tempdir_in(root)
        .with_context(|| format!("failed to create a folder in `{}`", root.display()))?;
    tracing::info!(
        "copying {}:{source} for --bundle-pixi",
        container.short_id()
    );
    let bar = crate::progress::bytes("copying pixi", None);
    let stream = crate::progress::track(
        container.docker().download(container.id(), &source),
        bar.clone(),
    );
    let expected = base.clone();
    // One file is expected: a pixi binary is well under a gigabyte.
    let limits = archive::ExtractLimits {
        max_bytes: 1 << 30,
        max_entries: 16,
    };
    let extracted = archive::extract_stream(
        archive::boxed(stream),
        incoming.path().to_path_buf(),
        None,
        None,
        limits,
        move |p| p != expected.as_path(),
    )
    .await;
    bar.finish_and_clear();
    let stats = extracted.map_err(|err| {
        crate::docker::download_error(container.id(), &source, format!("{err:#}"))
    })?;
    let file = incoming.path().join(&base);
    let is_file = std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file());
    if stats.entries != 1 || stats.skipped != 0 || !is_file {
        return Err(InfraError::new(format!(
            "--bundle-pixi: `{source}` in container {} is not a single regular file",
            container.short_id()
        ))
        .into());
    }
    let dir = workdir.pixi_bin();
    crate::workdir::remove_tree(&dir)?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("failed to create `{}`", dir.display()))?;
    let dest = dir.join("pixi");
    std::fs::rename(&file, &dest)
        .with_context(|| format!("failed to move pixi to `{}`", dest.display()))?;
    crate::fsutil::set_mode(&dest, 0o755)?;
    let size = std::fs::metadata(&dest)
        .with_context(|| format!("failed to read `{}`", dest.display()))?
        .len();
    let sha256 = crate::product::hash_file(&dest)?;
    tracing::info!("bundled {version} ({source}, sha256 {sha256})");
    Ok(BundledPixi {
        path: "pixi-bin/pixi".to_string(),
        source,
        version: version.to_string(),
        sha256,
        size,
    })
}

/// Copies the container workdir back into the host workdir, without the environments.
async fn copy_back(container: &Container, plan: &StagePlan) -> anyhow::Result<()> {
    let envs = format!("{}/.pixi/envs", plan.container_project());
    // Environments are not relocatable and can be large: drop them before the copy. Best effort;
    // the extraction below leaves them out anyway.
    let _ = container
        .exec(&ExecSpec::new(["rm", "-rf", "--", envs.as_str()]), None)
        .await;
    let root = plan.workdir.root();
    std::fs::create_dir_all(root)
        .with_context(|| format!("failed to create `{}`", root.display()))?;
    let incoming = tempfile::Builder::new()
        .prefix(crate::workdir::INCOMING_PREFIX)
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
    let skip_envs = Path::new("project")
        .join(&plan.manifest.name)
        .join(".pixi/envs");
    let limits = archive::ExtractLimits::from_env()?;
    if crate::fsutil::running_as_root() {
        tracing::warn!(
            "running as root: what the container hands back is written with normalised modes \
             (no setuid, setgid or world-write) and owned by root; prefer a user in the docker group"
        );
    }
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
    let extracted = archive::extract_stream(
        archive::boxed(stream),
        incoming.path().to_path_buf(),
        Some(base),
        Some(PathBuf::from(plan.cw())),
        limits,
        move |p| p.starts_with(&skip_envs),
    )
    .await;
    bar.finish_and_clear();
    let stats = extracted.map_err(|err| {
        // What the container handed back is refused by what it is: bad input, not the engine.
        if err.is::<archive::RefusedEntry>() {
            return err.context(format!(
                "the container's workdir `{}` holds something that may not reach this host",
                plan.cw()
            ));
        }
        crate::docker::download_error(container.id(), plan.cw(), format!("{err:#}")).into()
    })?;
    tracing::info!(
        "copied back {} entries ({:.1} MiB)",
        stats.entries,
        stats.bytes as f64 / (1024.0 * 1024.0)
    );
    if !stats.special.is_empty() {
        tracing::warn!(
            "left out {} special file(s) (FIFOs, devices) the container made: {}",
            stats.special.len(),
            stats
                .special
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if stats.sanitized_modes > 0 {
        tracing::warn!(
            "dropped setuid/setgid/sticky or world-write bits from {} file(s) the container made",
            stats.sanitized_modes
        );
    }
    // Every staged folder must come back as a real folder, never a link (a container could point
    // one at the host's home and have us walk it into the product).
    let project_rel = Path::new("project").join(&plan.manifest.name);
    for rel in [
        Path::new("project"),
        project_rel.as_path(),
        Path::new("resources"),
        Path::new("pixi-cache"),
    ] {
        let path = incoming.path().join(rel);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(InputError::new(format!(
                    "the container replaced `{}` in its workdir by something that is not a folder (a link?)",
                    rel.display()
                ))
                .into())
            }
            Err(_) if rel == project_rel || rel == Path::new("project") => {
                return Err(InputError::new(format!(
                    "the container's workdir lost `{}`",
                    rel.display()
                ))
                .into())
            }
            Err(_) => {}
        }
    }
    for folder in ["project", "resources", "pixi-cache"] {
        let from = incoming.path().join(folder);
        let to = root.join(folder);
        if !from.exists() {
            continue;
        }
        crate::workdir::remove_tree(&to)?;
        std::fs::rename(&from, &to)
            .with_context(|| format!("failed to move `{}` into place", to.display()))?;
    }
    Ok(())
}
