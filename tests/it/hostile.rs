//! Adversarial images: the test bed's `pixi-airgap-testbed:hostile` has a "pixi" that, instead of
//! installing, plants an attack in the container workdir (tests/fixtures/hostile/pixi; the attack is
//! named by the file `ATTACK` in the staged project). Every run must end with a clear refusal
//! (exit 2) or a sanitized result, and nothing outside the workdir may change: a sentinel tree
//! beside the workdir (a home-like folder with `.ssh`) and the project itself are hashed before
//! and after.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::*;

fn hostile_image() -> String {
    std::env::var("PIXI_AIRGAP_TESTBED_HOSTILE_IMAGE")
        .expect("PIXI_AIRGAP_TESTBED_HOSTILE_IMAGE (scripts/testbed.sh exports it)")
}

struct Attack {
    tmp: tempfile::TempDir,
    project: PathBuf,
    workdir: PathBuf,
}

impl Attack {
    fn new(attack: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("multi-env");
        copy_tree(&fixtures().join("locks/v4-multi"), &project);
        std::fs::write(project.join("ATTACK"), attack).unwrap();
        // A home-like sentinel beside the workdir: what an escape would reach first.
        let home = tmp.path().join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::write(home.join(".ssh/id_ed25519"), "sentinel key\n").unwrap();
        std::fs::write(home.join("notes.txt"), "sentinel\n").unwrap();
        let workdir = tmp.path().join("wd");
        Self {
            tmp,
            project,
            workdir,
        }
    }

    fn outside(&self) -> BTreeMap<PathBuf, String> {
        let mut all = tree_snapshot(self.tmp.path());
        all.retain(|p, _| !p.starts_with("wd"));
        all
    }

    fn stage(&self, bed: &Testbed, env: &[(&str, &str)], extra: &[&str]) -> std::process::Output {
        let hostile = Testbed {
            image: hostile_image(),
            ..bed.clone()
        };
        let mut cmd = hostile.stage_host(None, &self.project, &self.workdir);
        cmd.args(["--network", "none"]).args(extra);
        for (key, value) in env {
            cmd.env(key, value);
        }
        let output = cmd.output();
        assert!(
            containers_for_workdir(bed, &self.workdir).is_empty(),
            "container left behind"
        );
        output
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn hostile_containers_are_refused_or_sanitized_and_nothing_outside_changes() {
    let Some(bed) = testbed() else { return };
    let mut tried = 0;
    // Attacks that must be refused with exit 2, naming what was refused.
    for (attack, env, expect) in [
        ("project-link", vec![], "leaves the extracted tree"),
        ("cache-link", vec![], "leaves the extracted tree"),
        ("resources-link", vec![], "leaves the extracted tree"),
        ("deep-relative-link", vec![], "leaves the extracted tree"),
        ("absolute-link", vec![], "leaves the extracted tree"),
        // Safety round 2, item 3: a chain that dangles while extracting.
        ("dangling-chain", vec![], "outside the extracted tree"),
        // Safety round 2, item 4: left-out special files count toward the entry limit.
        (
            "many-fifos",
            vec![("PIXI_AIRGAP_MAX_EXTRACT_ENTRIES", "200")],
            "passes the extraction limit",
        ),
        (
            "sparse-huge",
            vec![("PIXI_AIRGAP_MAX_EXTRACT_BYTES", "67108864")],
            "passes the extraction limit",
        ),
    ] {
        tried += 1;
        let a = Attack::new(attack);
        let before = a.outside();
        let mut extra = vec![];
        if attack == "sparse-huge" {
            extra = vec!["--env", "HOSTILE_SPARSE_SIZE=256M"];
        }
        let output = a.stage(&bed, &env, &extra);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{attack}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(expect),
            "{attack}: {}",
            stderr(&output)
        );
        assert_eq!(
            a.outside(),
            before,
            "{attack}: something outside the workdir changed"
        );
        assert!(
            !a.workdir.join("pixi-cache").is_symlink()
                && !a.workdir.join("project/multi-env").is_symlink(),
            "{attack}"
        );
    }
    // Attacks that end in a sanitized workdir and product.
    for attack in [
        "in-tree-link",
        "setuid",
        "readonly-dir",
        "hardlink-out",
        "fifo",
        "none",
    ] {
        tried += 1;
        let a = Attack::new(attack);
        let before = a.outside();
        // The default container workdir is a volume of its own, so no hard link can reach out
        // of it; staged in the container's own file system, one can.
        let extra: &[&str] = if attack == "hardlink-out" {
            &["--container-workdir-path", "/hostile-workdir"]
        } else {
            &[]
        };
        let output = a.stage(&bed, &[], extra);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{attack}: {}",
            stderr(&output)
        );
        let pkg = a.workdir.join("pixi-cache/pkgs/evil-1.0-0");
        assert_eq!(
            std::fs::read_to_string(pkg.join("bin/tool")).unwrap(),
            "a file the sanitizer must keep\n"
        );
        match attack {
            "in-tree-link" => {
                assert_eq!(
                    std::fs::read_link(pkg.join("bin/tool-alias")).unwrap(),
                    Path::new("tool")
                );
            }
            "setuid" => {
                assert_eq!(mode(&pkg.join("bin/suid-root")), 0o755);
                assert_eq!(mode(&pkg.join("bin/sgid")), 0o755);
                assert_eq!(mode(&pkg.join("tmpdir")), 0o755);
                assert_eq!(mode(&pkg.join("world-writable")), 0o644);
                assert!(
                    stderr(&output).contains("dropped setuid/setgid/sticky or world-write bits")
                );
            }
            "readonly-dir" => {
                assert_eq!(
                    std::fs::read_to_string(pkg.join("ro/sub/child")).unwrap(),
                    "child\n"
                );
            }
            "hardlink-out" => {
                // The engine sends a hard link to a file outside the folder as a plain copy, and
                // one inside as a link to what the archive already wrote.
                let out = pkg.join("hardlinked-out");
                assert!(std::fs::symlink_metadata(&out).unwrap().is_file());
                assert_eq!(
                    std::fs::read_to_string(out).unwrap(),
                    "outside the workdir\n"
                );
                assert_eq!(
                    std::fs::read_to_string(pkg.join("tool-hard")).unwrap(),
                    "a file the sanitizer must keep\n"
                );
            }
            "fifo" => {
                assert!(!pkg.join("pipe").exists());
                assert!(
                    stderr(&output).contains("special file"),
                    "{}",
                    stderr(&output)
                );
            }
            _ => {}
        }
        assert_eq!(
            a.outside(),
            before,
            "{attack}: something outside the workdir changed"
        );
        // The product carries no setuid, setgid, sticky or world-writable mode either.
        let product = a.tmp.path().join("product");
        let output = make_product(&a.workdir, "multi-env", Some(&product));
        assert_eq!(
            output.status.code(),
            Some(0),
            "{attack}: {}",
            stderr(&output)
        );
        for entry in walkdir::WalkDir::new(&product).follow_links(false) {
            let entry = entry.unwrap();
            if entry.file_type().is_symlink() {
                continue;
            }
            let m = mode(entry.path());
            assert_eq!(
                m & 0o7002,
                0,
                "{attack}: {} has mode {m:o}",
                entry.path().display()
            );
        }
    }
    record_count(&format!("hostile images: {tried} attacks tried"));
}

/// Read-only folders from a container must not stop their own children from being written when
/// pixi-airgap does not run as root (root ignores folder modes, so this test runs the extraction
/// again as `nobody` through `setpriv` when it starts as root).
#[test]
fn read_only_folders_do_not_block_their_children_for_a_non_root_user() {
    use pixi_airgap::tar::extract::{extract_reader, ExtractLimits};
    if pixi_airgap::fsutil::running_as_root() {
        let exe = std::env::current_exe().unwrap();
        let output = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe)
            .args([
                "hostile::read_only_folders_do_not_block_their_children_for_a_non_root_user",
                "--exact",
                "--nocapture",
            ])
            .env("TMPDIR", "/tmp")
            .output()
            .expect("setpriv (util-linux) runs the test as nobody");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "as nobody:\n{text}");
        assert!(
            text.contains("1 passed") && text.contains("extracted as uid"),
            "the test did not run as nobody:\n{text}"
        );
        return;
    }
    // A tar as an engine sends it: folders 0555 listed before their children, a 0444 file.
    let mut builder = tar::Builder::new(Vec::new());
    for (path, kind, mode) in [
        ("wd/", tar::EntryType::Directory, 0o755),
        ("wd/ro/", tar::EntryType::Directory, 0o555),
        ("wd/ro/sub/", tar::EntryType::Directory, 0o555),
        ("wd/ro/sub/child", tar::EntryType::Regular, 0o444),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        let data: &[u8] = if kind == tar::EntryType::Regular {
            b"child\n"
        } else {
            b""
        };
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append_data(&mut header, path, data).unwrap();
    }
    let data = builder.into_inner().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("in");
    std::fs::create_dir(&dest).unwrap();
    let stats = extract_reader(
        data.as_slice(),
        &dest,
        Some(Path::new("wd")),
        None,
        ExtractLimits::default(),
        |_| false,
    )
    .unwrap();
    assert_eq!(stats.entries, 3, "{stats:?}");
    assert_eq!(
        std::fs::read_to_string(dest.join("ro/sub/child")).unwrap(),
        "child\n"
    );
    assert_eq!(mode(&dest.join("ro")), 0o755);
    // And the tree can be removed again (a later --force must not fail on it).
    pixi_airgap::fsutil::remove_tree(&dest).unwrap();
    use std::os::unix::fs::MetadataExt;
    eprintln!(
        "extracted as uid {}",
        std::fs::metadata(tmp.path()).unwrap().uid()
    );
}

/// Provenance: the project that comes back from the build container must be the project that
/// went in, plus only what pixi creates. A verification (or an image, or its pixi) that plants a
/// file in the project, changes the lock or removes a file is refused (exit 2) naming the file,
/// and the workdir gets nothing of it; a lock changed in the workdir afterwards stops make-product
/// (the SBOM is made from the lock that was staged).
#[test]
fn the_project_that_comes_back_is_the_project_that_went_in() {
    let Some(Locked {
        bed,
        server,
        tmp,
        project,
        leftovers: _leftovers,
    }) = Locked::fixture("single")
    else {
        return;
    };
    let mut tried = 0;
    for (n, (script, named)) in [
        (
            "echo evil >planted.sh",
            "planted.sh` was added in the container",
        ),
        (
            "echo '# changed' >>pixi.lock",
            "pixi.lock` came back changed",
        ),
        (
            "rm pixi.toml",
            "pixi.toml` went into the container and did not come back",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        tried += 1;
        let workdir = tmp.path().join(format!("wd-{n}"));
        let before = tree_snapshot(&project);
        bed.stage_host(Some(&server), &project, &workdir)
            .args(["--verify-run", "--", "sh", "-c", script])
            .assert_exit(2, named);
        assert!(
            !workdir.join("project").exists(),
            "{script}: the tampered project reached the workdir"
        );
        assert_eq!(
            tree_snapshot(&project),
            before,
            "{script}: the project changed"
        );
    }
    // What pixi itself creates (.pixi/) is fine: a plain staging passes.
    let workdir = tmp.path().join("wd-ok");
    bed.stage_host(Some(&server), &project, &workdir)
        .args(["--verify-task", "smoke"])
        .assert_success();
    tried += 1;
    let lock = workdir.join("project/single-env/pixi.lock");
    let mut text = std::fs::read_to_string(&lock).unwrap();
    text.push_str("# changed after staging\n");
    std::fs::write(&lock, text).unwrap();
    make_product_cmd(&workdir, "single-env").assert_exit(2, "is not the lock that was staged");
    assert!(!workdir.join("product").exists());
    record_count(&format!(
        "hostile tests, provenance: {tried} tampered projects refused"
    ));
}
