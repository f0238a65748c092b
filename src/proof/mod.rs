//! The offline proof, counterpart of [`crate::product::make`]: the product is checked against its
//! manifest, copied into a fresh container that has no network at all (checked through the engine
//! and from inside), bootstrapped from `pkg-cache/` alone, and verified. Whether a product passes
//! is decided here, in `prove`, and nowhere else.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::docker::{EngineInfo, ExecSpec, ImageInfo};
use crate::exit::{InputError, Status};
use crate::product::manifest::{self, ProductManifest};
use crate::product::ProductLayout;
pub use crate::records::proof::{ProofReport, ProofResult};
use crate::session::{RunAs, Session, SessionSpec};
use crate::tar::write::Owner;
use crate::verification::{
    Verification, VerificationPlace, VerificationReport, VerificationRequest,
};

mod out_dir;
pub use out_dir::*;

mod steps;
use steps::*;

/// Where the product is unpacked in the proof container. Deliberately unlike the staging path
/// (`<container-workdir>/project/<name>`), so a product that only works where it was built fails.
pub const PROOF_ROOT: &str = "/pixi-airgap-proof";

/// The proof's files in `--out-dir`. They never share a name with a staging run's logs
/// (`verify.log`, `install-*.log`, `stage.json`), so the runbook's `--out-dir WORKDIR/out` keeps
/// both records side by side.
pub const BOOTSTRAP_LOG: &str = "proof-bootstrap.log";
/// With several verifications: `proof-verify-<n>-<environment>.log`.
const VERIFY_LOG_PREFIX: &str = "proof-verify";
pub const REPORT_FILE: &str = "verify-report.json";
const PROOF_LOG_PREFIX: &str = "proof-";

/// What to prove, validated.
#[derive(Debug, Clone)]
pub struct ProofOptions {
    pub image: String,
    pub pull: bool,
    pub product_dir: PathBuf,
    /// Where the logs and `verify-report.json` go.
    pub out_dir: PathBuf,
    pub project_name: String,
    /// Who runs the bootstrap and the verification (default: the image's user).
    pub user: Option<RunAs>,
    pub keep_container: bool,
    /// Replace an earlier proof in `out_dir`.
    pub force: bool,
    /// Empty = the verifications recorded in the product (if any).
    pub verify: Vec<VerificationRequest>,
}

/// What happened in the proof container, up to the verdict; [`ProofReport::new`] turns it, with
/// the host-side check, into `verify-report.json`.
#[derive(Debug, Clone)]
pub struct ProofRun {
    pub project_name: String,
    pub product_dir: PathBuf,
    pub product_path_in_container: String,
    pub image: ImageInfo,
    /// What `pixi --version` printed for the pixi the proof ran.
    pub pixi_version: String,
    /// Whether that was the product's own pixi (`--bundle-pixi`) rather than the image's.
    pub bundled_pixi: bool,
    pub network_mode: String,
    pub network_interfaces: Vec<String>,
    pub user: Option<String>,
    pub upload_seconds: f64,
    pub bootstrap: StepRun,
    /// Every verification that ran, each in its environment, in order.
    pub verifications: Vec<VerificationReport>,
    pub result: ProofResult,
    pub engine: EngineInfo,
    /// An update proof's applied delta (`--since OLD --delta DIR`).
    pub delta: Option<DeltaRun>,
}

/// A command the proof ran in its container: as shown, how it ended, how long, its log's name.
#[derive(Debug, Clone)]
pub struct StepRun {
    pub command: String,
    pub exit_code: i64,
    pub seconds: f64,
    pub log: String,
}

/// The delta an update proof applied.
#[derive(Debug, Clone)]
pub struct DeltaRun {
    pub old_dir: PathBuf,
    pub delta_dir: PathBuf,
    pub step: StepRun,
}

/// Runs the whole proof and returns its report (also in `OUT_DIR/verify-report.json`).
pub async fn run(options: &ProofOptions) -> anyhow::Result<(ProofReport, Status)> {
    run_with(options, None).await
}

/// The proof of an update (`verify-product --since OLD --delta DIR`): the container starts from
/// OLD, applies the delta with its own `apply-delta.sh` (as a receiver would), and the result,
/// which the delta says is `options.product_dir`, is proven like a product.
pub async fn run_update(
    options: &ProofOptions,
    update: &ApplyDelta,
) -> anyhow::Result<(ProofReport, Status)> {
    run_with(options, Some(update)).await
}

/// An update to prove: the old product and the delta that turns it into the product.
#[derive(Debug, Clone)]
pub struct ApplyDelta {
    pub old_dir: PathBuf,
    pub delta_dir: PathBuf,
}

/// `apply-delta.sh`'s log in `--out-dir` (update proofs only).
pub const APPLY_LOG: &str = "proof-apply-delta.log";

async fn run_with(
    options: &ProofOptions,
    update: Option<&ApplyDelta>,
) -> anyhow::Result<(ProofReport, Status)> {
    let started = Instant::now();
    let product_dir = options.product_dir.clone();
    let (manifest, check) = tokio::task::spawn_blocking(move || manifest::check(&product_dir))
        .await
        .context("the check thread failed")??;
    if manifest.project_name != options.project_name {
        return Err(InputError::new(format!(
            "the project name `{}` does not match the product's project `{}`",
            options.project_name, manifest.project_name
        ))
        .into());
    }
    let old = match update {
        Some(update) => {
            let (update, product) = (update.clone(), options.product_dir.clone());
            let name = options.project_name.clone();
            Some(
                tokio::task::spawn_blocking(move || {
                    crate::product::delta::check_update(
                        &update.old_dir,
                        &update.delta_dir,
                        &product,
                        &name,
                    )
                })
                .await
                .context("the check thread failed")??,
            )
        }
        None => None,
    };
    log_not_uploaded(&check);
    tracing::info!("product matches its manifest ({} files)", check.checked);
    let max_life = crate::session::max_life()?;
    // Those asked for, else those recorded at staging time; each in its own environment.
    let verifications = if options.verify.is_empty() {
        manifest.recorded_verifications()
    } else {
        crate::verification::assign(&options.verify, &manifest.environments)?
    };
    let check_seconds = started.elapsed().as_secs_f64();
    std::fs::create_dir_all(&options.out_dir)
        .with_context(|| format!("failed to create `{}`", options.out_dir.display()))?;
    refuse_links_at_outputs(&options.out_dir)?;
    if !options.force {
        refuse_earlier_proof(&options.out_dir)?;
    }
    // With --force: the earlier proof's files go, so none of them can pass for this one's.
    for old in earlier_proof(&options.out_dir)? {
        std::fs::remove_file(&old)
            .with_context(|| format!("failed to remove `{}`", old.display()))?;
    }

    let session = Session::create(&SessionSpec {
        image: options.image.clone(),
        pull: options.pull,
        command: "verify-product",
        host_dir: options.out_dir.clone(),
        network: Some("none".to_string()),
        keep: options.keep_container,
        max_life,
        // The product and the environments installed from it live in a volume of their own.
        scratch: Some(PROOF_ROOT.to_string()),
        // The proof has no network; its image's confinement is the engine's default.
        confinement: None,
    })
    .await?;
    let update = update.zip(old.as_ref());
    let result = crate::shutdown::until_stopped(prove(
        &session,
        options,
        &manifest,
        &check,
        &verifications,
        update,
    ))
    .await;
    let run = session.close(result).await?;
    let status = match run.result {
        ProofResult::Success => Status::Success,
        ProofResult::BootstrapFailed | ProofResult::VerificationFailed => {
            Status::VerificationFailed
        }
    };
    let report = ProofReport::new(run, &check, check_seconds, started.elapsed().as_secs_f64());
    let json = serde_json::to_string_pretty(&report).context("failed to encode the report")?;
    let report_path = options.out_dir.join(REPORT_FILE);
    crate::nofollow::write_output_file(&report_path, format!("{json}\n").as_bytes())?;
    match report.result {
        ProofResult::Success => tracing::info!(
            "offline proof passed: `{}` installs and verifies with the network cut (report: {})",
            options.project_name,
            report_path.display()
        ),
        ProofResult::BootstrapFailed => tracing::error!(
            "offline proof failed: the product did not install without network (log: {})",
            options.out_dir.join(BOOTSTRAP_LOG).display()
        ),
        ProofResult::VerificationFailed => tracing::error!(
            "offline proof failed: the product installed, but a verification failed (logs: {})",
            report
                .verifications
                .iter()
                .filter(|v| !v.passed)
                .map(|v| options.out_dir.join(&v.log).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    Ok((report, status))
}

/// Everything that happens inside the proof container.
async fn prove(
    session: &Session,
    options: &ProofOptions,
    manifest: &ProductManifest,
    check: &manifest::IntegrityReport,
    verifications: &[Verification],
    update: Option<(&ApplyDelta, &manifest::IntegrityReport)>,
) -> anyhow::Result<ProofRun> {
    let image = session.image();
    let (network_mode, interfaces) = check_no_network(session).await?;
    // A product that carries its pixi needs none in the image: that is what it is for.
    let image_pixi = match &manifest.pixi {
        Some(_) => None,
        None => Some(session.pixi_version().await?),
    };

    let product_in_container = format!("{PROOF_ROOT}/product");
    let home = format!("{PROOF_ROOT}/home");
    let owner = options.user.map_or(Owner::ROOT, |u| u.owner());
    let upload_started = Instant::now();
    match update {
        Some((update, old_check)) => {
            upload_product(session, &update.old_dir, old_check, owner).await?;
            upload_delta(session, &update.delta_dir, owner).await?;
        }
        None => upload_product(session, &options.product_dir, check, owner).await?,
    }
    let upload_seconds = upload_started.elapsed().as_secs_f64();

    let user = options.user.map(|u| u.exec_user());
    let env = vec![
        format!("HOME={home}"),
        format!("PIXI_AIRGAP_PRODUCT_DIR={product_in_container}"),
    ];
    let applied = match update {
        Some((update, _)) => Some(apply_delta(session, options, update, &env, user.clone()).await?),
        None => None,
    };
    let pixi_version = match image_pixi {
        Some(version) => version,
        None => bundled_pixi_version(session, &env, user.clone()).await?,
    };
    if pixi_version != manifest.pixi_version {
        tracing::warn!(
            "the proof runs {pixi_version}; the product was built with {}",
            manifest.pixi_version
        );
    }
    let bootstrap_exec = ExecSpec::new(["sh", &format!("./{}", ProductLayout::BOOTSTRAP_SH)])
        .env(&env)
        .working_dir(product_in_container.clone())
        .user(user.clone());
    tracing::info!(
        "bootstrapping the product offline: {}",
        bootstrap_exec.display()
    );
    let (boot, bootstrap_seconds) = session
        .exec_logged(&bootstrap_exec, &options.out_dir, BOOTSTRAP_LOG)
        .await?;
    let mut run = ProofRun {
        project_name: manifest.project_name.clone(),
        product_dir: options.product_dir.clone(),
        product_path_in_container: product_in_container.clone(),
        image: image.clone(),
        pixi_version,
        bundled_pixi: manifest.pixi.is_some(),
        network_mode,
        network_interfaces: interfaces,
        user,
        upload_seconds,
        bootstrap: StepRun {
            command: bootstrap_exec.display(),
            exit_code: boot.exit_code,
            seconds: bootstrap_seconds,
            log: BOOTSTRAP_LOG.to_string(),
        },
        verifications: Vec::new(),
        result: ProofResult::Success,
        engine: session.docker().engine().clone(),
        delta: applied,
    };
    if !boot.success() {
        tracing::error!(
            "bootstrap-project.sh exited with {}:\n{}",
            boot.exit_code,
            boot.tail(20)
        );
        run.result = ProofResult::BootstrapFailed;
        return Ok(run);
    }

    if verifications.is_empty() {
        tracing::info!("no verification given or recorded: the proof is the offline install");
        return Ok(run);
    }
    let project = format!("{product_in_container}/{}", manifest.project_name);
    let resources = format!("{product_in_container}/{}", ProductLayout::RESOURCES);
    let place = VerificationPlace {
        project_dir: &project,
        resources_dir: &resources,
    };
    // envs.sh is sourced first, exactly as a user on the air-gapped machine does.
    let user = run.user.clone();
    run.verifications = session
        .verify_each(
            verifications,
            VERIFY_LOG_PREFIX,
            &options.out_dir,
            &options.out_dir,
            |Verification { environment, spec }| {
                let mut cmd = vec![
                    "sh".to_string(),
                    "-c".to_string(),
                    ". \"$PIXI_AIRGAP_PRODUCT_DIR/envs.sh\" && exec \"$@\"".to_string(),
                    "sh".to_string(),
                ];
                cmd.extend(spec.command(environment, "--frozen", &place));
                ExecSpec::new(cmd)
                    .env(&env)
                    .working_dir(project.clone())
                    .user(user.clone())
            },
        )
        .await?;
    if !run.verifications.iter().all(|v| v.verdict.passed) {
        run.result = ProofResult::VerificationFailed;
    }
    Ok(run)
}

/// The version of the pixi a user of the product gets: the one on PATH after sourcing `envs.sh`.
/// A bundled pixi that does not run is not an error here: the bootstrap then fails, and the proof
/// with it.
async fn bundled_pixi_version(
    session: &Session,
    env: &[String],
    user: Option<String>,
) -> anyhow::Result<String> {
    let exec = ExecSpec::new([
        "sh",
        "-c",
        ". \"$PIXI_AIRGAP_PRODUCT_DIR/envs.sh\" && command -v pixi && pixi --version",
    ])
    .env(env)
    .user(user);
    let out = session.exec(&exec).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let path = lines.next().unwrap_or_default().to_string();
    let version = lines.next().unwrap_or_default().trim().to_string();
    if !out.success() || version.is_empty() {
        tracing::warn!(
            "the product's bundled pixi does not run in the proof image (exit {}): {}",
            out.exit_code,
            out.tail(5)
        );
        return Ok("unknown (the bundled pixi did not run)".to_string());
    }
    tracing::info!("the proof uses the product's bundled {version} ({path})");
    Ok(version)
}
