//! The two lists that let a product check itself with a shell on the receiving side, where there
//! is no pixi-airgap: `SHA256SUMS` (every regular file of the product with its sha256, in the
//! format `sha256sum -c` reads) and `product-tree.txt` (its folders and symlinks, so an added
//! empty folder or a retargeted link shows too). `check-product.sh` reads both; the formats are
//! documented in `docs/json.md` ("SHA256SUMS and product-tree.txt").
//!
//! `SHA256SUMS`: one line per file, `<64 lowercase hex><two spaces><path>`, the path relative to
//! the product root without `./`, sorted bytewise; every regular file except `SHA256SUMS` and
//! `SHA256SUMS.sig`. `product-tree.txt`: `dir<TAB>path` and `link<TAB>path<TAB>target`, sorted
//! bytewise by path. Names a line cannot carry (a line break, a carriage return, a backslash
//! that GNU `sha256sum` would escape; a tab in the tree) are refused.
//!
//! The hashes are the ones `make-product` computed for `pixi-airgap.json` (read back from it,
//! never hashed twice); only the manifest itself is hashed here. Sorting needs every path at
//! once: they are kept in one byte arena (path + 32-byte hash, plus a 16-byte index entry per
//! file), about 11 MB for 100,000 files, never one allocation per file.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::manifest::{records, FileRecord};
use super::ProductLayout;
use crate::exit::InputError;
use crate::fsutil::hex;
use crate::tar::write::{walk_dir, EntryKind, Walked};

/// The checksums file at the product's root.
pub const SHA256SUMS: &str = "SHA256SUMS";
/// Its signature (written by the signing work); never listed in `SHA256SUMS`.
pub const SHA256SUMS_SIG: &str = "SHA256SUMS.sig";
/// The product's folders and symlinks.
pub const PRODUCT_TREE: &str = "product-tree.txt";

/// Why `path` cannot be one line of `SHA256SUMS` (or, with `tree`, of `product-tree.txt`).
pub fn line_problem(path: &str, tree: bool) -> Option<&'static str> {
    if path.contains('\n') {
        Some("a line break")
    } else if path.contains('\r') {
        Some("a carriage return")
    } else if path.contains('\\') {
        Some("a backslash (sha256sum would escape it)")
    } else if tree && path.contains('\t') {
        Some("a tab")
    } else {
        None
    }
}

fn refuse_name(path: &str, why: &str) -> anyhow::Error {
    InputError::new(format!(
        "`{}` has {why} in its name: SHA256SUMS and product-tree.txt cannot carry it on one line",
        path.escape_debug()
    ))
    .with_hint("rename it in the project (or the package), then make the product again")
    .into()
}

/// Walks the product being made (every file already in place, `pixi-airgap.json` still open),
/// refuses names a line cannot carry, writes `product-tree.txt` and returns its manifest record
/// and how many regular files the walk saw (for [`write_sums`] to cross-check).
pub fn write_tree(product: &Path) -> anyhow::Result<(FileRecord, usize)> {
    let mut entries: Vec<(String, Option<String>)> = Vec::new();
    let mut files = 0usize;
    for step in walk_dir(product, Path::new(""), |_, _| Ok(true)) {
        crate::shutdown::check()?;
        let entry = match step? {
            Walked::Entry(entry) => entry,
            Walked::Special(rel) => {
                return Err(InputError::new(format!(
                    "`{rel}` in the product is not a file, folder or symlink"
                ))
                .into())
            }
        };
        if entry.path.as_os_str().is_empty() {
            continue;
        }
        let path = crate::fsutil::slash_path(&entry.path)?;
        match entry.kind {
            EntryKind::File { .. } => {
                if let Some(why) = line_problem(&path, false) {
                    return Err(refuse_name(&path, why));
                }
                files += 1;
            }
            EntryKind::Dir => {
                if let Some(why) = line_problem(&path, true) {
                    return Err(refuse_name(&path, why));
                }
                entries.push((path, None));
            }
            EntryKind::Symlink { target } => {
                if let Some(why) = line_problem(&path, true) {
                    return Err(refuse_name(&path, why));
                }
                let target = target
                    .to_str()
                    .with_context(|| format!("the link `{path}` has a target that is not UTF-8"))?
                    .to_string();
                if let Some(why) = line_problem(&target, true) {
                    return Err(InputError::new(format!(
                        "the link `{path}` has {why} in its target `{}`: product-tree.txt cannot carry it on one line",
                        target.escape_debug()
                    ))
                    .into());
                }
                entries.push((path, Some(target)));
            }
        }
    }
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut text = String::new();
    for (path, target) in &entries {
        match target {
            None => text.push_str(&format!("dir\t{path}\n")),
            Some(target) => text.push_str(&format!("link\t{path}\t{target}\n")),
        }
    }
    let out = product.join(PRODUCT_TREE);
    std::fs::write(&out, &text).with_context(|| format!("failed to write `{}`", out.display()))?;
    crate::fsutil::set_mode(&out, 0o644)?;
    Ok((
        FileRecord {
            path: PRODUCT_TREE.to_string(),
            sha256: Some(hex(&Sha256::digest(text.as_bytes()))),
            size: Some(text.len() as u64),
            executable: false,
            symlink: None,
        },
        files,
    ))
}

/// Paths and hashes kept for sorting: each entry is the path's bytes then its 32-byte hash in
/// one arena, found by `(start, path length)`.
#[derive(Default)]
struct Arena {
    bytes: Vec<u8>,
    index: Vec<(usize, usize)>,
}

impl Arena {
    fn push(&mut self, path: &str, sha256_hex: &str) -> anyhow::Result<()> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(path.as_bytes());
        for pair in sha256_hex.as_bytes().chunks(2) {
            let text = std::str::from_utf8(pair).unwrap_or("");
            let byte = u8::from_str_radix(text, 16)
                .ok()
                .filter(|_| sha256_hex.len() == 64)
                .with_context(|| {
                    format!("the manifest's sha256 of `{path}` is not 64 hex digits")
                })?;
            self.bytes.push(byte);
        }
        self.index.push((start, path.len()));
        Ok(())
    }

    fn path(&self, (start, len): (usize, usize)) -> &[u8] {
        &self.bytes[start..start + len]
    }

    fn hash(&self, (start, len): (usize, usize)) -> &[u8] {
        &self.bytes[start + len..start + len + 32]
    }
}

/// Writes `SHA256SUMS` for a product whose manifest is complete: the manifest's records (their
/// recorded hashes) and the manifest itself, sorted bytewise by path. `files_seen` is what
/// [`write_tree`] counted: a product holding a regular file its manifest does not list is an
/// error here, not a product that fails its own check later.
pub fn write_sums(product: &Path, files_seen: usize) -> anyhow::Result<()> {
    let mut arena = Arena::default();
    for record in records(product)? {
        let record = record?;
        if record.symlink.is_some() {
            continue;
        }
        let sha256 = record
            .sha256
            .as_deref()
            .with_context(|| format!("the manifest has no sha256 for `{}`", record.path))?;
        if let Some(why) = line_problem(&record.path, false) {
            return Err(refuse_name(&record.path, why));
        }
        arena.push(&record.path, sha256)?;
    }
    let manifest = product.join(ProductLayout::PRODUCT_MANIFEST);
    arena.push(
        ProductLayout::PRODUCT_MANIFEST,
        &crate::fsutil::sha256_file(&manifest)?,
    )?;
    // The walk saw the manifest but not product-tree.txt (written after it); the records hold
    // product-tree.txt, and the manifest was added above.
    if arena.index.len() != files_seen + 1 {
        anyhow::bail!(
            "the product holds {files_seen} regular files besides product-tree.txt, but its manifest lists {}: every file the product holds must be in its manifest",
            arena.index.len() - 1
        );
    }
    let mut index = std::mem::take(&mut arena.index);
    index.sort_unstable_by(|a, b| arena.path(*a).cmp(arena.path(*b)));
    if let Some(pair) = index
        .windows(2)
        .find(|w| arena.path(w[0]) == arena.path(w[1]))
    {
        anyhow::bail!(
            "the manifest lists `{}` twice",
            String::from_utf8_lossy(arena.path(pair[0]))
        );
    }
    let out_path = product.join(SHA256SUMS);
    let failed = || format!("failed to write `{}`", out_path.display());
    let file = std::fs::File::create(&out_path).with_context(failed)?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    for entry in index {
        out.write_all(hex(arena.hash(entry)).as_bytes())
            .and_then(|()| out.write_all(b"  "))
            .and_then(|()| out.write_all(arena.path(entry)))
            .and_then(|()| out.write_all(b"\n"))
            .with_context(failed)?;
    }
    out.into_inner()
        .map_err(|err| err.into_error())
        .with_context(failed)?;
    crate::fsutil::set_mode(&out_path, 0o644)
}

/// `SHA256SUMS` read back for `verify-product`: the manifest and `SHA256SUMS` must agree on every
/// file (a signature over `SHA256SUMS` then vouches for the manifest too). Kept as a 16-byte hash
/// of each path with its 32-byte sha256, never the paths.
pub struct SumsIndex {
    sums: std::collections::HashMap<u128, [u8; 32]>,
    hashers: (
        std::collections::hash_map::RandomState,
        std::collections::hash_map::RandomState,
    ),
    /// Paths the manifest and SHA256SUMS disagree on (the first few).
    disagree: Vec<String>,
    disagreements: usize,
    matched: usize,
}

impl SumsIndex {
    /// Reads the product's `SHA256SUMS`; `None` when it has none.
    pub fn load(product: &Path) -> anyhow::Result<Option<Self>> {
        let path = product.join(SHA256SUMS);
        match std::fs::symlink_metadata(&path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(err).with_context(|| format!("failed to read `{}`", path.display()))
            }
            Ok(meta) if !meta.is_file() => {
                return Err(
                    InputError::new(format!("`{}` is not a regular file", path.display())).into(),
                )
            }
            Ok(_) => {}
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        let mut index = Self {
            sums: std::collections::HashMap::new(),
            hashers: Default::default(),
            disagree: Vec::new(),
            disagreements: 0,
            matched: 0,
        };
        for (n, line) in text.lines().enumerate() {
            let parsed = line
                .get(..64)
                .zip(line.get(64..66))
                .zip(line.get(66..))
                .filter(|((_, sep), p)| *sep == "  " && !p.is_empty())
                .and_then(|((hash, _), p)| Some((unhex(hash)?, p)));
            let Some((hash, p)) = parsed else {
                return Err(InputError::new(format!(
                    "`{}` is damaged: line {} is not `<sha256>  <path>`",
                    path.display(),
                    n + 1
                ))
                .into());
            };
            let key = index.key(p);
            if index.sums.insert(key, hash).is_some() {
                return Err(InputError::new(format!(
                    "`{}` is damaged: it lists `{p}` twice",
                    path.display()
                ))
                .into());
            }
        }
        Ok(Some(index))
    }

    fn key(&self, path: &str) -> u128 {
        use std::hash::BuildHasher;
        (u128::from(self.hashers.0.hash_one(path)) << 64)
            | u128::from(self.hashers.1.hash_one(path))
    }

    fn differs(&mut self, path: &str) {
        self.disagreements += 1;
        if self.disagree.len() < 20 {
            self.disagree.push(path.to_string());
        }
    }

    /// Compares one manifest record (links are not in `SHA256SUMS`).
    pub fn note(&mut self, record: &FileRecord) {
        if record.symlink.is_some() {
            return;
        }
        let want = record.sha256.as_deref().and_then(unhex);
        match (self.sums.get(&self.key(&record.path)), want) {
            (Some(have), Some(want)) if *have == want => self.matched += 1,
            _ => self.differs(&record.path),
        }
    }

    /// After every record: the manifest itself must be listed with its hash, and nothing else
    /// beyond the manifest's files.
    pub fn finish(mut self, product: &Path) -> anyhow::Result<()> {
        let manifest = product.join(ProductLayout::PRODUCT_MANIFEST);
        let have = unhex(&crate::fsutil::sha256_file(&manifest)?);
        match (
            self.sums.get(&self.key(ProductLayout::PRODUCT_MANIFEST)),
            have,
        ) {
            (Some(listed), Some(have)) if *listed == have => self.matched += 1,
            _ => self.differs(ProductLayout::PRODUCT_MANIFEST),
        }
        let extra = self.sums.len().saturating_sub(self.matched);
        if self.disagreements == 0 && extra == 0 {
            return Ok(());
        }
        let mut text = self
            .disagree
            .iter()
            .map(|p| format!("  {p}"))
            .collect::<Vec<_>>()
            .join("\n");
        if self.disagreements > self.disagree.len() {
            text.push_str(&format!(
                "\n  ... and {} more",
                self.disagreements - self.disagree.len()
            ));
        }
        if extra > 0 {
            text.push_str(&format!(
                "\n  SHA256SUMS lists {extra} file(s) the manifest does not"
            ));
        }
        Err(InputError::new(format!(
            "`{}` and {} disagree ({} file(s)):\n{text}",
            product.join(SHA256SUMS).display(),
            ProductLayout::PRODUCT_MANIFEST,
            self.disagreements
        ))
        .with_hint("copy the product again from the build machine (or unpack its archive again)")
        .into())
    }
}

/// 64 lowercase hex digits as 32 bytes.
fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let digit = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        };
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_line_cannot_carry() {
        assert_eq!(line_problem("a/b c", false), None);
        assert_eq!(line_problem("a\tb", false), None);
        assert_eq!(line_problem("a\tb", true), Some("a tab"));
        assert_eq!(line_problem("a\nb", false), Some("a line break"));
        assert_eq!(line_problem("a\rb", false), Some("a carriage return"));
        assert!(line_problem("a\\b", false).is_some());
    }

    /// A name `sha256sum -c` could not read back is refused with exit 2, naming it; a tab is
    /// fine in a file's name but not in a folder's or a link's (product-tree.txt's separator).
    #[test]
    fn write_tree_refuses_names_a_line_cannot_carry() {
        for (name, dir, expect) in [
            (
                "bad\nname",
                false,
                "`demo/bad\\nname` has a line break in its name",
            ),
            ("back\\slash", false, "`demo/back\\\\slash` has a backslash"),
            ("cr\rname", false, "a carriage return"),
            ("tab\tfolder", true, "`demo/tab\\tfolder` has a tab"),
        ] {
            let dir_ = tempfile::tempdir().unwrap();
            let root = dir_.path();
            std::fs::create_dir_all(root.join("demo")).unwrap();
            if dir {
                std::fs::create_dir(root.join("demo").join(name)).unwrap();
            } else {
                std::fs::write(root.join("demo").join(name), "x").unwrap();
            }
            let err = write_tree(root).unwrap_err();
            assert!(err.to_string().contains(expect), "{name:?}: {err}");
            assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
        }
        let dir_ = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir_.path().join("demo/sub")).unwrap();
        std::fs::write(dir_.path().join("demo/a\tfile"), "x").unwrap();
        let (record, files) = write_tree(dir_.path()).unwrap();
        assert_eq!(files, 1);
        assert_eq!(record.path, PRODUCT_TREE);
    }

    #[test]
    fn arena_keeps_paths_and_hashes() {
        let mut arena = Arena::default();
        let h = "ab".repeat(32);
        arena.push("x/y", &h).unwrap();
        arena.push("a", &"00".repeat(32)).unwrap();
        assert_eq!(arena.path(arena.index[0]), b"x/y");
        assert_eq!(hex(arena.hash(arena.index[0])), h);
        assert_eq!(hex(arena.hash(arena.index[1])), "00".repeat(32));
        assert!(arena.push("bad", "zz").is_err());
        assert!(arena.push("bad", &"zz".repeat(32)).is_err());
    }
}
