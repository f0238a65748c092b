//! An archive of a product or a delta (`pack --archive`), as the `pack --json` report records it.

use std::path::PathBuf;

use crate::product::archive::{ArchiveFormat, ArchiveInfo};

#[derive(Debug, Clone, serde::Serialize)]
pub struct ArchiveRecord {
    pub path: PathBuf,
    pub sha256_file: PathBuf,
    pub sha256: String,
    pub size_bytes: u64,
    /// `tar` or `tar.zst`.
    pub format: &'static str,
    /// With `--split-size`: the parts (the whole `path` is then not written).
    pub split: Option<SplitRecord>,
    /// With `--sign-key`: `<archive>.sha256.sig`, the signature of `sha256_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<PathBuf>,
}

/// What a split archive left next to its (never written) whole name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SplitRecord {
    pub split_size: u64,
    pub parts: Vec<PartRecord>,
    pub join_script: PathBuf,
}

/// One part as written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PartRecord {
    pub path: PathBuf,
    pub sha256: String,
    pub size_bytes: u64,
}

impl From<&ArchiveInfo> for ArchiveRecord {
    fn from(info: &ArchiveInfo) -> Self {
        ArchiveRecord {
            path: info.path.clone(),
            sha256_file: info.sha256_file.clone(),
            sha256: info.sha256.clone(),
            size_bytes: info.size_bytes,
            format: match info.format {
                ArchiveFormat::Tar => "tar",
                ArchiveFormat::TarZst => "tar.zst",
            },
            split: info.split.as_ref().map(|split| SplitRecord {
                split_size: split.split_size,
                parts: split
                    .parts
                    .iter()
                    .map(|part| PartRecord {
                        path: part.path.clone(),
                        sha256: part.sha256.clone(),
                        size_bytes: part.size_bytes,
                    })
                    .collect(),
                join_script: split.join_script.clone(),
            }),
            signature: info.signature.clone(),
        }
    }
}
