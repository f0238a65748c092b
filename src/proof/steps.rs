//! The proof's steps in its container, around [`prove`]: the network cut checked
//! through the engine and from inside, the uploads of exactly the manifest's entries (and of a
//! delta), and applying a delta as a receiver would.

use std::path::Path;

use anyhow::Context;

use crate::docker::ExecSpec;
use crate::exit::{InfraError, InputError};
use crate::product::manifest;
use crate::session::Session;
use crate::tar::write::{Owner, TarEntry};

use super::*;

/// Refuses to go on unless the engine says the container has network mode `none` with no
/// attached network, and the container itself sees no interface but loopback.
pub(super) async fn check_no_network(session: &Session) -> anyhow::Result<(String, Vec<String>)> {
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

/// Says what stays behind: the product folder's files that are not in its manifest are never
/// uploaded, so an environment left by bootstrapping in place cannot stand in for an install from
/// `pkg-cache/`.
pub(super) fn log_not_uploaded(check: &manifest::IntegrityReport) {
    for (folder, count) in &check.runtime_state {
        tracing::info!(
            "not uploaded: `{folder}` ({count} files): runtime state from bootstrapping in place, not part of the product"
        );
    }
    let other = &check.extra;
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
pub(super) async fn upload_product(
    session: &Session,
    product_dir: &Path,
    check: &manifest::IntegrityReport,
    owner: Owner,
) -> anyhow::Result<()> {
    let root = Path::new(PROOF_ROOT.trim_start_matches('/'));
    let lead = [TarEntry::dir(root), TarEntry::dir(root.join("home"))];
    let entries = lead.into_iter().map(Ok).chain(manifest::manifest_entries(
        product_dir,
        &root.join("product"),
    )?);
    tracing::info!(
        "copying the product's {} manifest entries into {}:{PROOF_ROOT}/product",
        check.checked,
        session.container().short_id()
    );
    session
        .upload(
            Box::new(entries),
            check.bytes,
            owner,
            "/",
            "copying the product",
        )
        .await
        .context("failed to copy the product into the proof container")
}

/// Streams the delta folder to `PROOF_ROOT/delta`, owned by `owner`.
pub(super) async fn upload_delta(
    session: &Session,
    delta_dir: &Path,
    owner: Owner,
) -> anyhow::Result<()> {
    let bytes: u64 = walkdir::WalkDir::new(delta_dir)
        .follow_links(false)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let prefix = Path::new(PROOF_ROOT.trim_start_matches('/')).join("delta");
    let entries = crate::tar::write::tree_entries(delta_dir, &prefix);
    session
        .upload(Box::new(entries), bytes, owner, "/", "copying the delta")
        .await
        .context("failed to copy the delta into the proof container")
}

/// Runs the delta's `apply-delta.sh` on the old product in the container, as a receiver would.
/// It failing means the delta does not turn `--since` into the product (exit 2): the host checks
/// before (both match their lists) make anything else unlikely.
pub(super) async fn apply_delta(
    session: &Session,
    options: &ProofOptions,
    update: &ApplyDelta,
    env: &[String],
    user: Option<String>,
) -> anyhow::Result<DeltaRun> {
    let exec = ExecSpec::new([
        "sh".to_string(),
        format!("{PROOF_ROOT}/delta/{}", crate::product::delta::APPLY_SCRIPT),
        format!("{PROOF_ROOT}/product"),
    ])
    .env(env)
    .working_dir(PROOF_ROOT.to_string())
    .user(user);
    tracing::info!("applying the delta offline: {}", exec.display());
    let (out, seconds) = session
        .exec_logged(&exec, &options.out_dir, APPLY_LOG)
        .await?;
    if !out.success() {
        return Err(InputError::new(format!(
            "apply-delta.sh exited with {} in the proof container: the delta `{}` does not turn `{}` into the product (log: {})\n{}",
            out.exit_code,
            update.delta_dir.display(),
            update.old_dir.display(),
            options.out_dir.join(APPLY_LOG).display(),
            out.tail(20)
        ))
        .into());
    }
    Ok(DeltaRun {
        old_dir: update.old_dir.clone(),
        delta_dir: update.delta_dir.clone(),
        step: StepRun {
            command: exec.display(),
            exit_code: out.exit_code,
            seconds,
            log: APPLY_LOG.to_string(),
        },
    })
}
