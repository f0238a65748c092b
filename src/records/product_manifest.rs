//! `pixi-airgap.json`, the product manifest: the contract between `make-product`, which writes
//! it, and the offline proof, which reads it and checks the product against it. The format is
//! here; how it is written record by record, read and checked is [`crate::product::manifest`].

use super::preflight::FindingRecord;
use super::verification::RecordedVerification;
use super::ImageRecord;

/// Bumped when the manifest changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

/// `pixi-airgap.json` without its file list (read record by record by
/// [`crate::product::manifest::records`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProductManifest {
    pub format_version: u32,
    pub tool: ToolInfo,
    /// When the product's content was fixed: `SOURCE_DATE_EPOCH` when set, else the end of the
    /// staging run; so the same workdir always gives the same manifest bytes.
    pub created_at: String,
    pub project_name: String,
    pub manifest_file: String,
    pub environments: Vec<String>,
    pub platform: Option<String>,
    pub pixi_version: String,
    pub image: ImageRecord,
    pub lock: LockRecord,
    /// The first of `verifications` (what format-1 readers know).
    pub verification: Option<RecordedVerification>,
    /// Every verification of the staging run, each with its environment; `verify-product` runs
    /// them all again offline. Older manifests only have `verification`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifications: Vec<RecordedVerification>,
    /// The pre-flight findings of the staging run (what may not work offline, and why).
    #[serde(default)]
    pub preflight: Vec<FindingRecord>,
    /// The CycloneDX SBOM's file name in the product (listed in `files` too).
    #[serde(default)]
    pub sbom: Option<String>,
    /// The pixi the product carries (`--bundle-pixi`); listed in `files` too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixi: Option<PixiRecord>,
    /// The key that signed `SHA256SUMS` (`--sign-key`); absent in an unsigned product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SigningKeyRecord>,
    // On disk a last field follows: `files`, one [`FileRecord`] per file or link of the product.
    // It is never held in memory as a whole (a product may hold hundreds of thousands of files):
    // [`ManifestWriter`] writes it record by record, [`records`] reads it record by record.
}

/// The bundled pixi: the binary that filled the package cache, taken from the build container.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PixiRecord {
    /// `/`-separated path in the product.
    pub path: String,
    /// What `pixi --version` printed in the build container.
    pub version: String,
    pub sha256: String,
    pub size: u64,
}

/// The key `make-product --sign-key` signed the product's `SHA256SUMS` with (the signature itself,
/// `SHA256SUMS.sig`, cannot be in the manifest: `SHA256SUMS` lists the manifest).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SigningKeyRecord {
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The key type: `ssh-ed25519`, `ecdsa-sha2-nistp256`, ...
    pub algorithm: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LockRecord {
    pub sha256: String,
    pub format_version: Option<u64>,
}

/// One file (or symlink) of the product, by `/`-separated path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileRecord {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub executable: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub symlink: Option<String>,
}

impl ProductManifest {
    /// The staging run's verifications, from either field.
    pub fn recorded_verifications(&self) -> Vec<crate::verification::Verification> {
        let recorded = if self.verifications.is_empty() {
            self.verification.iter().collect::<Vec<_>>()
        } else {
            self.verifications.iter().collect()
        };
        recorded
            .into_iter()
            .map(|r| crate::verification::Verification {
                environment: r.environment.clone(),
                spec: r.spec.to_spec(),
            })
            .collect()
    }
}
