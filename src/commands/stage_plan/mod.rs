//! Where the staging plan is built: the one conversion from what the user asked for to what a
//! staging run does, as ripgrep's `HiArgs::from_low_args` is. Both staging commands give [`build`]
//! the options they share ([`CommonOptions`]), the verification flags and the project's files,
//! read on this host (`stage-host`) or copied out of the build container first
//! (`stage-container`). It reads the manifest and the lock once, selects the environments, scans
//! for credentials in URLs, checks where the workdir is, binds the verifications and runs the
//! pre-flight, always in that order, before any container is touched. What a plan is lives in
//! [`crate::stage::plan`].

use crate::cli::VerifyArgs;
use crate::exit::with_hint;
use crate::pixi::{LockInfo, ProjectManifest};
use crate::stage::plan::pid_file;
use crate::stage::{ProjectFiles, ProjectSource, StagePlan};

use super::stage_args::CommonOptions;

/// Builds the plan (see the module). Nothing is written and no container is touched.
pub fn build(
    common: &CommonOptions,
    files: ProjectFiles,
    verify: &VerifyArgs,
) -> anyhow::Result<StagePlan> {
    let flag = match files.source() {
        ProjectSource::Host { .. } => "--project-dir",
        ProjectSource::Container { .. } => "--project-path-in-container",
    };
    let manifest = ProjectManifest::discover(files.dir()).map_err(|err| {
        files.in_source(with_hint(
            err,
            &format!("point {flag} at the folder that holds your pixi manifest"),
        ))
    })?;
    let (lock, lock_file) = LockInfo::read_parsed(files.dir()).map_err(|e| files.in_source(e))?;
    let environments = manifest.select_environments(&common.requested_environments)?;
    scan_url_credentials(&files, &manifest, &lock, common.allow_url_credentials)?;
    if let ProjectSource::Host {
        project_dir,
        resources_dir,
    } = files.source()
    {
        common.workdir.check_not_over(project_dir, "project")?;
        if let Some(res) = resources_dir {
            common.workdir.check_not_over(res, "resources folder")?;
        }
    }
    let requests = super::verify_args::resolve_with(verify, |s| files.script(s))?;
    let verifications = super::verify_args::assign(&requests, &environments)?;
    // Last of the checks without a container: the arguments are right, is the project?
    let preflight = crate::check::preflight(files.dir(), &manifest, &lock_file, &environments)
        .map_err(|e| files.in_source(e))?;
    let pid_file = match files.source() {
        // Our own container: removing it ends whatever runs in it.
        ProjectSource::Host { .. } => None,
        // The user's container outlives us: what we start in it must be stoppable.
        ProjectSource::Container { .. } => Some(pid_file(&common.container_workdir)),
    };
    Ok(StagePlan {
        files,
        manifest,
        lock,
        lock_file,
        container_workdir: common.container_workdir.clone(),
        workdir: common.workdir.clone(),
        environments,
        env: common.env.clone(),
        filter: common.filter.clone(),
        verifications,
        preflight,
        bundle_pixi: common.bundle_pixi,
        pid_file,
        cache_from: common.cache_from.clone(),
    })
}

/// Refuses credentials in the URLs of the files pixi reads (or only warns about them, when
/// allowed), before anything is written into a container.
fn scan_url_credentials(
    files: &ProjectFiles,
    manifest: &ProjectManifest,
    lock: &LockInfo,
    allow: bool,
) -> anyhow::Result<()> {
    let config = files.dir().join(".pixi/config.toml");
    let mut scanned = crate::secrets::pixi_files(&config, &manifest.path, &lock.path, files.dir());
    if let ProjectSource::Container { path } = files.source() {
        for file in &mut scanned {
            file.label = format!("{path}/{}", file.label);
        }
    }
    super::check_url_credentials(&scanned, allow)
}

#[cfg(test)]
mod tests;
