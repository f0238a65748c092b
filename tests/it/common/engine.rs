//! The engine as the harness sees it: what the tests set up or look at that pixi-airgap itself never
//! does (a channel server with a DNS alias, networks, inspecting a container's mounts) goes
//! through the `docker` CLI, so the code under test keeps no API only its tests use. The CLI reaches
//! the same engine as the binary under test (`DOCKER_HOST`, `DOCKER_CONTEXT`, TLS and SSH alike).

use std::path::Path;
use std::process::Command;

use pixi_airgap::docker::LABEL_MANAGED;

/// Runs `docker ARGS` and returns its stdout, trimmed; panics with its stderr when it fails.
pub fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("cannot run the docker CLI ({err}): the harness needs it"));
    assert!(
        output.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// `docker inspect` of a container, network or volume, as JSON (the first object).
pub fn inspect(kind: &str, id: &str) -> serde_json::Value {
    let text = docker(&[kind, "inspect", id]);
    let mut all: Vec<serde_json::Value> = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("docker {kind} inspect {id}: {err}\n{text}"));
    assert!(!all.is_empty(), "docker {kind} inspect {id}: nothing");
    all.swap_remove(0)
}

/// Whether the engine knows a volume of that name.
pub fn volume_exists(name: &str) -> bool {
    Command::new("docker")
        .args(["volume", "inspect", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Our labels, the creator's too: what pixi-airgap puts on what it makes, so that `clean` and
/// the scripts' leftover checks judge the harness's objects as they judge the tool's.
fn label_args() -> Vec<String> {
    std::iter::once((LABEL_MANAGED.to_string(), "true".to_string()))
        .chain(pixi_airgap::process::Creator::current().labels())
        .flat_map(|(key, value)| ["--label".to_string(), format!("{key}={value}")])
        .collect()
}

/// A user-defined bridge network with our labels.
pub fn create_network(name: &str) {
    let mut args = vec!["network".to_string(), "create".to_string()];
    args.extend(label_args());
    args.extend([
        "--driver".to_string(),
        "bridge".to_string(),
        name.to_string(),
    ]);
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// Starts a container of `image` on `network` that serves `/srv` over HTTP on port 8080 under
/// the DNS name `alias`, for six hours at most (removed by the engine when it ends); its id.
pub fn start_http_server(image: &str, network: &str, alias: &str, role: &str) -> String {
    let mut args = vec!["run".to_string(), "-d".to_string(), "--rm".to_string()];
    args.extend(label_args());
    args.extend(
        [
            "--label",
            &format!("io.pixi-airgap.test={role}"),
            "--network",
            network,
            "--network-alias",
            alias,
            "--entrypoint",
            "timeout",
            image,
            "21600",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "8080",
            "-h",
            "/srv",
        ]
        .map(String::from),
    );
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A container of `image` that ran `true` and stopped (kept by the engine), with our labels; its
/// id, once the engine sees it stopped.
pub fn stopped_container(image: &str) -> String {
    let mut args = vec!["run".to_string(), "-d".to_string()];
    args.extend(label_args());
    args.extend(
        [
            "--label",
            "io.pixi-airgap.test=stopped",
            "--entrypoint",
            "true",
            image,
        ]
        .map(String::from),
    );
    let id = docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for _ in 0..100 {
        if !is_running(&id) {
            return id;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("container {id} still runs `true`");
}

/// Whether a container runs.
pub fn is_running(id: &str) -> bool {
    inspect("container", id)["State"]["Running"] == true
}

/// Removes a container, running or not, with its anonymous volumes; one already gone is no error.
pub fn remove_container(id: &str) {
    let _ = Command::new("docker").args(["rm", "-f", "-v", id]).output();
}

/// Removes a container (as [`remove_container`]) and then a network; one already gone is no
/// error.
pub fn remove_container_and_network(container: &str, network: &str) {
    remove_container(container);
    let _ = Command::new("docker")
        .args(["network", "rm", network])
        .output();
}

/// What carries our workdir label at or under `root` (containers, volumes, networks): `kind id
/// (workdir)` each.
pub fn labelled_under(root: &Path) -> Vec<String> {
    let root = root.display().to_string();
    let label = pixi_airgap::docker::LABEL_WORKDIR;
    let format = format!("{{{{.ID}}}}\t{{{{.Label \"{label}\"}}}}");
    let volume_format = format!("{{{{.Name}}}}\t{{{{.Label \"{label}\"}}}}");
    let filter = format!("label={label}");
    let mut found = Vec::new();
    for (kind, args) in [
        (
            "container",
            vec![
                "ps",
                "-a",
                "--no-trunc",
                "--filter",
                &filter,
                "--format",
                &format,
            ],
        ),
        (
            "volume",
            vec![
                "volume",
                "ls",
                "--filter",
                &filter,
                "--format",
                &volume_format,
            ],
        ),
        (
            "network",
            vec![
                "network",
                "ls",
                "--no-trunc",
                "--filter",
                &filter,
                "--format",
                &format,
            ],
        ),
    ] {
        for line in docker(&args).lines() {
            let (id, workdir) = line.split_once('\t').unwrap_or((line, ""));
            let under = workdir
                .strip_prefix(root.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
            if under {
                found.push(format!("{kind} {id} ({workdir})"));
            }
        }
    }
    found
}

/// Checks when dropped that nothing the tool made for a workdir at or under its root is left:
/// every run removes what it starts, and a test's leftovers are found by their workdir label
/// (tests run in parallel and each works in its own temp folder, so only this test's count).
/// Made by [`super::Locked`]; a test with its own temp folder makes one with [`Self::new`].
pub struct LeftoverGuard {
    root: std::path::PathBuf,
}

impl LeftoverGuard {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// Asserts now that nothing is left (the drop asserts it again at the end of the test).
    #[track_caller]
    pub fn assert_clean(&self) {
        let left = labelled_under(&self.root);
        assert!(
            left.is_empty(),
            "left behind for {}:\n{}",
            self.root.display(),
            left.join("\n")
        );
    }
}

impl Drop for LeftoverGuard {
    fn drop(&mut self) {
        // A test that already failed reports its own failure; a second panic would abort.
        if std::thread::panicking() {
            return;
        }
        self.assert_clean();
    }
}
