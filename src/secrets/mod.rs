//! What counts as a secret, so that it is never staged.
//!
//! Three checks live here, and only here:
//! - [`SecretNames`]: a deny-list of file and folder names (credentials, key material, histories,
//!   password stores, ...), matched case-insensitively at any depth, minus templates that are
//!   meant to be shared (`.env.example`).
//! - [`content_finding`]: for small text files, private-key blocks and token formats that are
//!   specific enough to be trusted (a fixed prefix, a fixed alphabet, a minimum length). A hit
//!   excludes the file like a named secret.
//! - [`scan_url_credentials`]: `scheme://user:pass@host`, `scheme://token@host` and channel
//!   tokens in the path (`scheme://host/t/<token>/channel`) in the files that configure package
//!   downloads and are staged as they are (`.pixi/config.toml`, the manifest, `pixi.lock`, and
//!   beside them `pixi.toml`/`pyproject.toml` whichever is not the manifest, `pip.conf`,
//!   `.condarc`, `uv.toml`, ...: [`PROJECT_CONFIG_FILES`]). Findings name the file and line,
//!   never the secret.
//!
//! The lists were written for this tool after reading public secret-scanning rule sets; they err
//! on the side of leaving a file out, because `--include-secret` brings a file back and a leaked
//! key cannot be taken back.

mod content;
mod names;
mod urls;

pub use content::*;
pub use names::*;
pub use urls::*;

/// Files at or above this size are not read by the content check.
pub const CONTENT_LIMIT: u64 = 1024 * 1024;

#[cfg(test)]
mod tests;
