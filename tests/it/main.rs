//! The integration tests: one binary, one module per area (as ripgrep and uv do), sharing the
//! harness in [`common`]. CLI tests run the built binary; end-to-end tests run it against a real
//! engine and a real pixi (see `common` for the test bed, and README "Test").
//!
//! Cargo features of the package select what depends on the machine, so the scripts choose legs by
//! feature, never by test name:
//!
//! - `pixi015`, `pixi-modern`: the pixi line of the image under test (`PIXI_AIRGAP_TEST_IMAGE`).
//!   Tests that need pixi 0.15 (v4-v5 locks only) or pixi >= 0.18 (`pyproject.toml` manifests,
//!   PyPI through uv) are compiled only with their feature, and the harness checks that the image's
//!   `pixi --version` is of that line. Without either, the tests that hold on every pixi run.
//! - `engine-podman`, `engine-remote`: only the end-to-end core that `scripts/test-podman.sh` runs
//!   against Podman's Docker API, or that `scripts/test-remote.sh` runs through TLS and SSH engines.
//!   Everything else is compiled out (whole areas here, single tests inside the areas that hold part
//!   of a core).
//!
//! `cargo test` alone runs every test that holds on any pixi, against the local engine; tests that
//! need Docker fail with instructions when no engine answers (see `common::testbed`).

#[cfg(all(feature = "pixi015", feature = "pixi-modern"))]
compile_error!(
    "the features `pixi015` and `pixi-modern` exclude each other: one image, one pixi line"
);

mod common;

// The areas that hold part of the Podman or the remote core (their other tests say which legs
// run them).
#[cfg(not(feature = "engine-podman"))]
mod kill;
mod pack;
mod product;
#[cfg(not(feature = "engine-remote"))]
mod stage_container;
#[cfg(not(feature = "engine-remote"))]
mod stage_host;

// The areas the local-engine legs run only. A new area goes here, under the same `cfg`, unless it
// belongs to an engine's core.
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod archive;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod bootstrap;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod bundle_pixi;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod check;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod check_product;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod cli;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod concurrency;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod dataloss;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod delta;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod envs_sh;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod helper_script;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod hostile;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod hostile_product;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod load;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod manifest;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod multi_verify;
#[cfg(all(
    feature = "pixi-modern",
    not(any(feature = "engine-podman", feature = "engine-remote"))
))]
mod pypi;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod restage;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod runbook;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod secrets;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod signing;
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
mod split;
