//! The copy back: the container workdir comes back into the host workdir (without the
//! environments) through the defensive extractor, within the extraction limits.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::docker::ExecSpec;
use crate::exit::InputError;
use crate::session::{DownloadTo, Session};
use crate::tar::extract::{ExtractLimits, RefusedEntry};
use crate::workdir::Workdir;

use super::plan::StagePlan;

/// Copies the container workdir back into the host workdir, without the environments and
/// without the seeded packages in `stale` (warm re-staging: packages the lock no longer needs).
pub(super) async fn copy_back(
    session: &Session,
    plan: &StagePlan,
    into: &Workdir,
    stale: BTreeSet<String>,
) -> anyhow::Result<()> {
    let container = session.container();
    let envs = format!("{}/.pixi/envs", plan.container_project());
    // Environments are not relocatable and can be large: drop them before the copy. Best effort;
    // the extraction below leaves them out anyway.
    let _ = container
        .exec(&ExecSpec::new(["rm", "-rf", "--", envs.as_str()]), None)
        .await;
    let root = into.root();
    std::fs::create_dir_all(root)
        .with_context(|| format!("failed to create `{}`", root.display()))?;
    let incoming = crate::fsutil::private_tempdir(root, crate::workdir::INCOMING_PREFIX)
        .with_context(|| {
            format!(
                "failed to create a temporary folder in `{}`",
                root.display()
            )
        })?;
    let base = Path::new(plan.cw())
        .file_name()
        .map(PathBuf::from)
        .context("the container workdir has no name")?;
    let skip_envs = Path::new(Workdir::PROJECT)
        .join(&plan.manifest.name)
        .join(".pixi/envs");
    let limits = extract_limits()?;
    if crate::fsutil::running_as_root() {
        tracing::warn!(
            "running as root: what the container hands back is written with normalised modes \
             (no setuid, setgid or world-write) and owned by root; prefer a user in the docker group"
        );
    }
    tracing::info!(
        "copying {}:{} back to {}",
        container.short_id(),
        plan.cw(),
        root.display()
    );
    let to = DownloadTo {
        dest: incoming.path().to_path_buf(),
        strip: Some(base),
        abs_root: Some(PathBuf::from(plan.cw())),
        limits,
    };
    let extracted = session
        .download_into(plan.cw(), "copying back", to, move |p| {
            p.starts_with(&skip_envs) || super::seed::is_stale(p, &stale)
        })
        .await;
    // Each failure keeps its own cause, and with it its exit code: an entry refused by what it
    // is (bad input), the engine's stream breaking (infrastructure), a full disk here (host).
    let stats = extracted.map_err(|err| {
        let what = if err.is::<RefusedEntry>() {
            format!(
                "the container's workdir `{}` holds something that may not reach this host",
                plan.cw()
            )
        } else {
            format!(
                "failed to copy {}:{} back to {}",
                container.short_id(),
                plan.cw(),
                root.display()
            )
        };
        err.context(what)
    })?;
    tracing::info!(
        "copied back {} entries ({:.1} MiB)",
        stats.entries,
        stats.bytes as f64 / (1024.0 * 1024.0)
    );
    if stats.special_count > 0 {
        let more = stats.special_count - stats.special.len() as u64;
        tracing::warn!(
            "left out {} special file(s) (FIFOs, devices) the container made: {}{}",
            stats.special_count,
            stats
                .special
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    if stats.sanitized_modes > 0 {
        tracing::warn!(
            "dropped setuid/setgid/sticky or world-write bits from {} file(s) the container made",
            stats.sanitized_modes
        );
    }
    // Every staged folder must come back as a real folder, never a link (a container could point
    // one at the host's home and have us walk it into the product).
    let project_rel = Path::new(Workdir::PROJECT).join(&plan.manifest.name);
    for rel in [
        Path::new(Workdir::PROJECT),
        project_rel.as_path(),
        Path::new(Workdir::RESOURCES),
        Path::new(Workdir::PIXI_CACHE),
    ] {
        let path = incoming.path().join(rel);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(InputError::new(format!(
                    "the container replaced `{}` in its workdir by something that is not a folder (a link?)",
                    rel.display()
                ))
                .into())
            }
            Err(_) if rel == project_rel || rel == Path::new(Workdir::PROJECT) => {
                return Err(InputError::new(format!(
                    "the container's workdir lost `{}`",
                    rel.display()
                ))
                .into())
            }
            Err(_) => {}
        }
    }
    for folder in Workdir::CONTAINER_FOLDERS {
        let from = incoming.path().join(folder);
        if from.exists() {
            crate::atomic::replace_dir(&from, &root.join(folder))?;
        }
    }
    Ok(())
}

/// The extraction limits for a copy back: the defaults, overridden by
/// `PIXI_AIRGAP_MAX_EXTRACT_BYTES` / `_ENTRIES` when set.
pub(super) fn extract_limits() -> anyhow::Result<ExtractLimits> {
    let mut limits = ExtractLimits::default();
    let read = |setting: crate::settings::Setting| {
        setting
            .whole_number("a whole number")
            .map_err(InputError::new)
    };
    if let Some(v) = read(crate::settings::MAX_EXTRACT_BYTES)? {
        limits.max_bytes = v;
    }
    if let Some(v) = read(crate::settings::MAX_EXTRACT_ENTRIES)? {
        limits.max_entries = v;
    }
    Ok(limits)
}
