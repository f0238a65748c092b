//! Command-line structures (clap derive). A flag's value is parsed into its type by clap
//! (`values.rs`), so a bad value is reported naming its flag; what a value means (a folder
//! canonicalised, a variable looked up) is resolved when each command turns its arguments into
//! options. How the command line is parsed and its errors shown is `parse.rs`.
// Doc comments here are `--help` text, written for terminals (`<FORMAT>`), not HTML.
#![allow(rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};

use crate::product::split::SplitSize;
use crate::session::RunAs;
use crate::settings;
use values::{ContainerPath, EnvPair, Limit, TaskArg};

macro_rules! exit_codes {
    () => {
        "\
Exit codes:
  0    success
  1    the verification failed (workdir and logs are still written)
  2    bad input (arguments, project, manifest, pixi.lock, workdir)
  3    Docker, image or pixi problem
  4    other failure on this host (disk, permissions)
  130  interrupted by Ctrl-C or SIGTERM (cleaned up; a second signal exits at once)"
    };
}

mod help;
mod parse;
pub mod values;
use help::*;

#[derive(Debug, Parser)]
#[command(
    name = "pixi-airgap",
    version,
    about = "Make a Pixi project installable on a machine with no network, and prove it",
    after_help = top_help()
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output (-v debug, -vv trace); RUST_LOG overrides
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Only warnings and errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stage a project from this host in a fresh container: pixi install with the cache in the
    /// work folder, verification, and everything copied back to WORKDIR
    #[command(after_help = stage_host_help())]
    StageHost(StageHostArgs),

    /// Stage a project that lives inside a running container (a dev container, a CI job
    /// container); the container is never stopped, and nothing of ours is left in it
    #[command(after_help = STAGE_CONTAINER_HELP)]
    StageContainer(StageContainerArgs),

    /// Write WORKDIR/product: the project, its package cache and the offline bootstrap scripts,
    /// with a manifest of every file
    #[command(after_help = make_product_help())]
    MakeProduct(MakeProductArgs),

    /// The whole pipeline in one command: stage-host, make-product, verify-product (network
    /// cut), and optionally a deterministic archive of the product
    #[command(after_help = pack_help())]
    Pack(PackArgs),

    /// Will this project install offline? Reads the manifest and pixi.lock on this host and
    /// reports what an install from the cache cannot be expected to do; starts nothing
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout
    #[command(
        after_help = "Example:\n  pixi-airgap completions bash > ~/.local/share/bash-completion/completions/pixi-airgap"
    )]
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },

    /// Prove a product installs offline: bootstrap and verify it in a fresh container with no
    /// network at all
    #[command(after_help = VERIFY_PRODUCT_HELP)]
    VerifyProduct(VerifyProductArgs),

    /// Find and remove what killed or crashed runs left: labelled containers and networks whose
    /// pixi-airgap process is gone, and stage-container workdirs in users' containers
    #[command(after_help = CLEAN_HELP)]
    Clean(CleanArgs),

    /// Internal: enforces a container's life limit from outside it (started by the runs)
    #[command(hide = true)]
    WatchContainer(crate::watchdog::WatchArgs),
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// List the leftovers; remove nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Also remove objects whose creating process cannot be checked (another host, an older
    /// pixi-airgap); never those of a pixi-airgap still running here
    #[arg(long)]
    pub all: bool,

    /// Only what worked for this workdir (a stage workdir, or a verify-product --out-dir)
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,

    /// Print a JSON report on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StageHostArgs {
    /// Local Docker image that has pixi on its PATH
    #[arg(long, value_name = "IMAGE", value_parser = values::parse_name)]
    pub image: String,

    /// Pull the image when it is not present locally (needs a reachable registry)
    #[arg(long)]
    pub pull: bool,

    /// The Pixi project: a folder with pixi.toml (or pyproject.toml with [tool.pixi]) and pixi.lock
    #[arg(long, value_name = "DIR", value_parser = values::existing_dir())]
    pub project_dir: PathBuf,

    /// Extra files to carry along (staged as WORKDIR/resources)
    #[arg(long, value_name = "DIR", value_parser = values::existing_dir())]
    pub resources_dir: Option<PathBuf>,

    #[command(flatten)]
    pub stage: StageArgs,

    /// Docker network for the build container (e.g. one that reaches your channel mirror)
    #[arg(long, value_name = "NAME")]
    pub network: Option<String>,

    /// Keep the build container instead of removing it (for debugging)
    #[arg(long)]
    pub keep_container: bool,

    /// Memory limit of the build container (swap included), e.g. 512m, 8g, 16g; `none` for no limit
    #[arg(long, value_name = "SIZE", default_value = "8g", value_parser = values::parse_memory)]
    pub memory: Limit,

    /// Most processes and threads the build container may run at once; `none` for no limit
    #[arg(long, value_name = "N", default_value = "4096", value_parser = values::parse_pids)]
    pub pids_limit: Limit,

    #[command(flatten)]
    pub verify: VerifyArgs,
}

#[derive(Debug, Args)]
pub struct StageContainerArgs {
    /// A running container (ID or name) that has the project and pixi
    #[arg(long, value_name = "ID", value_parser = values::parse_name)]
    pub container_id: String,

    /// Absolute path of the project folder inside that container
    #[arg(long, value_name = "PATH")]
    pub project_path_in_container: ContainerPath,

    #[command(flatten)]
    pub stage: StageArgs,

    /// Leave the container workdir (staged project and cache) in the container afterwards
    #[arg(long)]
    pub keep_container_workdir: bool,

    #[command(flatten)]
    pub verify: VerifyArgs,
}

#[derive(Debug, Args)]
pub struct PackArgs {
    #[command(flatten)]
    pub host: StageHostArgs,

    /// Image for the offline proof [default: --image, which then vouches for its own product]
    #[arg(long, value_name = "IMAGE", value_parser = values::parse_name)]
    pub verify_image: Option<String>,

    /// Run the offline proof as this numeric user (UID or UID:GID)
    #[arg(long, value_name = "UID[:GID]")]
    pub verify_user: Option<RunAs>,

    /// Also write WORKDIR/product.<FORMAT> (deterministic) and its .sha256
    #[arg(long, value_name = "FORMAT")]
    pub archive: Option<ArchiveArg>,

    /// Write the archive as parts of at most SIZE bytes (k, m, g or KiB, MiB, GiB: powers of
    /// 1024; KB, MB, GB: of 1000): product.<FORMAT>.000, .001, ..., a .sha256 listing every part
    /// and the whole, and join-product.sh to check and join them
    #[arg(long, value_name = "SIZE", requires = "archive",
          value_parser = values::parse_split_size)]
    pub split_size: Option<SplitSize>,

    /// zstd level of a tar.zst archive, 1 (fastest) to 19 (smallest) [default: 10]. The bytes
    /// depend on the level only, not on the number of cores
    #[arg(long, value_name = "LEVEL", requires = "archive",
          value_parser = clap::value_parser!(i32).range(1..=19))]
    pub compression_level: Option<i32>,

    #[command(flatten)]
    pub delta: DeltaArgs,
    #[command(flatten)]
    pub sign: SignArgs,
}

/// `--archive FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchiveArg {
    #[value(name = "tar")]
    Tar,
    #[value(name = "tar.zst")]
    TarZst,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The project folder (pixi.toml or pyproject.toml, and pixi.lock)
    #[arg(long, value_name = "DIR", default_value = ".", value_parser = values::existing_dir())]
    pub project_dir: PathBuf,

    /// Environment to check (repeatable) [default: all]
    #[arg(long = "environment", short = 'e', value_name = "ENV")]
    pub environments: Vec<String>,

    /// The platform of the build and proof images
    #[arg(long, value_name = "PLATFORM", default_value = "linux-64")]
    pub platform: String,

    /// The build image's pixi version (checks the lock format and requires-pixi)
    #[arg(long, value_name = "VERSION")]
    pub pixi_version: Option<String>,

    /// The proof image's glibc version (checks __glibc needs)
    #[arg(long, value_name = "VERSION")]
    pub glibc: Option<String>,

    /// Print the findings as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MakeProductArgs {
    /// A workdir written by stage-host
    #[arg(long, value_name = "DIR", value_parser = values::existing_dir())]
    pub workdir: PathBuf,

    /// The staged project's name (WORKDIR/project/NAME)
    #[arg(long, value_name = "NAME")]
    pub project_name: String,

    /// Where to write the product [default: WORKDIR/product]
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// Replace an earlier product that was bootstrapped (only folders make-product made, which carry .pixi-airgap-product, are ever replaced)
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub sign: SignArgs,
    /// When another run holds the workdir or the output folder, exit 2 naming it instead of
    /// waiting for it
    #[arg(long, env = settings::NO_WAIT.name, value_parser = BoolishValueParser::new())]
    pub no_wait: bool,

    /// Print a JSON report on stdout
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub delta: DeltaArgs,
}

/// `--sign-key`, shared by make-product and pack.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Sign the product: write SHA256SUMS.sig, an SSH signature over SHA256SUMS (namespace
    /// pixi-airgap), with this OpenSSH private key (ed25519 or ECDSA). A passphrase-protected
    /// key reads its passphrase from PIXI_AIRGAP_SIGN_PASSPHRASE, never from the command line
    #[arg(long, value_name = "PATH", env = settings::SIGN_KEY.name)]
    pub sign_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyProductArgs {
    /// Local Docker image with pixi (it gets no network)
    #[arg(long, value_name = "IMAGE", value_parser = values::parse_name)]
    pub image: String,

    /// Pull the image when it is not present locally (needs a reachable registry)
    #[arg(long)]
    pub pull: bool,

    /// The product folder (as written by make-product)
    #[arg(long, value_name = "DIR", value_parser = values::existing_dir())]
    pub product_dir: PathBuf,

    /// Where the logs and the JSON report go
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,

    /// The project's name in the product
    #[arg(long, value_name = "NAME")]
    pub project_name: String,

    /// Bootstrap and verify as this numeric user (UID or UID:GID) instead of root
    #[arg(long, value_name = "UID[:GID]")]
    pub user: Option<RunAs>,

    /// Keep the proof container instead of removing it (for debugging)
    #[arg(long)]
    pub keep_container: bool,

    /// Replace an earlier offline proof in --out-dir (its proof-*.log and verify-report.json)
    #[arg(long)]
    pub force: bool,

    /// Check the product's signature (SHA256SUMS.sig) against this OpenSSH allowed-signers file
    /// before anything else; a missing or bad signature is exit 2
    #[arg(long, value_name = "FILE", env = settings::ALLOWED_SIGNERS.name)]
    pub allowed_signers: Option<PathBuf>,

    /// The signer must be this principal of --allowed-signers [default: any principal whose key
    /// made the signature]
    #[arg(long, value_name = "ID", requires = "allowed_signers")]
    pub signer_identity: Option<String>,

    /// Print a JSON report on stdout
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub verify: VerifyArgs,

    #[command(flatten)]
    pub update: UpdateProofArgs,
}

/// Options shared by the staging commands.
#[derive(Debug, Args)]
pub struct StageArgs {
    /// Where files are staged inside the container
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CONTAINER_WORKDIR)]
    pub container_workdir_path: ContainerPath,

    /// Host output folder [default: ./tmp/workdir-<UTC timestamp>]
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,

    /// Environment to install (repeatable) [default: every environment in the manifest]
    #[arg(short = 'e', long = "environment", value_name = "NAME")]
    pub environments: Vec<String>,

    /// Variable for the build container: KEY=VALUE, or KEY to pass this shell's value (repeatable)
    #[arg(long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<EnvPair>,

    /// Extra exclude pattern (repeatable); without a `/` it matches a name at any depth
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Stage a file that the secret filter would leave out, e.g. `--include-secret .npmrc` (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub include_secret: Vec<String>,

    /// Stage even when `.pixi/config.toml`, the manifest or `pixi.lock` hold credentials in URLs
    #[arg(long)]
    pub allow_url_credentials: bool,

    /// Reuse a non-empty workdir: its pixi-airgap folders are replaced
    #[arg(long)]
    pub force: bool,

    /// When another run holds the workdir, exit 2 naming it instead of waiting for it
    #[arg(long, env = settings::NO_WAIT.name, value_parser = BoolishValueParser::new())]
    pub no_wait: bool,

    /// Put the build container's own pixi (the one that filled the cache) into the product, for
    /// machines without pixi; copied out of the container, never downloaded
    #[arg(long)]
    pub bundle_pixi: bool,

    /// Seed the package cache from an earlier run: a workdir (its pixi-cache/) or a product (its
    /// pkg-cache/), e.g. a CI cache restored from an earlier job. Only what the lock adds is
    /// downloaded [default with --force: the workdir's own pixi-cache/]
    #[arg(long, value_name = "DIR", value_parser = values::existing_dir())]
    pub cache_from: Option<PathBuf>,

    /// Print a JSON report on stdout
    #[arg(long)]
    pub json: bool,
}

/// How to prove the environment works: at most one of a command, a task or a script.
#[derive(Debug, Clone, Default, Args)]
pub struct VerifyArgs {
    /// Run the command given after `--` under `pixi run`
    #[arg(long, requires = "command", conflicts_with_all = ["verify_task", "verify_script"])]
    pub verify_run: bool,

    /// Run this pixi task (`pixi run TASK`); ENV:TASK runs it in environment ENV (repeatable)
    #[arg(long, value_name = "[ENV:]TASK", conflicts_with = "verify_script")]
    pub verify_task: Vec<TaskArg>,

    /// Run this script under `pixi run`. A relative PATH is looked for in the project, then the
    /// resources folder, then the current folder; the script must lie in the project or the
    /// resources (verify-product: the product's project or res/ folder)
    #[arg(long, value_name = "PATH")]
    pub verify_script: Option<PathBuf>,

    /// The verification also fails unless its output contains this text
    #[arg(long, value_name = "TEXT")]
    pub verify_expect: Option<String>,

    /// Run the verification in this environment (repeatable: once in each)
    /// [default: `default` when staged, else the first staged environment]
    #[arg(long, value_name = "ENV", value_parser = values::parse_name)]
    pub verify_env: Vec<String>,

    /// The command for --verify-run
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Where stage-host stages in its container unless told otherwise: a scratch volume.
pub const DEFAULT_CONTAINER_WORKDIR: &str = "/workdir";

/// `--since OLD`: also write a delta product (make-product, pack).
#[derive(Debug, Args)]
pub struct DeltaArgs {
    /// Also write a delta that turns OLD into the new product: OLD is the product the receiver
    /// has (its folder, its SHA256SUMS with product-tree.txt beside it, or its pixi-airgap.json)
    #[arg(long, value_name = "OLD")]
    pub since: Option<PathBuf>,

    /// Where to write the delta [default: WORKDIR/delta]
    #[arg(long, value_name = "DIR", requires = "since")]
    pub delta_output: Option<PathBuf>,
}

/// `verify-product --since OLD --delta DIR`: prove an update.
#[derive(Debug, Args)]
pub struct UpdateProofArgs {
    /// Prove an update instead: start from the old product OLD, apply --delta with its
    /// apply-delta.sh in the proof container, then prove the result (which must be --product-dir)
    #[arg(long = "since", value_name = "OLD", requires = "delta",
          value_parser = values::existing_dir())]
    pub since: Option<PathBuf>,

    /// The delta folder that turns --since into --product-dir
    #[arg(long, value_name = "DIR", requires = "since", value_parser = values::existing_dir())]
    pub delta: Option<PathBuf>,
}

#[cfg(test)]
mod tests;
