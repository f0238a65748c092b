//! What a pixi-airgap run leaves when it cannot clean up (SIGKILL, a crash, a second Ctrl-C), how
//! it is recorded, and how `pixi-airgap clean` finds and removes it:
//!
//! - containers, networks and scratch volumes labelled `io.pixi-airgap.managed` whose creating
//!   process (recorded in their labels, see [`crate::process`]) is gone (a container's scratch
//!   volume goes with it; a volume is only found alone when its container was removed without it);
//! - container workdirs that `stage-container` made in a user's container, with any install or
//!   verification still running there. These are recorded on this host while the run lasts, one
//!   file per run under `$XDG_STATE_HOME/pixi-airgap/runs/` (default `~/.local/state`), and the
//!   record goes when the run has cleaned up after itself.
//!
//! Nothing is removed while its creator runs. Objects whose creator cannot be checked (made on
//! another host, or by a pixi-airgap that did not record its process) are only removed with
//! `--all`. A container workdir is only deleted when it carries the workdir marker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::docker::{
    Docker, DockerError, ExecSpec, LABEL_COMMAND, LABEL_IMAGE_ID, LABEL_MANAGED, LABEL_WORKDIR,
};
use crate::process::{Creator, Liveness};

/// What `clean` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct CleanOptions {
    /// List only; remove nothing.
    pub dry_run: bool,
    /// Also remove what has no checkable creator (another host, an older pixi-airgap).
    pub all: bool,
    /// Only what worked for this host workdir (or `verify-product` out folder).
    pub workdir: Option<PathBuf>,
}

/// What kind of thing a leftover is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftoverKind {
    Container,
    Network,
    Volume,
    /// A folder `stage-container` made in a user's container.
    ContainerWorkdir,
}

/// What this host can tell about a leftover's creator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatorState {
    Gone,
    /// Still running (also: its heartbeat is renewed).
    Alive,
    OtherHost,
    /// No creator recorded, or this host cannot check processes.
    Unknown,
    /// A container of an image committed from one of ours.
    NotOurs,
}

/// What `clean` does, or did, with a leftover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// To remove (not a final state: it becomes `Removed` or `Failed`).
    Remove,
    /// Would be removed (`--dry-run`).
    WouldRemove,
    Removed,
    Kept,
    Failed,
}

/// One leftover and what happened to it.
#[derive(Debug, Clone)]
pub struct Leftover {
    pub kind: LeftoverKind,
    /// Container or network ID; for a container workdir, the container's.
    pub id: String,
    pub name: String,
    /// The subcommand (or program) that made it.
    pub command: Option<String>,
    /// The host workdir it worked for.
    pub workdir: Option<String>,
    /// A container workdir's path in the container.
    pub container_workdir: Option<String>,
    pub creator: Option<Creator>,
    pub creator_state: CreatorState,
    pub action: Action,
    /// Why it was kept, or why removing it failed.
    pub reason: Option<String>,
}

/// What `clean` found and did (printed with `--json` as [`crate::records::clean::CleanReport`]).
#[derive(Debug, Clone)]
pub struct CleanReport {
    pub dry_run: bool,
    pub all: bool,
    pub leftovers: Vec<Leftover>,
}

impl CleanReport {
    pub fn count(&self, action: Action) -> usize {
        self.leftovers.iter().filter(|l| l.action == action).count()
    }
}

/// A stage-container run, recorded on this host while it lasts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunRecord {
    pub command: String,
    pub container_id: String,
    pub container_workdir: String,
    /// The pid file installs and verifications run under, in the container.
    pub pid_file: String,
    pub host_workdir: PathBuf,
    pub creator: Creator,
}

/// Where run records live: `$XDG_STATE_HOME/pixi-airgap/runs`, else `~/.local/state/...`;
/// `None` when neither is known.
pub fn records_dir() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|s| !s.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    Some(state.join("pixi-airgap").join("runs"))
}

/// A run record on disk; [`RecordGuard::done`] removes it once the run has cleaned up.
pub struct RecordGuard {
    path: Option<PathBuf>,
}

impl RunRecord {
    /// Writes the record. A record that cannot be written is a warning, not a failure: it only
    /// helps `clean` after a crash.
    pub fn write(&self) -> RecordGuard {
        let Some(dir) = records_dir() else {
            tracing::warn!("neither XDG_STATE_HOME nor HOME is set: this run is not recorded for `pixi-airgap clean`");
            return RecordGuard { path: None };
        };
        let short = crate::docker::short_id(&self.container_id);
        let path = dir.join(format!(
            "{}-{short}-{}.json",
            self.command, self.creator.pid
        ));
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            serde_json::to_vec_pretty(self)
                .map_err(std::io::Error::other)
                .and_then(|json| std::fs::write(&path, json))
        });
        match written {
            Ok(()) => RecordGuard { path: Some(path) },
            Err(err) => {
                tracing::warn!(
                    "could not record this run in `{}` for `pixi-airgap clean`: {err}",
                    dir.display()
                );
                RecordGuard { path: None }
            }
        }
    }
}

impl RecordGuard {
    /// The run cleaned up after itself: its record goes.
    pub fn done(self) {
        if let Some(path) = &self.path {
            if let Err(err) = std::fs::remove_file(path) {
                tracing::warn!(
                    "could not remove the run record `{}`: {err}",
                    path.display()
                );
            }
        }
    }
}

/// Stops what runs under `pid_file` in a container (a second exec: the engine cannot end an exec).
pub async fn stop_running(
    docker: &Docker,
    container_id: &str,
    pid_file: &str,
) -> Result<(), DockerError> {
    let out = crate::docker::exec_raw(docker, container_id, &ExecSpec::stop(pid_file)).await?;
    if !out.success() {
        tracing::warn!(
            "stopping what ran under {pid_file} in container {} failed (exit {}): {}",
            crate::docker::short_id(container_id),
            out.exit_code,
            out.tail(5)
        );
    }
    Ok(())
}

/// Finds the leftovers and, unless `dry_run`, removes them.
pub async fn clean(docker: &Docker, options: &CleanOptions) -> anyhow::Result<CleanReport> {
    let mut leftovers = Vec::new();
    let workdir = options
        .workdir
        .as_ref()
        .map(|w| std::path::absolute(w).unwrap_or_else(|_| w.clone()))
        .map(|w| w.display().to_string());
    let in_scope = |labels: &HashMap<String, String>| match &workdir {
        Some(w) => labels.get(LABEL_WORKDIR) == Some(w),
        None => true,
    };
    // Run records first: stopping a leftover install comes before anything else.
    leftovers.extend(clean_records(docker, options, workdir.as_deref()).await?);
    let mut containers: Vec<(crate::docker::Labelled, Leftover)> = docker
        .labelled_containers(LABEL_MANAGED)
        .await?
        .into_iter()
        .filter(|found| in_scope(&found.labels))
        .map(|found| {
            let leftover = judge_container(&found, options);
            (found, leftover)
        })
        .collect();
    keep_renewed_heartbeats(docker, &mut containers).await?;
    for (found, mut leftover) in containers {
        if leftover.action == Action::Remove {
            leftover.removed(docker.remove_container(&found.id).await);
        }
        leftovers.push(leftover);
    }
    for found in docker.labelled_networks(LABEL_MANAGED).await? {
        if !in_scope(&found.labels) {
            continue;
        }
        let mut leftover = judge(LeftoverKind::Network, &found, options);
        if leftover.action == Action::Remove {
            leftover.removed(docker.remove_network(&found.id).await);
        }
        leftovers.push(leftover);
    }
    // After the containers: removing one removes its scratch volume; a volume no container uses
    // had its container removed without it. (In a dry run, those of leftover containers are
    // still in use: they go with their container.)
    for found in docker.dangling_labelled_volumes(LABEL_MANAGED).await? {
        if !in_scope(&found.labels) {
            continue;
        }
        let mut leftover = judge(LeftoverKind::Volume, &found, options);
        if leftover.action == Action::Remove {
            leftover.removed(docker.remove_volume(&found.id).await);
        }
        leftovers.push(leftover);
    }
    Ok(CleanReport {
        dry_run: options.dry_run,
        all: options.all,
        leftovers,
    })
}

impl Leftover {
    /// Kept only because its creator cannot be checked, which [`CleanOptions::all`] overrides
    /// (the command names its flag in the reason).
    pub fn kept_unless_all(&self) -> bool {
        self.action == Action::Kept
            && matches!(
                self.creator_state,
                CreatorState::OtherHost | CreatorState::Unknown
            )
    }

    /// Records how removing it went.
    fn removed(&mut self, result: Result<(), DockerError>) {
        self.action = match result {
            Ok(()) => Action::Removed,
            Err(err) => {
                self.reason = Some(format!("{:#}", anyhow::Error::new(err)));
                Action::Failed
            }
        };
    }
}

/// How recent a heartbeat must be for `clean` to look again before removing its container.
const HEARTBEAT_FRESH_SECS: u64 = 15;
/// How long `clean` waits to see a heartbeat renewed: more than two of the watchdog's ticks.
const HEARTBEAT_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// A container [`judge`]d as a leftover by its labels may still be in use: a run in another
/// PID namespace (same host name) or on another host looks "gone" from here. Such a run's
/// watchdog renews the container's heartbeat (its name, see [`crate::watchdog`]) every couple of
/// seconds; when a candidate's heartbeat is recent, `clean` waits a little and looks again, and
/// keeps every container whose heartbeat moved on.
async fn keep_renewed_heartbeats(
    docker: &Docker,
    containers: &mut [(crate::docker::Labelled, Leftover)],
) -> Result<(), DockerError> {
    let now = crate::watchdog::unix_now();
    let fresh = |name: &str| {
        crate::watchdog::heartbeat_of(name)
            .is_some_and(|beat| now.saturating_sub(beat) <= HEARTBEAT_FRESH_SECS)
    };
    let suspects: Vec<usize> = containers
        .iter()
        .enumerate()
        .filter(|(_, (found, leftover))| leftover.action != Action::Kept && fresh(&found.name))
        .map(|(index, _)| index)
        .collect();
    if suspects.is_empty() {
        return Ok(());
    }
    tracing::info!(
        "{} container(s) have a recent heartbeat: looking again in {}s to see whether their runs still renew it",
        suspects.len(),
        HEARTBEAT_RECHECK.as_secs()
    );
    tokio::time::sleep(HEARTBEAT_RECHECK).await;
    let names: HashMap<String, String> = docker
        .labelled_containers(LABEL_MANAGED)
        .await?
        .into_iter()
        .map(|found| (found.id, found.name))
        .collect();
    for index in suspects {
        let (found, leftover) = &mut containers[index];
        let before = crate::watchdog::heartbeat_of(&found.name);
        let after = names
            .get(&found.id)
            .and_then(|name| crate::watchdog::heartbeat_of(name));
        if after > before {
            leftover.action = Action::Kept;
            leftover.creator_state = CreatorState::Alive;
            leftover.reason = Some(
                "its run renews its heartbeat (a live run in another PID namespace or on another host)"
                    .to_string(),
            );
        }
    }
    Ok(())
}

/// [`judge`] for a container, which also must run the image its labels record: a container made
/// from an image committed from one of ours inherits our labels, but it is not ours.
fn judge_container(found: &crate::docker::Labelled, options: &CleanOptions) -> Leftover {
    let mut leftover = judge(LeftoverKind::Container, found, options);
    let bare = |id: &str| id.trim_start_matches("sha256:").to_string();
    if let (Some(recorded), Some(actual)) = (found.labels.get(LABEL_IMAGE_ID), &found.image_id) {
        if bare(recorded) != bare(actual) {
            leftover.action = Action::Kept;
            leftover.creator_state = CreatorState::NotOurs;
            leftover.reason = Some(format!(
                "it runs image {actual}, not {recorded} that its labels record: our labels were inherited from a committed container"
            ));
        }
    }
    leftover
}

/// Whether a labelled object is a leftover; its `action` is `remove` (to do), `would-remove`
/// (dry run) or `kept`.
fn judge(kind: LeftoverKind, found: &crate::docker::Labelled, options: &CleanOptions) -> Leftover {
    let creator = Creator::from_labels(&found.labels);
    let (state, remove, reason) = creator_verdict(creator.as_ref(), options.all);
    Leftover {
        kind,
        id: found.id.clone(),
        name: found.name.clone(),
        command: found.labels.get(LABEL_COMMAND).cloned(),
        workdir: found.labels.get(LABEL_WORKDIR).cloned(),
        container_workdir: None,
        creator,
        creator_state: state,
        action: match (remove, options.dry_run) {
            (false, _) => Action::Kept,
            (true, true) => Action::WouldRemove,
            (true, false) => Action::Remove,
        },
        reason,
    }
}

/// (state, remove?, why kept).
fn creator_verdict(creator: Option<&Creator>, all: bool) -> (CreatorState, bool, Option<String>) {
    match creator.map(Creator::liveness) {
        Some(Liveness::Gone) => (CreatorState::Gone, true, None),
        Some(Liveness::Alive) => (
            CreatorState::Alive,
            false,
            Some("its pixi-airgap process still runs".to_string()),
        ),
        Some(Liveness::OtherHost) => (
            CreatorState::OtherHost,
            all,
            (!all).then(|| "made on another host".to_string()),
        ),
        Some(Liveness::Unchecked) => (
            CreatorState::Unknown,
            all,
            (!all).then(|| "this host cannot check processes".to_string()),
        ),
        None => (
            CreatorState::Unknown,
            all,
            (!all).then(|| "no creating process recorded".to_string()),
        ),
    }
}

/// The stage-container run records: for each run whose process is gone, stop what it left running
/// in the user's container, delete its container workdir (only with the marker), drop the record.
async fn clean_records(
    docker: &Docker,
    options: &CleanOptions,
    workdir: Option<&str>,
) -> anyhow::Result<Vec<Leftover>> {
    let Some(dir) = records_dir() else {
        return Ok(Vec::new());
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("failed to read `{}`", dir.display())),
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut leftovers = Vec::new();
    for path in paths {
        let record: RunRecord = match std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        {
            Some(record) => record,
            None => {
                tracing::warn!("`{}` is not a run record: left alone", path.display());
                continue;
            }
        };
        if workdir.is_some_and(|w| Path::new(w) != record.host_workdir) {
            continue;
        }
        let (state, remove, reason) = creator_verdict(Some(&record.creator), options.all);
        let mut leftover = Leftover {
            kind: LeftoverKind::ContainerWorkdir,
            id: record.container_id.clone(),
            name: String::new(),
            command: Some(record.command.clone()),
            workdir: Some(record.host_workdir.display().to_string()),
            container_workdir: Some(record.container_workdir.clone()),
            creator: Some(record.creator.clone()),
            creator_state: state,
            action: Action::Kept,
            reason,
        };
        if remove && options.dry_run {
            leftover.action = Action::WouldRemove;
        } else if remove {
            match clean_container_workdir(docker, &record).await {
                Ok(note) => {
                    // With a note, nothing was deleted (the container is gone, or the folder is
                    // not ours); either way the record has served and goes.
                    leftover.action = if note.is_some() {
                        Action::Kept
                    } else {
                        Action::Removed
                    };
                    leftover.reason = note;
                    if let Err(err) = std::fs::remove_file(&path) {
                        tracing::warn!("could not remove `{}`: {err}", path.display());
                    }
                }
                Err(err) => {
                    leftover.action = Action::Failed;
                    leftover.reason = Some(format!("{err:#}"));
                }
            }
        }
        leftovers.push(leftover);
    }
    Ok(leftovers)
}

/// Stops what the run left running and deletes its container workdir when it carries the marker.
/// `Ok(Some(note))` says what was found instead (the container is gone, the folder is not ours).
async fn clean_container_workdir(
    docker: &Docker,
    record: &RunRecord,
) -> anyhow::Result<Option<String>> {
    let container = match docker.attach_container(&record.container_id).await {
        Ok(container) => container,
        Err(DockerError::NoSuchContainer { .. }) => {
            return Ok(Some("the container no longer exists".to_string()))
        }
        Err(DockerError::ContainerNotRunning { state, .. }) => {
            return Ok(Some(format!(
                "the container is not running ({state}): nothing runs in it; its folder stays"
            )))
        }
        Err(err) => return Err(err.into()),
    };
    stop_running(docker, container.id(), &record.pid_file).await?;
    let cw = &record.container_workdir;
    let marker = format!("{cw}/{}", crate::workdir::MARKER);
    if !container.has_plain_file(&marker).await? {
        return Ok(Some(format!(
            "`{cw}` has no {}: not deleted",
            crate::workdir::MARKER
        )));
    }
    let rm = container
        .exec(&ExecSpec::new(["rm", "-rf", "--", cw.as_str()]), None)
        .await?;
    if !rm.success() {
        anyhow::bail!("could not remove `{cw}`: {}", rm.tail(5));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process of this host that does not run: the pid of a process that has exited.
    fn gone() -> Creator {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        Creator {
            pid,
            host: crate::process::host_name(),
            pid_start: Some(1),
            created: "2026-01-01T00:00:00Z".to_string(),
        }
    }

    fn labelled(creator: Option<&Creator>) -> crate::docker::Labelled {
        let mut labels: HashMap<String, String> = creator
            .map(|c| c.labels().into_iter().collect())
            .unwrap_or_default();
        labels.insert(LABEL_MANAGED.to_string(), "true".to_string());
        labels.insert(LABEL_COMMAND.to_string(), "stage-host".to_string());
        labels.insert(LABEL_WORKDIR.to_string(), "/work/wd".to_string());
        crate::docker::Labelled {
            id: "0123456789abcdef".to_string(),
            name: "pixi-airgap-x".to_string(),
            labels,
            state: "running".to_string(),
            image_id: None,
        }
    }

    fn options(dry_run: bool, all: bool) -> CleanOptions {
        CleanOptions {
            dry_run,
            all,
            workdir: None,
        }
    }

    #[test]
    fn a_gone_creator_is_removed_or_listed_in_a_dry_run() {
        let creator = gone();
        let found = labelled(Some(&creator));
        let leftover = judge(LeftoverKind::Container, &found, &options(false, false));
        assert_eq!(
            (leftover.creator_state, leftover.action, leftover.reason),
            (CreatorState::Gone, Action::Remove, None)
        );
        assert_eq!(leftover.command.as_deref(), Some("stage-host"));
        assert_eq!(leftover.workdir.as_deref(), Some("/work/wd"));
        let leftover = judge(LeftoverKind::Network, &found, &options(true, false));
        assert_eq!(leftover.action, Action::WouldRemove);
        assert_eq!(leftover.kind, LeftoverKind::Network);
    }

    #[test]
    fn a_live_creator_is_kept_even_with_all() {
        let creator = Creator::current();
        for all in [false, true] {
            let leftover = judge(
                LeftoverKind::Container,
                &labelled(Some(&creator)),
                &options(false, all),
            );
            assert_eq!(
                (leftover.creator_state, leftover.action),
                (CreatorState::Alive, Action::Kept)
            );
            assert_eq!(
                leftover.reason.as_deref(),
                Some("its pixi-airgap process still runs")
            );
        }
    }

    #[test]
    fn what_cannot_be_checked_is_removed_only_with_all() {
        let mut elsewhere = Creator::current();
        elsewhere.host = format!("not-{}", elsewhere.host);
        for creator in [Some(&elsewhere), None] {
            let kept = judge(
                LeftoverKind::Volume,
                &labelled(creator),
                &options(false, false),
            );
            assert_eq!(kept.action, Action::Kept, "{creator:?}");
            assert!(kept.reason.is_some() && kept.kept_unless_all(), "{kept:?}");
            let removed = judge(
                LeftoverKind::Volume,
                &labelled(creator),
                &options(false, true),
            );
            assert_eq!((removed.action, removed.reason), (Action::Remove, None));
        }
        let state = |creator| creator_verdict(creator, false).0;
        assert_eq!(state(Some(&elsewhere)), CreatorState::OtherHost);
        assert_eq!(state(None), CreatorState::Unknown);
    }

    #[test]
    fn a_container_of_a_committed_copy_is_not_ours() {
        let creator = gone();
        let mut found = labelled(Some(&creator));
        found
            .labels
            .insert(LABEL_IMAGE_ID.to_string(), "sha256:aaaa".to_string());
        // The image it runs is the one recorded (with or without the `sha256:` prefix): ours.
        found.image_id = Some("aaaa".to_string());
        assert_eq!(
            judge_container(&found, &options(false, false)).action,
            Action::Remove
        );
        // Another image: a container committed from one of ours inherited the labels.
        found.image_id = Some("sha256:bbbb".to_string());
        let leftover = judge_container(&found, &options(false, true));
        assert_eq!(
            (leftover.creator_state, leftover.action),
            (CreatorState::NotOurs, Action::Kept)
        );
        assert!(
            leftover
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("sha256:bbbb")),
            "{leftover:?}"
        );
    }

    #[test]
    fn the_report_counts_by_action() {
        let creator = gone();
        let found = labelled(Some(&creator));
        let leftovers = vec![
            judge(LeftoverKind::Container, &found, &options(true, false)),
            judge(LeftoverKind::Network, &found, &options(true, false)),
            judge(
                LeftoverKind::Container,
                &labelled(Some(&Creator::current())),
                &options(true, false),
            ),
        ];
        let report = CleanReport {
            dry_run: true,
            all: false,
            leftovers,
        };
        assert_eq!(report.count(Action::WouldRemove), 2);
        assert_eq!(report.count(Action::Kept), 1);
        assert_eq!(report.count(Action::Removed), 0);
    }
}
