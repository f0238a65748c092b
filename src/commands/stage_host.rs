//! `pixi-airgap stage-host`: stage a project that lives on this host in a fresh container.

use crate::cli::StageHostArgs;

use super::stage_args::CommonOptions;
use crate::docker::Docker;
use crate::exit::Status;
use crate::session::{PendingRemoval, Session, SessionSpec};
use crate::stage::{self, ProjectFiles, StagePlan};
use crate::workdir::report::{StageReport, StageResult};

/// Validated `stage-host` options.
#[derive(Debug, Clone)]
pub struct Options {
    pub image: String,
    pub pull: bool,
    pub network: Option<String>,
    pub keep_container: bool,
    /// Dropped capabilities and limits of the build container.
    pub confinement: crate::docker::Confinement,
    pub force: bool,
    pub wait: crate::runlock::Wait,
    pub json: bool,
    pub plan: StagePlan,
}

impl Options {
    /// Checks everything that can be checked without Docker.
    pub fn resolve(args: StageHostArgs) -> anyhow::Result<Self> {
        let StageHostArgs {
            image,
            pull,
            project_dir,
            resources_dir,
            stage,
            network,
            keep_container,
            memory,
            pids_limit,
            verify,
        } = args;
        let common = CommonOptions::resolve(stage)?;
        let project_dir = super::canonical_dir(&project_dir)?;
        let resources_dir = resources_dir
            .map(|d| super::canonical_dir(&d))
            .transpose()?;
        let files = ProjectFiles::host(project_dir, resources_dir);
        let plan = super::stage_plan::build(&common, files, &verify)?;
        // The rest of the common options went into the plan.
        let CommonOptions {
            force, wait, json, ..
        } = common;
        Ok(Self {
            image,
            pull,
            network,
            keep_container,
            confinement: crate::docker::Confinement {
                memory_bytes: memory.0,
                pids: pids_limit.0.and_then(|n| u32::try_from(n).ok()),
            },
            force,
            wait,
            json,
            plan,
        })
    }
}

/// Runs `stage-host` to the end. `Ok(Status::VerificationFailed)` when the verification failed
/// (the workdir is written all the same).
pub async fn run(options: &Options) -> anyhow::Result<Status> {
    let docker = Docker::connect().await?;
    // Held until the last staging's folders are gone too (stage_with's own hold is then a no-op).
    let _lock = super::lock(options.plan.workdir.root(), "workdir", options.wait).await?;
    let (report, removal, old) = stage_with(&docker, options).await?;
    removal.wait().await?;
    super::wait_for(old).await?;
    if options.json {
        crate::output::json(&super::WithEngine {
            report: &report,
            engine: docker.engine(),
        })?;
    }
    Ok(report.status())
}

/// Stages for `pack`: the staging container (see [`Session::close_deferred`]) and the last
/// staging's folders are still being removed when this returns; `pack`, which holds the workdir,
/// waits for both before it ends.
pub async fn stage(
    options: &Options,
) -> anyhow::Result<(StageReport, PendingRemoval, crate::atomic::Removals)> {
    let docker = Docker::connect().await?;
    stage_with(&docker, options).await
}

async fn stage_with(
    docker: &Docker,
    options: &Options,
) -> anyhow::Result<(StageReport, PendingRemoval, crate::atomic::Removals)> {
    let plan = &options.plan;
    // One run per workdir, for the whole run (a no-op under `pack`, which holds it already).
    let _lock = super::lock(plan.workdir.root(), "workdir", options.wait).await?;
    // Again, now that no other run can change it: the workdir may have been filled while we
    // waited.
    plan.workdir.check_writable(options.force)?;
    // Everything that can be refused is refused before the workdir is touched: a typo in
    // `--image` (or in the container life limit) deletes nothing.
    docker.require_image(&options.image, options.pull).await?;
    let max_life = crate::session::max_life()?;
    plan.workdir.prepare()?;
    tracing::info!(
        "staging `{}` ({}) with image {}",
        plan.manifest.name,
        plan.environments.join(", "),
        options.image
    );
    let session = Session::create_with(
        docker,
        &SessionSpec {
            image: options.image.clone(),
            pull: false,
            command: "stage-host",
            host_dir: plan.workdir.root().to_path_buf(),
            network: options.network.clone(),
            keep: options.keep_container,
            max_life,
            // The default container workdir is a scratch volume; a path the user chose may be a
            // folder the image holds, which a volume would hide.
            scratch: (plan.container_workdir == crate::cli::DEFAULT_CONTAINER_WORKDIR)
                .then(|| plan.container_workdir.clone()),
            confinement: Some(options.confinement),
        },
    )
    .await?;
    let staging = plan.workdir.begin_staging()?;
    let result = crate::shutdown::until_stopped(stage::run_in_container(
        &session,
        plan,
        staging.workdir(),
        "stage-host",
    ))
    .await;
    let (report, removal) = match session.close_deferred(result).await {
        Ok(done) => done,
        Err(err) => {
            stage::keep_failed_logs(staging, &plan.workdir);
            return Err(err);
        }
    };
    // The new staging replaces the last one only now that it is complete.
    let committed = crate::product::helpers::write(staging.workdir(), &plan.manifest.name)
        .and_then(|()| staging.commit_removing_in_background(&plan.workdir));
    let old = match committed {
        Ok(old) => old,
        Err(err) => {
            let _ = removal.wait().await;
            return Err(err);
        }
    };
    tracing::info!(
        "workdir: {} ({})",
        plan.workdir.root().display(),
        match report.result {
            StageResult::Success => "staged",
            StageResult::VerificationFailed => "staged, but the verification failed",
        }
    );
    Ok((report, removal, old))
}
