//! Bad manifests: `verify-product` reads `pixi-airgap.json` as input it does not trust. A manifest
//! that names a place outside the product (`../x`, an absolute path, a link that leaves), a format
//! this build does not know, or a product folder whose folders were replaced by links, stops the
//! run with exit 2 before any container work: the engine is pointed at a socket that does not
//! exist, so reaching it would be exit 3.

use std::path::{Path, PathBuf};

use crate::common::{outcome, stderr, TestCommand};

/// A staged workdir as stage-host leaves it (no container needed), made into a product by the
/// real binary.
fn made_product(root: &Path) -> PathBuf {
    let (product, out) = made_product_with(root, |_| {});
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    product
}

/// [`made_product`], with `setup` adding to the workdir first; returns make-product's output.
fn made_product_with(root: &Path, setup: impl FnOnce(&Path)) -> (PathBuf, std::process::Output) {
    let wd = crate::common::hand_staged_workdir(root);
    setup(&wd);
    let product = root.join("product");
    let out = TestCommand::new()
        .args([
            "make-product",
            "--workdir",
            &wd.display().to_string(),
            "--project-name",
            "demo",
            "--output",
            &product.display().to_string(),
        ])
        .output();
    (product, out)
}

fn edit_manifest(product: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = product.join("pixi-airgap.json");
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(&path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
}

fn push_file(value: &mut serde_json::Value, record: serde_json::Value) {
    value["files"].as_array_mut().unwrap().push(record);
}

/// verify-product against an engine that cannot be reached: only an input error can be exit 2.
fn verify_without_engine(root: &Path, product: &Path) -> std::process::Output {
    let out_dir = root.join("proof");
    let output = TestCommand::new()
        .args([
            "verify-product",
            "--image",
            "pixi-airgap-testbed:pixi-0.15.2",
            "--product-dir",
            &product.display().to_string(),
            "--out-dir",
            &out_dir.display().to_string(),
            "--project-name",
            "demo",
        ])
        .env(
            "DOCKER_HOST",
            format!("unix://{}", root.join("no-engine.sock").display()),
        )
        .env_remove("DOCKER_CONTEXT")
        .output();
    assert!(
        !out_dir.join("proof-bootstrap.log").exists(),
        "nothing may have started"
    );
    output
}

/// A product made by the real binary, changed by `attack` (`what`, for the safety summary): verify-product exits 2 before any
/// container work, naming `expect`.
#[track_caller]
fn refused_before_anything_starts(what: &str, attack: impl FnOnce(&Path), expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let product = made_product(dir.path());
    attack(&product);
    let output = verify_without_engine(dir.path(), &product);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains(expect), "{}", stderr(&output));
    crate::common::record_count(&format!(
        "manifest attack: {what} (exit 2 before any container)"
    ));
}

/// A file record of that path (hash and size do not matter: the path is refused first).
fn file(path: &str) -> serde_json::Value {
    serde_json::json!({"path": path, "sha256": "00", "size": 0})
}

#[test]
fn a_parent_path_is_refused() {
    refused_before_anything_starts(
        "parent path",
        |p| edit_manifest(p, |v| push_file(v, file("../x"))),
        "a `.` or `..` part",
    );
}

#[test]
fn a_parent_path_inside_is_refused() {
    refused_before_anything_starts(
        "parent path inside",
        |p| edit_manifest(p, |v| push_file(v, file("demo/../../home/.ssh/id_ed25519"))),
        "a `.` or `..` part",
    );
}

#[test]
fn an_absolute_path_is_refused() {
    refused_before_anything_starts(
        "absolute path",
        |p| edit_manifest(p, |v| push_file(v, file("/etc/shadow"))),
        "an absolute path",
    );
}

#[test]
fn an_empty_part_is_refused() {
    refused_before_anything_starts(
        "empty part",
        |p| edit_manifest(p, |v| push_file(v, file("demo//x"))),
        "an empty part",
    );
}

#[test]
fn an_absolute_link_is_refused() {
    refused_before_anything_starts(
        "absolute link",
        |p| {
            edit_manifest(p, |v| {
                push_file(v, serde_json::json!({"path": "demo/root", "symlink": "/"}))
            })
        },
        "leaves the product",
    );
}

#[test]
fn a_link_out_by_its_text_is_refused() {
    refused_before_anything_starts(
        "link out by text",
        |p| {
            edit_manifest(p, |v| {
                push_file(
                    v,
                    serde_json::json!({"path": "demo/up", "symlink": "../../.."}),
                )
            })
        },
        "leaves the product",
    );
}

#[test]
fn a_manifest_that_lists_itself_is_refused() {
    refused_before_anything_starts(
        "manifest lists itself",
        |p| edit_manifest(p, |v| push_file(v, file("pixi-airgap.json"))),
        "cannot list itself",
    );
}

#[test]
fn a_project_name_that_climbs_is_refused() {
    refused_before_anything_starts(
        "project name climbs",
        |p| edit_manifest(p, |v| v["project_name"] = "..".into()),
        "not a plain folder name",
    );
}

#[test]
fn a_newer_format_is_refused() {
    refused_before_anything_starts(
        "newer format",
        |p| edit_manifest(p, |v| v["format_version"] = 2.into()),
        "has manifest format version 2; this pixi-airgap",
    );
}

#[test]
fn an_unknown_format_is_refused() {
    refused_before_anything_starts(
        "unknown format",
        |p| edit_manifest(p, |v| v["format_version"] = 0.into()),
        "has manifest format version 0",
    );
}

#[test]
fn a_manifest_without_a_format_is_refused() {
    refused_before_anything_starts(
        "no format",
        |p| {
            edit_manifest(p, |v| {
                v.as_object_mut().unwrap().remove("format_version");
            })
        },
        "no numeric format_version",
    );
}

#[test]
fn a_folder_replaced_by_a_link_is_refused() {
    refused_before_anything_starts(
        "folder replaced by a link",
        |p| {
            // pkg-cache/ moved out and linked back: the files are byte-identical, but reading
            // them would follow a link out of the product.
            let elsewhere = p.parent().unwrap().join("elsewhere");
            std::fs::rename(p.join("pkg-cache"), &elsewhere).unwrap();
            std::os::unix::fs::symlink(&elsewhere, p.join("pkg-cache")).unwrap();
        },
        "changed: pkg-cache/pkgs/a-1-0/bin/tool",
    );
}

/// The control for the cases above: the intact product gets past every check and stops at the
/// engine (exit 3).
#[test]
fn an_intact_product_gets_past_every_check_to_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let product = made_product(dir.path());
    let output = verify_without_engine(dir.path(), &product);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
}

/// Safety round 2, item 12: the proof's upload hashes what it streams. A file changed (or
/// replaced by a link) after `check` read it stops the upload; before, the upload opened the
/// path again and shipped whatever was there.
#[test]
fn the_upload_hashes_what_it_streams_and_follows_no_link() {
    use pixi_airgap::product::manifest::{check, manifest_entries};
    use pixi_airgap::tar::write::{write_tar, Owner};
    let tmp = tempfile::tempdir().unwrap();
    let product = made_product(tmp.path());
    check(&product).unwrap();
    let upload = || {
        let entries = manifest_entries(&product, Path::new("p")).unwrap();
        write_tar(entries, Owner::ROOT, Vec::new())
    };
    upload().unwrap();
    let tool = product.join("pkg-cache/pkgs/a-1-0/bin/tool");
    assert!(tool.is_file(), "the fixture's package file moved");
    // Same size, other bytes: only the hash of what is streamed can tell.
    std::fs::write(&tool, "#!/bin/XX\n").unwrap();
    let err = upload().unwrap_err();
    assert!(
        format!("{err:#}").contains("changed after it was checked"),
        "{err:#}"
    );
    // The right bytes behind a link: the link is not followed.
    let outside = tmp.path().join("outside-tool");
    std::fs::write(&outside, "#!/bin/sh\n").unwrap();
    std::fs::remove_file(&tool).unwrap();
    std::os::unix::fs::symlink(&outside, &tool).unwrap();
    let err = upload().unwrap_err();
    assert!(
        format!("{err:#}").contains("a link in its place is not followed"),
        "{err:#}"
    );
    crate::common::record_count("re-opened files: 2 swaps after the check refused");
}

/// Safety round 2, item 20: names that differ only in case (ncurses' terminfo `E/` and `e/`)
/// are listed in a warning by make-product; they break on case-insensitive media.
#[test]
fn make_product_warns_about_names_that_differ_only_in_case() {
    let tmp = tempfile::tempdir().unwrap();
    let (_product, out) = made_product_with(tmp.path(), |wd| {
        let terminfo = wd.join("pixi-cache/pkgs/ncurses-6.4-0/share/terminfo");
        for (dir, file) in [("E", "Eterm"), ("e", "eterm"), ("x", "xterm")] {
            std::fs::create_dir_all(terminfo.join(dir)).unwrap();
            std::fs::write(terminfo.join(dir).join(file), "x").unwrap();
        }
    });
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("1 name(s) that differ only in case")
            && err.contains(
                "pkg-cache/pkgs/ncurses-6.4-0/share/terminfo/E  and  pkg-cache/pkgs/ncurses-6.4-0/share/terminfo/e"
            ),
        "{err}"
    );
    crate::common::record_count("case clashes: 1 pair listed by make-product");
}

/// The whole outcome of the product flow without an engine, as users read it: make-product of a
/// staged workdir (with `--json`), then verify-product refusing a damaged product (exit 2) and
/// stopping at an engine that does not answer (exit 3).
#[test]
fn make_and_verify_product_outcomes_match_their_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let wd = crate::common::hand_staged_workdir(dir.path());
    let product = dir.path().join("product");
    let made = TestCommand::new()
        .args(["make-product", "--project-name", "demo", "--json"])
        .path_arg("--workdir", &wd)
        .path_arg("--output", &product)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .outcome(&[]);
    let intact = outcome(&verify_without_engine(dir.path(), &product), &[]);
    edit_manifest(&product, |v| push_file(v, file("../x")));
    let damaged = outcome(&verify_without_engine(dir.path(), &product), &[]);
    insta::assert_snapshot!(
        "product-outcomes",
        format!(
            "$ make-product --json\n{made}\n$ verify-product (no engine)\n{intact}\n$ verify-product (a manifest entry `../x`)\n{damaged}"
        )
    );
}
