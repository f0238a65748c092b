//! Delta products (`--since OLD`): what turns the product a receiver already has into the new
//! one, carrying only the files that are new or changed.
//!
//! A product's state is its files by sha256 (`SHA256SUMS`: `<hex>  <path>`, every regular file
//! but `SHA256SUMS` and `SHA256SUMS.sig`, bytewise sorted) and its folders and links
//! (`product-tree.txt`: `dir<TAB>path`, `link<TAB>path<TAB>target`, sorted by path). The base's
//! state comes from OLD: its folder (its own lists when it has them, else a walk), or just its
//! `SHA256SUMS` (with `product-tree.txt` beside it) or its `pixi-airgap.json`. The delta folder:
//!
//! ```text
//! delta/
//!   delta.json            what changed (format below, documented in docs/json.md)
//!   apply-delta.sh        sh apply-delta.sh /path/to/old/product
//!   SHA256SUMS            the new product's lists
//!   product-tree.txt
//!   base/SHA256SUMS       the base's lists: apply-delta.sh checks the old product against them
//!   base/product-tree.txt
//!   files.SHA256SUMS      the carried files (a subset of SHA256SUMS)
//!   files/<path>          the files that are new or changed (and envs.sh, which bootstrapping edits)
//! ```
//!
//! Runtime state a bootstrap leaves in a product (`<project>/.pixi/` beyond what the product's
//! manifest lists there, the folder `envs.sh` records) is not part of a product's state, here and in
//! `apply-delta.sh`. The states are held in memory (about 150 bytes a file).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::atomic::PendingDir;
use crate::exit::InputError;
use crate::fsutil::{hex, set_mode};
use crate::product::templates::{envs_sh_as_made, render, Value};
use crate::product::ProductLayout;

/// `delta.json` and its format version (the format is [`crate::records::delta`]).
pub use crate::records::delta::{
    DeltaManifest, DeltaSizes, LinkChange, FORMAT_VERSION as DELTA_FORMAT_VERSION,
};

mod state;
pub use state::*;

pub const SUMS: &str = "SHA256SUMS";
pub const SUMS_SIG: &str = "SHA256SUMS.sig";
pub const TREE: &str = "product-tree.txt";
pub const DELTA_JSON: &str = "delta.json";
pub const APPLY_SCRIPT: &str = "apply-delta.sh";
pub const APPLY_SH: &str = include_str!("../templates/apply-delta.sh");
const CARRIED_SUMS: &str = "files.SHA256SUMS";

/// What a delta needs: the new product, the base's state, where to write it.
#[derive(Debug, Clone)]
pub struct DeltaOptions {
    pub target: PathBuf,
    pub output: PathBuf,
    pub project_name: String,
}

/// Writes the delta from `base` to the product `options.target` into `options.output` (replaced
/// atomically: an earlier delta, an empty folder or nothing).
pub fn write(base: &ProductState, options: &DeltaOptions) -> anyhow::Result<DeltaManifest> {
    refuse_foreign_output(&options.output)?;
    let target = ProductState::walk(&options.target, &options.project_name)?;
    let target_sums = target.sums_text();
    if target.has_sums {
        let own = read_text(&options.target.join(SUMS))?;
        if own != target_sums {
            return Err(InputError::new(format!(
                "`{}` does not list the product's files as they are",
                options.target.join(SUMS).display()
            ))
            .into());
        }
    }
    let base_sums = base.sums_text();
    let mut manifest = DeltaManifest {
        format_version: DELTA_FORMAT_VERSION,
        tool: format!("pixi-airgap {}", env!("CARGO_PKG_VERSION")),
        project_name: options.project_name.clone(),
        base_sha256sums: hex(&Sha256::digest(base_sums.as_bytes())),
        target_sha256sums: hex(&Sha256::digest(target_sums.as_bytes())),
        added: Vec::new(),
        changed: Vec::new(),
        removed: Vec::new(),
        links: Vec::new(),
        dirs_added: Vec::new(),
        sizes: DeltaSizes {
            carried_bytes: 0,
            carried_files: 0,
            target_bytes: 0,
            target_files: 0,
            base_bytes: base.size(),
        },
        base_dirs_exact: base.dirs_exact,
    };
    let pending = PendingDir::new(&options.output)?;
    let out = pending.path();
    let files = out.join("files");
    let mut carried = String::new();
    for (path, entry) in &target.entries {
        let old = base.entries.get(path);
        match entry {
            Entry::File {
                sha256,
                size,
                executable,
            } => {
                manifest.sizes.target_files += 1;
                manifest.sizes.target_bytes += size.unwrap_or(0);
                let same = match old {
                    Some(Entry::File {
                        sha256: old_sha,
                        executable: old_exec,
                        ..
                    }) => {
                        old_sha == sha256
                            && (old_exec.is_none()
                                || executable.is_none()
                                || old_exec == executable)
                    }
                    _ => false,
                };
                // envs.sh is always carried: bootstrapping records a folder in the receiver's copy.
                if same && path != ProductLayout::ENVS_SH {
                    continue;
                }
                if old.is_none() {
                    manifest.added.push(path.clone());
                } else if !same {
                    manifest.changed.push(path.clone());
                }
                let dest = files.join(path);
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("failed to create `{}`", parent.display()))?;
                }
                if path == ProductLayout::ENVS_SH {
                    let (text, _) = envs_sh_as_made_text(&options.target.join(path))?;
                    write_file(&dest, text.as_bytes())?;
                } else {
                    copy_checked(&options.target.join(path), &dest, sha256)?;
                }
                set_mode(
                    &dest,
                    if *executable == Some(true) {
                        0o755
                    } else {
                        0o644
                    },
                )?;
                manifest.sizes.carried_files += 1;
                manifest.sizes.carried_bytes += size.unwrap_or(0);
                carried.push_str(&format!("{sha256}  {path}\n"));
            }
            Entry::Link(to) => {
                if old != Some(entry) {
                    manifest.links.push(LinkChange {
                        path: path.clone(),
                        target: to.clone(),
                    });
                }
            }
            Entry::Dir => {
                if old != Some(entry) {
                    manifest.dirs_added.push(path.clone());
                }
            }
        }
    }
    for (path, entry) in &base.entries {
        let kind = std::mem::discriminant(entry);
        match target.entries.get(path) {
            Some(now) if std::mem::discriminant(now) == kind => {}
            _ => manifest.removed.push(path.clone()),
        }
    }
    std::fs::create_dir_all(out.join("base"))
        .with_context(|| format!("failed to create `{}`", out.display()))?;
    let texts: [(&str, &str); 5] = [
        (SUMS, &target_sums),
        (TREE, &target.tree_text()),
        ("base/SHA256SUMS", &base_sums),
        ("base/product-tree.txt", &base.tree_text()),
        (CARRIED_SUMS, &carried),
    ];
    for (name, text) in texts {
        write_file(&out.join(name), text.as_bytes())?;
    }
    let script = render(
        APPLY_SH,
        &[
            ("PROJECT", Value::Word(&options.project_name)),
            ("BASE_SUMS", Value::Word(&manifest.base_sha256sums)),
            ("TARGET_SUMS", Value::Word(&manifest.target_sha256sums)),
            (
                "WITH_SUMS",
                Value::Word(if target.has_sums { "1" } else { "0" }),
            ),
            (
                "BASE_DIRS_EXACT",
                Value::Word(if base.dirs_exact { "1" } else { "0" }),
            ),
        ],
    )?;
    // A signed target's signature travels with its list (apply-delta.sh puts both in place).
    let sig = options.target.join(SUMS_SIG);
    if target.has_sums && sig.is_file() {
        std::fs::copy(&sig, out.join(SUMS_SIG))
            .with_context(|| format!("failed to copy `{}`", sig.display()))?;
    }
    let script_path = out.join(APPLY_SCRIPT);
    write_file(&script_path, script.as_bytes())?;
    set_mode(&script_path, 0o755)?;
    let json = serde_json::to_vec_pretty(&manifest).context("failed to write delta.json")?;
    write_file(&out.join(DELTA_JSON), &json)?;
    pending.commit()?;
    Ok(manifest)
}

/// Reads the state of OLD before anything else (OLD may be the folder the new product replaces).
pub fn load_base(old: &Path, project_name: &str) -> anyhow::Result<ProductState> {
    ProductState::load(old, project_name)
}

/// The delta output must be new, empty or an earlier delta (it has our `delta.json`).
pub fn refuse_foreign_output(output: &Path) -> anyhow::Result<()> {
    if !output.exists() {
        return Ok(());
    }
    let ours = output.join(DELTA_JSON).is_file() && output.join(APPLY_SCRIPT).is_file();
    if ours || !crate::fsutil::dir_has_entries(output)? {
        return Ok(());
    }
    // No hint: the command names the flag that picks another folder.
    Err(InputError::new(format!(
        "`{}` is not empty and not an earlier delta: refusing to replace it",
        output.display()
    ))
    .into())
}

/// Copies `from` to `to`, checking on the way that it still has the content we hashed.
fn copy_checked(from: &Path, to: &Path, sha256: &str) -> anyhow::Result<()> {
    let mut input = std::fs::File::open(from)
        .with_context(|| format!("failed to open `{}`", from.display()))?;
    let output = std::fs::File::create(to)
        .with_context(|| format!("failed to create `{}`", to.display()))?;
    let mut hashing = HashTee {
        inner: std::io::BufWriter::new(output),
        hasher: Sha256::new(),
    };
    std::io::copy(&mut input, &mut hashing)
        .and_then(|_| hashing.inner.flush())
        .with_context(|| format!("failed to copy `{}`", from.display()))?;
    if hex(&hashing.hasher.finalize()) != sha256 {
        return Err(InputError::new(format!(
            "`{}` changed while the delta was written",
            from.display()
        ))
        .into());
    }
    Ok(())
}

struct HashTee<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashTee<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The hash and size of `envs.sh` as made (without the folder bootstrapping recorded).
fn envs_sh_hash(path: &Path) -> anyhow::Result<(String, Option<u64>)> {
    let (made, sha256) = envs_sh_as_made_text(path)?;
    Ok((sha256, Some(made.len() as u64)))
}

fn envs_sh_as_made_text(path: &Path) -> anyhow::Result<(String, String)> {
    let text = read_text(path)?;
    let made = envs_sh_as_made(&text).unwrap_or(text);
    let sha256 = hex(&Sha256::digest(made.as_bytes()));
    Ok((made, sha256))
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("failed to write `{}`", path.display()))
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).map_err(|err| {
        InputError::new(format!("failed to read `{}`", path.display())).with_source(err)
    })?;
    String::from_utf8(bytes)
        .map_err(|_| InputError::new(format!("`{}` is not UTF-8 text", path.display())).into())
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A path the lists can carry: relative, `/`-separated plain names, no line breaks or tabs.
fn plain_problem(path: &str) -> bool {
    path.is_empty()
        || path.starts_with('/')
        || path.contains(['\n', '\r', '\t', '\\'])
        || path
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
}

fn plain_text(path: &Path) -> anyhow::Result<String> {
    let text = path
        .to_str()
        .ok_or_else(|| InputError::new(format!("`{}` is not UTF-8", path.display())))?;
    if text.contains(['\n', '\r', '\t']) {
        return Err(InputError::new(format!(
            "`{text}` holds a line break or a tab: a delta cannot carry it"
        ))
        .into());
    }
    Ok(text.to_string())
}

fn plain_path(rel: &Path) -> anyhow::Result<String> {
    let text = crate::fsutil::slash_path(rel)?;
    if plain_problem(&text) {
        return Err(InputError::new(format!(
            "`{text}`: a delta can carry only plain names (no line breaks, tabs or backslashes)"
        ))
        .into());
    }
    Ok(text)
}

/// Before an update proof: OLD matches its manifest, the delta is one this build reads, and its
/// target is `product` (the sha256 of the product's `SHA256SUMS`). Returns OLD's check, whose
/// entries are uploaded.
pub fn check_update(
    old: &Path,
    delta_dir: &Path,
    product: &Path,
    project_name: &str,
) -> anyhow::Result<crate::product::manifest::IntegrityReport> {
    let (old_manifest, old_check) = crate::product::manifest::check(old)?;
    if old_manifest.project_name != project_name {
        return Err(InputError::new(format!(
            "the old product `{}` is a product of `{}`, not `{project_name}`",
            old.display(),
            old_manifest.project_name
        ))
        .into());
    }
    let path = delta_dir.join(DELTA_JSON);
    let text = read_text(&path)?;
    let version: serde_json::Value = serde_json::from_str(&text).map_err(|err| {
        InputError::new(format!("`{}` is damaged", path.display())).with_source(err)
    })?;
    if version["format_version"] != DELTA_FORMAT_VERSION {
        return Err(InputError::new(format!(
            "`{}` has format version {}; this pixi-airgap reads {DELTA_FORMAT_VERSION}",
            path.display(),
            version["format_version"]
        ))
        .into());
    }
    let delta: DeltaManifest = serde_json::from_value(version).map_err(|err| {
        InputError::new(format!("`{}` is damaged", path.display())).with_source(err)
    })?;
    let sums = match std::fs::read(product.join(SUMS)) {
        Ok(bytes) => bytes,
        Err(_) => ProductState::walk(product, project_name)?
            .sums_text()
            .into_bytes(),
    };
    let product_sums = hex(&Sha256::digest(&sums));
    if product_sums != delta.target_sha256sums {
        return Err(InputError::new(format!(
            "the delta `{}` leads to SHA256SUMS {}, but the product `{}` has {product_sums}",
            delta_dir.display(),
            delta.target_sha256sums,
            product.display()
        ))
        .into());
    }
    Ok(old_check)
}

#[cfg(test)]
mod tests;
