//! Names that differ only in case (ncurses' terminfo has `E/` and `e/`): fine on Linux, but a
//! case-insensitive file system (a USB stick formatted FAT or exFAT, macOS and Windows defaults)
//! keeps only one of them, so a product carried on such media arrives broken. Found folder by
//! folder, never following a link; `check` and make-product warn with the list.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Pairs shown in a warning; the rest are counted.
pub const SHOWN: usize = 20;

/// The case-only clashes under a folder: the first [`SHOWN`] pairs (`dir/E` and `dir/e`, relative
/// to the root) and how many there are in all.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CaseClashes {
    pub shown: Vec<(String, String)>,
    pub count: usize,
}

impl CaseClashes {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The pairs, one per line, and a line for the ones not shown.
    pub fn lines(&self) -> String {
        let mut lines: Vec<String> = self
            .shown
            .iter()
            .map(|(a, b)| format!("  {a}  and  {b}"))
            .collect();
        if self.count > self.shown.len() {
            lines.push(format!("  ... and {} more", self.count - self.shown.len()));
        }
        lines.join("\n")
    }
}

/// Walks `root` (links are not followed) and compares the names inside each folder, ignoring
/// case; `skip` sees paths relative to `root` and leaves out a folder with everything in it.
/// Memory holds one folder's names at a time.
pub fn find(root: &Path, skip: impl Fn(&Path) -> bool) -> anyhow::Result<CaseClashes> {
    let mut found = CaseClashes::default();
    let mut pending: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = root.join(&rel);
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("failed to read `{}`", dir.display()))?;
        let mut names: Vec<(std::ffi::OsString, bool)> = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("failed to read `{}`", dir.display()))?;
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            names.push((entry.file_name(), is_dir));
        }
        names.sort();
        let mut seen: HashMap<String, &std::ffi::OsStr> = HashMap::new();
        for (name, is_dir) in &names {
            let child = rel.join(name);
            if skip(&child) {
                continue;
            }
            let folded = name.to_string_lossy().to_lowercase();
            if let Some(first) = seen.get(&folded) {
                found.count += 1;
                if found.shown.len() < SHOWN {
                    found.shown.push((
                        rel.join(first).display().to_string(),
                        child.display().to_string(),
                    ));
                }
            } else {
                seen.insert(folded, name);
            }
            if *is_dir {
                pending.push(child);
            }
        }
    }
    found.shown.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clashes_are_found_per_folder_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let terminfo = root.join("pkgs/ncurses-6.4-0/share/terminfo");
        for sub in ["E", "e", "a"] {
            std::fs::create_dir_all(terminfo.join(sub)).unwrap();
        }
        std::fs::write(terminfo.join("e/eterm"), "x").unwrap();
        std::fs::write(root.join("README"), "x").unwrap();
        std::fs::write(root.join("readme"), "x").unwrap();
        std::fs::create_dir_all(root.join("skipped/X")).unwrap();
        std::fs::create_dir_all(root.join("skipped/x")).unwrap();
        // A link to a folder with clashes is not walked into.
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(outside.join("Q")).unwrap();
        std::fs::create_dir_all(outside.join("q")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let found = find(&root, |p| p == Path::new("skipped")).unwrap();
        assert_eq!(found.count, 2, "{found:?}");
        assert_eq!(
            found.shown,
            [
                ("README".to_string(), "readme".to_string()),
                (
                    "pkgs/ncurses-6.4-0/share/terminfo/E".to_string(),
                    "pkgs/ncurses-6.4-0/share/terminfo/e".to_string()
                ),
            ]
        );
        assert!(found.lines().contains("terminfo/E  and  pkgs"));
    }
}
