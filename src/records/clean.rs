//! `clean --json`: every leftover `clean` looked at and what it did with it.

use crate::leftovers::{Action, CleanReport as CleanRun, CreatorState, Leftover, LeftoverKind};
use crate::process::Creator;

/// The format of `clean --json`.
pub const FORMAT_VERSION: u32 = 1;

/// `clean`'s report, printed with `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CleanReport {
    pub format_version: u32,
    pub dry_run: bool,
    pub all: bool,
    pub leftovers: Vec<LeftoverRecord>,
}

/// One leftover and what happened to it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LeftoverRecord {
    /// `container`, `network`, `volume` or `container-workdir`.
    pub kind: &'static str,
    /// Container, network or volume ID; for a container workdir, the container's.
    pub id: String,
    pub name: String,
    /// The subcommand (or program) that made it.
    pub command: Option<String>,
    /// The host workdir it worked for.
    pub workdir: Option<String>,
    /// A container workdir's path in the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_workdir: Option<String>,
    pub creator: Option<CreatorRecord>,
    /// `gone`, `alive`, `other-host`, `unknown` or `not-ours`.
    pub creator_state: &'static str,
    /// `removed`, `would-remove`, `kept` or `failed`.
    pub action: &'static str,
    /// Why it was kept, or why removing it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The process that made a leftover, as its labels (or run record) say.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatorRecord {
    pub pid: u32,
    pub host: String,
    pub pid_start: Option<u64>,
    pub created: String,
}

impl From<&CleanRun> for CleanReport {
    fn from(run: &CleanRun) -> Self {
        CleanReport {
            format_version: FORMAT_VERSION,
            dry_run: run.dry_run,
            all: run.all,
            leftovers: run.leftovers.iter().map(LeftoverRecord::from).collect(),
        }
    }
}

impl From<&Leftover> for LeftoverRecord {
    fn from(l: &Leftover) -> Self {
        LeftoverRecord {
            kind: match l.kind {
                LeftoverKind::Container => "container",
                LeftoverKind::Network => "network",
                LeftoverKind::Volume => "volume",
                LeftoverKind::ContainerWorkdir => "container-workdir",
            },
            id: l.id.clone(),
            name: l.name.clone(),
            command: l.command.clone(),
            workdir: l.workdir.clone(),
            container_workdir: l.container_workdir.clone(),
            creator: l.creator.as_ref().map(|c: &Creator| CreatorRecord {
                pid: c.pid,
                host: c.host.clone(),
                pid_start: c.pid_start,
                created: c.created.clone(),
            }),
            creator_state: match l.creator_state {
                CreatorState::Gone => "gone",
                CreatorState::Alive => "alive",
                CreatorState::OtherHost => "other-host",
                CreatorState::Unknown => "unknown",
                CreatorState::NotOurs => "not-ours",
            },
            action: action_name(l.action),
            reason: l.reason.clone(),
        }
    }
}

/// An action as the report names it.
fn action_name(action: Action) -> &'static str {
    match action {
        // Only while `clean` runs: every reported leftover has been removed, failed or kept.
        Action::Remove => "remove",
        Action::WouldRemove => "would-remove",
        Action::Removed => "removed",
        Action::Kept => "kept",
        Action::Failed => "failed",
    }
}
