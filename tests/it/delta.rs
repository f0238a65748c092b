//! Delta products: project v1 then v2 (a package added, one removed, a project file changed, a
//! link retargeted) and v3. The delta holds exactly what changed; `apply-delta.sh`, run by real
//! shells (the system `sh`, and busybox alone), turns a bootstrapped v1 into v2 file for file,
//! refuses a wrong base (exit 2, nothing changed), survives SIGKILL at four points (a rerun
//! finishes), and applies v1 -> v2 -> v3 in order only.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;
use pixi_airgap::product::delta::{load_base, write, DeltaManifest, DeltaOptions};

const PROJECT: &str = "demo";

/// (path, content, executable) of a product version, and its links and empty folders.
struct Version {
    files: Vec<(&'static str, String, bool)>,
    links: Vec<(&'static str, &'static str)>,
    empty_dirs: Vec<&'static str>,
}

fn envs_sh() -> String {
    "export PIXI_CACHE_DIR=x\n_pixi_airgap_recorded=''\necho envs\n".to_string()
}

fn v1() -> Version {
    Version {
        files: vec![
            (
                "demo/pixi.toml",
                "[project]\nname = \"demo\"\n".into(),
                false,
            ),
            (
                "demo/pixi.lock",
                "version: 4\npackages: [a, b]\n".into(),
                false,
            ),
            ("demo/.pixi/config.toml", "[mirrors]\n".into(), false),
            ("demo/src/app.py", "print('v1')\n".into(), false),
            ("envs.sh", envs_sh(), false),
            (
                "bootstrap-project.sh",
                "#!/bin/sh\necho boot\n".into(),
                true,
            ),
            (
                "pkg-cache/pkgs/a-1.0-0/info/index.json",
                "{\"name\":\"a\"}\n".into(),
                false,
            ),
            (
                "pkg-cache/pkgs/a-1.0-0/bin/a",
                "#!/bin/sh\necho a\n".into(),
                true,
            ),
            (
                "pkg-cache/pkgs/a-1.0-0/lib/liba.so.1",
                "ELF one\n".into(),
                false,
            ),
            (
                "pkg-cache/pkgs/a-1.0-0/lib/liba.so.2",
                "ELF two\n".into(),
                false,
            ),
            (
                "pkg-cache/pkgs/b-1.0-0/info/index.json",
                "{\"name\":\"b\"}\n".into(),
                false,
            ),
            (
                "pkg-cache/pkgs/b-1.0-0/bin/b",
                "#!/bin/sh\necho b\n".into(),
                true,
            ),
            ("pkg-cache/pkgs/a-1.0-0.conda", "a".repeat(50_000), false),
            ("pkg-cache/pkgs/b-1.0-0.conda", "b".repeat(40_000), false),
        ],
        links: vec![("pkg-cache/pkgs/a-1.0-0/lib/liba.so", "liba.so.1")],
        empty_dirs: vec!["pkg-cache/pkgs/b-1.0-0/share"],
    }
}

/// v1 with package c added, b removed, app.py changed and liba.so pointing at liba.so.2.
fn v2() -> Version {
    let mut v = v1();
    v.files.retain(|(p, _, _)| !p.contains("b-1.0-0"));
    v.empty_dirs.clear();
    for (path, content, _) in &mut v.files {
        if *path == "demo/src/app.py" {
            *content = "print('v2')\n".into();
        }
        if *path == "demo/pixi.lock" {
            *content = "version: 4\npackages: [a, c]\n".into();
        }
    }
    v.files.extend([
        (
            "pkg-cache/pkgs/c-2.0-0/info/index.json",
            "{\"name\":\"c\"}\n".into(),
            false,
        ),
        (
            "pkg-cache/pkgs/c-2.0-0/bin/c",
            "#!/bin/sh\necho c\n".into(),
            true,
        ),
        ("pkg-cache/pkgs/c-2.0-0.conda", "c".repeat(30_000), false),
    ]);
    v.links = vec![("pkg-cache/pkgs/a-1.0-0/lib/liba.so", "liba.so.2")];
    v
}

/// v2 with one more project file and app.py changed again.
fn v3() -> Version {
    let mut v = v2();
    for (path, content, _) in &mut v.files {
        if *path == "demo/src/app.py" {
            *content = "print('v3')\n".into();
        }
    }
    v.files.push(("demo/src/util.py", "X = 3\n".into(), false));
    v
}

/// Writes a version's product, with a `pixi-airgap.json` listing its files and links (the
/// manifest's `files` records).
fn make(root: &Path, version: &Version) {
    std::fs::create_dir_all(root).unwrap();
    let mut records = Vec::new();
    for (path, content, exec) in &version.files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, content).unwrap();
        let mode = if *exec { 0o755 } else { 0o644 };
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode)).unwrap();
        records.push(serde_json::json!({
            "path": path, "sha256": sha256_file(&full), "size": content.len(), "executable": exec
        }));
    }
    for (path, target) in &version.links {
        std::os::unix::fs::symlink(target, root.join(path)).unwrap();
        records.push(serde_json::json!({"path": path, "symlink": target}));
    }
    for dir in &version.empty_dirs {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let manifest =
        serde_json::json!({"format_version": 1, "project_name": PROJECT, "files": records});
    std::fs::write(
        root.join("pixi-airgap.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    // Folders as a umask would not change them.
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.unwrap();
        if entry.file_type().is_dir() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

fn delta(base: &Path, target: &Path, out: &Path) -> DeltaManifest {
    let state = load_base(base, PROJECT).unwrap();
    write(
        &state,
        &DeltaOptions {
            target: target.to_path_buf(),
            output: out.to_path_buf(),
            project_name: PROJECT.to_string(),
        },
    )
    .unwrap()
}

/// Every file under `dir/files`, relative.
fn carried(dir: &Path) -> Vec<String> {
    let root = dir.join("files");
    let mut out: Vec<String> = walkdir::WalkDir::new(&root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            e.path()
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    out.sort();
    out
}

/// The receiver's use of a product: bootstrapped, so envs.sh records its folder and the project
/// has environments.
fn bootstrap(product: &Path) {
    let envs = product.join("envs.sh");
    let text = std::fs::read_to_string(&envs).unwrap().replace(
        "_pixi_airgap_recorded=''",
        &format!("_pixi_airgap_recorded='{}'", product.display()),
    );
    std::fs::write(&envs, text).unwrap();
    let env = product.join("demo/.pixi/envs/default/bin");
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(env.join("python"), "installed").unwrap();
}

fn apply(delta: &Path, product: &Path, shell: &[&str], path_env: Option<&Path>) -> Output {
    let mut cmd = Command::new(shell[0]);
    cmd.args(&shell[1..])
        .arg(delta.join("apply-delta.sh"))
        .arg(product);
    if let Some(path) = path_env {
        cmd.env_clear().env("PATH", path);
    }
    let output = cmd.output().unwrap();
    eprintln!(
        "apply-delta.sh: {:?}\n{}",
        output.status.code(),
        stderr(&output)
    );
    output
}

/// The product as a picture without the receiver's runtime state (its environments).
fn picture(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut snap = tree_snapshot(root);
    snap.retain(|p, _| !p.starts_with("demo/.pixi/envs"));
    snap.remove(Path::new("envs.sh"));
    snap
}

fn as_made_envs(root: &Path) -> String {
    std::fs::read_to_string(root.join("envs.sh"))
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("_pixi_airgap_recorded=") {
                "_pixi_airgap_recorded=''".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

struct Bed {
    tmp: tempfile::TempDir,
    v1: PathBuf,
    v2: PathBuf,
    v3: PathBuf,
}

fn bed() -> Bed {
    let tmp = tempfile::tempdir().unwrap();
    let (p1, p2, p3) = (
        tmp.path().join("build/v1/product"),
        tmp.path().join("build/v2/product"),
        tmp.path().join("build/v3/product"),
    );
    make(&p1, &v1());
    make(&p2, &v2());
    make(&p3, &v3());
    Bed {
        tmp,
        v1: p1,
        v2: p2,
        v3: p3,
    }
}

/// A receiver's copy of v1, bootstrapped.
fn installed(bed: &Bed, name: &str) -> PathBuf {
    let product = bed.tmp.path().join(name).join("product");
    copy_tree(&bed.v1, &product);
    for (path, _, exec) in v1().files {
        if exec {
            std::fs::set_permissions(product.join(path), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
    }
    std::fs::create_dir_all(product.join("pkg-cache/pkgs/b-1.0-0/share")).unwrap();
    bootstrap(&product);
    product
}

#[test]
fn delta_holds_exactly_what_changed_and_applies_to_give_v2() {
    let bed = bed();
    let out = bed.tmp.path().join("delta");
    let manifest = delta(&bed.v1, &bed.v2, &out);
    assert_eq!(
        carried(&out),
        [
            "demo/pixi.lock",
            "demo/src/app.py",
            "envs.sh",
            "pixi-airgap.json",
            "pkg-cache/pkgs/c-2.0-0.conda",
            "pkg-cache/pkgs/c-2.0-0/bin/c",
            "pkg-cache/pkgs/c-2.0-0/info/index.json",
        ]
    );
    assert_eq!(
        manifest.added,
        [
            "pkg-cache/pkgs/c-2.0-0.conda",
            "pkg-cache/pkgs/c-2.0-0/bin/c",
            "pkg-cache/pkgs/c-2.0-0/info/index.json"
        ]
    );
    assert_eq!(
        manifest.changed,
        ["demo/pixi.lock", "demo/src/app.py", "pixi-airgap.json"]
    );
    assert_eq!(
        manifest.removed,
        [
            "pkg-cache/pkgs/b-1.0-0",
            "pkg-cache/pkgs/b-1.0-0.conda",
            "pkg-cache/pkgs/b-1.0-0/bin",
            "pkg-cache/pkgs/b-1.0-0/bin/b",
            "pkg-cache/pkgs/b-1.0-0/info",
            "pkg-cache/pkgs/b-1.0-0/info/index.json",
            "pkg-cache/pkgs/b-1.0-0/share",
        ]
    );
    let links: Vec<(String, String)> = manifest
        .links
        .iter()
        .map(|l| (l.path.clone(), l.target.clone()))
        .collect();
    assert_eq!(
        links,
        [(
            "pkg-cache/pkgs/a-1.0-0/lib/liba.so".to_string(),
            "liba.so.2".to_string()
        )]
    );
    assert_eq!(
        manifest.dirs_added,
        [
            "pkg-cache/pkgs/c-2.0-0",
            "pkg-cache/pkgs/c-2.0-0/bin",
            "pkg-cache/pkgs/c-2.0-0/info"
        ]
    );
    assert!(manifest.sizes.carried_bytes * 2 < manifest.sizes.target_bytes);
    // delta.json on disk is what was returned, with its version.
    let json = read_json(&out.join("delta.json"));
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["target_sha256sums"], manifest.target_sha256sums);
    assert_eq!(
        manifest.target_sha256sums,
        sha256_file(&out.join("SHA256SUMS"))
    );
    assert_eq!(
        manifest.base_sha256sums,
        sha256_file(&out.join("base/SHA256SUMS"))
    );
    // The lists' formats: sorted `<hex>  <path>`, `dir<TAB>path` / `link<TAB>path<TAB>target`.
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    let paths: Vec<&str> = sums.lines().map(|l| &l[66..]).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert!(sums.contains(&format!(
        "{}  demo/src/app.py\n",
        sha256_file(&bed.v2.join("demo/src/app.py"))
    )));
    let tree = std::fs::read_to_string(out.join("product-tree.txt")).unwrap();
    assert!(tree.contains("link\tpkg-cache/pkgs/a-1.0-0/lib/liba.so\tliba.so.2\n"));
    assert!(tree.contains("dir\tpkg-cache/pkgs/c-2.0-0/bin\n"));

    // Applied to a bootstrapped v1: v2 file for file, and the receiver is told to bootstrap.
    let product = installed(&bed, "rx");
    let output = apply(&out, &product, &["sh"], None);
    assert_eq!(output.status.code(), Some(0));
    assert!(stderr(&output).contains("bootstrap-project.sh"));
    assert_eq!(tree_snapshot(&product), tree_snapshot(&bed.v2));
    let siblings: Vec<String> = std::fs::read_dir(product.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(siblings, ["product"], "leftovers beside the product");
    // Run again: already applied.
    let output = apply(&out, &product, &["sh"], None);
    assert_eq!(output.status.code(), Some(0));
    assert!(stderr(&output).contains("already"));
    assert_eq!(tree_snapshot(&product), tree_snapshot(&bed.v2));
}

#[test]
fn delta_from_lists_or_manifest_equals_delta_from_the_folder() {
    let bed = bed();
    let from_dir = bed.tmp.path().join("d-dir");
    let m_dir = delta(&bed.v1, &bed.v2, &from_dir);
    // The old product's own lists, as a receiver could send them back.
    let lists = bed.tmp.path().join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    std::fs::copy(from_dir.join("base/SHA256SUMS"), lists.join("SHA256SUMS")).unwrap();
    std::fs::copy(
        from_dir.join("base/product-tree.txt"),
        lists.join("product-tree.txt"),
    )
    .unwrap();
    let from_sums = bed.tmp.path().join("d-sums");
    let m_sums = delta(&lists.join("SHA256SUMS"), &bed.v2, &from_sums);
    assert_eq!(carried(&from_sums), carried(&from_dir));
    assert_eq!(m_sums.base_sha256sums, m_dir.base_sha256sums);
    assert_eq!(m_sums.removed, m_dir.removed);
    // Just the manifest: its empty folders are unknown, the rest is the same.
    let manifest_only = bed.tmp.path().join("m/pixi-airgap.json");
    std::fs::create_dir_all(manifest_only.parent().unwrap()).unwrap();
    std::fs::copy(bed.v1.join("pixi-airgap.json"), &manifest_only).unwrap();
    let from_manifest = bed.tmp.path().join("d-manifest");
    let m_man = delta(&manifest_only, &bed.v2, &from_manifest);
    assert_eq!(carried(&from_manifest), carried(&from_dir));
    assert!(!m_man.base_dirs_exact);
    let product = installed(&bed, "rx-manifest");
    let output = apply(&from_manifest, &product, &["sh"], None);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(tree_snapshot(&product), tree_snapshot(&bed.v2));
    // A SHA256SUMS without its product-tree.txt is refused.
    std::fs::remove_file(lists.join("product-tree.txt")).unwrap();
    let err = load_base(&lists.join("SHA256SUMS"), PROJECT).unwrap_err();
    assert!(format!("{err:#}").contains("product-tree.txt"), "{err:#}");
}

#[test]
fn a_wrong_base_exits_2_and_changes_nothing() {
    let bed = bed();
    let d23 = bed.tmp.path().join("d23");
    delta(&bed.v2, &bed.v3, &d23);
    // v2 -> v3 applied to v1 (out of order): refused, differences named.
    let product = installed(&bed, "rx");
    let before = tree_snapshot(&product);
    let output = apply(&d23, &product, &["sh"], None);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("not this delta's base"), "{err}");
    assert!(err.contains("changed: file demo/src/app.py"), "{err}");
    assert!(
        err.contains("extra: file pkg-cache/pkgs/b-1.0-0/bin/b"),
        "{err}"
    );
    assert!(
        err.contains("missing: file pkg-cache/pkgs/c-2.0-0/bin/c"),
        "{err}"
    );
    assert!(
        err.contains("link pkg-cache/pkgs/a-1.0-0/lib/liba.so -> liba.so.1"),
        "{err}"
    );
    assert_eq!(tree_snapshot(&product), before);

    // v1 -> v2 applied to a v1 with one changed byte in a package: refused, that file named.
    let d12 = bed.tmp.path().join("d12");
    delta(&bed.v1, &bed.v2, &d12);
    let lib = product.join("pkg-cache/pkgs/a-1.0-0/lib/liba.so.1");
    std::fs::write(&lib, "ELF onE\n").unwrap();
    let before = tree_snapshot(&product);
    let output = apply(&d12, &product, &["sh"], None);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("changed: file pkg-cache/pkgs/a-1.0-0/lib/liba.so.1"),
        "{err}"
    );
    assert_eq!(tree_snapshot(&product), before);
    let siblings = std::fs::read_dir(product.parent().unwrap())
        .unwrap()
        .count();
    assert_eq!(siblings, 1);

    // A damaged delta is refused before the product is looked at.
    std::fs::write(&lib, "ELF one\n").unwrap();
    std::fs::write(d12.join("files/demo/src/app.py"), "print('evil')\n").unwrap();
    let output = apply(&d12, &product, &["sh"], None);
    assert_exit(&output, 2, "damaged");
    assert!(stderr(&output).contains("demo/src/app.py"));
}

#[test]
fn v1_v2_v3_apply_in_order_with_busybox_alone() {
    let bed = bed();
    let (d12, d23) = (bed.tmp.path().join("d12"), bed.tmp.path().join("d23"));
    delta(&bed.v1, &bed.v2, &d12);
    delta(&bed.v2, &bed.v3, &d23);
    let bin = busybox_path(bed.tmp.path());
    let busybox = which("busybox").unwrap();
    let bb = [busybox.to_str().unwrap(), "sh"];
    let product = installed(&bed, "rx");
    // Out of order first: refused.
    assert_eq!(
        apply(&d23, &product, &bb, Some(&bin)).status.code(),
        Some(2)
    );
    assert_eq!(
        apply(&d12, &product, &bb, Some(&bin)).status.code(),
        Some(0)
    );
    assert_eq!(tree_snapshot(&product), tree_snapshot(&bed.v2));
    bootstrap(&product);
    assert_eq!(
        apply(&d23, &product, &bb, Some(&bin)).status.code(),
        Some(0)
    );
    assert_eq!(tree_snapshot(&product), tree_snapshot(&bed.v3));
    // The first delta again, on v3: neither its base nor its target.
    let output = apply(&d12, &product, &bb, Some(&bin));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(tree_snapshot(&product), tree_snapshot(&bed.v3));
}

#[test]
fn apply_killed_at_four_points_leaves_the_old_product_and_a_rerun_finishes() {
    let bed = bed();
    let d12 = bed.tmp.path().join("d12");
    delta(&bed.v1, &bed.v2, &d12);
    for point in ["checked", "building", "verified", "swapping"] {
        let product = installed(&bed, &format!("rx-{point}"));
        let before = tree_snapshot(&product);
        let pause = bed.tmp.path().join(format!("paused-{point}"));
        let mut child = Command::new("sh")
            .arg(d12.join("apply-delta.sh"))
            .arg(&product)
            .env("PIXI_AIRGAP_TEST_PAUSE_AT", point)
            .env("PIXI_AIRGAP_TEST_PAUSE_FILE", &pause)
            .process_group(0)
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while !pause.exists() {
            assert!(
                start.elapsed().as_secs() < 60,
                "apply-delta.sh never reached {point}"
            );
            assert!(child.try_wait().unwrap().is_none(), "ended before {point}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let group = format!("-{}", child.id());
        let killed = Command::new("kill")
            .args(["-KILL", "--", &group])
            .status()
            .unwrap();
        assert!(killed.success());
        let _ = child.wait();
        if point == "swapping" {
            // Killed between the two renames: the old product waits beside its place, whole.
            assert!(!product.exists());
            let aside = std::fs::read_dir(product.parent().unwrap())
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().contains(".product.applied-"))
                .expect("the old product moved aside");
            assert_eq!(tree_snapshot(&aside), before);
        } else {
            assert_eq!(tree_snapshot(&product), before, "killed at {point}");
        }
        let output = apply(&d12, &product, &["sh"], None);
        assert_eq!(output.status.code(), Some(0), "rerun after {point}");
        assert_eq!(picture(&product), picture(&bed.v2), "after {point}");
        assert_eq!(as_made_envs(&product), as_made_envs(&bed.v2));
        assert_eq!(tree_snapshot(&product), tree_snapshot(&bed.v2));
        let siblings = std::fs::read_dir(product.parent().unwrap())
            .unwrap()
            .count();
        assert_eq!(siblings, 1, "leftovers after {point}");
    }
}

#[test]
fn apply_script_is_shellcheck_clean() {
    let bed = bed();
    let d12 = bed.tmp.path().join("d12");
    delta(&bed.v1, &bed.v2, &d12);
    let output = Command::new("shellcheck")
        .args(["-s", "sh"])
        .arg(d12.join("apply-delta.sh"))
        .output()
        .expect("shellcheck is needed for this test");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// A folder holding only links to busybox applets.
fn busybox_path(tmp: &Path) -> PathBuf {
    let bin = tmp.join("busybox-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let busybox = which("busybox").expect("busybox is needed for this test");
    let list = Command::new(&busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        std::os::unix::fs::symlink(&busybox, bin.join(applet)).unwrap();
    }
    bin
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// The runbook end to end on both pixi versions: pack v1; the receiver installs it; the project
/// gains a package and a file; `pack --since` writes the delta, archived in parts; the receiver
/// joins it, applies it, and the result is the new product file for file and passes the offline
/// proof. `make-product --since` from just the old manifest carries the same files.
#[test]
fn pack_since_updates_an_installed_product_that_then_passes_the_offline_proof() {
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
    let (wd1, wd2) = (tmp.path().join("wd1"), tmp.path().join("wd2"));
    let output = bed
        .pack(&server, &project, &wd1)
        .args(["--verify-task", "smoke"])
        .output();
    assert_success(&output);
    let receiver = tmp.path().join("rx/product");
    copy_tree(&wd1.join("product"), &receiver);

    // v2: one more package, one more project file.
    let manifest = project.join("pixi.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace(
            "airgap-hello = \">=1.0\"",
            "airgap-hello = \">=1.0\"\nairgap-alpha = \"*\"",
        ),
    )
    .unwrap();
    write_lock(&bed, &server, &project);
    std::fs::write(project.join("notes.txt"), "new in v2\n").unwrap();
    let old = wd1.join("product").display().to_string();
    let output = bed
        .pack(&server, &project, &wd2)
        .args([
            "--verify-task",
            "smoke",
            "--since",
            &old,
            "--archive",
            "tar.zst",
            "--split-size",
            "16KiB",
            "--json",
        ])
        .output();
    assert_success(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let name = report["project_name"].as_str().unwrap().to_string();
    let delta_json = read_json(&wd2.join("delta/delta.json"));
    assert_eq!(report["delta"]["delta"], delta_json);
    let added: Vec<&str> = delta_json["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        added.contains(&format!("{name}/notes.txt").as_str()),
        "{added:?}"
    );
    assert!(
        added
            .iter()
            .any(|p| p.starts_with("pkg-cache/pkgs/airgap-alpha-")),
        "{added:?}"
    );
    assert!(delta_json["changed"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(format!("{name}/pixi.lock"))));
    // Nothing of the unchanged packages is carried.
    assert!(carried(&wd2.join("delta"))
        .iter()
        .all(|p| !p.contains("airgap-hello") && !p.contains("airgap-base")));
    assert!(!report["delta"]["archive"]["split"]["parts"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(!wd2.join("delta.tar.zst").exists());

    // The receiver: join the delta's parts, apply it, then the product is v2 file for file.
    let rx_delta = tmp.path().join("rx-delta");
    let join = Command::new("sh")
        .arg(wd2.join("join-delta.sh"))
        .arg("--extract")
        .arg(&rx_delta)
        .output()
        .unwrap();
    assert_eq!(join.status.code(), Some(0), "{}", stderr(&join));
    let output = apply(&rx_delta.join("delta"), &receiver, &["sh"], None);
    assert_eq!(output.status.code(), Some(0));
    assert!(stderr(&output).contains("bootstrap-project.sh"));
    assert_eq!(
        tree_snapshot(&receiver),
        tree_snapshot(&wd2.join("product"))
    );
    // The applied product carries the new lists and passes its own check.
    assert!(receiver.join("SHA256SUMS").is_file());
    let check = Command::new("sh")
        .arg(receiver.join("check-product.sh"))
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));

    // The applied product installs offline and runs the task.
    let proof = tmp.path().join("proof");
    let output = verify_product(&bed, &receiver, &proof, &name, &["--verify-task", "smoke"]);
    assert_success(&output);

    // The update proof: the container starts from v1, applies the delta, proves the result.
    let update_proof = tmp.path().join("proof-update");
    let output = bed
        .verify_product(&wd2.join("product"), &update_proof, &name)
        .path_arg("--since", &wd1.join("product"))
        .path_arg("--delta", &wd2.join("delta"))
        .args(["--verify-task", "smoke", "--json"])
        .output();
    assert_success(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["result"], "success");
    assert_eq!(report["delta"]["exit_code"], 0);
    let log = std::fs::read_to_string(update_proof.join("proof-apply-delta.log")).unwrap();
    assert!(log.contains("applied"), "{log}");
    // A delta that does not lead to --product-dir is refused before any container starts.
    let output = bed
        .verify_product(&wd1.join("product"), &tmp.path().join("proof-bad"), &name)
        .path_arg("--since", &wd1.join("product"))
        .path_arg("--delta", &wd2.join("delta"))
        .without_docker()
        .output();
    assert_exit(&output, 2, "leads to SHA256SUMS");

    // make-product --since with only the old manifest: the same files carried.
    let only_manifest = tmp.path().join("old-manifest/pixi-airgap.json");
    std::fs::create_dir_all(only_manifest.parent().unwrap()).unwrap();
    std::fs::copy(wd1.join("product/pixi-airgap.json"), &only_manifest).unwrap();
    let delta_out = tmp.path().join("delta-mp");
    let out = make_product_cmd(&wd2, &name)
        .path_arg("--output", &tmp.path().join("product-again"))
        .path_arg("--since", &only_manifest)
        .path_arg("--delta-output", &delta_out)
        .arg("--json")
        .output();
    assert_success(&out);
    let mp: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(mp["delta"]["delta"]["base_dirs_exact"], false);
    assert_eq!(carried(&delta_out), carried(&wd2.join("delta")));
}

/// The size target, as `benches/delta-size.sh` runs it: a 64 MiB product (32 packages of 64
/// incompressible files) gains one small package and one changed project file; the delta folder,
/// lists and script included, and its tar.zst stay under 5% of the product.
#[test]
fn delta_of_one_small_package_and_one_project_file_is_under_5_percent_of_a_64_mib_product() {
    let tmp = tempfile::tempdir().unwrap();
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut noise = |len: usize| -> String {
        // Printable but incompressible enough: 64 symbols of a xorshift stream.
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                char::from(
                    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/"
                        [(seed % 64) as usize],
                )
            })
            .collect()
    };
    let mut files: Vec<(&'static str, String, bool)> = vec![
        (
            "demo/pixi.toml",
            "[project]\nname = \"demo\"\n".into(),
            false,
        ),
        ("demo/src/app.py", "print('v1')\n".into(), false),
        ("envs.sh", envs_sh(), false),
        ("bootstrap-project.sh", "#!/bin/sh\n".into(), true),
    ];
    for pkg in 0..32 {
        for file in 0..64 {
            let path: &'static str = Box::leak(
                format!("pkg-cache/pkgs/pkg{pkg:02}-1.0-0/lib/f{file:02}.so").into_boxed_str(),
            );
            files.push((path, noise(32 * 1024), false));
        }
    }
    let v1 = Version {
        files: files.clone(),
        links: vec![],
        empty_dirs: vec![],
    };
    for (path, content, _) in &mut files {
        if *path == "demo/src/app.py" {
            *content = "print('v2')\n".into();
        }
    }
    for file in 0..10 {
        let path: &'static str =
            Box::leak(format!("pkg-cache/pkgs/small-0.1-0/lib/s{file}.py").into_boxed_str());
        files.push((path, noise(8 * 1024), false));
    }
    let v2 = Version {
        files,
        links: vec![],
        empty_dirs: vec![],
    };
    let (p1, p2) = (tmp.path().join("v1/product"), tmp.path().join("v2/product"));
    make(&p1, &v1);
    make(&p2, &v2);
    let out = tmp.path().join("delta");
    let started = std::time::Instant::now();
    let manifest = delta(&p1, &p2, &out);
    let seconds = started.elapsed().as_secs_f64();
    let folder_bytes: u64 = walkdir::WalkDir::new(&out)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().unwrap().len())
        .sum();
    let archives = tmp.path().join("archives");
    std::fs::create_dir_all(&archives).unwrap();
    use pixi_airgap::product::archive::{write as archive, ArchiveFormat};
    let delta_zst = archive(&out, &archives, "delta", ArchiveFormat::TarZst).unwrap();
    let product_zst = archive(&p2, &archives, "product", ArchiveFormat::TarZst).unwrap();
    let target = manifest.sizes.target_bytes;
    let pct = |n: u64| 100.0 * n as f64 / target as f64;
    println!(
        "delta-size: product {} bytes in {} files ({} bytes as tar.zst); delta carries {} files, {} bytes; \
         delta folder {} bytes ({:.2}%), delta.tar.zst {} bytes ({:.2}% of the product's tar.zst); written in {:.1}s",
        target,
        manifest.sizes.target_files,
        product_zst.size_bytes,
        manifest.sizes.carried_files,
        manifest.sizes.carried_bytes,
        folder_bytes,
        pct(folder_bytes),
        delta_zst.size_bytes,
        100.0 * delta_zst.size_bytes as f64 / product_zst.size_bytes as f64,
        seconds
    );
    assert!(target >= 64 << 20, "{target}");
    assert_eq!(manifest.added.len(), 10);
    assert_eq!(manifest.changed, ["demo/src/app.py", "pixi-airgap.json"]);
    assert!(pct(folder_bytes) <= 5.0, "{:.2}%", pct(folder_bytes));
    assert!(delta_zst.size_bytes * 20 <= product_zst.size_bytes);
}
