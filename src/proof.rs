//! The offline proof, counterpart of [`crate::product::make`]: the product is checked against its
//! manifest, copied into a fresh container that has no network at all (checked through the engine
//! and from inside), bootstrapped from `pkg-cache/` alone, and verified. Whether a product passes
//! is decided here, in `prove`, and nowhere else.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use crate::docker::{ExecSpec, ImageRecord};
use crate::exit::{InfraError, InputError, Status};
use crate::product::manifest::{self, ProductManifest};
use crate::product::ProductLayout;
use crate::session::{RunAs, Session, SessionSpec};
use crate::tar::write::{Owner, TarEntry};
use crate::verify::{VerificationReport, VerifyPlace, VerifySpec};

/// Where the product is unpacked in the proof container. Deliberately unlike the staging path
/// (`<container-workdir>/project/<name>`), so a product that only works where it was built fails.
pub const PROOF_ROOT: &str = "/pixi-airgap-proof";

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
    /// `None` = the verification recorded in the product (if any).
    pub verify: Option<VerifySpec>,
}

/// `OUT_DIR/verify-report.json`, also printed with `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProofReport {
    pub format_version: u32,
    pub tool_version: String,
    pub project_name: String,
    pub product_dir: PathBuf,
    pub product_path_in_container: String,
    pub image: Option<String>,
    pub image_id: Option<String>,
    pub image_repo_digests: Vec<String>,
    pub pixi_version: String,
    pub network_mode: String,
    pub network_interfaces: Vec<String>,
    pub user: Option<String>,
    pub files_checked: usize,
    pub extra_files: Vec<String>,
    pub bootstrap: BootstrapReport,
    pub verification: Option<VerificationReport>,
    pub timings: Timings,
    pub result: ProofResult,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BootstrapReport {
    pub command: String,
    pub exit_code: i64,
    pub seconds: f64,
    pub log: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    pub check_seconds: f64,
    pub upload_seconds: f64,
    pub bootstrap_seconds: f64,
    pub verification_seconds: f64,
    pub total_seconds: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProofResult {
    Success,
    BootstrapFailed,
    VerificationFailed,
}

/// Runs the whole proof and returns its report (also in `OUT_DIR/verify-report.json`).
pub async fn run(options: &ProofOptions) -> anyhow::Result<(ProofReport, Status)> {
    let started = Instant::now();
    let product_dir = options.product_dir.clone();
    let (manifest, check) = tokio::task::spawn_blocking(move || manifest::check(&product_dir))
        .await
        .context("the check thread failed")??;
    if manifest.project_name != options.project_name {
        return Err(InputError::new(format!(
            "project name `{}` does not match the product's project `{}`",
            options.project_name, manifest.project_name
        ))
        .into());
    }
    if !check.extra.is_empty() {
        tracing::warn!(
            "{} files in the product are not in its manifest (left by an earlier bootstrap?): {}",
            check.extra.len(),
            check
                .extra
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    tracing::info!("product matches its manifest ({} files)", check.checked);
    let check_seconds = started.elapsed().as_secs_f64();
    std::fs::create_dir_all(&options.out_dir)
        .with_context(|| format!("failed to create `{}`", options.out_dir.display()))?;

    let session = Session::create(&SessionSpec {
        image: options.image.clone(),
        pull: options.pull,
        command: "verify-product",
        host_dir: options.out_dir.clone(),
        network: Some("none".to_string()),
        keep: options.keep_container,
    })
    .await?;
    let result = crate::shutdown::until_stopped(prove(&session, options, &manifest)).await;
    let (mut report, status) = session.close(result).await?;
    report.files_checked = check.checked;
    report.extra_files = check.extra;
    report.timings.check_seconds = check_seconds;
    report.timings.total_seconds = started.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&report).context("failed to encode the report")?;
    let report_path = options.out_dir.join("verify-report.json");
    std::fs::write(&report_path, format!("{json}\n"))
        .with_context(|| format!("failed to write `{}`", report_path.display()))?;
    match report.result {
        ProofResult::Success => tracing::info!(
            "offline proof passed: `{}` installs and verifies with the network cut (report: {})",
            options.project_name,
            report_path.display()
        ),
        ProofResult::BootstrapFailed => tracing::error!(
            "offline proof failed: the product did not install without network (log: {})",
            options.out_dir.join("bootstrap.log").display()
        ),
        ProofResult::VerificationFailed => tracing::error!(
            "offline proof failed: the product installed, but its verification failed (log: {})",
            options.out_dir.join("verify.log").display()
        ),
    }
    Ok((report, status))
}

/// Everything that happens inside the proof container.
async fn prove(
    session: &Session,
    options: &ProofOptions,
    manifest: &ProductManifest,
) -> anyhow::Result<(ProofReport, Status)> {
    let (network_mode, interfaces) = check_no_network(session).await?;
    let pixi_version = session.pixi_version().await?;
    let image: &ImageRecord = session.image();
    if pixi_version != manifest.pixi_version {
        tracing::warn!(
            "the proof image has {pixi_version}; the product was built with {}",
            manifest.pixi_version
        );
    }

    let product_in_container = format!("{PROOF_ROOT}/product");
    let home = format!("{PROOF_ROOT}/home");
    let owner = options.user.map_or(Owner::ROOT, |u| u.owner());
    let upload_started = Instant::now();
    upload_product(session, &options.product_dir, owner).await?;
    let upload_seconds = upload_started.elapsed().as_secs_f64();

    let user = options.user.map(|u| u.exec_user());
    let env = vec![
        format!("HOME={home}"),
        format!("PIXI_AIRGAP_PRODUCT_DIR={product_in_container}"),
    ];
    let bootstrap_exec = ExecSpec::new([
        "sh".to_string(),
        format!("./{}", ProductLayout::BOOTSTRAP_SH),
    ])
    .env(&env)
    .working_dir(product_in_container.clone())
    .user(user.clone());
    tracing::info!(
        "bootstrapping the product offline: {}",
        bootstrap_exec.display()
    );
    let (boot, bootstrap_seconds) = session
        .exec_logged(&bootstrap_exec, &options.out_dir, "bootstrap.log")
        .await?;
    let bootstrap = BootstrapReport {
        command: bootstrap_exec.display(),
        exit_code: boot.exit_code,
        seconds: bootstrap_seconds,
        log: "bootstrap.log".to_string(),
    };
    let mut report = ProofReport {
        format_version: 1,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        project_name: manifest.project_name.clone(),
        product_dir: options.product_dir.clone(),
        product_path_in_container: product_in_container.clone(),
        image: image.name.clone(),
        image_id: image.id.clone(),
        image_repo_digests: image.repo_digests.clone(),
        pixi_version,
        network_mode,
        network_interfaces: interfaces,
        user,
        files_checked: 0,
        extra_files: Vec::new(),
        bootstrap,
        verification: None,
        timings: Timings {
            upload_seconds,
            bootstrap_seconds,
            ..Default::default()
        },
        result: ProofResult::Success,
    };
    if !boot.success() {
        tracing::error!(
            "bootstrap-project.sh exited with {}:\n{}",
            boot.exit_code,
            boot.tail(20)
        );
        report.result = ProofResult::BootstrapFailed;
        return Ok((report, Status::VerificationFailed));
    }

    let spec = options
        .verify
        .clone()
        .or_else(|| manifest.verification.as_ref().map(|v| v.spec.clone()));
    let Some(spec) = spec else {
        tracing::info!("no verification given or recorded: the proof is the offline install");
        return Ok((report, Status::Success));
    };
    // The same choice as at staging time.
    let environment = crate::verify::environment(&manifest.environments).to_string();
    let project = format!("{product_in_container}/{}", manifest.project_name);
    let resources = format!("{product_in_container}/{}", ProductLayout::RESOURCES);
    let place = VerifyPlace {
        project_dir: &project,
        resources_dir: &resources,
    };
    // envs.sh is sourced first, exactly as a user on the air-gapped machine does.
    let mut cmd = vec![
        "sh".to_string(),
        "-c".to_string(),
        format!(
            ". \"$PIXI_AIRGAP_PRODUCT_DIR/{}\" && exec \"$@\"",
            ProductLayout::ENVS_SH
        ),
        "sh".to_string(),
    ];
    cmd.extend(spec.command(&environment, "--frozen", &place));
    let exec = ExecSpec::new(cmd)
        .env(&env)
        .working_dir(project.clone())
        .user(report.user.clone());
    let verification = session
        .verify(&spec, &environment, &exec, &options.out_dir)
        .await?;
    report.timings.verification_seconds = verification.seconds;
    let passed = verification.verdict.passed;
    report.verification = Some(verification);
    if passed {
        Ok((report, Status::Success))
    } else {
        report.result = ProofResult::VerificationFailed;
        Ok((report, Status::VerificationFailed))
    }
}

/// Refuses to go on unless the engine says the container has network mode `none` with no
/// attached network, and the container itself sees no interface but loopback.
async fn check_no_network(session: &Session) -> anyhow::Result<(String, Vec<String>)> {
    let container = session.container();
    let info = session.docker().inspect_container(container.id()).await?;
    let mode = info
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .unwrap_or_default();
    let attached: Vec<(String, String)> = info
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|nets| {
            nets.iter()
                .map(|(name, ep)| (name.clone(), ep.ip_address.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let engine_ok = mode == "none"
        && attached
            .iter()
            .all(|(name, ip)| name == "none" && ip.is_empty());
    if !engine_ok {
        return Err(InfraError::new(format!(
            "the proof container is not cut off from the network (mode `{mode}`, networks {attached:?})"
        ))
        .into());
    }
    let listing = session
        .exec(&ExecSpec::new(["ls", "/sys/class/net"]))
        .await?;
    let interfaces: Vec<String> = listing
        .text()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !listing.success() || interfaces.iter().any(|i| i != "lo") {
        return Err(InfraError::new(format!(
            "the proof container sees network interfaces {interfaces:?} (expected only `lo`)"
        ))
        .into());
    }
    tracing::info!(
        "proof container {} has network mode `none` (interfaces: {})",
        container.short_id(),
        interfaces.join(", ")
    );
    Ok((mode, interfaces))
}

/// Streams the product to `PROOF_ROOT/product`, with an empty `PROOF_ROOT/home`, owned by `owner`.
async fn upload_product(session: &Session, product_dir: &Path, owner: Owner) -> anyhow::Result<()> {
    let root = Path::new(PROOF_ROOT.trim_start_matches('/'));
    let mut entries = vec![TarEntry::dir(root), TarEntry::dir(root.join("home"))];
    entries.extend(crate::tar::write::plan_tree(
        product_dir,
        &root.join("product"),
    )?);
    tracing::info!(
        "copying the product ({} entries) into {}:{PROOF_ROOT}/product",
        entries.len(),
        session.container().short_id()
    );
    session
        .upload(entries, owner, "/", "copying the product")
        .await
        .context("failed to copy the product into the proof container")
}
