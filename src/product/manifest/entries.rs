//! The upload of a proven product: the tar entries of exactly the product manifest's files, read
//! and checked again one record at a time.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::InputError;
use crate::product::ProductLayout;
use crate::tar::write::{EntryKind, FileCheck, TarEntry};

use super::*;

/// The tar entries of exactly the manifest's files (and the manifest), under `prefix`, produced
/// one at a time as the upload reads them: the manifest first, then each file or link as the
/// manifest records it, each folder on its way just before the first entry inside it. Nothing else
/// in the product folder is read. Call [`check`] first: it makes sure every entry is what the
/// manifest says and that no folder on the way is a link. The records are read from the file
/// again and checked again on the way (a manifest replaced in between cannot name a place
/// outside the product).
pub fn manifest_entries(product_dir: &Path, prefix: &Path) -> anyhow::Result<ManifestEntries> {
    let mut pending = VecDeque::new();
    pending.push_back(TarEntry::dir(prefix));
    pending.push_back(TarEntry {
        path: prefix.join(ProductLayout::PRODUCT_MANIFEST),
        kind: EntryKind::File {
            source: product_dir.join(ProductLayout::PRODUCT_MANIFEST),
            executable: false,
        },
        check: None,
    });
    // The checksums (so the product's own check-product.sh can run where it is uploaded) and
    // every folder of product-tree.txt (empty ones too), parents first as the list is sorted.
    for name in [
        crate::product::sums::SHA256SUMS,
        crate::product::sums::SHA256SUMS_SIG,
    ] {
        let source = product_dir.join(name);
        if std::fs::symlink_metadata(&source).is_ok_and(|m| m.is_file()) {
            pending.push_back(TarEntry {
                path: prefix.join(name),
                kind: EntryKind::File {
                    source,
                    executable: false,
                },
                // SHA256SUMS is checked against the manifest before the upload; the proof's own
                // check-product.sh checks it again inside the container.
                check: None,
            });
        }
    }
    let mut folders = HashSet::new();
    let tree = product_dir.join(crate::product::sums::PRODUCT_TREE);
    if std::fs::symlink_metadata(&tree).is_ok_and(|m| m.is_file()) {
        let text = std::fs::read_to_string(&tree)
            .with_context(|| format!("failed to read `{}`", tree.display()))?;
        for folder in text.lines().filter_map(|l| l.strip_prefix("dir\t")) {
            if plain_path_problem(folder).is_some() {
                return Err(InputError::new(format!(
                    "`{}` lists a folder `{}` that may not be part of a product",
                    tree.display(),
                    folder.escape_debug()
                ))
                .into());
            }
            pending.push_back(TarEntry::dir(prefix.join(folder)));
            folders.insert(folder.to_string());
        }
    }
    Ok(ManifestEntries {
        product_dir: product_dir.to_path_buf(),
        prefix: prefix.to_path_buf(),
        records: records(product_dir)?,
        problems: RecordCheck::default(),
        pending,
        folders,
    })
}

/// See [`manifest_entries`]. Holds the folders written so far, never a list of the files.
pub struct ManifestEntries {
    product_dir: PathBuf,
    prefix: PathBuf,
    records: Records,
    problems: RecordCheck,
    pending: VecDeque<TarEntry>,
    folders: HashSet<String>,
}

impl ManifestEntries {
    fn step(&mut self) -> anyhow::Result<Option<TarEntry>> {
        if let Some(entry) = self.pending.pop_front() {
            return Ok(Some(entry));
        }
        let Some(record) = self.records.next().transpose()? else {
            return Ok(None);
        };
        if !self.problems.check(&record) {
            return Err(self
                .problems
                .refuse(&self.product_dir.join(ProductLayout::PRODUCT_MANIFEST)));
        }
        // The folders on the way that are not written yet, outermost first.
        let mut missing = Vec::new();
        let mut end = record.path.len();
        while let Some(slash) = record.path[..end].rfind('/') {
            let folder = &record.path[..slash];
            if self.folders.contains(folder) {
                break;
            }
            missing.push(folder.to_string());
            end = slash;
        }
        for folder in missing.into_iter().rev() {
            self.pending
                .push_back(TarEntry::dir(self.prefix.join(&folder)));
            self.folders.insert(folder);
        }
        // A file is hashed again as it is uploaded: what the proof installs is what the
        // manifest records, even if the file changed after `check` read it. `envs.sh` is the
        // one file bootstrap may rewrite (checked by `check`, not here).
        let check = match (&record.symlink, record.size, &record.sha256) {
            (None, Some(size), Some(sha256)) if record.path != ProductLayout::ENVS_SH => {
                Some(FileCheck::Sha256 {
                    size,
                    sha256: sha256.clone(),
                })
            }
            _ => None,
        };
        let kind = match record.symlink {
            Some(target) => EntryKind::Symlink {
                target: PathBuf::from(target),
            },
            None => EntryKind::File {
                source: self.product_dir.join(&record.path),
                executable: record.executable,
            },
        };
        self.pending.push_back(TarEntry {
            path: self.prefix.join(&record.path),
            kind,
            check,
        });
        Ok(self.pending.pop_front())
    }
}

impl Iterator for ManifestEntries {
    type Item = anyhow::Result<TarEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step().transpose()
    }
}
