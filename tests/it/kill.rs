//! Kill tests: pixi-airgap is killed outright (SIGKILL: no cleanup at all) at several points of
//! stage-host, verify-product, make-product and stage-container. Afterwards `pixi-airgap clean`
//! finds every container (and network) that was left, and removes it; an earlier product is
//! intact (its tree hashed before and after). Also: the bounded life of every container, what
//! `clean` must leave alone, and an interrupted (SIGINT) stage-container that stops its install in
//! the user's container.

// The remote leg compiles one test of this area (tests/it/main.rs): the kill points' helpers are
// unused there.
#![cfg_attr(feature = "engine-remote", allow(dead_code, unused_imports))]

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use pixi_airgap::docker::{ContainerSpec, ExecSpec};

fn hostile_image() -> String {
    std::env::var("PIXI_AIRGAP_TESTBED_HOSTILE_IMAGE")
        .expect("PIXI_AIRGAP_TESTBED_HOSTILE_IMAGE (scripts/testbed.sh exports it)")
}

/// When to kill: a line on stderr that contains this text, or a labelled container for the
/// workdir, or a probe of the test's.
enum KillAt<'a> {
    Line(&'a str),
    Container(&'a Path),
    /// Something the test checks (e.g. a process in a container).
    Probe(&'a dyn Fn() -> bool),
}

/// Starts pixi-airgap, waits for the kill point, sends `signal` and returns the exit code (None
/// when killed by the signal) and stderr.
fn run_until(
    bed: &Testbed,
    args: &[&str],
    envs: &[(&str, &str)],
    at: KillAt,
    signal: &str,
) -> (Option<i32>, String) {
    let mut child = TestCommand::new()
        .args(args)
        .envs(envs)
        .spawn_with(Stdio::null(), Stdio::piped());
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap_or_default();
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        assert!(Instant::now() < deadline, "the kill point never came");
        let reached = match &at {
            KillAt::Line(text) => {
                let mut hit = false;
                while let Ok(line) = rx.try_recv() {
                    hit |= line.contains(text);
                }
                hit
            }
            KillAt::Container(workdir) => !containers_for_workdir(bed, workdir).is_empty(),
            KillAt::Probe(check) => check(),
        };
        if reached {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let err = reader.join().unwrap();
            panic!("pixi-airgap ended ({status}) before the kill point:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    let err = reader.join().unwrap();
    eprintln!(
        "pixi-airgap {} -> {status} ({signal})\n{err}",
        args.join(" ")
    );
    (status.code(), err)
}

/// `pixi-airgap clean` with `args`, its JSON report.
fn clean(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, serde_json::Value) {
    let output = TestCommand::new()
        .args(["clean", "--json"])
        .args(args)
        .envs(envs)
        .output();
    let report = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (output.status.code(), report)
}

fn with_action<'a>(report: &'a serde_json::Value, action: &str) -> Vec<&'a serde_json::Value> {
    report["leftovers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["action"] == action)
        .collect()
}

/// After a SIGKILL: the run's containers are still there; `clean --dry-run` lists them and
/// removes nothing; `clean` removes them all.
fn clean_finds_and_removes(bed: &Testbed, workdir: &Path, what: &str) {
    let left = containers_for_workdir(bed, workdir);
    assert!(!left.is_empty(), "{what}: SIGKILL left no container?");
    let w = workdir.display().to_string();
    let (code, report) = clean(&["--dry-run", "--workdir", &w], &[]);
    assert_eq!(code, Some(0), "{what}");
    let listed = with_action(&report, "would-remove");
    assert_eq!(listed.len(), left.len(), "{what}: {report:#}");
    assert!(
        listed.iter().all(|l| l["creator_state"] == "gone"),
        "{what}"
    );
    assert_eq!(
        containers_for_workdir(bed, workdir),
        left,
        "{what}: dry run"
    );
    let (code, report) = clean(&["--workdir", &w], &[]);
    assert_eq!(code, Some(0), "{what}");
    assert_eq!(with_action(&report, "removed").len(), left.len(), "{what}");
    assert!(
        containers_for_workdir(bed, workdir).is_empty(),
        "{what}: clean left a container"
    );
}

#[test]
#[cfg(not(feature = "engine-remote"))]
fn sigkill_anywhere_leaves_nothing_clean_cannot_remove_and_the_previous_product_intact() {
    let Some(bed) = testbed() else { return };
    let image = hostile_image();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("multi-env");
    copy_tree(&fixtures().join("locks/v4-multi"), &project);
    let workdir = tmp.path().join("wd");
    let (p, w) = (project.display().to_string(), workdir.display().to_string());
    let stage_args = [
        "stage-host",
        "--image",
        &image,
        "--network",
        "none",
        "--project-dir",
        &p,
        "--workdir",
        &w,
        "--force",
        // The hostile pixi's slow attack: 20000 files, so the install and the copy back last.
        "--env",
        "HOSTILE_ENTRIES=20000",
    ];
    // A good staging and its product: what every killed run below must leave intact.
    std::fs::write(project.join("ATTACK"), "none").unwrap();
    let output = TestCommand::new().args(stage_args).output();
    assert_success(&output);
    assert_eq!(
        make_product(&workdir, "multi-env", None).status.code(),
        Some(0)
    );
    let product = workdir.join("product");
    let before = tree_snapshot(&product);
    let mut tried = 0;

    // make-product, killed while it writes (a large resource keeps it busy).
    let big = workdir.join("resources/big.bin");
    std::fs::write(&big, vec![7u8; 256 * 1024 * 1024]).unwrap();
    let partial_exists = || {
        std::fs::read_dir(&workdir).unwrap().flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".product.partial-")
        })
    };
    tried += 1;
    let mut child = TestCommand::new()
        .args([
            "make-product",
            "--workdir",
            &w,
            "--project-name",
            "multi-env",
        ])
        .spawn_with(Stdio::inherit(), Stdio::null());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !partial_exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "make-product ended first"
        );
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), None);
    assert_eq!(
        tree_snapshot(&product),
        before,
        "make-product: the product changed"
    );
    pixi_airgap::product::manifest::check(&product).expect("the previous product is intact");
    std::fs::remove_file(&big).unwrap();

    std::fs::write(project.join("ATTACK"), "many-entries").unwrap();
    for (what, at) in [
        ("stage-host: container started", KillAt::Container(&workdir)),
        (
            "stage-host: installing",
            KillAt::Line("installing environment"),
        ),
        ("stage-host: copying back", KillAt::Line("back to")),
    ] {
        tried += 1;
        let (code, _) = run_until(&bed, &stage_args, &[], at, "-KILL");
        assert_eq!(code, None, "{what}: killed, not finished");
        clean_finds_and_removes(&bed, &workdir, what);
        assert_eq!(
            tree_snapshot(&product),
            before,
            "{what}: the product changed"
        );
    }
    // The next run with --force starts clean: no half-written copy of a killed run stays.
    std::fs::write(project.join("ATTACK"), "none").unwrap();
    let output = TestCommand::new().args(stage_args).output();
    assert_success(&output);
    let incoming: Vec<_> = std::fs::read_dir(&workdir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".incoming-"))
        .map(|e| e.path())
        .collect();
    assert!(incoming.is_empty(), "left behind: {incoming:?}");
    assert_eq!(tree_snapshot(&product), before, "the product changed");

    record_count(&format!(
        "kill tests, stage-host and make-product: {tried} SIGKILL points tried"
    ));
}

#[test]
#[cfg(not(feature = "engine-remote"))]
fn sigkill_during_verify_product_leaves_nothing_clean_cannot_remove() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    let (tmp, workdir, name) = staged(&bed, &server, "single", &["--verify-task", "smoke"]);
    assert_eq!(make_product(&workdir, &name, None).status.code(), Some(0));
    let product = workdir.join("product");
    let before = tree_snapshot(&product);
    let out = tmp.path().join("proof");
    let (pr, o) = (product.display().to_string(), out.display().to_string());
    let args = [
        "verify-product",
        "--image",
        &bed.image,
        "--product-dir",
        &pr,
        "--out-dir",
        &o,
        "--project-name",
        &name,
        "--force",
    ];
    let mut tried = 0;
    for (what, at) in [
        ("verify-product: container started", KillAt::Container(&out)),
        (
            "verify-product: bootstrapping",
            KillAt::Line("bootstrapping the product offline"),
        ),
    ] {
        tried += 1;
        let (code, _) = run_until(&bed, &args, &[], at, "-KILL");
        assert_eq!(code, None, "{what}");
        clean_finds_and_removes(&bed, &out, what);
        assert_eq!(
            tree_snapshot(&product),
            before,
            "{what}: the product changed"
        );
    }
    // And the product still proves itself.
    let output = verify_product(&bed, &product, &out, &name, &["--force"]);
    assert_success(&output);
    record_count(&format!(
        "kill tests, verify-product: {tried} SIGKILL points tried"
    ));
}

/// A "user's" container with the v4-multi project at /home/dev/multi-env and a fake pixi whose
/// install sleeps (`sleep 4242`, findable in /proc).
fn user_container_with_slow_pixi(bed: &Testbed) -> pixi_airgap::docker::Container {
    let fake = "#!/bin/sh\ncase \"${1:-}\" in\n  --version) echo 'pixi 0.15.2' ;;\n  install) sleep 4242 ;;\n  info) echo '{\"platform\": \"linux-64\"}' ;;\n  *) exit 0 ;;\nesac\n";
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("multi-env");
    copy_tree(&fixtures().join("locks/v4-multi"), &project);
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    std::fs::write(dir.path().join("bin/pixi"), fake).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.path().join("bin/pixi"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    runtime().block_on(async {
        let spec = ContainerSpec {
            image: bed.image.clone(),
            labels: vec![("io.pixi-airgap.test".into(), "user-container".into())],
            network: Some("none".into()),
            ..Default::default()
        };
        let container = bed.docker.start_container(&spec).await.unwrap();
        upload_tree(
            &bed.docker,
            container.id(),
            &project,
            "/",
            "home/dev/multi-env",
        )
        .await;
        upload_tree(
            &bed.docker,
            container.id(),
            &dir.path().join("bin"),
            "/",
            "usr/local/bin",
        )
        .await;
        container
    })
}

/// Processes in the container (not zombies) that are the fake install or our wrapper. The
/// patterns are split so that this check's own command line does not match.
const OURS_RUNNING: &str = r#"a=sleep; b=4242; w=pixi-airgap
for c in /proc/[0-9]*/cmdline; do
  line=$(tr '\000' ' ' <"$c" 2>/dev/null) || continue
  case $line in *"$a $b"* | *"$w-run"*) ;; *) continue ;; esac
  state=$(while read -r k v; do [ "$k" = State: ] && echo "$v"; done <"${c%/cmdline}/status" 2>/dev/null)
  case $state in Z* | '') ;; *) echo "${c%/cmdline}: $line" ;; esac
done"#;

#[test]
#[cfg(not(feature = "engine-remote"))]
fn an_interrupted_or_killed_stage_container_stops_its_install_in_the_users_container() {
    let Some(bed) = testbed() else { return };
    let container = user_container_with_slow_pixi(&bed);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let state_s = state.display().to_string();
    let envs = [("XDG_STATE_HOME", state_s.as_str())];
    let workdir = tmp.path().join("wd");
    let w = workdir.display().to_string();
    let args = [
        "stage-container",
        "--container-id",
        container.id(),
        "--project-path-in-container",
        "/home/dev/multi-env",
        "--workdir",
        &w,
        "--container-workdir-path",
        "/tmp/pa-wd",
        "--force",
    ];
    let running = || in_container(&bed, &container, OURS_RUNNING).0;
    let installing = || !running().is_empty();
    let records = || {
        std::fs::read_dir(state.join("pixi-airgap/runs"))
            .map(|d| d.flatten().count())
            .unwrap_or(0)
    };
    let mut tried = 0;

    // Ctrl-C: pixi-airgap stops the install through a second exec and removes its folder.
    tried += 1;
    let (code, err) = run_until(&bed, &args, &envs, KillAt::Probe(&installing), "-INT");
    assert_eq!(code, Some(130), "{err}");
    assert_eq!(running(), "", "the install still runs after SIGINT");
    let (_, gone) = in_container(&bed, &container, "test ! -e /tmp/pa-wd");
    assert_eq!(gone, 0, "the container workdir is left");
    assert_eq!(records(), 0, "a clean exit drops its run record");

    // SIGKILL: the install keeps running; `clean` stops it and removes the container workdir.
    tried += 1;
    let (code, err) = run_until(&bed, &args, &envs, KillAt::Probe(&installing), "-KILL");
    assert_eq!(code, None, "{err}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(installing(), "a killed pixi-airgap cannot stop its install");
    assert_eq!(records(), 1, "the run is recorded while it lasts");
    let (code, report) = clean(&["--dry-run", "--workdir", &w], &envs);
    assert_eq!(code, Some(0));
    let listed = with_action(&report, "would-remove");
    assert_eq!(listed.len(), 1, "{report:#}");
    assert_eq!(listed[0]["kind"], "container-workdir");
    assert_eq!(listed[0]["container_workdir"], "/tmp/pa-wd");
    assert!(!running().is_empty(), "a dry run stops nothing");
    let (code, report) = clean(&["--workdir", &w], &envs);
    assert_eq!(code, Some(0));
    assert_eq!(with_action(&report, "removed").len(), 1, "{report:#}");
    assert_eq!(running(), "", "clean did not stop the leftover install");
    let (_, gone) = in_container(&bed, &container, "test ! -e /tmp/pa-wd");
    assert_eq!(gone, 0, "clean left the container workdir");
    assert_eq!(records(), 0, "clean drops the run record");
    // The user's container itself is never touched.
    let info = runtime()
        .block_on(bed.docker.inspect_container(container.id()))
        .unwrap();
    assert_eq!(info.state.and_then(|s| s.running), Some(true));

    runtime().block_on(container.remove()).unwrap();
    record_count(&format!(
        "kill tests, stage-container: {tried} interruptions tried (SIGINT, SIGKILL + clean)"
    ));
}

/// What `clean` must leave alone, and what `--all` adds; networks are found like containers.
#[test]
fn clean_keeps_what_a_live_process_uses_and_removes_dead_networks_and_volumes() {
    let Some(bed) = testbed() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let scope = tmp.path().join("scope");
    let s = scope.display().to_string();
    let host = pixi_airgap::process::host_name();
    // A pid that is certainly gone.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id().to_string();
    child.wait().unwrap();
    // A network, and a scratch volume whose container was removed without it, both made by
    // that gone process.
    let name = format!("pixi-airgap-test-dead-{}", std::process::id());
    for kind in ["network", "volume"] {
        let made = Command::new("docker")
            .args([kind, "create"])
            .args(["--label", "io.pixi-airgap.managed=true"])
            .args(["--label", &format!("io.pixi-airgap.pid={dead}")])
            .args(["--label", &format!("io.pixi-airgap.host={host}")])
            .args(["--label", &format!("io.pixi-airgap.workdir={s}")])
            .arg(&name)
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    // A container of this (live) test process, and one with no recorded creator.
    let live = runtime().block_on(async {
        let spec = ContainerSpec {
            image: bed.image.clone(),
            labels: vec![(pixi_airgap::docker::LABEL_WORKDIR.into(), s.clone())],
            network: Some("none".into()),
            ..Default::default()
        };
        bed.docker.start_container(&spec).await.unwrap()
    });
    let anonymous = Command::new("docker")
        .args(["run", "-d", "--rm", "--network", "none"])
        .args(["--label", "io.pixi-airgap.managed=true"])
        .args(["--label", &format!("io.pixi-airgap.workdir={s}")])
        .args([&bed.image, "sleep", "600"])
        .output()
        .unwrap();
    assert!(anonymous.status.success());
    let anonymous = String::from_utf8_lossy(&anonymous.stdout)
        .trim()
        .to_string();

    let (code, report) = clean(&["--workdir", &s], &[]);
    assert_eq!(code, Some(0));
    let removed = with_action(&report, "removed");
    let kinds: Vec<_> = removed.iter().map(|l| l["kind"].clone()).collect();
    assert_eq!(kinds, ["network", "volume"], "{report:#}");
    assert!(removed.iter().all(|l| l["creator_state"] == "gone"));
    assert!(
        !Command::new("docker")
            .args(["volume", "inspect", &name])
            .output()
            .unwrap()
            .status
            .success(),
        "the dead volume is gone"
    );
    let kept = with_action(&report, "kept");
    let state_of = |id: &str| {
        kept.iter()
            .find(|l| l["id"] == id)
            .map(|l| l["creator_state"].clone())
    };
    assert_eq!(state_of(live.id()), Some("alive".into()), "{report:#}");
    assert_eq!(state_of(&anonymous), Some("unknown".into()), "{report:#}");
    // --all adds what has no recorded creator, never what a live process uses.
    let (code, report) = clean(&["--all", "--workdir", &s], &[]);
    assert_eq!(code, Some(0));
    let removed = with_action(&report, "removed");
    assert_eq!(removed.len(), 1, "{report:#}");
    assert_eq!(removed[0]["id"], anonymous.as_str());
    assert_eq!(
        containers_for_workdir(&bed, &scope),
        [live.id().to_string()]
    );
    runtime().block_on(live.remove()).unwrap();
    record_count(
        "kill tests, clean: 4 leftovers judged (dead network, dead volume, live container, no creator)",
    );
}

/// Every container ends by itself after its life limit, and the engine removes it.
#[test]
#[cfg(not(feature = "engine-remote"))]
fn containers_end_by_themselves_after_their_life_limit() {
    let Some(bed) = testbed() else { return };
    let container = runtime().block_on(async {
        let spec = ContainerSpec {
            image: bed.image.clone(),
            labels: vec![("io.pixi-airgap.test".into(), "life".into())],
            network: Some("none".into()),
            max_life: Some(Duration::from_secs(2)),
            ..Default::default()
        };
        bed.docker.start_container(&spec).await.unwrap()
    });
    let out = runtime()
        .block_on(container.exec(&ExecSpec::new(["true"]), None))
        .unwrap();
    assert!(out.success(), "it runs at first");
    let id = container.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match runtime().block_on(bed.docker.inspect_container(&id)) {
            Err(_) => break,
            Ok(_) => assert!(Instant::now() < deadline, "still there after its life"),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // Gone already: removing it again is not an error.
    runtime().block_on(container.remove()).unwrap();

    // A life that is not a duration is bad input, before anything starts.
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("multi-env");
    copy_tree(&fixtures().join("locks/v4-multi"), &project);
    let output = TestCommand::new()
        .args(["stage-host", "--image", &bed.image, "--network", "none"])
        .args(["--project-dir", &project.display().to_string()])
        .args(["--workdir", &tmp.path().join("wd").display().to_string()])
        .env("PIXI_AIRGAP_CONTAINER_MAX_LIFE", "forever")
        .output();
    assert_exit(&output, 2, "is not a duration");
    assert!(!tmp.path().join("wd").exists(), "nothing was written");
}

/// The life limit does not depend on the image: a container whose own timer never fires (its
/// `sleep` is frozen here, as a hostile image's `sh` could ignore it) is still killed and removed
/// at its limit by the watchdog, after pixi-airgap itself was SIGKILLed.
#[test]
#[cfg(not(feature = "engine-remote"))]
fn the_life_limit_holds_when_the_image_ignores_it() {
    let Some(bed) = testbed() else { return };
    let image = hostile_image();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("multi-env");
    copy_tree(&fixtures().join("locks/v4-multi"), &project);
    std::fs::write(project.join("ATTACK"), "many-entries").unwrap();
    let workdir = tmp.path().join("wd");
    let (p, w) = (project.display().to_string(), workdir.display().to_string());
    let args = [
        "stage-host",
        "--image",
        &image,
        "--network",
        "none",
        "--project-dir",
        &p,
        "--workdir",
        &w,
        "--env",
        "HOSTILE_ENTRIES=20000",
    ];
    let life = 20;
    let started = Instant::now();
    let (code, _) = run_until(
        &bed,
        &args,
        &[("PIXI_AIRGAP_CONTAINER_MAX_LIFE", &life.to_string())],
        KillAt::Line(" in container "),
        "-KILL",
    );
    assert_eq!(code, None, "killed, not finished");
    let ids = containers_for_workdir(&bed, &workdir);
    assert_eq!(ids.len(), 1, "{ids:?}");
    // The image's own timer: frozen.
    let freeze = "for p in /proc/[0-9]*; do [ \"$(cat \"$p/comm\" 2>/dev/null)\" = sleep ] && kill -STOP \"${p#/proc/}\"; done; true";
    let (_, status) = runtime().block_on(exec_in(
        &bed.docker,
        &ids[0],
        &ExecSpec::new(["sh", "-c", freeze]),
    ));
    assert_eq!(status, 0);
    let deadline = started + Duration::from_secs(life + 30);
    while !containers_for_workdir(&bed, &workdir).is_empty() {
        if Instant::now() > deadline {
            // Leave nothing behind, then fail.
            let _ = runtime().block_on(bed.docker.remove_container(&ids[0]));
            panic!("the container outlived its life limit of {life}s");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        started.elapsed() >= Duration::from_secs(life - 2),
        "it went before its limit"
    );
    record_count("kill tests, life limit: 1 container with a frozen timer ended from outside");
}

/// `clean` and runs it cannot see: a live stage-host in another PID namespace (same host name,
/// its pid meaningless here) is kept because its watchdog renews the container's heartbeat, and
/// removed once that run is gone; a container made from an image committed from one of ours
/// carries our labels but is never taken for ours.
#[test]
#[cfg(not(feature = "engine-remote"))]
fn clean_keeps_a_live_run_in_another_pid_namespace_and_ignores_committed_copies() {
    let Some(bed) = testbed() else { return };
    let image = hostile_image();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("multi-env");
    copy_tree(&fixtures().join("locks/v4-multi"), &project);
    // A slow install: the run lasts while clean looks at it.
    std::fs::write(project.join("ATTACK"), "many-entries").unwrap();
    let workdir = tmp.path().join("wd");
    let w = workdir.display().to_string();
    let mut tried = 0;

    tried += 1;
    let mut run = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL"])
        .arg(crate::common::cmd::BIN)
        .args(["stage-host", "--image", &image, "--network", "none"])
        .args(["--project-dir", &project.display().to_string()])
        .args(["--workdir", &w, "--env", "HOSTILE_ENTRIES=400000"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let beating = || {
        let out = Command::new("docker")
            .args(["ps", "--filter"])
            .arg(format!("label=io.pixi-airgap.workdir={w}"))
            .args(["--format", "{{.ID}} {{.Names}}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.contains(" pixi-airgap-hb-"))
            .map(|l| l.split(' ').next().unwrap_or_default().to_string())
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let id = loop {
        if let Some(id) = beating() {
            break id;
        }
        assert!(run.try_wait().unwrap().is_none(), "the run ended early");
        assert!(Instant::now() < deadline, "no heartbeat came");
        std::thread::sleep(Duration::from_millis(200));
    };
    let (code, report) = clean(&["--workdir", &w], &[]);
    assert_eq!(code, Some(0));
    let kept = with_action(&report, "kept");
    assert!(
        kept.iter()
            .any(|l| l["id"].as_str().unwrap_or_default().starts_with(&id)
                && l["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("heartbeat")),
        "the live run's container was not kept: {report:#}"
    );
    assert!(
        with_action(&report, "removed").is_empty(),
        "clean removed what a live run uses: {report:#}"
    );
    assert!(run.try_wait().unwrap().is_none(), "the run was broken");
    // The run is killed (its whole namespace, watchdog included): its container is a leftover.
    tried += 1;
    Command::new("kill")
        .args(["-KILL", &run.id().to_string()])
        .status()
        .unwrap();
    run.wait().unwrap();
    let (code, report) = clean(&["--workdir", &w], &[]);
    assert_eq!(code, Some(0));
    assert_eq!(with_action(&report, "removed").len(), 1, "{report:#}");
    assert!(containers_for_workdir(&bed, &workdir).is_empty());

    // A container of an image committed from one of ours (made by a gone process): same labels,
    // other image. The original goes; the copy's container stays.
    tried += 1;
    let scope = tmp.path().join("scope").display().to_string();
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id().to_string();
    child.wait().unwrap();
    let docker = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let image_id = docker(&["image", "inspect", "-f", "{{.Id}}", &bed.image]);
    let host = pixi_airgap::process::host_name();
    let labels = [
        "io.pixi-airgap.managed=true".to_string(),
        format!("io.pixi-airgap.pid={dead}"),
        format!("io.pixi-airgap.host={host}"),
        format!("io.pixi-airgap.workdir={scope}"),
        format!("io.pixi-airgap.image-id={image_id}"),
    ];
    let mut create = vec!["create".to_string()];
    for label in &labels {
        create.extend(["--label".to_string(), label.clone()]);
    }
    create.extend([bed.image.clone(), "true".to_string()]);
    let create: Vec<&str> = create.iter().map(String::as_str).collect();
    let original = docker(&create);
    let committed = format!("pixi-airgap-test-committed:{}", std::process::id());
    docker(&["commit", &original, &committed]);
    let copy = docker(&[
        "run",
        "-d",
        "--rm",
        "--network",
        "none",
        &committed,
        "sleep",
        "600",
    ]);
    let (code, report) = clean(&["--workdir", &scope], &[]);
    assert_eq!(code, Some(0));
    let removed = with_action(&report, "removed");
    let kept = with_action(&report, "kept");
    let result = (
        removed.iter().any(|l| l["id"] == original.as_str()),
        kept.iter()
            .any(|l| l["id"] == copy.as_str() && l["creator_state"] == "not-ours"),
    );
    let _ = Command::new("docker")
        .args(["rm", "-f", &copy, &original])
        .output();
    let _ = Command::new("docker")
        .args(["rmi", "-f", &committed])
        .output();
    assert_eq!(result, (true, true), "{report:#}");
    record_count(&format!(
        "kill tests, clean across namespaces: {tried} cases (live run in another PID namespace, the same run killed, a committed copy)"
    ));
}
