//! `pixi-airgap clean`: list and remove what killed or crashed runs left behind. The finding and
//! removing is [`crate::leftovers`]; this file turns arguments into options and prints.

use anyhow::Context;

use crate::cli::CleanArgs;
use crate::docker::{short_id, Docker};
use crate::exit::{InfraError, Status};
use crate::leftovers::{Action, CleanOptions};
use crate::records::clean::CleanReport;

#[derive(Debug, Clone)]
pub struct Options {
    pub clean: CleanOptions,
    pub json: bool,
}

impl Options {
    pub fn resolve(args: CleanArgs) -> anyhow::Result<Self> {
        let CleanArgs {
            dry_run,
            all,
            workdir,
            json,
        } = args;
        let workdir = workdir
            .map(|w| {
                std::path::absolute(&w)
                    .with_context(|| format!("failed to resolve `{}`", w.display()))
            })
            .transpose()?;
        Ok(Self {
            clean: CleanOptions {
                dry_run,
                all,
                workdir,
            },
            json,
        })
    }
}

pub async fn run(options: &Options) -> anyhow::Result<Status> {
    let docker = Docker::connect().await?;
    let mut run = crate::leftovers::clean(&docker, &options.clean).await?;
    for leftover in &mut run.leftovers {
        if leftover.kept_unless_all() {
            if let Some(reason) = &mut leftover.reason {
                reason.push_str(" (--all removes it)");
            }
        }
    }
    let report = CleanReport::from(&run);
    log(&run, &report);
    if options.json {
        crate::output::json(&report)?;
    }
    let failed = run.count(Action::Failed);
    if failed > 0 {
        return Err(InfraError::new(format!("{failed} leftover(s) could not be removed")).into());
    }
    Ok(Status::Success)
}

fn log(run: &crate::leftovers::CleanReport, report: &CleanReport) {
    for l in &report.leftovers {
        let what = match (&l.container_workdir, l.name.is_empty()) {
            (Some(cw), _) => format!("{} {}:{cw}", l.kind, short_id(&l.id)),
            (None, false) => format!("{} {} ({})", l.kind, l.name, short_id(&l.id)),
            (None, true) => format!("{} {}", l.kind, short_id(&l.id)),
        };
        let by = match &l.creator {
            Some(c) => format!("pid {} on {}, {}", c.pid, c.host, c.created),
            None => "no recorded creator".to_string(),
        };
        let command = l.command.as_deref().unwrap_or("?");
        let reason = l
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        tracing::info!(
            "{}: {what} [{command}; {by}; creator {}]{reason}",
            l.action,
            l.creator_state
        );
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let done = run.count(Action::Removed) + run.count(Action::WouldRemove);
    tracing::info!(
        "clean: {verb} {done}, kept {}, failed {}",
        run.count(Action::Kept),
        run.count(Action::Failed)
    );
}
