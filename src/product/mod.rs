//! The product: the folder users carry across the air gap.
//!
//! ```text
//! product/
//!   <name>/                 the staged project (never .pixi/envs)
//!   res/                    the resources, when there are any
//!   pkg-cache/              pixi's package cache: everything `pixi install --frozen` needs offline
//!   envs.sh                 source it: points pixi at pkg-cache and keeps it offline
//!   bootstrap-project.sh    pixi install --frozen for every staged environment
//!   check-product.sh        checks the product against SHA256SUMS (and --preflight, this machine)
//!   product-facts.txt       what installing needs (platform, glibc, space, pixi) for the pre-flight
//!   bin/pixi                with --bundle-pixi: the build container's pixi (envs.sh puts it on PATH)
//!   sbom.cdx.json           the CycloneDX SBOM
//!   pixi-airgap.json        what went in: metadata, and the sha256 and size of every file
//!   product-tree.txt        the product's folders and symlinks (for check-product.sh)
//!   SHA256SUMS              every regular file's sha256, as `sha256sum -c` reads it
//!   SHA256SUMS.sig          with --sign-key: an SSH signature over SHA256SUMS (namespace pixi-airgap)
//!   .pixi-airgap-product    the marker: make-product only ever replaces a folder that has it
//! ```
//!
//! [`ProductLayout`] owns these names. [`make`] writes a product from a workdir, [`manifest`] is
//! the contract between it and the offline proof ([`crate::proof`]), [`archive`] packs a product
//! into one file (or parts, [`split`]), [`delta`] writes what updates an older product, [`templates`] are its shell scripts and [`helpers`] the ones put in a workdir.

pub mod archive;
pub mod delta;
pub mod facts;
pub mod helpers;
pub mod make;
pub mod manifest;
pub mod signature;
pub mod split;
pub mod sums;
pub mod templates;

use std::path::{Path, PathBuf};

/// What the product's marker file ([`ProductLayout::MARKER`]) holds.
pub const MARKER_TEXT: &str =
    "pixi-airgap product: pixi-airgap make-product may replace this folder\n";

/// Whether `dir` carries the product marker (a plain file, never a link).
pub fn is_marked_product(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(ProductLayout::MARKER)).is_ok_and(|m| m.is_file())
}

/// The names inside a product folder.
#[derive(Debug, Clone)]
pub struct ProductLayout {
    root: PathBuf,
}

impl ProductLayout {
    /// The resources folder.
    pub const RESOURCES: &'static str = "res";
    /// pixi's package cache.
    pub const PKG_CACHE: &'static str = "pkg-cache";
    /// The script users source.
    pub const ENVS_SH: &'static str = "envs.sh";
    /// The offline installer.
    pub const BOOTSTRAP_SH: &'static str = "bootstrap-project.sh";
    /// The product manifest (the project manifest is `pixi.toml` or `pyproject.toml`).
    pub const PRODUCT_MANIFEST: &'static str = "pixi-airgap.json";
    /// The CycloneDX SBOM.
    pub const SBOM: &'static str = "sbom.cdx.json";
    /// The product's own integrity check and pre-flight.
    pub const CHECK_SH: &'static str = "check-product.sh";
    /// The file that says "make-product made this folder": only a folder that carries it is ever
    /// replaced by the next make-product.
    pub const MARKER: &'static str = ".pixi-airgap-product";
    /// Where a bundled pixi goes (`--bundle-pixi`).
    pub const BUNDLED_PIXI: &'static str = "bin/pixi";

    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn project(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
    pub fn resources(&self) -> PathBuf {
        self.root.join(Self::RESOURCES)
    }
    /// `pkg-cache/pkgs`: one folder per package.
    pub fn packages(&self) -> PathBuf {
        self.root.join(Self::PKG_CACHE).join("pkgs")
    }
    pub fn product_manifest(&self) -> PathBuf {
        self.root.join(Self::PRODUCT_MANIFEST)
    }
}
