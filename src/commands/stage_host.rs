//! `pixi-airgap stage-host`: stage a project that lives on this host in a fresh container.

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{StageArgs, StageHostArgs};
use crate::docker::{ContainerSpec, Docker, LABEL_COMMAND, LABEL_WORKDIR};
use crate::exit::{InputError, Status};
use crate::pixi::{LockInfo, Manifest};
use crate::stage::filter::StageFilter;
use crate::stage::{self, ImageRecord, ProjectSource, StagePlan, StageReport, StageResult};
use crate::verify::VerifySpec;
use crate::workdir::Workdir;

/// Validated `stage-host` options.
#[derive(Debug, Clone)]
pub struct Options {
    pub image: String,
    pub pull: bool,
    pub network: Option<String>,
    pub keep_container: bool,
    pub force: bool,
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
            verify,
        } = args;
        let StageArgs {
            container_workdir_path,
            workdir,
            environments,
            env,
            exclude,
            include_secret,
            force,
            json,
        } = stage;
        if image.trim().is_empty() {
            return Err(InputError::new("--image must name an image").into());
        }
        let project_dir = existing_dir(&project_dir, "--project-dir")?;
        let resources_dir = resources_dir
            .map(|d| existing_dir(&d, "--resources-dir"))
            .transpose()?;
        let manifest = Manifest::discover(&project_dir)?;
        let lock = LockInfo::read(&project_dir)?;
        let environments = manifest.select_environments(&environments)?;
        let container_workdir = container_path(&container_workdir_path)?;
        let workdir = Workdir::new(&workdir.unwrap_or_else(Workdir::default_path))?;
        workdir.check_writable(force)?;
        if project_dir.starts_with(workdir.root()) {
            return Err(InputError::new(format!(
                "the project `{}` is inside the workdir `{}`",
                project_dir.display(),
                workdir.root().display()
            ))
            .into());
        }
        let filter = StageFilter::new(&exclude, &include_secret)?;
        let verify = VerifySpec::resolve(&verify, &project_dir, resources_dir.as_deref())?;
        let env = resolve_env(&env)?;
        Ok(Self {
            image,
            pull,
            network,
            keep_container,
            force,
            json,
            plan: StagePlan {
                source: ProjectSource::Host {
                    project_dir,
                    resources_dir,
                },
                manifest,
                lock,
                container_workdir,
                workdir,
                environments,
                env,
                filter,
                verify,
            },
        })
    }
}

fn existing_dir(path: &std::path::Path, flag: &str) -> anyhow::Result<PathBuf> {
    if !path.is_dir() {
        return Err(InputError::new(format!("{flag} `{}` is not a folder", path.display())).into());
    }
    // Canonical, so "is the workdir inside the project" compares real locations.
    std::fs::canonicalize(path).with_context(|| format!("failed to resolve `{}`", path.display()))
}

/// A container path must be absolute, normalised and not `/`.
pub fn container_path(path: &str) -> anyhow::Result<String> {
    let trimmed = path.trim_end_matches('/');
    let ok = trimmed.starts_with('/')
        && !trimmed.is_empty()
        && trimmed
            .split('/')
            .skip(1)
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if !ok {
        return Err(InputError::new(format!(
            "--container-workdir-path `{path}` must be an absolute path like /workdir (not `/`, no `.` or `..`)"
        ))
        .into());
    }
    Ok(trimmed.to_string())
}

/// `KEY=VALUE` stays; `KEY` takes this process's value (and is dropped, with a warning, when unset).
pub fn resolve_env(pairs: &[String]) -> anyhow::Result<Vec<String>> {
    let mut env = Vec::new();
    for pair in pairs {
        let (key, value) = match pair.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (pair.clone(), std::env::var(pair).ok()),
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(InputError::new(format!("--env `{pair}` is not KEY or KEY=VALUE")).into());
        }
        match value {
            Some(v) => env.push(format!("{key}={v}")),
            None => tracing::warn!("--env {key}: not set in this shell, not passed on"),
        }
    }
    Ok(env)
}

/// Runs `stage-host` to the end. `Ok(Status::VerificationFailed)` when the verification failed
/// (the workdir is written all the same).
pub async fn run(options: &Options) -> anyhow::Result<Status> {
    let report = stage(options).await?;
    if options.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("failed to encode the report")?
        );
    }
    Ok(report.status())
}

/// Stages and returns the report (also in `WORKDIR/out/stage.json`); `pack` builds on this.
pub async fn stage(options: &Options) -> anyhow::Result<StageReport> {
    let plan = &options.plan;
    plan.workdir.prepare()?;
    let docker = Docker::connect().await?;
    let image = docker.require_image(&options.image, options.pull).await?;
    let record = ImageRecord {
        name: Some(options.image.clone()),
        id: Some(image.id.clone()),
        repo_digests: image.repo_digests.clone(),
    };
    let spec = ContainerSpec {
        image: options.image.clone(),
        labels: vec![
            (LABEL_COMMAND.to_string(), "stage-host".to_string()),
            (
                LABEL_WORKDIR.to_string(),
                plan.workdir.root().display().to_string(),
            ),
        ],
        network: options.network.clone(),
        ..Default::default()
    };
    tracing::info!(
        "staging `{}` ({}) with image {}",
        plan.manifest.name,
        plan.environments.join(", "),
        options.image
    );
    let mut container = docker.start_container(&spec).await?;
    if options.keep_container {
        container.keep();
    }
    let result = super::until_signal(stage::run_in_container(
        &container,
        plan,
        &record,
        "stage-host",
    ))
    .await;
    // Removal happens on every path: success, failure, and a signal (the work future is gone).
    let removed = container.remove().await;
    let report = result?;
    removed?;
    tracing::info!(
        "workdir: {} ({})",
        plan.workdir.root().display(),
        match report.result {
            StageResult::Success => "staged",
            StageResult::VerificationFailed => "staged, but the verification failed",
        }
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths() {
        assert_eq!(container_path("/workdir/").unwrap(), "/workdir");
        assert_eq!(container_path("/a/b").unwrap(), "/a/b");
        for bad in ["/", "", "rel", "/a/../b", "/a//b", "/a/./b"] {
            assert!(container_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_pairs() {
        std::env::set_var("PIXI_AIRGAP_TEST_ENV_PAIR", "v1");
        let env = resolve_env(&[
            "A=1".to_string(),
            "B=".to_string(),
            "PIXI_AIRGAP_TEST_ENV_PAIR".to_string(),
            "PIXI_AIRGAP_TEST_UNSET_VAR".to_string(),
        ])
        .unwrap();
        assert_eq!(env, ["A=1", "B=", "PIXI_AIRGAP_TEST_ENV_PAIR=v1"]);
        assert!(resolve_env(&["=x".to_string()]).is_err());
    }
}
