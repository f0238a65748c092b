//! `--bundle-pixi`: the pixi that ran in the build container, copied to `WORKDIR/pixi-bin/pixi`
//! through the engine's archive API (never a download), its tar treated as hostile.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::docker::ExecSpec;
use crate::exit::InfraError;
use crate::session::{DownloadTo, Session};
use crate::tar::extract::ExtractLimits;
use crate::workdir::report::BundledPixi;
use crate::workdir::Workdir;

/// Copies the pixi that ran in the container (`command -v pixi`, links resolved) to
/// `WORKDIR/pixi-bin/pixi` through the engine's archive API: the very binary that filled the
/// cache, never a download. The tar is treated as hostile: one regular file, or nothing.
pub(super) async fn copy_pixi(
    session: &Session,
    workdir: &Workdir,
    version: &str,
) -> anyhow::Result<BundledPixi> {
    let container = session.container();
    let locate = container
        .exec(
            &ExecSpec::new([
                "sh",
                "-c",
                "p=$(command -v pixi) || exit 127; readlink -f \"$p\" 2>/dev/null || printf '%s\\n' \"$p\"",
            ]),
            None,
        )
        .await?;
    let source = String::from_utf8_lossy(&locate.stdout).trim().to_string();
    if !locate.success() || !source.starts_with('/') || source.contains('\n') {
        return Err(InfraError::new(format!(
            "bundling pixi: cannot locate pixi in container {} (exit {}): {}",
            container.short_id(),
            locate.exit_code,
            locate.tail(5)
        ))
        .into());
    }
    let base = Path::new(&source)
        .file_name()
        .map(PathBuf::from)
        .context("pixi's path in the container has no file name")?;
    let root = workdir.root();
    let incoming = crate::fsutil::private_tempdir(root, crate::workdir::PIXI_BIN_INCOMING_PREFIX)
        .with_context(|| format!("failed to create a folder in `{}`", root.display()))?;
    tracing::info!("copying {}:{source} to bundle it", container.short_id());
    let expected = base.clone();
    // One file is expected: a pixi binary is well under a gigabyte.
    let to = DownloadTo {
        dest: incoming.path().to_path_buf(),
        strip: None,
        abs_root: None,
        limits: ExtractLimits {
            max_bytes: 1 << 30,
            max_entries: 16,
        },
    };
    let extracted = session
        .download_into(&source, "copying pixi", to, move |p| {
            p != expected.as_path()
        })
        .await;
    let stats = extracted.with_context(|| {
        format!(
            "failed to copy {}:{source} out of the container",
            container.short_id()
        )
    })?;
    let file = incoming.path().join(&base);
    let is_file = std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file());
    if stats.entries != 1 || stats.skipped != 0 || !is_file {
        return Err(InfraError::new(format!(
            "bundling pixi: `{source}` in container {} is not a single regular file",
            container.short_id()
        ))
        .into());
    }
    let dir = workdir.pixi_bin();
    crate::fsutil::remove_tree(&dir)?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("failed to create `{}`", dir.display()))?;
    let dest = dir.join("pixi");
    std::fs::rename(&file, &dest)
        .with_context(|| format!("failed to move pixi to `{}`", dest.display()))?;
    crate::fsutil::set_mode(&dest, 0o755)?;
    let size = std::fs::metadata(&dest)
        .with_context(|| format!("failed to read `{}`", dest.display()))?
        .len();
    let sha256 = crate::fsutil::sha256_file(&dest)?;
    tracing::info!("bundled {version} ({source}, sha256 {sha256})");
    Ok(BundledPixi {
        path: format!("{}/pixi", Workdir::PIXI_BIN),
        source,
        version: version.to_string(),
        sha256,
        size,
    })
}
