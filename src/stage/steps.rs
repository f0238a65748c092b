//! The steps of a staging run in its container, in the order [`super::run_in_container`] names
//! them: check the container's pixi against the plan, make the container workdir, install each
//! environment, record the versions, run the verifications. The upload, the seeding and the copy
//! back have modules of their own.

use std::path::Path;

use crate::check::PreflightReport;
use crate::docker::ExecSpec;
use crate::exit::{InfraError, InputError};
use crate::pixi;
use crate::session::Session;
use crate::verification::{VerificationPlace, VerificationReport};
use crate::workdir::report::StepReport;

use super::plan::StagePlan;

/// The container's pixi version, and the pre-flight with the version checks added: can this
/// pixi read the lock and meet `requires-pixi`? Known only now, and still before the upload.
pub(super) async fn check_pixi(
    session: &Session,
    plan: &StagePlan,
) -> anyhow::Result<(String, PreflightReport)> {
    let pixi_version = session.pixi_version().await?;
    tracing::info!(
        "{pixi_version} in container {}",
        session.container().short_id()
    );
    let mut checked = plan.preflight.clone();
    checked.add_pixi_version(&pixi_version);
    if checked.errors() > plan.preflight.errors() {
        checked.log();
        return Err(checked.error());
    }
    Ok((pixi_version, checked))
}

/// The container workdir, with our marker: a later `--force` deletes only a folder that has it.
pub(super) async fn make_container_workdir(
    session: &Session,
    plan: &StagePlan,
) -> anyhow::Result<()> {
    let mkdir = session
        .container()
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
    Ok(())
}

/// `pixi install --locked` for each planned environment, in order.
pub(super) async fn install_all(
    session: &Session,
    plan: &StagePlan,
    env: &[String],
    out: &Path,
) -> anyhow::Result<Vec<StepReport>> {
    let mut installs = Vec::new();
    for environment in &plan.environments {
        installs.push(install(session, plan, env, environment, out).await?);
    }
    Ok(installs)
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

/// Records the container's pixi (`out/pixi-version.txt`, `out/pixi-info.json`) and returns the
/// platform it reports, which the product's manifest and SBOM carry: only a plain platform name.
pub(super) async fn record_pixi(
    session: &Session,
    plan: &StagePlan,
    env: &[String],
    out: &Path,
    pixi_version: &str,
) -> anyhow::Result<Option<String>> {
    crate::nofollow::write_output_file(
        &out.join("pixi-version.txt"),
        format!("{pixi_version}\n").as_bytes(),
    )?;
    let info = session
        .container()
        .exec(
            &ExecSpec::new(["pixi", "info", "--json"])
                .env(env)
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
    if let Some(platform) = &platform {
        let plain = !platform.is_empty()
            && platform.len() <= 32
            && platform
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !plain {
            return Err(InputError::new(format!(
                "`pixi info --json` in the container reports platform `{}`, which is not a platform name",
                platform.escape_debug()
            ))
            .into());
        }
    }
    Ok(platform)
}

/// Every verification of the plan, online (`--locked`), in the staged project; each is run and
/// recorded even after one has failed. Logs go to `out/verify*.log`.
pub(super) async fn verify_all(
    session: &Session,
    plan: &StagePlan,
    env: &[String],
    out: &Path,
) -> anyhow::Result<Vec<VerificationReport>> {
    let project = plan.container_project();
    let resources = plan.container_resources();
    let place = VerificationPlace {
        project_dir: &project,
        resources_dir: &resources,
    };
    let reports = session
        // A failed verification is a result: the run's out/ is swapped in, where its log then is.
        .verify_each(
            &plan.verifications,
            "verify",
            out,
            &plan.workdir.out(),
            |v| {
                ExecSpec::new(v.spec.command(&v.environment, "--locked", &place))
                    .env(env)
                    .working_dir(project.clone())
                    .pid_file(plan.pid_file.clone())
            },
        )
        .await?;
    Ok(reports
        .into_iter()
        .map(|report| VerificationReport {
            log: format!("out/{}", report.log),
            ..report
        })
        .collect())
}
