//! End-to-end tests of warm re-staging: `pack --force` on the same workdir reuses its cache
//! (a package deleted from the channel still installs: only the cache can hold it), leaves out
//! what the lock dropped (the product and its `SHA256SUMS` lack it, and the offline proof still
//! passes), downloads only what the lock adds; `--cache-from` seeds a new workdir from a product
//! (stage-host) or a workdir (stage-container); a bad `--cache-from` is refused before any
//! container.

use std::path::{Path, PathBuf};

use crate::common::*;

const MANIFEST_HEAD: &str = r#"[project]
name = "restage"
version = "0.1.0"
channels = ["http://airgap-channel:8080/testchannel"]
platforms = ["linux-64"]

[tasks]
smoke = "hello-airgap"

[dependencies]
airgap-hello = ">=1.0"
"#;

/// The project's three states, each locked against the channel while it still holds every
/// package: `(pixi.toml, pixi.lock)`.
fn locked_states(bed: &Testbed, server: &ChannelServer, project: &Path) -> Vec<(String, Vec<u8>)> {
    let mut states = Vec::new();
    for extra in ["airgap-alpha = \"*\"\n", "", "airgap-beta = \"*\"\n"] {
        let manifest = format!("{MANIFEST_HEAD}{extra}");
        std::fs::write(project.join("pixi.toml"), &manifest).unwrap();
        write_lock(bed, server, project);
        states.push((manifest, std::fs::read(project.join("pixi.lock")).unwrap()));
    }
    states
}

fn use_state(project: &Path, state: &(String, Vec<u8>)) {
    std::fs::write(project.join("pixi.toml"), &state.0).unwrap();
    std::fs::write(project.join("pixi.lock"), &state.1).unwrap();
}

/// `pack --force --json` of `project` into `wd`: its report and stderr.
fn pack_json(
    bed: &Testbed,
    server: &ChannelServer,
    project: &Path,
    wd: &Path,
) -> (serde_json::Value, String) {
    let output = bed
        .pack(server, project, wd)
        .args(["--force", "--json", "--verify-task", "smoke"])
        .output();
    assert_success(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("--json");
    assert_eq!(report["result"], "success", "{report}");
    assert_eq!(report["proof"]["result"], "success");
    assert_eq!(report["proof"]["network_mode"], "none");
    (report, stderr(&output))
}

/// The package folders of a cache (`pkgs/`), sorted.
fn packages(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache.join("pkgs"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn cache_counts(report: &serde_json::Value) -> (bool, u64, u64, u64) {
    let cache = &report["cache"];
    (
        cache["warm"].as_bool().unwrap(),
        cache["conda_reused"].as_u64().unwrap(),
        cache["conda_downloaded"].as_u64().unwrap(),
        cache["conda_dropped"].as_u64().unwrap(),
    )
}

#[test]
fn repacking_reuses_the_cache_and_carries_exactly_the_locks_packages() {
    let Some(bed) = testbed() else {
        return;
    };
    let server = ChannelServer::start(&bed);
    let tmp = tempfile::tempdir().unwrap();
    let _leftovers = LeftoverGuard::new(tmp.path());
    let project = tmp.path().join("restage");
    std::fs::create_dir_all(&project).unwrap();
    let states = locked_states(&bed, &server, &project);
    let wd = tmp.path().join("wd");

    // Cold: hello, base and alpha are downloaded.
    use_state(&project, &states[0]);
    let (cold, _) = pack_json(&bed, &server, &project, &wd);
    assert_eq!(
        cache_counts(&cold["stage"]),
        (false, 0, 3, 0),
        "{}",
        cold["stage"]["cache"]
    );
    assert!(packages(&wd.join("product/pkg-cache"))
        .iter()
        .any(|p| p.starts_with("airgap-alpha-")));

    // The lock drops alpha; hello leaves the channel, so only the cache can provide it.
    use_state(&project, &states[1]);
    server.remove_package("airgap-hello-1.0.0-0.tar.bz2");
    let (warm, err) = pack_json(&bed, &server, &project, &wd);
    assert_eq!(
        cache_counts(&warm["stage"]),
        (true, 2, 0, 1),
        "{}",
        warm["stage"]["cache"]
    );
    assert_eq!(warm["stage"]["cache"]["origin"], "workdir");
    assert_eq!(warm["product"]["packages"], 2);
    let kept = ["airgap-base-1.0.0-0", "airgap-hello-1.0.0-0"];
    assert_eq!(packages(&wd.join("product/pkg-cache")), kept);
    assert_eq!(packages(&wd.join("pixi-cache")), kept);
    let sums = std::fs::read_to_string(wd.join("product/SHA256SUMS")).unwrap();
    assert!(!sums.contains("airgap-alpha"), "{sums}");
    assert!(
        sums.contains("pkg-cache/pkgs/airgap-hello-1.0.0-0/"),
        "{sums}"
    );
    assert!(
        err.contains("cache           warm: 2 conda package(s) reused, 0 downloaded, 1 dropped"),
        "{err}"
    );

    // The lock adds beta: only beta is downloaded.
    use_state(&project, &states[2]);
    let (added, _) = pack_json(&bed, &server, &project, &wd);
    assert_eq!(
        cache_counts(&added["stage"]),
        (true, 2, 1, 0),
        "{}",
        added["stage"]["cache"]
    );
    assert_eq!(added["product"]["packages"], 3);

    // A new workdir seeded from that product (a CI cache), with beta gone from the channel too.
    server.remove_package("airgap-beta-0.2.0-0.tar.bz2");
    let seeded = tmp.path().join("seeded");
    let output = bed
        .stage_host(Some(&server), &project, &seeded)
        .path_arg("--cache-from", &wd.join("product"))
        .arg("--json")
        .output();
    assert_success(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        cache_counts(&report),
        (true, 3, 0, 0),
        "{}",
        report["cache"]
    );
    assert_eq!(report["cache"]["origin"], "cache-from-product");
    let from = std::fs::canonicalize(wd.join("product/pkg-cache")).unwrap();
    assert_eq!(report["cache"]["from"], from.display().to_string());

    // stage-container, seeded from a workdir: the user's container never had the packages.
    let container = user_container(&bed, &server, &project);
    let in_container = tmp.path().join("in-container");
    let output = TestCommand::new()
        .args(["stage-container", "--container-id", container.id()])
        .args(["--project-path-in-container", "/home/dev/restage", "--json"])
        .path_arg("--workdir", &in_container)
        .path_arg("--cache-from", &seeded)
        .output();
    assert_success(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        cache_counts(&report),
        (true, 3, 0, 0),
        "{}",
        report["cache"]
    );
    assert_eq!(report["cache"]["origin"], "cache-from-workdir");
    runtime().block_on(container.remove()).unwrap();
    assert!(containers_for_workdir(&bed, &wd).is_empty());
}

/// A cache from elsewhere that is neither shape, or holds a link out of it, is refused with exit
/// 2 before any engine is asked anything; what a seed may not carry (modes, stray files) is
/// covered by the unit tests of `stage::seed` and the normalising tar writer.
#[test]
fn a_bad_cache_from_is_refused_before_any_container() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    copy_tree(&fixtures().join("single"), &project);
    std::fs::write(
        project.join("pixi.lock"),
        "version: 4\nenvironments: {}\npackages: []\n",
    )
    .unwrap();
    let escaping = tmp.path().join("escaping");
    std::fs::create_dir_all(escaping.join("pixi-cache/pkgs/a-1-0")).unwrap();
    std::os::unix::fs::symlink(
        "../../../../etc",
        escaping.join("pixi-cache/pkgs/a-1-0/etc"),
    )
    .unwrap();
    let linked = tmp.path().join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink(escaping.join("pixi-cache"), linked.join("pkg-cache")).unwrap();
    let cases: [(PathBuf, &str); 4] = [
        (
            tmp.path().join("missing"),
            "for '--cache-from <DIR>': no such folder",
        ),
        (project.clone(), "holds neither pixi-cache/ nor pkg-cache/"),
        (
            escaping,
            "a link that leaves it: `pkgs/a-1-0/etc` -> `../../../../etc`",
        ),
        (linked, "is not a folder (a link?)"),
    ];
    for (dir, says) in cases {
        for command in ["stage-host", "pack"] {
            let output = TestCommand::new()
                .without_docker()
                .args([command, "--image", "never-used"])
                .path_arg("--project-dir", &project)
                .path_arg("--workdir", &tmp.path().join("wd"))
                .path_arg("--cache-from", &dir)
                .output();
            assert_exit(&output, 2, says);
            let err = stderr(&output);
            assert!(
                !err.to_lowercase().contains("docker"),
                "refused before the engine: {err}"
            );
        }
    }
    assert!(!tmp.path().join("wd").exists(), "nothing written");
}

/// PyPI on pixi 0.77: uv's cache is reused when the new lock keeps every PyPI package of the
/// last one, and left out (downloaded again) when the lock dropped one, so nothing of the dropped
/// package rides along in `pkg-cache/uv-cache`.
#[test]
#[cfg(feature = "pixi-modern")]
fn uv_cache_is_reused_only_when_the_lock_keeps_its_pypi_packages() {
    let Some(bed) = testbed() else {
        return;
    };
    require_python_bed();
    let server = ChannelServer::start(&bed);
    let (tmp, project) = locked_fixture(&bed, &server, "pypi");
    let _leftovers = LeftoverGuard::new(tmp.path());
    let wd = tmp.path().join("wd");
    let pack = |verify: &[&str]| {
        let output = bed
            .pack(&server, &project, &wd)
            .args(["--force", "--json"])
            .args(verify)
            .output();
        assert_success(&output);
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["proof"]["result"], "success", "{report}");
        report
    };
    let imports = [
        "--verify-task",
        "imports",
        "--verify-expect",
        "pypi ok 2.9.0.post0",
    ];
    let cold = pack(&imports);
    assert_eq!(cold["stage"]["cache"]["warm"], false);
    let six = |root: &Path| {
        walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .to_lowercase()
                    .starts_with("six-1.16.0")
            })
            .count()
    };
    assert!(six(&wd.join("product/pkg-cache/uv-cache")) > 0);

    // The same lock again: everything reused, uv's cache too, and the proof still passes.
    let warm = pack(&imports);
    let cache = &warm["stage"]["cache"];
    assert_eq!(cache["warm"], true, "{cache}");
    assert_eq!(cache["uv_cache_seeded"], true, "{cache}");
    assert_eq!(cache["conda_downloaded"], 0, "{cache}");

    // The lock drops python-dateutil (and six with it): uv's cache is not seeded.
    let manifest = std::fs::read_to_string(project.join("pixi.toml")).unwrap();
    let manifest = manifest.replace("python-dateutil = \"==2.9.0.post0\"\n", "");
    std::fs::write(project.join("pixi.toml"), manifest).unwrap();
    write_lock(&bed, &server, &project);
    let lock = std::fs::read_to_string(project.join("pixi.lock")).unwrap();
    assert!(!lock.contains("six-1.16.0"), "{lock}");
    let dropped = pack(&["--verify-run", "--", "python", "-c", "print('no pypi')"]);
    let cache = &dropped["stage"]["cache"];
    assert_eq!(cache["warm"], true, "{cache}");
    assert_eq!(cache["uv_cache_seeded"], false, "{cache}");
    assert_eq!(six(&wd.join("product/pkg-cache/uv-cache")), 0);
    let sums = std::fs::read_to_string(wd.join("product/SHA256SUMS")).unwrap();
    assert!(!sums.to_lowercase().contains("six-1.16.0"), "{sums}");
}
