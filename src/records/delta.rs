//! `delta.json`, the record at the top of a delta product (`--since OLD`): what changed between
//! the base and the target, and the two lists it applies between. `apply-delta.sh` carries the
//! same facts in its own lists; this is the record for people and scripts.

/// The format `delta.json` is written in; a reader refuses any other.
pub const FORMAT_VERSION: u32 = 1;

/// `delta.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DeltaManifest {
    pub format_version: u32,
    pub tool: String,
    pub project_name: String,
    /// sha256 of the base's and the target's `SHA256SUMS` text.
    pub base_sha256sums: String,
    pub target_sha256sums: String,
    /// Files carried in `files/`, new or changed (sorted).
    pub added: Vec<String>,
    pub changed: Vec<String>,
    /// Paths of the base that the target does not have (files, links and folders).
    pub removed: Vec<String>,
    /// Links new in the target or pointing elsewhere: `path` and `target`.
    pub links: Vec<LinkChange>,
    /// Folders new in the target.
    pub dirs_added: Vec<String>,
    pub sizes: DeltaSizes,
    /// Whether the base's empty folders are known (false for a base read from its manifest).
    pub base_dirs_exact: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LinkChange {
    pub path: String,
    pub target: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DeltaSizes {
    /// Bytes of the files carried.
    pub carried_bytes: u64,
    pub carried_files: usize,
    /// Bytes of the target's files.
    pub target_bytes: u64,
    pub target_files: usize,
    /// Bytes of the base's files, when OLD told them (not from a `SHA256SUMS`).
    pub base_bytes: Option<u64>,
}
