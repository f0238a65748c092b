//! One module per subcommand. Each has `Options::resolve(args)` (validation, no side effects beyond
//! reading the project) and `run(&Options)`.

pub mod make_product;
pub mod pack;
pub mod stage_args;
pub mod stage_container;
pub mod stage_host;
pub mod verify_product;

use crate::cli::Command;
use crate::exit::{Interrupted, Status};

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
        Command::Completions { shell } => {
            let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "pixi-airgap", &mut std::io::stdout());
            Ok(Status::Success)
        }
        Command::MakeProduct(args) => {
            let options = make_product::Options::resolve(args)?;
            make_product::run(&options).await
        }
        Command::VerifyProduct(args) => {
            let options = verify_product::Options::resolve(args)?;
            verify_product::run(&options).await
        }
    }
}

/// Resolves when the process is asked to stop (Ctrl-C / SIGINT, or SIGTERM), naming the signal.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            // Without signal handlers we can only wait forever; the work itself still finishes.
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Runs `work` until it ends or a stop signal arrives; on a signal the work is dropped (so its
/// container guard can clean up) and [`Interrupted`] is returned.
pub async fn until_signal<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::select! {
        result = work => result,
        signal = shutdown_signal() => {
            tracing::warn!("received {signal}, cleaning up");
            Err(Interrupted(signal).into())
        }
    }
}
