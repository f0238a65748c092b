//! The `pixi-airgap` binary: parse the command line, set up logging, run the subcommand and turn
//! its outcome into an exit code. All the work lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = pixi_airgap::cli::Cli::parse_or_exit();
    pixi_airgap::logging::init(cli.global.verbose, cli.global.quiet);
    let status = pixi_airgap::run(cli);
    ExitCode::from(status.code())
}
