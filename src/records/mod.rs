//! Every file and `--json` document pixi-airgap writes for users, as formats of their own: each
//! record is a type here with its format version, converted from the crate's internal types in
//! this module and nowhere else, so renaming an internal field never changes a file users keep.
//! `docs/json.md` documents them, and a unit test (`records::tests`) checks the document against
//! these types.
//!
//! | file or output | type | version |
//! |---|---|---|
//! | `WORKDIR/out/stage.json`, `stage-host`/`stage-container --json` | [`stage::StageReport`] | [`stage::FORMAT_VERSION`] |
//! | `pixi-airgap.json` (the product manifest) | [`product_manifest::ProductManifest`] | [`product_manifest::FORMAT_VERSION`] |
//! | `verify-report.json`, `verify-product --json` | [`proof::ProofReport`] | [`proof::FORMAT_VERSION`] |
//! | `delta.json` | [`delta::DeltaManifest`] | [`delta::FORMAT_VERSION`] |
//! | `make-product --json` | [`make_product::MakeReport`] | [`make_product::FORMAT_VERSION`] |
//! | `pack --json` | [`pack::PackReport`] | [`pack::FORMAT_VERSION`] |
//! | `check --json` | [`preflight::CheckOutput`] | [`preflight::FORMAT_VERSION`] |
//! | `clean --json` | [`clean::CleanReport`] | [`clean::FORMAT_VERSION`] |
//!
//! A reader refuses a version it does not know; a field that changes meaning or disappears bumps
//! the version, new fields may be added at any time.

pub mod archive;
pub mod clean;
pub mod delta;
pub mod make_product;
pub mod pack;
pub mod preflight;
pub mod product_manifest;
pub mod proof;
pub mod stage;
pub mod verification;

#[cfg(test)]
mod tests;

use crate::docker::engine::Transport;

/// An image as every record names it: the name the user gave and what the engine says about it.
/// Every record nests it the same way, as `image` (`stage.json` and `verify-report.json` since
/// their format 2, `pack --json` since its format 2, `pixi-airgap.json` always).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRecord {
    pub name: Option<String>,
    /// The image ID (`sha256:...`, the digest of its configuration).
    pub id: Option<String>,
    /// Registry digests (`repo@sha256:...`), empty for images that were never pushed or pulled.
    pub repo_digests: Vec<String>,
}

impl From<&crate::docker::ImageInfo> for ImageRecord {
    fn from(image: &crate::docker::ImageInfo) -> Self {
        ImageRecord {
            name: image.name.clone(),
            id: image.id.clone(),
            repo_digests: image.repo_digests.clone(),
        }
    }
}

/// The engine that did the work, as the reports record it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngineRecord {
    /// `Docker` or `Podman`.
    pub name: String,
    /// The engine's own version (`27.3.1`, `4.3.1`).
    pub version: String,
    /// The API version both sides agreed on.
    pub api_version: String,
    /// How it was reached: `unix`, `tcp`, `tls` or `ssh` (absent in reports written before
    /// remote engines were supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportRecord>,
    /// The endpoint (`unix:///var/run/docker.sock`, `tcp://host:2376`, `ssh://user@host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportRecord {
    Unix,
    Tcp,
    Tls,
    Ssh,
}

impl From<&crate::docker::EngineInfo> for EngineRecord {
    fn from(engine: &crate::docker::EngineInfo) -> Self {
        EngineRecord {
            name: engine.name.clone(),
            version: engine.version.clone(),
            api_version: engine.api_version.clone(),
            transport: engine.transport.map(|t| match t {
                Transport::Unix => TransportRecord::Unix,
                Transport::Tcp => TransportRecord::Tcp,
                Transport::Tls => TransportRecord::Tls,
                Transport::Ssh => TransportRecord::Ssh,
            }),
            host: engine.host.clone(),
        }
    }
}

/// A report as `--json` prints it: the report's own fields, plus the engine that did the work.
pub struct WithEngine<'a, T> {
    pub report: &'a T,
    pub engine: &'a crate::docker::EngineInfo,
}

impl<T: serde::Serialize> serde::Serialize for WithEngine<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Out<'a, T> {
            #[serde(flatten)]
            report: &'a T,
            engine: EngineRecord,
        }
        Out {
            report: self.report,
            engine: self.engine.into(),
        }
        .serialize(serializer)
    }
}

/// This tool's version, as the records write it.
pub fn tool_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
