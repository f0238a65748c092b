//! A product's state, the two ends of a delta: its files, links and folders, read from the product
//! folder, from its product manifest, or from its `SHA256SUMS` and `product-tree.txt` alone.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::exit::InputError;
use crate::product::ProductLayout;

use super::*;

/// One entry of a product's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `executable` is unknown when the state came from a `SHA256SUMS`.
    File {
        sha256: String,
        size: Option<u64>,
        executable: Option<bool>,
    },
    Link(String),
    Dir,
}

/// A product's files, links and folders by `/`-separated relative path.
#[derive(Debug, Clone, Default)]
pub struct ProductState {
    pub entries: BTreeMap<String, Entry>,
    /// False when the folders were inferred from the paths (a base read from `pixi-airgap.json`):
    /// an empty folder of the base is then unknown.
    pub dirs_exact: bool,
    /// The root has its own `SHA256SUMS`.
    pub has_sums: bool,
}

impl ProductState {
    /// The state of OLD: a product folder, a `SHA256SUMS` (with `product-tree.txt` beside it) or
    /// a `pixi-airgap.json`.
    pub fn load(old: &Path, project_name: &str) -> anyhow::Result<Self> {
        let meta = std::fs::metadata(old).map_err(|err| {
            InputError::new(format!(
                "the old product `{}` cannot be read",
                old.display()
            ))
            .with_source(err)
        })?;
        if meta.is_dir() {
            if old.join(SUMS).is_file() && old.join(TREE).is_file() {
                return Self::from_lists(&old.join(SUMS), &old.join(TREE));
            }
            return Self::walk(old, project_name);
        }
        let name = old.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let dir = old.parent().unwrap_or(Path::new("."));
        if name == ProductLayout::PRODUCT_MANIFEST {
            return Self::from_manifest(old);
        }
        if name == SUMS || name.ends_with(".SHA256SUMS") {
            let tree = dir.join(TREE);
            if !tree.is_file() {
                return Err(InputError::new(format!(
                    "`{}` has no `{TREE}` beside it: the base's folders and links are unknown",
                    old.display()
                ))
                .with_hint(format!(
                    "carry the old product's `{TREE}` with its `{SUMS}`"
                ))
                .into());
            }
            return Self::from_lists(old, &tree);
        }
        Err(InputError::new(format!(
            "the old product `{}` is neither a product folder, a `{SUMS}` nor a `{}`",
            old.display(),
            ProductLayout::PRODUCT_MANIFEST
        ))
        .into())
    }

    /// Walks a product folder, links not followed, runtime state left out.
    pub fn walk(root: &Path, project_name: &str) -> anyhow::Result<Self> {
        let mut state = Self {
            dirs_exact: true,
            ..Self::default()
        };
        let runtime = format!("{project_name}/.pixi/");
        let staged = staged_pixi_files(root, &runtime)?;
        let mut walk = walkdir::WalkDir::new(root)
            .follow_links(false)
            .follow_root_links(false)
            .sort_by_file_name()
            .min_depth(1)
            .into_iter();
        while let Some(entry) = walk.next() {
            let entry = entry.with_context(|| format!("failed to read `{}`", root.display()))?;
            let rel = entry
                .path()
                .strip_prefix(root)
                .context("walked outside the product")?;
            let path = plain_path(rel)?;
            if path == SUMS || path == SUMS_SIG {
                state.has_sums |= path == SUMS;
                continue;
            }
            if path.starts_with(&runtime) && !staged.contains(&path) {
                if entry.file_type().is_dir() {
                    walk.skip_current_dir();
                }
                continue;
            }
            let kind = entry.file_type();
            let value = if kind.is_symlink() {
                let target = std::fs::read_link(entry.path())
                    .with_context(|| format!("failed to read `{}`", entry.path().display()))?;
                Entry::Link(plain_text(&target)?)
            } else if kind.is_dir() {
                Entry::Dir
            } else if kind.is_file() {
                let meta = entry
                    .metadata()
                    .with_context(|| format!("failed to read `{}`", entry.path().display()))?;
                let (sha256, size) = if path == ProductLayout::ENVS_SH {
                    envs_sh_hash(entry.path())?
                } else {
                    (crate::fsutil::sha256_file(entry.path())?, Some(meta.len()))
                };
                Entry::File {
                    sha256,
                    size,
                    executable: Some(crate::fsutil::is_executable(&meta)),
                }
            } else {
                return Err(InputError::new(format!(
                    "`{}` is neither a file, a folder nor a link",
                    entry.path().display()
                ))
                .into());
            };
            state.entries.insert(path, value);
        }
        Ok(state)
    }

    /// Reads a `SHA256SUMS` and a `product-tree.txt`.
    pub fn from_lists(sums: &Path, tree: &Path) -> anyhow::Result<Self> {
        let mut state = Self {
            dirs_exact: true,
            ..Self::default()
        };
        let text = read_text(sums)?;
        for (n, line) in text.lines().enumerate() {
            let bad = || {
                InputError::new(format!(
                    "`{}` line {}: not `<sha256>  <path>`",
                    sums.display(),
                    n + 1
                ))
            };
            let (sum, path) = line.split_once("  ").ok_or_else(bad)?;
            if !is_sha256(sum) || plain_problem(path) {
                return Err(bad().into());
            }
            let file = Entry::File {
                sha256: sum.to_string(),
                size: None,
                executable: None,
            };
            if state.entries.insert(path.to_string(), file).is_some() {
                return Err(bad().into());
            }
        }
        let text = read_text(tree)?;
        for (n, line) in text.lines().enumerate() {
            let bad = || {
                InputError::new(format!(
                    "`{}` line {}: not `dir<TAB>path` or `link<TAB>path<TAB>target`",
                    tree.display(),
                    n + 1
                ))
            };
            let fields: Vec<&str> = line.split('\t').collect();
            let (path, entry) = match fields.as_slice() {
                ["dir", path] => (*path, Entry::Dir),
                ["link", path, target] if !target.is_empty() => {
                    (*path, Entry::Link(target.to_string()))
                }
                _ => return Err(bad().into()),
            };
            if plain_problem(path) || state.entries.insert(path.to_string(), entry).is_some() {
                return Err(bad().into());
            }
        }
        Ok(state)
    }

    /// Reads a product's `pixi-airgap.json`: its files and links, and the manifest itself; the
    /// folders are those on the way to them.
    pub fn from_manifest(manifest: &Path) -> anyhow::Result<Self> {
        let dir = manifest.parent().unwrap_or(Path::new("."));
        let mut state = Self::default();
        for record in crate::product::manifest::records(dir)? {
            let record = record?;
            if plain_problem(&record.path) {
                return Err(InputError::new(format!(
                    "`{}` names `{}`: not a plain relative path",
                    manifest.display(),
                    record.path
                ))
                .into());
            }
            let entry = match (&record.symlink, &record.sha256) {
                (Some(target), _) => Entry::Link(target.clone()),
                (None, Some(sha256)) => Entry::File {
                    sha256: sha256.clone(),
                    size: record.size,
                    executable: Some(record.executable),
                },
                (None, None) => {
                    return Err(InputError::new(format!(
                        "`{}`: `{}` has no sha256",
                        manifest.display(),
                        record.path
                    ))
                    .into())
                }
            };
            state.entries.insert(record.path, entry);
        }
        let bytes = std::fs::metadata(manifest)
            .with_context(|| format!("failed to read `{}`", manifest.display()))?
            .len();
        state.entries.insert(
            ProductLayout::PRODUCT_MANIFEST.to_string(),
            Entry::File {
                sha256: crate::fsutil::sha256_file(manifest)?,
                size: Some(bytes),
                executable: Some(false),
            },
        );
        let parents: Vec<String> = state
            .entries
            .keys()
            .flat_map(|path| {
                path.match_indices('/')
                    .map(|(i, _)| path[..i].to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        for dir in parents {
            state.entries.entry(dir).or_insert(Entry::Dir);
        }
        Ok(state)
    }

    /// `SHA256SUMS`: every file, bytewise sorted by path.
    pub fn sums_text(&self) -> String {
        let mut out = String::new();
        for (path, entry) in &self.entries {
            if let Entry::File { sha256, .. } = entry {
                out.push_str(&format!("{sha256}  {path}\n"));
            }
        }
        out
    }

    /// `product-tree.txt`: every folder and link, sorted by path.
    pub fn tree_text(&self) -> String {
        let mut out = String::new();
        for (path, entry) in &self.entries {
            match entry {
                Entry::Dir => out.push_str(&format!("dir\t{path}\n")),
                Entry::Link(target) => out.push_str(&format!("link\t{path}\t{target}\n")),
                Entry::File { .. } => {}
            }
        }
        out
    }

    pub(super) fn size(&self) -> Option<u64> {
        self.entries
            .values()
            .map(|e| match e {
                Entry::File { size, .. } => *size,
                _ => Some(0),
            })
            .sum()
    }
}

/// What the product holds under `<project>/.pixi/` (`runtime`), as its manifest lists it, with
/// the folders on the way (pixi 0.77 stages `.gitignore` files there); without a manifest, the
/// staged `config.toml`. Anything else there is a bootstrap's runtime state.
pub(super) fn staged_pixi_files(
    root: &Path,
    runtime: &str,
) -> anyhow::Result<std::collections::HashSet<String>> {
    let mut staged = std::collections::HashSet::new();
    if !root.join(ProductLayout::PRODUCT_MANIFEST).is_file() {
        staged.insert(format!("{runtime}config.toml"));
        return Ok(staged);
    }
    for record in crate::product::manifest::records(root)? {
        let record = record?;
        if let Some(rest) = record.path.strip_prefix(runtime) {
            for (i, _) in rest.match_indices('/') {
                staged.insert(format!("{runtime}{}", &rest[..i]));
            }
            staged.insert(record.path);
        }
    }
    Ok(staged)
}
