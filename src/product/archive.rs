//! `product.tar` / `product.tar.zst`: the product as one deterministic file, with its sha256.
//!
//! Same product, same bytes: entries sorted, uid/gid 0, fixed mtime, modes reduced to 0644/0755,
//! zstd with fixed parameters on one thread ([`Compression`]). The archive is written next to its destination and renamed
//! into place ([`crate::atomic`]), with a `sha256sum`-style `.sha256` file beside it. With a split
//! size it is streamed into parts instead ([`split`]). With a signing key, the `.sha256` list is
//! signed into `.sha256.sig` ([`signature::sign_list`]), as the product's `SHA256SUMS` is.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::atomic::PendingFile;
use crate::fsutil::hex;
use crate::product::signature;
use crate::product::split::{self, SplitInfo, SplitSize};
use crate::signing::SigningKey;
use crate::tar::write::{tree_entries, write_tar, Owner};

/// How a `tar.zst` archive is compressed: the level (`--compression-level`), on one thread,
/// with a 16 MiB window and a checksum. One thread on purpose (measured in docs/benchmarks.md):
/// zstd's multi-threaded mode buffers whole jobs (64 MiB each by default for this window, several
/// in flight: 290-580 MiB of memory), smaller jobs cost more time than the second core saves,
/// and on the 2-core machine it was measured on no thread count was faster than one. So the
/// bytes depend on the level only, whatever the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Compression {
    pub level: i32,
}

impl Compression {
    /// The default level. Level 10 with the window below made the realistic product (a Python
    /// interpreter and its standard library, PyPI wheels) 11 % smaller than level 3 and within
    /// 2 % of the same packages as `.tar.bz2`; levels from 13 up cost several times the time for
    /// little more, and incompressible package data gains nothing from any level.
    pub const DEFAULT_LEVEL: i32 = 10;
    /// Levels 20-22 (zstd's "ultra" levels) need windows beyond what a plain `zstd -d` accepts.
    pub const MAX_LEVEL: i32 = 19;

    /// `level`, or the default.
    pub fn new(level: Option<i32>) -> Self {
        Self {
            level: level.unwrap_or(Self::DEFAULT_LEVEL),
        }
    }
}

impl Default for Compression {
    fn default() -> Self {
        Self::new(None)
    }
}

/// The window: 2^24 = 16 MiB. A receiver's plain `zstd -d` (or `tar --zstd`) accepts windows up
/// to 2^27 without `--long`; past 16 MiB the measured products did not get smaller, and a
/// smaller window keeps both sides' memory down (about 40 MiB to compress at level 10).
pub const WINDOW_LOG: u32 = 24;

/// The zstd stream for `sink` with `compression`'s parameters (see [`Compression`]).
fn zstd_encoder<W: Write>(
    sink: W,
    compression: Compression,
) -> anyhow::Result<zstd::Encoder<'static, W>> {
    let mut encoder =
        zstd::Encoder::new(sink, compression.level).context("failed to start zstd")?;
    let set = |result: std::io::Result<()>, what: &str| {
        result.with_context(|| format!("failed to set zstd's {what}"))
    };
    set(encoder.window_log(WINDOW_LOG), "window")?;
    // A checksum of the content in the frame: a plain `zstd -d` then detects damage by itself.
    set(encoder.include_checksum(true), "checksum")?;
    Ok(encoder)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ArchiveFormat {
    #[serde(rename = "tar")]
    Tar,
    #[serde(rename = "tar.zst")]
    TarZst,
}

impl ArchiveFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::Tar => "tar",
            ArchiveFormat::TarZst => "tar.zst",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ArchiveInfo {
    pub path: PathBuf,
    pub sha256_file: PathBuf,
    pub sha256: String,
    pub size_bytes: u64,
    pub format: ArchiveFormat,
    /// With `--split-size`: the parts (the whole `path` is then not written).
    pub split: Option<SplitInfo>,
    /// With `--sign-key`: `<archive>.sha256.sig`, the signature of `sha256_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<PathBuf>,
}

/// How an archive is written: its format and, optionally, in parts, signed, at another zstd level.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveOptions<'a> {
    pub format: ArchiveFormat,
    /// The parts `dest_dir/<top>.<ext>.NNN`, `join-product.sh` and a `.sha256` listing every part
    /// and the whole ([`split`]); the whole is then never on disk.
    pub split: Option<SplitSize>,
    /// The signature `<archive>.sha256.sig` of the `.sha256` list. Without a key, a signature an
    /// earlier archive of this name left is removed: this run vouches for nothing, and the new
    /// list is not the one that was signed.
    pub key: Option<&'a SigningKey>,
    pub compression: Compression,
}

impl ArchiveOptions<'_> {
    /// One unsigned file in `format`, at the default level.
    pub fn new(format: ArchiveFormat) -> Self {
        Self {
            format,
            split: None,
            key: None,
            compression: Compression::default(),
        }
    }
}

/// Writes `dest_dir/<top>.<ext>` from `product_dir`, whose content goes under `<top>/`.
pub fn write(
    product_dir: &Path,
    dest_dir: &Path,
    top: &str,
    format: ArchiveFormat,
) -> anyhow::Result<ArchiveInfo> {
    write_with(product_dir, dest_dir, top, ArchiveOptions::new(format))
}

/// [`write()`] as `options` say (see [`ArchiveOptions`]).
pub fn write_with(
    product_dir: &Path,
    dest_dir: &Path,
    top: &str,
    options: ArchiveOptions<'_>,
) -> anyhow::Result<ArchiveInfo> {
    let ArchiveOptions {
        format,
        split,
        key,
        compression,
    } = options;
    let mut info = write_list(product_dir, dest_dir, top, format, split, compression)?;
    match key {
        Some(key) => info.signature = Some(signature::sign_list(&info.sha256_file, key)?),
        None => {
            let stale = signature::list_signature_path(&info.sha256_file);
            if std::fs::symlink_metadata(&stale).is_ok_and(|m| m.is_file()) {
                std::fs::remove_file(&stale).with_context(|| {
                    format!("failed to remove the earlier `{}`", stale.display())
                })?;
            }
        }
    }
    Ok(info)
}

/// The archive (or its parts) and its `.sha256` list.
fn write_list(
    product_dir: &Path,
    dest_dir: &Path,
    top: &str,
    format: ArchiveFormat,
    split: Option<SplitSize>,
    compression: Compression,
) -> anyhow::Result<ArchiveInfo> {
    let name = format!("{top}.{}", format.extension());
    let path = dest_dir.join(&name);
    let sha256_file = dest_dir.join(format!("{name}.sha256"));
    if let Some(size) = split {
        let parts = split::PartsWriter::new(dest_dir, &name, size)?;
        let (parts, sha256, written) = stream(product_dir, top, format, compression, parts)?;
        // Also removes an earlier unsplit archive of this name: it would contradict the list.
        let info = split::commit(parts, dest_dir, &name, top, &sha256, size)?;
        return Ok(ArchiveInfo {
            path,
            sha256_file,
            sha256,
            size_bytes: written,
            format,
            split: Some(info),
            signature: None,
        });
    }
    let earlier = split::listed_names(&sha256_file, &name, top);
    let pending = PendingFile::new(&path)?;
    let file = pending.file()?;
    let (mut inner, sha256, written) =
        stream(product_dir, top, format, compression, BufWriter::new(file))?;
    inner.flush().context("failed to write the archive")?;
    pending.commit()?;
    std::fs::write(&sha256_file, format!("{sha256}  {name}\n"))
        .with_context(|| format!("failed to write `{}`", sha256_file.display()))?;
    split::remove_parts_listed(dest_dir, &name, top, &earlier);
    Ok(ArchiveInfo {
        path,
        sha256_file,
        sha256,
        size_bytes: written,
        format,
        split: None,
        signature: None,
    })
}

/// The deterministic archive of `product_dir` written into `sink`; returns the sink, the
/// archive's sha256 and its size.
fn stream<W: Write>(
    product_dir: &Path,
    top: &str,
    format: ArchiveFormat,
    compression: Compression,
    sink: W,
) -> anyhow::Result<(W, String, u64)> {
    let hashing = HashingWriter {
        inner: sink,
        hasher: Sha256::new(),
        written: 0,
    };
    let hashing = match format {
        ArchiveFormat::Tar => write_tar(
            tree_entries(product_dir, Path::new(top)),
            Owner::ROOT,
            hashing,
        )?,
        ArchiveFormat::TarZst => {
            let encoder = zstd_encoder(hashing, compression)?;
            write_tar(
                tree_entries(product_dir, Path::new(top)),
                Owner::ROOT,
                encoder,
            )?
            .finish()
            .context("failed to finish the zstd stream")?
        }
    };
    let HashingWriter {
        inner,
        hasher,
        written,
    } = hashing;
    Ok((inner, hex(&hasher.finalize()), written))
}

/// Hashes and counts what passes through on its way to the file.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_product_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let product = dir.path().join("product");
        std::fs::create_dir_all(product.join("pkg-cache/pkgs/a")).unwrap();
        std::fs::write(product.join("pkg-cache/pkgs/a/file"), "x".repeat(10_000)).unwrap();
        std::fs::write(product.join("envs.sh"), "export X=1\n").unwrap();
        for format in [ArchiveFormat::Tar, ArchiveFormat::TarZst] {
            let a = dir.path().join("a");
            let b = dir.path().join("b");
            std::fs::create_dir_all(&a).unwrap();
            std::fs::create_dir_all(&b).unwrap();
            let first = write(&product, &a, "product", format).unwrap();
            // Touch the files: mtimes must not matter.
            std::fs::write(product.join("envs.sh"), "export X=1\n").unwrap();
            let second = write(&product, &b, "product", format).unwrap();
            assert_eq!(
                std::fs::read(&first.path).unwrap(),
                std::fs::read(&second.path).unwrap()
            );
            assert_eq!(first.sha256, second.sha256);
            let listed = std::fs::read_to_string(&first.sha256_file).unwrap();
            assert_eq!(
                listed,
                format!("{}  product.{}\n", first.sha256, format.extension())
            );
            assert_eq!(
                first.size_bytes,
                std::fs::metadata(&first.path).unwrap().len()
            );
        }
    }
}
