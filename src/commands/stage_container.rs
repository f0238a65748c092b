//! `pixi-airgap stage-container`: stage a project that already lives in a running container.
//!
//! The same steps as `stage-host` (shared in [`crate::stage`]); only where the container and the
//! project come from differ. The project is streamed out through the engine, filtered on the host
//! as it passes, and streamed back in, so the container needs no tools beyond `sh`, `mkdir`, `rm`
//! and pixi. The user's container is never stopped, restarted or removed.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::StageContainerArgs;
use crate::docker::{Container, Docker, ExecSpec};
use crate::exit::{InfraError, InputError, Status};
use crate::leftovers::RunRecord;
use crate::pixi::{LockInfo, ProjectManifest};
use crate::session::Session;
use crate::stage::{self, ProjectSource, StagePlan};
use crate::verification::{
    interpreter_from_shebang, locate_script, missing_script_error, ScriptLocation, ScriptSearch,
    VerificationKind, VerificationRequest,
};

use super::stage_args::CommonOptions;

/// Validated `stage-container` options (the manifest is read from the container in [`run`]).
#[derive(Debug, Clone)]
pub struct Options {
    pub container_id: String,
    pub project_path: String,
    pub common: CommonOptions,
    pub keep_container_workdir: bool,
    pub verify: Vec<VerificationRequest>,
}

impl Options {
    pub fn resolve(args: StageContainerArgs) -> anyhow::Result<Self> {
        let StageContainerArgs {
            container_id,
            project_path_in_container,
            stage,
            keep_container_workdir,
            verify,
        } = args;
        if container_id.trim().is_empty() {
            return Err(InputError::new("--container-id must name a container").into());
        }
        let project_path = project_path_in_container.into_string();
        let common = CommonOptions::resolve(stage)?;
        let container_workdir = &common.container_workdir;
        // The container workdir is created and deleted: it must not touch the user's project.
        let overlaps = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
        if overlaps(&project_path, container_workdir) || overlaps(container_workdir, &project_path)
        {
            return Err(InputError::new(format!(
                "--container-workdir-path `{container_workdir}` overlaps the project `{project_path}`"
            ))
            .with_hint("pick a container workdir outside the project, e.g. /tmp/pixi-airgap-workdir")
            .into());
        }
        // A script is a path inside the container's project; its `#!` line is read in `run`.
        let verify = super::verify_args::resolve_with(&verify, |script| {
            container_script(script, &project_path)
        })?;
        Ok(Self {
            container_id,
            project_path,
            common,
            keep_container_workdir,
            verify,
        })
    }
}

/// The script's place in the container's project, by the rule of [`crate::verification::ScriptSearch`]
/// (the project only: no resources, and this host's current folder is not in the container). Its
/// existence and `#!` line are checked in [`plan`].
fn container_script(script: &Path, project_path: &str) -> anyhow::Result<VerificationKind> {
    let search = ScriptSearch {
        project: Path::new(project_path),
        resources: None,
        current_dir: None,
    };
    let found = locate_script(script, &search, |_| true)?;
    Ok(VerificationKind::Script {
        location: ScriptLocation::Project,
        path: found.rel,
        interpreter: vec!["sh".to_string()],
    })
}

pub async fn run(options: &Options) -> anyhow::Result<Status> {
    // One run per workdir, for the whole run.
    let _lock = super::lock(
        options.common.workdir.root(),
        "workdir",
        options.common.wait,
    )
    .await?;
    // Again, now that no other run can change it: it may have been filled while we waited.
    options
        .common
        .workdir
        .check_writable(options.common.force)?;
    let docker = Docker::connect().await?;
    let session = Session::attach(&docker, &options.container_id).await?;
    let container = session.container();
    let (_manifest_dir, plan) = plan(&docker, container, options).await?;
    // Deletions last: (with --force) our old container workdir, only when it carries our
    // marker, then the host workdir's leftovers of killed runs. The last staging on the host is
    // replaced only once the new one is back.
    prepare_container_workdir(container, options).await?;
    options.common.workdir.prepare()?;
    let staging = options.common.workdir.begin_staging()?;
    let cw = &options.common.container_workdir;
    let pid_file = plan
        .pid_file
        .clone()
        .context("stage-container runs its commands under a pid file")?;
    // Recorded on this host until we have cleaned up: after a SIGKILL, `pixi-airgap clean`
    // stops what still runs and deletes the container workdir.
    let record = RunRecord {
        command: "stage-container".to_string(),
        container_id: container.id().to_string(),
        container_workdir: cw.clone(),
        pid_file: pid_file.clone(),
        host_workdir: options.common.workdir.root().to_path_buf(),
        creator: crate::process::Creator::current(),
    }
    .write();
    tracing::info!(
        "staging `{}` ({}) from container {}:{}",
        plan.manifest.name,
        plan.environments.join(", "),
        container.short_id(),
        options.project_path
    );
    let result = crate::shutdown::until_stopped(stage::run_in_container(
        &session,
        &plan,
        staging.workdir(),
        "stage-container",
    ))
    .await;
    // An install or verification we stopped waiting for still runs in the user's container: end
    // it through a second exec (the engine cannot end an exec).
    let stopped = if result.is_err() {
        tracing::info!(
            "stopping what may still run under {pid_file} in container {}",
            container.short_id()
        );
        crate::leftovers::stop_running(&docker, container.id(), &pid_file).await
    } else {
        Ok(())
    };
    // Whatever happened, leave the user's container as we found it.
    let cleaned = if options.keep_container_workdir {
        tracing::info!(
            "keeping {cw} in container {} (--keep-container-workdir)",
            container.short_id()
        );
        Ok(())
    } else {
        remove_container_workdir(container, cw).await
    };
    if stopped.is_ok() && cleaned.is_ok() {
        record.done();
    }
    let report = match (result, stopped.map_err(anyhow::Error::from), cleaned) {
        (Ok(report), Ok(()), Ok(())) => report,
        (Err(err), _, _) | (_, Err(err), _) | (_, _, Err(err)) => {
            stage::keep_failed_logs(staging, &plan.workdir);
            return Err(err);
        }
    };
    // The new staging replaces the last one only now that it is complete.
    crate::product::helpers::write(staging.workdir(), &plan.manifest.name)?;
    staging.commit(&plan.workdir)?;
    if options.common.json {
        crate::output::json(&super::WithEngine {
            report: &report,
            engine: docker.engine(),
        })?;
    }
    Ok(report.status())
}

/// Reads the manifest and lock from the container and turns the options into a plan. The
/// returned temporary folder holds those copies and must live as long as the plan is used.
async fn plan(
    docker: &Docker,
    container: &Container,
    options: &Options,
) -> anyhow::Result<(tempfile::TempDir, StagePlan)> {
    const LIMIT: usize = 64 * 1024 * 1024;
    let tmp = tempfile::tempdir().context("failed to create a temporary folder")?;
    let folder = Path::new(&options.project_path)
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("project"));
    let local = tmp.path().join(folder);
    std::fs::create_dir_all(&local).context("failed to create a temporary folder")?;
    std::fs::create_dir_all(local.join(".pixi")).context("failed to create a temporary folder")?;
    for name in [
        "pixi.toml",
        "pyproject.toml",
        "pixi.lock",
        ".pixi/config.toml",
    ] {
        let path = format!("{}/{name}", options.project_path);
        if let Some(bytes) = docker.read_file(container.id(), &path, LIMIT).await? {
            std::fs::write(local.join(name), bytes)
                .with_context(|| format!("failed to keep a copy of {name}"))?;
        }
    }
    let in_container = |err: anyhow::Error| {
        err.context(format!(
            "in container {}:{}",
            container.short_id(),
            options.project_path
        ))
    };
    let manifest = ProjectManifest::discover(&local).map_err(|err| {
        in_container(crate::exit::with_hint(
            err,
            "point --project-path-in-container at the folder that holds your pixi manifest",
        ))
    })?;
    let lock = LockInfo::read(&local).map_err(in_container)?;
    let environments = manifest.select_environments(&options.common.requested_environments)?;
    let preflight = crate::check::preflight(&local, &environments).map_err(in_container)?;
    // Before anything is written into the container.
    let config = local.join(".pixi/config.toml");
    let mut files = crate::secrets::pixi_files(&config, &manifest.path, &lock.path, &local);
    for file in &mut files {
        file.label = format!("{}/{}", options.project_path, file.label);
    }
    super::check_url_credentials(&files, options.common.allow_url_credentials)?;
    let mut verifications = super::verify_args::assign(&options.verify, &environments)?;
    for verification in &mut verifications {
        let VerificationKind::Script {
            path, interpreter, ..
        } = &mut verification.spec.kind
        else {
            continue;
        };
        let full = format!("{}/{path}", options.project_path);
        let head = docker
            .read_file(container.id(), &full, 256)
            .await?
            .ok_or_else(|| {
                let full = PathBuf::from(&full);
                missing_script_error(&full, &[(full.clone(), "the project in the container")])
            })?;
        *interpreter = interpreter_from_shebang(&String::from_utf8_lossy(&head));
    }
    let plan = StagePlan {
        source: ProjectSource::Container {
            path: options.project_path.clone(),
        },
        manifest,
        lock,
        container_workdir: options.common.container_workdir.clone(),
        workdir: options.common.workdir.clone(),
        environments,
        env: options.common.env.clone(),
        filter: options.common.filter.clone(),
        verifications,
        preflight,
        bundle_pixi: options.common.bundle_pixi,
        pid_file: Some(pid_file(&options.common.container_workdir)),
        cache_from: options.common.cache_from.clone(),
    };
    Ok((tmp, plan))
}

/// The pid file installs and verifications run under: inside the container workdir, which is ours.
fn pid_file(container_workdir: &str) -> String {
    format!(
        "{}/.pixi-airgap-running.pid",
        container_workdir.trim_end_matches('/')
    )
}

/// Refuses an existing container workdir unless `--force`, which deletes it first.
async fn prepare_container_workdir(container: &Container, options: &Options) -> anyhow::Result<()> {
    let cw = &options.common.container_workdir;
    let exists = container
        .exec(
            &ExecSpec::new(["sh", "-c", "test -e \"$1\"", "sh", cw.as_str()]),
            None,
        )
        .await?;
    if exists.exit_code == 0 {
        if !options.common.force {
            return Err(InputError::new(format!(
                "`{cw}` already exists in container {}",
                container.short_id()
            ))
            .with_hint("pass --force to replace it, or pick another --container-workdir-path")
            .into());
        }
        let marker = format!("{cw}/{}", crate::workdir::MARKER);
        if !container.has_plain_file(&marker).await? {
            return Err(InputError::new(format!(
                "`{cw}` in container {} is not a pixi-airgap workdir (it has no {}): nothing was deleted",
                container.short_id(),
                crate::workdir::MARKER
            ))
            .with_hint("pick another --container-workdir-path: --force only replaces a container workdir pixi-airgap made")
            .into());
        }
        remove_container_workdir(container, cw).await?;
    }
    Ok(())
}

async fn remove_container_workdir(container: &Container, cw: &str) -> anyhow::Result<()> {
    let rm = container
        .exec(&ExecSpec::new(["rm", "-rf", "--", cw]), None)
        .await?;
    if !rm.success() {
        return Err(InfraError::new(format!(
            "could not remove `{cw}` from container {}: {}",
            container.short_id(),
            rm.tail(5)
        ))
        .into());
    }
    Ok(())
}
