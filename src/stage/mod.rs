//! Staging: everything that happens in the build container once it runs, shared by `stage-host`
//! and `stage-container`. The run is a list of named steps ([`run_in_container`]), each in its
//! module: the [`plan`] (built once, before any container), the [`steps`] in the container, the
//! [`upload`] of the filtered project, the cache [`seed`], and the [`copy_back`].
//! What is staged is decided by [`filter`] and applied by [`walk`]; the container itself is a
//! [`crate::session::Session`], and what staging leaves is a [`crate::workdir::Workdir`] with its
//! record ([`crate::workdir::report`]), which is all the product side sees of it.
//!
//! Logs are written on the host (`WORKDIR/out/`) as the output arrives, so a failed or interrupted
//! run still shows what it did.

pub mod filter;
pub mod plan;
pub mod provenance;
pub mod seed;
pub mod walk;

mod bundle_pixi;
mod copy_back;
mod steps;
mod upload;

pub use plan::{ProjectFiles, ProjectSource, StagePlan};

use crate::session::Session;
use crate::workdir::report::{StageReport, StageResult};
use crate::workdir::{Staging, Workdir};

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
    let started_at = now();
    let out = into.out();
    let (pixi_version, preflight) = steps::check_pixi(session, plan).await?;
    steps::make_container_workdir(session, plan).await?;
    let (excluded, went_in) = upload::upload_project(session, plan, into).await?;
    excluded.log("staging");
    // Warm re-staging: what an earlier run downloaded goes in before the install.
    let seeded = match plan
        .cache_from
        .clone()
        .or_else(|| seed::CacheSeed::own(&plan.workdir, &plan.manifest.name))
    {
        Some(seed) => Some(seed::seed_cache(session, plan, &seed, &plan.lock_file).await?),
        None => None,
    };
    let env = plan.exec_env();
    let installs = steps::install_all(session, plan, &env, &out).await?;
    let platform = steps::record_pixi(session, plan, &env, &out, &pixi_version).await?;
    let (cache, stale) = seed::cache_report(plan, &plan.lock_file, platform.as_deref(), seeded);
    let verifications = steps::verify_all(session, plan, &env, &out).await?;
    copy_back::copy_back(session, plan, into, stale).await?;
    // The project that came back must be the one that went in (plus what pixi creates).
    let project_rel = plan.project_prefix();
    went_in.check(
        &into.root().join(&project_rel),
        &project_rel.display().to_string(),
    )?;
    let bundled_pixi = if plan.bundle_pixi {
        Some(bundle_pixi::copy_pixi(session, into, &pixi_version).await?)
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
        image: session.image().into(),
        pixi_version,
        platform,
        container_workdir: plan.container_workdir.clone(),
        lock_sha256: plan.lock.sha256.clone(),
        lock_version: plan.lock.version,
        excluded: (&excluded).into(),
        preflight: (&preflight).into(),
        project_dir: match plan.source() {
            ProjectSource::Host { project_dir, .. } => Some(project_dir.clone()),
            ProjectSource::Container { .. } => None,
        },
        resources_dir: match plan.source() {
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

#[cfg(test)]
mod tests;
