//! One module per subcommand. Each has `Options::resolve(args)` (validation, no side effects beyond
//! reading the project) and `run(&Options)`.

pub mod check;
pub mod clean;
pub mod delta;
pub mod make_product;
pub mod pack;
pub mod stage_args;
pub mod stage_container;
pub mod stage_host;
pub mod stage_plan;
pub mod verify_args;
pub mod verify_product;

use crate::cli::Command;
use crate::exit::Status;

/// The staging commands' scan for credentials in URLs: refused, or with
/// `--allow-url-credentials` only warned about.
pub(crate) fn check_url_credentials(
    files: &[crate::secrets::ScannedFile<'_>],
    allow: bool,
) -> anyhow::Result<()> {
    let allowed = crate::secrets::check_url_credentials(files, allow).map_err(|err| {
        crate::exit::with_hint(
            err,
            "move them to pixi's credential store or the environment, \
             or pass --allow-url-credentials to stage them anyway",
        )
    })?;
    if !allowed.is_empty() {
        tracing::warn!(
            "staging URLs with credentials (--allow-url-credentials):\n{}",
            allowed.join("\n")
        );
    }
    Ok(())
}

pub(crate) use crate::records::WithEngine;

/// [`RunLock::acquire`](crate::runlock::RunLock::acquire), with the hint that names how to wait
/// instead when the folder is refused as in use.
pub(crate) async fn lock(
    dir: &std::path::Path,
    what: &str,
    wait: crate::runlock::Wait,
) -> anyhow::Result<crate::runlock::RunLock> {
    crate::runlock::RunLock::acquire(dir, what, wait)
        .await
        .map_err(|err| {
            if crate::runlock::refused_in_use(&err) {
                crate::exit::with_hint(
                    err,
                    &format!(
                        "wait for that run to end (drop --no-wait, or unset {}, to wait for it), \
                         or pick another {what}",
                        crate::settings::NO_WAIT.name
                    ),
                )
            } else {
                err
            }
        })
}

/// A folder flag's value (already checked to be a folder by
/// [`crate::cli::values::existing_dir`]), canonical: "is the workdir inside the project"
/// compares real locations.
pub(crate) fn canonical_dir(path: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    anyhow::Context::with_context(std::fs::canonicalize(path), || {
        format!("failed to resolve `{}`", path.display())
    })
}

/// Waits for folders being removed in the background (they are removed on threads: the wait is
/// one, off the runtime's).
pub(crate) async fn wait_for(removals: crate::atomic::Removals) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || removals.wait())
        .await
        .map_err(|err| anyhow::anyhow!("the folder removal task failed: {err}"))?
}

/// Resolves and runs one subcommand.
pub async fn dispatch(command: Command) -> anyhow::Result<Status> {
    match command {
        Command::StageHost(args) => {
            let options = stage_host::Options::resolve(args)?;
            stage_host::run(&options).await
        }
        Command::StageContainer(args) => {
            let options = stage_container::Options::resolve(args)?;
            stage_container::run(&options).await
        }
        Command::Pack(args) => {
            let options = pack::Options::resolve(args)?;
            pack::run(&options).await
        }
        Command::Check(args) => {
            let options = check::Options::resolve(args)?;
            check::run(&options).await
        }
        Command::Completions { shell } => {
            let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "pixi-airgap", &mut script);
            crate::output::write(&script)?;
            Ok(Status::Success)
        }
        Command::MakeProduct(args) => {
            let options = make_product::Options::resolve(args)?;
            make_product::run(&options).await
        }
        Command::Clean(args) => {
            let options = clean::Options::resolve(args)?;
            clean::run(&options).await
        }
        Command::VerifyProduct(args) => {
            let options = verify_product::Options::resolve(args)?;
            verify_product::run(&options).await
        }
        Command::WatchContainer(args) => crate::watchdog::run(&args).await,
    }
}
