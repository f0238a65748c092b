//! Where a product may be written: `--output` is never a folder the user keeps, and replaces only
//! an earlier product (its marker) that was not bootstrapped, or was and `--force` says so.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::InputError;
use crate::product::{templates, ProductLayout};
use crate::workdir::report::StageReport;
use crate::workdir::Workdir;

/// The output folder may be replaced: it is new, empty, or an earlier product (it carries the
/// marker) that was not bootstrapped, or was and `--force` says so;
/// and it never is, or holds, a folder the user keeps (the workdir, the current folder, the
/// project, the resources), nor lies inside the project, the resources or a staged folder. Paths
/// compare canonically, so a symlinked alias is caught. (Inside the current folder is fine:
/// `--output ./product` is the common case.)
pub(super) fn check_output(
    output: &Path,
    workdir: &Workdir,
    stage: &StageReport,
    force: bool,
) -> anyhow::Result<()> {
    let refuse = |why: String| -> anyhow::Error {
        InputError::new(format!("the product folder `{}` {why}", output.display()))
            .with_hint("pick a new folder for the product, e.g. WORKDIR/product (the default)")
            .into()
    };
    let out = crate::fsutil::canonical_or_self(output);
    let cwd = std::env::current_dir().context("failed to read the current folder")?;
    let mut kept: Vec<(PathBuf, &str, bool)> = vec![
        (workdir.root().to_path_buf(), "the workdir", false),
        (cwd, "the current folder", false),
    ];
    for folder in crate::workdir::STAGED_FOLDERS {
        kept.push((workdir.root().join(folder), "a staged folder", true));
    }
    if let Some(p) = &stage.project_dir {
        kept.push((p.clone(), "the project", true));
    }
    if let Some(r) = &stage.resources_dir {
        kept.push((r.clone(), "the resources", true));
    }
    for (path, what, no_inside) in kept {
        let path = crate::fsutil::canonical_or_self(&path);
        if path.starts_with(&out) {
            return Err(refuse(format!(
                "is or contains {what} (`{}`)",
                path.display()
            )));
        }
        if no_inside && out.starts_with(&path) {
            return Err(refuse(format!("lies inside {what} (`{}`)", path.display())));
        }
    }
    match std::fs::symlink_metadata(output) {
        Err(_) => Ok(()),
        Ok(meta) if meta.file_type().is_symlink() || !meta.is_dir() => {
            Err(refuse("exists and is not a folder".to_string()))
        }
        Ok(_) if !crate::fsutil::dir_has_entries(output)? => Ok(()),
        // Only a folder make-product made (it carries the marker) is ever replaced; a readable
        // manifest is not enough, and --force does not change that.
        Ok(_) if !crate::product::is_marked_product(output) => Err(InputError::new(format!(
            "the product folder `{}` is not empty and is not an earlier product (it has no {}): pixi-airgap never replaces a folder it did not make, even when forced",
            output.display(),
            ProductLayout::MARKER
        ))
        .with_hint("pick a new or empty folder for the product, or remove this one yourself")
        .into()),
        Ok(_) if force => {
            tracing::warn!("replacing the earlier product `{}` (forced)", output.display());
            Ok(())
        }
        Ok(_) => match bootstrapped(output) {
            // No hint: how to force it is the command's (`refused_bootstrapped`).
            Some(why) => Err(InputError::new(format!(
                "the product folder `{}` {BOOTSTRAPPED} ({why}): it may hold environments and files of yours",
                output.display()
            ))
            .into()),
            None => Ok(()),
        },
    }
}

/// What the refusal of a bootstrapped earlier product says.
const BOOTSTRAPPED: &str = "is an earlier product that was bootstrapped";

/// Whether `err` is the refusal to replace a bootstrapped earlier product without `force`: the
/// command that can force it adds its flag as the hint.
pub fn refused_bootstrapped(err: &anyhow::Error) -> bool {
    err.downcast_ref::<InputError>()
        .is_some_and(|input| input.to_string().contains(BOOTSTRAPPED))
}

/// Why an earlier product looks bootstrapped (its `envs.sh` records a folder, or a project in it
/// has `.pixi/envs`); `None` when it does not.
pub(super) fn bootstrapped(product: &Path) -> Option<String> {
    let envs_sh = product.join(ProductLayout::ENVS_SH);
    let recorded = std::fs::symlink_metadata(&envs_sh)
        .is_ok_and(|m| m.is_file() && m.len() < 1024 * 1024)
        && std::fs::read_to_string(&envs_sh).is_ok_and(|text| {
            text.lines().any(|line| {
                line.strip_prefix(templates::ENVS_SH_RECORD_MARKER)
                    .is_some_and(|value| !value.is_empty() && value != "''")
            })
        });
    if recorded {
        return Some(format!(
            "{} records where it was installed",
            ProductLayout::ENVS_SH
        ));
    }
    let entries = std::fs::read_dir(product).ok()?;
    for entry in entries.flatten() {
        let envs = entry.path().join(".pixi/envs");
        if entry.file_type().is_ok_and(|t| t.is_dir()) && std::fs::symlink_metadata(&envs).is_ok() {
            return Some(format!("`{}` exists", envs.display()));
        }
    }
    None
}
