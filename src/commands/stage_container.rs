//! `pixi-airgap stage-container`: stage a project that already lives in a running container.
//!
//! The same steps as `stage-host` (shared in [`crate::stage`]); only where the container and the
//! project come from differ. The project is streamed out through the engine, filtered on the host
//! as it passes, and streamed back in, so the container needs no tools beyond `sh`, `mkdir`, `rm`
//! and pixi. The user's container is never stopped, restarted or removed.

use anyhow::Context;

use crate::cli::{StageContainerArgs, VerifyArgs};
use crate::docker::{Container, Docker, ExecSpec};
use crate::exit::{InfraError, InputError, Status};
use crate::leftovers::RunRecord;
use crate::session::Session;
use crate::stage::{self, ProjectFiles};

use super::stage_args::CommonOptions;

/// Validated `stage-container` options. The plan is built in [`run`], once the project's files
/// are read from the container: the verification flags are checked then, with them.
#[derive(Debug, Clone)]
pub struct Options {
    pub container_id: String,
    pub project_path: String,
    pub common: CommonOptions,
    pub keep_container_workdir: bool,
    pub verify: VerifyArgs,
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
        Ok(Self {
            container_id,
            project_path,
            common,
            keep_container_workdir,
            verify,
        })
    }
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
    let files = ProjectFiles::from_container(
        container,
        &options.project_path,
        options.verify.verify_script.as_deref(),
    )
    .await?;
    let plan = super::stage_plan::build(&options.common, files, &options.verify)?;
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
