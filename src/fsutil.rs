//! Small file-system helpers shared by the stager, the product writer and the verifier, and the
//! one sha256 spelling (lowercase hex) the crate writes.

use std::path::{Path, PathBuf};

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

/// A new temporary folder `PARENT/PREFIX<random>` that only we can read (0700), whatever the
/// umask: what is extracted or written into it (with a tar's modes, say) is never visible to
/// other users before it is checked and renamed into place.
pub fn private_tempdir(parent: &Path, prefix: &str) -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    builder.tempdir_in(parent)
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

/// The canonical form of a path, or of its nearest existing ancestor joined with the rest.
pub fn canonical_or_self(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
    let mut out = std::fs::canonicalize(&existing).unwrap_or(existing);
    for name in rest.into_iter().rev() {
        out.push(name);
    }
    out
}

/// Removes a folder tree, making read-only folders writable first (package caches have them).
pub fn remove_tree(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => return Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    #[cfg(unix)]
    for entry in walkdir::WalkDir::new(path)
        .follow_root_links(false)
        .into_iter()
        .flatten()
    {
        use std::os::unix::fs::PermissionsExt;
        if entry.file_type().is_dir() {
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o755));
        }
    }
    std::fs::remove_dir_all(path).with_context(|| format!("failed to remove `{}`", path.display()))
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

/// A path's bytes with everything outside printable ASCII escaped (`caf\xe9`), for messages
/// about names that are not UTF-8 (or hold control characters).
#[cfg(unix)]
pub fn escaped(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().escape_ascii().to_string()
}

#[cfg(not(unix))]
pub fn escaped(path: &Path) -> String {
    path.display().to_string().escape_default().to_string()
}

/// Refuses (exit 2) a name that is not valid UTF-8: a product's manifest, checksums and scripts
/// name every file in UTF-8, so such a file could be staged but never made into a product.
/// `whose` says where it was found (`the project`, `the container's workdir`).
pub fn require_utf8_name(path: &Path, whose: &str) -> anyhow::Result<()> {
    if path.to_str().is_some() {
        return Ok(());
    }
    Err(crate::exit::InputError::new(format!(
        "`{}` in {whose} has a name that is not valid UTF-8 (shown escaped); a product names \
         every file in UTF-8",
        escaped(path)
    ))
    .with_hint("rename it (or leave it out with an exclude pattern), then stage again")
    .into())
}

/// Opens a file for reading without following a link at its own name (`O_NOFOLLOW`), and checks
/// through the open file that it is a plain file: what is then read, hashed or scanned is what
/// was checked, even when the path is replaced in between.
pub fn open_no_follow(path: &Path) -> anyhow::Result<(std::fs::File, std::fs::Metadata)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).with_context(|| {
        format!(
            "failed to open `{}` (a link in its place is not followed)",
            path.display()
        )
    })?;
    let meta = file
        .metadata()
        .with_context(|| format!("failed to stat `{}`", path.display()))?;
    if !meta.is_file() {
        anyhow::bail!("`{}` is no longer a plain file", path.display());
    }
    Ok((file, meta))
}

/// The sha256 of what is read from `reader`, and how many bytes that was.
pub fn sha256_reader(mut reader: impl std::io::Read) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut reader, &mut hasher)?;
    Ok((hex(&hasher.finalize()), size))
}
