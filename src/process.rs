//! This process as the labels of a container it creates record it, and whether a process recorded
//! that way still runs: what `pixi-airgap clean` needs to tell a leftover from a container in use.
//!
//! A pid alone is not an identity (pids are reused), so the process's start time since boot (from
//! `/proc/<pid>/stat`) is recorded beside it, with the host name: a recorded process is alive only
//! on the same host, with the same pid and the same start time.

use std::collections::HashMap;

/// Label: the pid of the pixi-airgap process that created the object.
pub const LABEL_PID: &str = "io.pixi-airgap.pid";
/// Label: that process's start time, in clock ticks since boot (Linux), against pid reuse.
pub const LABEL_PID_START: &str = "io.pixi-airgap.pid-start";
/// Label: the host name the creating process ran on.
pub const LABEL_HOST: &str = "io.pixi-airgap.host";
/// Label: when the object was created (RFC 3339, UTC).
pub const LABEL_CREATED: &str = "io.pixi-airgap.created";

/// The process that creates something, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Creator {
    pub pid: u32,
    pub host: String,
    /// Clock ticks since boot at the process's start; `None` where `/proc` cannot tell.
    pub pid_start: Option<u64>,
    pub created: String,
}

impl Creator {
    /// This process, now.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self {
            pid,
            host: host_name(),
            pid_start: start_ticks(pid),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    /// The labels that record it.
    pub fn labels(&self) -> Vec<(String, String)> {
        let mut labels = vec![
            (LABEL_PID.to_string(), self.pid.to_string()),
            (LABEL_HOST.to_string(), self.host.clone()),
            (LABEL_CREATED.to_string(), self.created.clone()),
        ];
        if let Some(start) = self.pid_start {
            labels.push((LABEL_PID_START.to_string(), start.to_string()));
        }
        labels
    }

    /// The creator recorded in `labels`; `None` when there is no pid (an older pixi-airgap).
    pub fn from_labels(labels: &HashMap<String, String>) -> Option<Self> {
        Some(Self {
            pid: labels.get(LABEL_PID)?.parse().ok()?,
            host: labels.get(LABEL_HOST).cloned().unwrap_or_default(),
            pid_start: labels.get(LABEL_PID_START).and_then(|s| s.parse().ok()),
            created: labels.get(LABEL_CREATED).cloned().unwrap_or_default(),
        })
    }

    /// Whether the recorded process still runs, as far as this host can tell.
    pub fn liveness(&self) -> Liveness {
        if self.host != host_name() {
            return Liveness::OtherHost;
        }
        // Without /proc (not Linux) nothing can be told about any process: never "gone".
        if start_ticks(std::process::id()).is_none() {
            return Liveness::Unchecked;
        }
        match (start_ticks(self.pid), self.pid_start) {
            (None, _) => Liveness::Gone,
            // Same pid, another start time: the pid was reused by another process.
            (Some(now), Some(then)) if now != then => Liveness::Gone,
            _ => Liveness::Alive,
        }
    }
}

/// What this host knows about a recorded process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Liveness {
    Alive,
    Gone,
    /// Recorded on another host: this one cannot tell.
    OtherHost,
    /// This host cannot check processes (no `/proc`).
    Unchecked,
}

/// This machine's host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `unknown`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Field 22 of `/proc/<pid>/stat` (start time in clock ticks since boot); `None` when there is no
/// such process (or no `/proc`).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after its end.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_one_is_not() {
        let me = Creator::current();
        assert_eq!(me.pid, std::process::id());
        assert_eq!(me.liveness(), Liveness::Alive);
        let labels: HashMap<String, String> = me.labels().into_iter().collect();
        assert_eq!(Creator::from_labels(&labels).unwrap(), me);

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let gone = Creator { pid, ..me.clone() };
        assert_eq!(gone.liveness(), Liveness::Gone);
        // Our pid, another start time: a reused pid is not our process.
        let reused = Creator {
            pid_start: me.pid_start.map(|s| s + 1),
            ..me.clone()
        };
        if me.pid_start.is_some() {
            assert_eq!(reused.liveness(), Liveness::Gone);
        }
        let elsewhere = Creator {
            host: "another-host".into(),
            ..me
        };
        assert_eq!(elsewhere.liveness(), Liveness::OtherHost);
        assert!(Creator::from_labels(&HashMap::new()).is_none());
    }
}
