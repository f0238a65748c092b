//! `pixi-airgap verify-product`: the offline proof. The product is checked against its manifest,
//! copied into a fresh container that has no network at all (checked through the engine and from
//! inside), bootstrapped from `pkg-cache/` alone, and verified.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use crate::cli::VerifyProductArgs;
use crate::docker::{Container, ContainerSpec, Docker, ExecSpec, LABEL_COMMAND, LABEL_WORKDIR};
use crate::exit::{InfraError, InputError, Status};
use crate::product::{self, ProductManifest};
use crate::stage::archive::{self, Owner};
use crate::stage::{self, ImageRecord, VerificationReport};
use crate::verify::{Verification, VerifyPlace, VerifyRequest, VerifySpec};

/// Where the product is unpacked in the proof container. Deliberately unlike the staging path
/// (`<container-workdir>/project/<name>`), so a product that only works where it was built fails.
pub const PROOF_ROOT: &str = "/pixi-airgap-proof";

/// The proof's files in `--out-dir`. They never share a name with a staging run's logs
/// (`verify.log`, `install-*.log`, `stage.json`), so the runbook's `--out-dir WORKDIR/out` keeps
/// both records side by side.
pub const BOOTSTRAP_LOG: &str = "proof-bootstrap.log";
pub const VERIFY_LOG: &str = "proof-verify.log";
/// With several verifications: `proof-verify-<n>-<environment>.log`.
const VERIFY_LOG_PREFIX: &str = "proof-verify";
pub const REPORT_FILE: &str = "verify-report.json";
const PROOF_LOG_PREFIX: &str = "proof-";

#[derive(Debug, Clone)]
pub struct Options {
    pub image: String,
    pub pull: bool,
    pub product_dir: PathBuf,
    pub out_dir: PathBuf,
    pub project_name: String,
    pub user: Option<Owner>,
    pub keep_container: bool,
    /// Replace an earlier proof in `out_dir`.
    pub force: bool,
    pub json: bool,
    /// From the command line; empty = the verifications recorded in the product (if any).
    pub verify: Vec<VerifyRequest>,
}

impl Options {
    pub fn resolve(args: VerifyProductArgs) -> anyhow::Result<Self> {
        let VerifyProductArgs {
            image,
            pull,
            product_dir,
            out_dir,
            project_name,
            user,
            keep_container,
            force,
            json,
            verify,
        } = args;
        if !product_dir.is_dir() {
            return Err(InputError::new(format!(
                "--product-dir `{}` is not a folder",
                product_dir.display()
            ))
            .into());
        }
        let product_dir = std::fs::canonicalize(&product_dir)
            .with_context(|| format!("failed to resolve `{}`", product_dir.display()))?;
        let out_dir = std::path::absolute(&out_dir)
            .with_context(|| format!("failed to resolve `{}`", out_dir.display()))?;
        if out_dir.starts_with(&product_dir) {
            return Err(InputError::new("--out-dir must not be inside the product").into());
        }
        let user = user.as_deref().map(parse_user).transpose()?;
        if !force {
            refuse_earlier_proof(&out_dir)?;
        }
        let project = product_dir.join(&project_name);
        let verify = VerifySpec::resolve(&verify, &project, Some(&product_dir.join("res")))?;
        Ok(Self {
            image,
            pull,
            product_dir,
            out_dir,
            project_name,
            user,
            keep_container,
            force,
            json,
            verify,
        })
    }
}

/// The files of an earlier proof in `out_dir`: `verify-report.json` and `proof-*.log`.
fn earlier_proof(out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(out_dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(err).with_context(|| format!("failed to read `{}`", out_dir.display()))
        }
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("failed to read `{}`", out_dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours =
            name == REPORT_FILE || (name.starts_with(PROOF_LOG_PREFIX) && name.ends_with(".log"));
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// An earlier proof is evidence: it is only replaced on request.
fn refuse_earlier_proof(out_dir: &Path) -> anyhow::Result<()> {
    let found = earlier_proof(out_dir)?;
    if let Some(first) = found.first() {
        return Err(InputError::new(format!(
            "`{}` already holds an offline proof (`{}`)",
            out_dir.display(),
            first
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ))
        .with_hint("pass --force to replace it, or pick another --out-dir")
        .into());
    }
    Ok(())
}

/// `UID` or `UID:GID`, numeric: the product's files are handed to that owner in the container.
pub fn parse_user(text: &str) -> anyhow::Result<Owner> {
    let parse = |s: &str| s.parse::<u64>().ok();
    let owner = match text.split_once(':') {
        Some((u, g)) => parse(u).zip(parse(g)).map(|(uid, gid)| Owner { uid, gid }),
        None => parse(text).map(|uid| Owner { uid, gid: uid }),
    };
    owner.ok_or_else(|| {
        InputError::new(format!("--user `{text}` is not UID or UID:GID (numbers)")).into()
    })
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
    /// What `pixi --version` printed for the pixi the proof ran.
    pub pixi_version: String,
    /// Whether that was the product's own pixi (`--bundle-pixi`) rather than the image's.
    pub bundled_pixi: bool,
    pub network_mode: String,
    pub network_interfaces: Vec<String>,
    pub user: Option<String>,
    pub files_checked: usize,
    /// Files in the product folder that are not in its manifest: never uploaded.
    pub extra_files: Vec<String>,
    /// Folders under `<project>/.pixi/` that bootstrapping in place left (never uploaded).
    pub runtime_state: Vec<String>,
    pub bootstrap: BootstrapReport,
    /// The first of `verifications`.
    pub verification: Option<VerificationReport>,
    /// Every verification, each in its environment.
    pub verifications: Vec<VerificationReport>,
    pub timings: Timings,
    pub result: ProofResult,
    /// The engine that ran the proof (Docker or Podman).
    pub engine: crate::docker::EngineInfo,
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

pub async fn run(options: &Options) -> anyhow::Result<Status> {
    let (report, status) = verify(options).await?;
    if options.json {
        crate::output::json(&report)?;
    }
    Ok(status)
}

/// Runs the whole proof and returns its report (also in `OUT_DIR/verify-report.json`).
pub async fn verify(options: &Options) -> anyhow::Result<(ProofReport, Status)> {
    let started = Instant::now();
    let product_dir = options.product_dir.clone();
    let (manifest, check) = tokio::task::spawn_blocking(move || product::check(&product_dir))
        .await
        .context("the check thread failed")??;
    if manifest.project_name != options.project_name {
        return Err(InputError::new(format!(
            "--project-name `{}` does not match the product's project `{}`",
            options.project_name, manifest.project_name
        ))
        .into());
    }
    log_not_uploaded(&check);
    tracing::info!("product matches its manifest ({} files)", check.checked);
    let max_life = crate::docker::max_life()?;
    // Those asked for, else those recorded at staging time; each in its own environment.
    let verifications = if options.verify.is_empty() {
        manifest.recorded_verifications()
    } else {
        crate::verify::assign(&options.verify, &manifest.environments)?
    };
    let check_seconds = started.elapsed().as_secs_f64();
    std::fs::create_dir_all(&options.out_dir)
        .with_context(|| format!("failed to create `{}`", options.out_dir.display()))?;
    if !options.force {
        refuse_earlier_proof(&options.out_dir)?;
    }
    // With --force: the earlier proof's files go, so none of them can pass for this one's.
    for old in earlier_proof(&options.out_dir)? {
        std::fs::remove_file(&old)
            .with_context(|| format!("failed to remove `{}`", old.display()))?;
    }

    let docker = Docker::connect().await?;
    let image = docker.require_image(&options.image, options.pull).await?;
    let spec = ContainerSpec {
        image: options.image.clone(),
        labels: vec![
            (LABEL_COMMAND.to_string(), "verify-product".to_string()),
            (
                LABEL_WORKDIR.to_string(),
                options.out_dir.display().to_string(),
            ),
        ],
        network: Some("none".to_string()),
        max_life: Some(max_life),
        keep_after_exit: options.keep_container,
        ..Default::default()
    };
    let mut container = docker.start_container(&spec).await?;
    if options.keep_container {
        container.keep();
    }
    let record = ImageRecord::local(&options.image, &image);
    let result = crate::shutdown::until_stopped(prove(
        &container,
        options,
        &manifest,
        &record,
        &verifications,
    ))
    .await;
    let removed = container.remove().await;
    let (mut report, status) = result?;
    removed?;
    report.files_checked = check.checked;
    report.extra_files = check.extra;
    report.runtime_state = check.runtime_state;
    report.timings.check_seconds = check_seconds;
    report.timings.total_seconds = started.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&report).context("failed to encode the report")?;
    let report_path = options.out_dir.join(REPORT_FILE);
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
            options.out_dir.join(BOOTSTRAP_LOG).display()
        ),
        ProofResult::VerificationFailed => tracing::error!(
            "offline proof failed: the product installed, but a verification failed (logs: {})",
            report
                .verifications
                .iter()
                .filter(|v| !v.verdict.passed)
                .map(|v| options.out_dir.join(&v.log).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    Ok((report, status))
}

/// Everything that happens inside the proof container.
async fn prove(
    container: &Container,
    options: &Options,
    manifest: &ProductManifest,
    image: &ImageRecord,
    verifications: &[Verification],
) -> anyhow::Result<(ProofReport, Status)> {
    let (network_mode, interfaces) = check_no_network(container).await?;
    // A product that carries its pixi needs none in the image: that is what it is for.
    let image_pixi = match &manifest.pixi {
        Some(_) => None,
        None => Some(stage::preflight(container, image).await?),
    };

    let product_in_container = format!("{PROOF_ROOT}/product");
    let home = format!("{PROOF_ROOT}/home");
    let owner = options.user.unwrap_or(Owner::ROOT);
    let upload_started = Instant::now();
    upload_product(container, &options.product_dir, manifest, owner).await?;
    let upload_seconds = upload_started.elapsed().as_secs_f64();

    let user = options.user.map(|o| format!("{}:{}", o.uid, o.gid));
    let env = vec![
        format!("HOME={home}"),
        format!("PIXI_AIRGAP_PRODUCT_DIR={product_in_container}"),
    ];
    let pixi_version = match image_pixi {
        Some(version) => version,
        None => bundled_pixi_version(container, &env, user.clone()).await?,
    };
    if pixi_version != manifest.pixi_version {
        tracing::warn!(
            "the proof runs {pixi_version}; the product was built with {}",
            manifest.pixi_version
        );
    }
    let bootstrap_exec = ExecSpec::new(["sh", "./bootstrap-project.sh"])
        .env(&env)
        .working_dir(product_in_container.clone())
        .user(user.clone());
    tracing::info!(
        "bootstrapping the product offline: {}",
        bootstrap_exec.display()
    );
    let (boot, bootstrap_seconds) =
        stage::exec_logged(container, &bootstrap_exec, &options.out_dir, BOOTSTRAP_LOG).await?;
    let bootstrap = BootstrapReport {
        command: bootstrap_exec.display(),
        exit_code: boot.exit_code,
        seconds: bootstrap_seconds,
        log: BOOTSTRAP_LOG.to_string(),
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
        bundled_pixi: manifest.pixi.is_some(),
        network_mode,
        network_interfaces: interfaces,
        user,
        files_checked: 0,
        extra_files: Vec::new(),
        runtime_state: Vec::new(),
        bootstrap,
        verification: None,
        verifications: Vec::new(),
        timings: Timings {
            upload_seconds,
            bootstrap_seconds,
            ..Default::default()
        },
        result: ProofResult::Success,
        engine: container.docker().engine().clone(),
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

    if verifications.is_empty() {
        tracing::info!("no verification given or recorded: the proof is the offline install");
        return Ok((report, Status::Success));
    }
    let project = format!("{product_in_container}/{}", manifest.project_name);
    let resources = format!("{product_in_container}/res");
    let place = VerifyPlace {
        project_dir: &project,
        resources_dir: &resources,
    };
    // Every verification runs, and is recorded, even after one has failed.
    for (index, Verification { environment, spec }) in verifications.iter().enumerate() {
        // envs.sh is sourced first, exactly as a user on the air-gapped machine does.
        let mut cmd = vec![
            "sh".to_string(),
            "-c".to_string(),
            ". \"$PIXI_AIRGAP_PRODUCT_DIR/envs.sh\" && exec \"$@\"".to_string(),
            "sh".to_string(),
        ];
        cmd.extend(spec.command(environment, "--frozen", &place));
        let exec = ExecSpec::new(cmd)
            .env(&env)
            .working_dir(project.clone())
            .user(report.user.clone());
        let log_name =
            crate::verify::log_name(VERIFY_LOG_PREFIX, index, verifications.len(), environment);
        let verification = stage::verify_in_container(
            container,
            spec,
            environment,
            &exec,
            &options.out_dir,
            &log_name,
        )
        .await?;
        report.timings.verification_seconds += verification.seconds;
        report.verifications.push(verification);
    }
    report.verification = report.verifications.first().cloned();
    if report.verifications.iter().all(|v| v.verdict.passed) {
        Ok((report, Status::Success))
    } else {
        report.result = ProofResult::VerificationFailed;
        Ok((report, Status::VerificationFailed))
    }
}

/// The version of the pixi a user of the product gets: the one on PATH after sourcing `envs.sh`.
/// A bundled pixi that does not run is not an error here: the bootstrap then fails, and the proof
/// with it.
async fn bundled_pixi_version(
    container: &Container,
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
    let out = container.exec(&exec, None).await?;
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

/// Refuses to go on unless the engine says the container has network mode `none` with no
/// attached network, and the container itself sees no interface but loopback.
async fn check_no_network(container: &Container) -> anyhow::Result<(String, Vec<String>)> {
    let info = container.docker().inspect_container(container.id()).await?;
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
    let listing = container
        .exec(&ExecSpec::new(["ls", "/sys/class/net"]), None)
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

/// Says what stays behind: the product folder's files that are not in its manifest are never
/// uploaded, so an environment left by bootstrapping in place cannot stand in for an install from
/// `pkg-cache/`.
fn log_not_uploaded(check: &product::CheckReport) {
    for folder in &check.runtime_state {
        let count = check.files_in(folder);
        tracing::info!(
            "not uploaded: `{folder}` ({count} files): runtime state from bootstrapping in place, not part of the product"
        );
    }
    let other: Vec<&String> = check.other_extra().collect();
    if !other.is_empty() {
        tracing::warn!(
            "not uploaded: {} file(s) in the product folder that are not in its manifest: {}{}",
            other.len(),
            other
                .iter()
                .take(10)
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if other.len() > 10 { ", ..." } else { "" }
        );
    }
}

/// Streams exactly the manifest's entries (and the manifest) to `PROOF_ROOT/product`, with an
/// empty `PROOF_ROOT/home`, owned by `owner`.
async fn upload_product(
    container: &Container,
    product_dir: &Path,
    manifest: &ProductManifest,
    owner: Owner,
) -> anyhow::Result<()> {
    let root = Path::new(PROOF_ROOT.trim_start_matches('/'));
    let mut entries = vec![
        archive::TarEntry {
            path: root.to_path_buf(),
            kind: archive::EntryKind::Dir,
        },
        archive::TarEntry {
            path: root.join("home"),
            kind: archive::EntryKind::Dir,
        },
    ];
    entries.extend(product::manifest_entries(
        product_dir,
        manifest,
        &root.join("product"),
    ));
    tracing::info!(
        "copying the product's {} manifest entries ({} tar entries) into {}:{PROOF_ROOT}/product",
        manifest.files.len(),
        entries.len(),
        container.short_id()
    );
    let bar = crate::progress::bytes("copying the product", Some(archive::content_size(&entries)));
    let stream = crate::progress::track(archive::tar_stream(entries, owner), bar.clone());
    let uploaded = container.docker().upload(container.id(), "/", stream).await;
    bar.finish_and_clear();
    uploaded.context("failed to copy the product into the proof container")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users() {
        assert_eq!(
            parse_user("1000").unwrap(),
            Owner {
                uid: 1000,
                gid: 1000
            }
        );
        assert_eq!(parse_user("1000:50").unwrap(), Owner { uid: 1000, gid: 50 });
        for bad in ["", "root", "1000:", ":1", "1:2:3"] {
            assert!(parse_user(bad).is_err(), "{bad}");
        }
    }
}
