//! The integrity check of a product against its product manifest, before anything runs: every
//! record's file or link as recorded, nothing on disk that the manifest does not list (but runtime
//! state), `SHA256SUMS` in agreement.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::Context;

use crate::exit::InputError;
use crate::product::{templates, ProductLayout};
use crate::tar::write::{walk_dir, EntryKind, TarEntry, Walked};

use super::*;

/// What the integrity [`check`] of a product against its manifest found.
#[derive(Debug, Default, Clone)]
pub struct IntegrityReport {
    /// Records checked (files and links).
    pub checked: usize,
    /// Bytes of file content the records hold.
    pub bytes: u64,
    pub missing: Vec<String>,
    pub changed: Vec<String>,
    /// Files, links and folders (with a trailing `/`) not in the manifest, other than runtime
    /// state: [`check`] refuses a product that has any.
    pub extra: Vec<String>,
    /// The folders under `<project>/.pixi/` that hold files not in the manifest: what
    /// bootstrapping in place left (environments, pixi's state), with how many files each holds.
    /// Counted, not listed: an environment has tens of thousands of files.
    pub runtime_state: BTreeMap<String, usize>,
}

/// The runtime-state folder an extra entry belongs to: `<project>/.pixi/<first part>` (or the
/// file itself directly under `.pixi/`); or, in the package cache, what pixi creates while it
/// installs and make-product leaves out ([`crate::product::make::keep_cache`]: `.tmp*` folders, `*.lock`
/// files, the repodata cache; never inside a package's own folder).
pub(super) fn runtime_state_folder(project_name: &str, rel: &str, is_dir: bool) -> Option<String> {
    if let Some(rest) = rel
        .strip_prefix(project_name)
        .and_then(|r| r.strip_prefix("/.pixi/"))
    {
        let first = rest.split('/').next().unwrap_or(rest);
        return Some(format!("{project_name}/.pixi/{first}"));
    }
    let rest = rel
        .strip_prefix(ProductLayout::PKG_CACHE)?
        .strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    for end in 1..=parts.len() {
        let dir = end < parts.len() || is_dir;
        if !crate::product::make::keep_cache(Path::new(&parts[..end].join("/")), dir) {
            return Some(format!(
                "{}/{}",
                ProductLayout::PKG_CACHE,
                parts[..end].join("/")
            ));
        }
    }
    None
}

/// Checks every file of the product against its manifest. A manifest entry that names a place
/// outside the product, a missing or changed file, or a file, link or folder the manifest (and
/// `product-tree.txt`) does not list, other than bootstrap's runtime state under the project's
/// `.pixi/`, is an input error naming them. Nothing is followed: an entry whose folder on disk is a link, or a
/// link that resolves outside the product, counts as changed. Memory stays flat: the records are
/// read one at a time, the product is walked lazily, and what is kept per file is a 16-byte hash
/// of its path.
pub fn check(product_dir: &Path) -> anyhow::Result<(ProductManifest, IntegrityReport)> {
    let manifest = ProductManifest::read(product_dir)?;
    let manifest_path = product_dir.join(ProductLayout::PRODUCT_MANIFEST);
    let mut report = IntegrityReport::default();
    let mut problems = RecordCheck::default();
    let real_root = std::fs::canonicalize(product_dir)
        .with_context(|| format!("failed to resolve `{}`", product_dir.display()))?;
    let mut real_dirs = HashSet::new();
    // SHA256SUMS (what check-product.sh and a signature trust) must agree with the manifest.
    let mut sums = crate::product::sums::SumsIndex::load(product_dir)?;
    for record in records(product_dir)? {
        let record = record?;
        crate::shutdown::check()?;
        if let Some(sums) = sums.as_mut() {
            sums.note(&record);
        }
        // An entry that may not be part of a product names nothing that is read.
        if !problems.check(&record) {
            continue;
        }
        report.checked += 1;
        report.bytes += record.size.unwrap_or(0);
        match record_state(product_dir, &real_root, &record, &mut real_dirs)? {
            RecordState::Intact => {}
            RecordState::Changed => report.changed.push(record.path),
            RecordState::Missing => report.missing.push(record.path),
        }
    }
    if !problems.is_empty() {
        return Err(problems.refuse(&manifest_path));
    }
    drop(real_dirs);
    match sums {
        Some(sums) => sums.finish(product_dir)?,
        // Products list product-tree.txt since they carry SHA256SUMS: one without it lost it.
        None if problems.seen.contains(crate::product::sums::PRODUCT_TREE) => {
            return Err(InputError::new(format!(
                "the product in `{}` has no {}",
                product_dir.display(),
                crate::product::sums::SHA256SUMS
            ))
            .with_hint(
                "copy the product again from the build machine (or unpack its archive again)",
            )
            .into())
        }
        None => {}
    }
    // The folders the product holds, from product-tree.txt once the record pass found it intact
    // (a product made before it existed has no folder list: its folders are not judged).
    let folders = if report.missing.is_empty() && report.changed.is_empty() {
        product_folders(product_dir, &problems.seen)?
    } else {
        None
    };
    // What is on disk, by the same walk every tar we write uses (sorted, no link followed), one
    // entry at a time; a path is known when the check above saw it.
    let known = problems.seen;
    for step in walk_dir(product_dir, Path::new(""), |_, _| Ok(true)) {
        let rel = match step? {
            Walked::Entry(TarEntry {
                kind: EntryKind::Dir,
                path,
                ..
            }) => {
                let rel = crate::fsutil::slash_path(&path)?;
                let listed = folders.as_ref().is_none_or(|f| f.contains(&rel));
                if rel.is_empty()
                    || listed
                    || rel == format!("{}/.pixi", manifest.project_name)
                    || runtime_state_folder(&manifest.project_name, &rel, true).is_some()
                {
                    continue;
                }
                report.extra.push(format!("{rel}/"));
                continue;
            }
            Walked::Entry(entry) => crate::fsutil::slash_path(&entry.path)?,
            Walked::Special(rel) => crate::fsutil::slash_path(Path::new(&rel))?,
        };
        // SHA256SUMS lists the manifest, so it cannot be in it (nor its signature).
        if rel == ProductLayout::PRODUCT_MANIFEST
            || rel == crate::product::sums::SHA256SUMS
            || rel == crate::product::sums::SHA256SUMS_SIG
            || known.contains(&rel)
        {
            continue;
        }
        match runtime_state_folder(&manifest.project_name, &rel, false) {
            Some(folder) => *report.runtime_state.entry(folder).or_default() += 1,
            None => report.extra.push(rel),
        }
    }
    drop(known);
    report.extra.sort();
    if report.missing.is_empty() && report.changed.is_empty() && !report.extra.is_empty() {
        let shown: Vec<String> = report
            .extra
            .iter()
            .take(EXTRA_SHOWN)
            .map(|p| format!("  not part of the product: {p}"))
            .collect();
        let more = report.extra.len().saturating_sub(EXTRA_SHOWN);
        return Err(InputError::new(format!(
            "the product in `{}` holds {} that its manifest does not list (only bootstrap's runtime state under `{}/.pixi/` may be added):\n{}{}",
            product_dir.display(),
            entries(report.extra.len()),
            manifest.project_name,
            shown.join("\n"),
            if more > 0 { format!("\n  ... and {more} more") } else { String::new() }
        ))
        .with_hint("copy the product again from the build machine (or unpack its archive again), or remove what was added")
        .into());
    }
    if !report.missing.is_empty() || !report.changed.is_empty() {
        let mut lines = Vec::new();
        for path in &report.changed {
            lines.push(format!("  changed: {path}"));
        }
        for path in &report.missing {
            lines.push(format!("  missing: {path}"));
        }
        return Err(InputError::new(format!(
            "the product in `{}` does not match its manifest ({} changed, {} missing):\n{}",
            product_dir.display(),
            report.changed.len(),
            report.missing.len(),
            lines.join("\n")
        ))
        .with_hint("copy the product again from the build machine (or unpack its archive again)")
        .into());
    }
    Ok((manifest, report))
}

/// How many added paths an error names (then a count).
pub(super) const EXTRA_SHOWN: usize = 50;

/// The folders `product-tree.txt` lists, when the manifest lists that file (the record pass has
/// then checked its content); `None` for a product made before it existed.
pub(super) fn product_folders(
    product_dir: &Path,
    known: &SeenPaths,
) -> anyhow::Result<Option<HashSet<String>>> {
    if !known.contains(crate::product::sums::PRODUCT_TREE) {
        return Ok(None);
    }
    let path = product_dir.join(crate::product::sums::PRODUCT_TREE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    Ok(Some(
        text.lines()
            .filter_map(|line| line.strip_prefix("dir\t"))
            .map(str::to_string)
            .collect(),
    ))
}

/// What [`record_state`] found.
pub(super) enum RecordState {
    Intact,
    Changed,
    Missing,
}

/// Whether the product holds `record` as the manifest says.
pub(super) fn record_state(
    product_dir: &Path,
    real_root: &Path,
    record: &FileRecord,
    real_dirs: &mut HashSet<String>,
) -> anyhow::Result<RecordState> {
    let path = product_dir.join(&record.path);
    // Every folder on the way must be a real folder: a link there would make us read (and
    // upload) what lies behind it.
    if !folders_are_real(product_dir, &record.path, real_dirs) {
        return Ok(RecordState::Changed);
    }
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return Ok(RecordState::Missing);
    };
    let intact = match &record.symlink {
        Some(target) => {
            meta.file_type().is_symlink()
                && std::fs::read_link(&path).is_ok_and(|t| t.to_string_lossy() == target.as_str())
                // Through other links it may still leave: judged by the file system too
                // (a dangling link is fine; it points nowhere outside).
                && std::fs::canonicalize(&path).map_or(true, |real| real.starts_with(real_root))
        }
        // A lost execute bit breaks a package's programs just like changed bytes do. Size, mode
        // and content are read through one open file that no link leads to.
        None => {
            meta.is_file()
                && match crate::fsutil::open_no_follow(&path) {
                    Err(_) => false,
                    Ok((file, meta)) => {
                        Some(meta.len()) == record.size
                            && crate::fsutil::is_executable(&meta) == record.executable
                            && record.sha256.as_deref()
                                == Some(
                                    crate::fsutil::sha256_reader(file)
                                        .with_context(|| {
                                            format!("failed to read `{}`", path.display())
                                        })?
                                        .0
                                        .as_str(),
                                )
                    }
                }
        }
    };
    // bootstrap-project.sh records the product's folder in envs.sh; nothing else may differ.
    let intact = intact
        || (record.path == ProductLayout::ENVS_SH
            && meta.is_file()
            && crate::fsutil::is_executable(&meta) == record.executable
            && match (record.size, record.sha256.as_deref()) {
                (Some(size), Some(sha256)) => {
                    templates::envs_sh_matches_as_made(&path, size, sha256)?
                }
                _ => false,
            });
    Ok(if intact {
        RecordState::Intact
    } else {
        RecordState::Changed
    })
}

/// Whether every folder between `root` and the entry `rel` is a real folder (not a link).
/// `seen` remembers folders already found real.
pub(super) fn folders_are_real(root: &Path, rel: &str, seen: &mut HashSet<String>) -> bool {
    let mut end = 0;
    while let Some(slash) = rel[end..].find('/') {
        end += slash;
        let folder = &rel[..end];
        if !seen.contains(folder) {
            let real = std::fs::symlink_metadata(root.join(folder)).is_ok_and(|m| m.is_dir());
            if !real {
                return false;
            }
            seen.insert(folder.to_string());
        }
        end += 1;
    }
    true
}
