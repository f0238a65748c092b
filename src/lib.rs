//! pixi-airgap: make a Pixi project installable on a machine with no network, and prove it.
//!
//! The binary is a thin shell around [`run`]; every subcommand is a module under [`commands`] with an
//! `Options::resolve(args)` that validates the command line once, and a `run(&Options)` that does
//! the work and can be called from tests.
//!
//! How the modules depend on each other (none imports one that imports it back; `stage` and
//! `product` meet only through `workdir`):
//!
//! ```text
//! commands ──> stage ───> session ──> docker, tar, verification
//!    │           └──────> workdir (Workdir, out/stage.json) <── product ──> tar, atomic
//!    ├──> proof ──> session, product (manifest, layout)
//!    └──> output (stdout), exit (exit codes and how errors are shown)
//! ```
//!
//! Every file and `--json` document users keep is a type in [`records`], converted there from the
//! types of the modules above: what a record holds is decided there, and nowhere else.

#![deny(clippy::print_stdout)]
// These docs are for the crate's maintainers (scripts/test.sh builds them with
// `--document-private-items`): a public module's docs may name the private ones it works with.
#![allow(rustdoc::private_intra_doc_links)]

// What the binary (`main.rs`) and the integration tests (`tests/it`) call is `pub`; the rest is
// the crate's own. The tests reach the engine layer, the product and tar writers and the pure
// checks they exercise directly; nothing is public for the tests' convenience alone.

pub(crate) mod atomic;
pub(crate) mod case_clash;
pub(crate) mod check;
pub mod cli;
pub(crate) mod commands;
pub mod docker;
pub mod exit;
pub mod fsutil;
pub(crate) mod leftovers;
pub(crate) mod lockfile;
pub mod logging;
pub mod names;
pub(crate) mod nofollow;
pub(crate) mod output;
pub mod pixi;
pub mod process;
pub mod product;
pub(crate) mod progress;
pub(crate) mod proof;
pub mod records;
pub mod runlock;
pub(crate) mod sbom;
pub mod secrets;
pub(crate) mod session;
pub(crate) mod settings;
pub(crate) mod shutdown;
pub mod signing;
pub mod stage;
pub mod tar;
pub(crate) mod term;
pub(crate) mod verification;
pub(crate) mod watchdog;
pub mod workdir;

use exit::Status;

/// Runs one parsed command line to completion and reports how it ended.
///
/// Errors are printed here (to stderr, with their cause chain) so that the exit code and the message
/// always come from the same classification.
pub fn run(cli: cli::Cli) -> Status {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            let err = anyhow::Error::new(err).context("failed to start the async runtime");
            return exit::report(&err);
        }
    };
    let result = runtime.block_on(async {
        shutdown::install();
        commands::dispatch(cli.command).await
    });
    match result {
        Ok(status) => status,
        Err(err) => exit::report(&err),
    }
}
