//! Small file-system helpers shared by the stager, the product writer and the verifier, and the
//! one sha256 spelling (lowercase hex) the crate writes.

use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};

/// Whether any execute bit is set (always false where there are no such bits).
#[cfg(unix)]
pub fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
pub fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

/// A relative path as `/`-separated UTF-8, the form manifests and container paths use.
pub fn slash_path(path: &Path) -> anyhow::Result<String> {
    let parts: Option<Vec<&str>> = path.components().map(|c| c.as_os_str().to_str()).collect();
    parts
        .map(|p| p.join("/"))
        .with_context(|| format!("`{}` is not valid UTF-8", path.display()))
}

/// Whether `dir` is a folder with something in it (`false` when it does not exist).
pub fn dir_has_entries(dir: &Path) -> anyhow::Result<bool> {
    if !dir.is_dir() {
        return Ok(false);
    }
    let mut entries =
        std::fs::read_dir(dir).with_context(|| format!("failed to read `{}`", dir.display()))?;
    Ok(entries.next().is_some())
}

/// Sets a file's permission bits (no-op where there are none).
pub fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("failed to set permissions on `{}`", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Whether this process runs as root (its `/proc/self` is owned by uid 0).
#[cfg(unix)]
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[cfg(not(unix))]
pub fn running_as_root() -> bool {
    false
}

/// Lowercase hex, the way sha256 sums are written everywhere (manifests, `.sha256` files).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The sha256 of a file's content, read as a stream.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    Ok(hex(&hasher.finalize()))
}
