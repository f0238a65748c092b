//! `WORKDIR/helpers/`: this pixi-airgap binary and `make-archive-ready-product.sh`, so a workdir
//! copied to another machine can still make its product without installing anything. Written
//! by the staging commands once the workdir is staged; they belong to the product side because
//! all they do is make products.

use anyhow::Context;

use crate::workdir::Workdir;

/// Writes the helpers for the staged project `project_name`.
pub fn write(workdir: &Workdir, project_name: &str) -> anyhow::Result<()> {
    let helpers = workdir.helpers();
    std::fs::create_dir_all(&helpers)
        .with_context(|| format!("failed to create `{}`", helpers.display()))?;
    let exe = std::env::current_exe().context("cannot locate the running pixi-airgap binary")?;
    let binary = helpers.join("pixi-airgap");
    std::fs::copy(&exe, &binary).with_context(|| {
        format!(
            "failed to copy `{}` to `{}`",
            exe.display(),
            binary.display()
        )
    })?;
    let script = helpers.join("make-archive-ready-product.sh");
    let text = super::templates::make_archive_ready_sh(project_name)?;
    std::fs::write(&script, text)
        .with_context(|| format!("failed to write `{}`", script.display()))?;
    crate::fsutil::set_mode(&script, 0o755)?;
    Ok(())
}
