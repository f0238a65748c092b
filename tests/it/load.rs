//! Many jobs on one engine, as CI runners share one: four `pack` runs of different projects at
//! once, each with its own channel network and workdir as four jobs would have, and `clean` run
//! while they work. Every run must succeed with exactly its own packages (anything shared by
//! accident between runs, a container, a scratch volume, a temp path, would mix them or fail one),
//! `clean` must keep everything the live runs use, and nothing may be left behind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;
use pixi_airgap::docker::LABEL_WORKDIR;

/// The dependencies of the four projects: each gets a different set from the test channel.
const PROJECTS: [(&str, &[&str]); 4] = [
    ("load-hello", &[]),
    ("load-alpha", &["airgap-alpha"]),
    ("load-beta", &["airgap-beta"]),
    ("load-both", &["airgap-alpha", "airgap-beta"]),
];

struct Job {
    name: &'static str,
    extra: &'static [&'static str],
    server: ChannelServer,
    _tmp: tempfile::TempDir,
    project: PathBuf,
    workdir: PathBuf,
}

/// The `single` fixture under another name, with `extra` dependencies, locked on its own channel.
fn job(bed: &Testbed, name: &'static str, extra: &'static [&'static str]) -> Job {
    let server = ChannelServer::start(bed);
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join(name);
    copy_tree(&fixtures().join("single"), &project);
    let manifest = project.join("pixi.toml");
    let mut text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("name = \"single-env\"", &format!("name = \"{name}\""));
    for dep in extra {
        text.push_str(&format!("{dep} = \"*\"\n"));
    }
    std::fs::write(&manifest, text).unwrap();
    write_lock(bed, &server, &project);
    let workdir = tmp.path().join("wd");
    Job {
        name,
        extra,
        server,
        _tmp: tmp,
        project,
        workdir,
    }
}

/// Our containers and scratch volumes, by the workdir they work for.
fn objects_by_workdir(bed: &Testbed) -> BTreeMap<String, BTreeSet<String>> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let containers = runtime()
        .block_on(bed.docker.labelled_containers(LABEL_WORKDIR))
        .unwrap();
    let volumes = runtime()
        .block_on(bed.docker.dangling_labelled_volumes(LABEL_WORKDIR))
        .unwrap();
    for object in containers.into_iter().chain(volumes) {
        if let Some(workdir) = object.labels.get(LABEL_WORKDIR) {
            found.entry(workdir.clone()).or_default().insert(object.id);
        }
    }
    found
}

#[test]
fn four_packs_at_once_and_clean_in_the_middle_all_succeed_and_leave_nothing() {
    let Some(bed) = testbed() else { return };
    let jobs: Vec<Job> = PROJECTS
        .iter()
        .map(|(name, extra)| job(&bed, name, extra))
        .collect();
    let workdirs: BTreeSet<String> = jobs
        .iter()
        .map(|j| j.workdir.display().to_string())
        .collect();
    assert_eq!(workdirs.len(), 4);

    let started = Instant::now();
    let runs: Vec<_> = jobs
        .iter()
        .map(|job| {
            let child = bed
                .pack(&job.server, &job.project, &job.workdir)
                .args([
                    "--json",
                    "--archive",
                    "tar.zst",
                    "--verify-task",
                    "smoke",
                    "--verify-expect",
                    "hello from the air gap",
                ])
                .spawn_piped();
            std::thread::spawn(move || child.wait_with_output().unwrap())
        })
        .collect();

    // Wait until every run has a container working for it.
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        for (workdir, ids) in objects_by_workdir(&bed) {
            if workdirs.contains(&workdir) {
                seen.entry(workdir).or_default().extend(ids);
            }
        }
        if seen.len() == 4 || runs.iter().all(|r| r.is_finished()) {
            break;
        }
        assert!(Instant::now() < deadline, "the runs never all started");
        std::thread::sleep(Duration::from_millis(200));
    }
    let all_live = seen.len() == 4 && !runs.iter().any(|r| r.is_finished());

    // `clean` in the middle: what live runs use is theirs. Over the whole engine as a dry run
    // (other test binaries' kill tests may own leftovers they are about to look for), and for
    // real scoped to each run's workdir.
    let mut ours: Vec<serde_json::Value> = Vec::new();
    let mut scopes: Vec<Vec<&str>> = vec![vec!["--dry-run"]];
    scopes.extend(workdirs.iter().map(|w| vec!["--workdir", w.as_str()]));
    for scope in scopes {
        let clean = TestCommand::new()
            .args(["clean", "--json"])
            .args(&scope)
            .assert_success();
        let report: serde_json::Value = serde_json::from_slice(&clean.stdout).unwrap();
        for leftover in report["leftovers"].as_array().unwrap() {
            if leftover["workdir"]
                .as_str()
                .is_some_and(|w| workdirs.contains(w))
            {
                assert_eq!(leftover["action"], "kept", "{scope:?}: {leftover:#}");
                assert_eq!(
                    leftover["creator_state"], "alive",
                    "{scope:?}: {leftover:#}"
                );
                ours.push(leftover.clone());
            }
        }
    }
    eprintln!(
        "clean kept {} objects of the runs (all four live when it ran: {all_live})",
        ours.len()
    );
    if all_live {
        assert!(
            !ours.is_empty(),
            "clean ran while four runs worked, yet saw none of them"
        );
    }

    // Every run succeeds, with its own packages.
    for (job, run) in jobs.iter().zip(runs) {
        let output = run.join().unwrap();
        assert_success(&output);
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["result"], "success", "{}: {report:#}", job.name);
        assert_eq!(report["project_name"], job.name);
        assert_eq!(report["workdir"], job.workdir.display().to_string());
        let pkgs = Path::new(report["product"]["dir"].as_str().unwrap()).join("pkg-cache/pkgs");
        let packages: Vec<String> = std::fs::read_dir(&pkgs)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(report["product"]["packages"], packages.len());
        let has = |dep: &str| packages.iter().any(|p| p.starts_with(&format!("{dep}-")));
        for dep in ["airgap-hello", "airgap-base"].iter().chain(job.extra) {
            assert!(has(dep), "{}: {dep} missing from {packages:?}", job.name);
        }
        for other in ["airgap-alpha", "airgap-beta"] {
            if !job.extra.contains(&other) {
                assert!(!has(other), "{}: {other} is in {packages:?}", job.name);
            }
        }
        assert!(Path::new(report["archive"]["path"].as_str().unwrap()).is_file());
    }
    eprintln!("four packs at once took {:?}", started.elapsed());

    // Nothing is left behind.
    let left = objects_by_workdir(&bed);
    for workdir in &workdirs {
        assert!(
            !left.contains_key(workdir),
            "left for {workdir}: {:?}",
            left[workdir]
        );
    }
}
