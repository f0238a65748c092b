//! Two runs on one folder: a workdir (stage-host, stage-container, pack, make-product) or a
//! product's `--output` is held for the whole run. A second run waits, saying who holds it, or
//! with `--no-wait` exits 2 naming the holder (pid, host, command).

use std::io::BufRead;
use std::path::Path;

use crate::common::*;
use pixi_airgap::runlock::{RunLock, Wait};

/// Takes the lock on `dir` the way a run does, in this process.
fn hold(dir: &Path, what: &str) -> RunLock {
    runtime()
        .block_on(RunLock::acquire(dir, what, Wait::NoWait))
        .unwrap()
}

fn assert_names_holder(output: &std::process::Output, what: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    let holder = format!(
        "pid {} on {}",
        std::process::id(),
        pixi_airgap::process::host_name()
    );
    assert!(err.contains(&format!("the {what} `")), "{err}");
    assert!(
        err.contains("is in use by another pixi-airgap run"),
        "{err}"
    );
    assert!(err.contains(&holder), "the holder is not named:\n{err}");
    // The command says how to wait instead, by its flag and its variable.
    assert!(
        err.contains(
            "hint: wait for that run to end (drop --no-wait, or unset PIXI_AIRGAP_NO_WAIT"
        ),
        "{err}"
    );
    // The holder is this test binary (it holds the lock through the library).
    let exe = std::env::current_exe().unwrap();
    let command = exe.file_name().unwrap().to_string_lossy();
    assert!(
        err.contains(&*command),
        "the holder's command is not named:\n{err}"
    );
}

#[test]
fn a_second_run_on_a_held_workdir_or_output_waits_or_exits_2_naming_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let workdir = tmp.path().join("wd");
    std::fs::create_dir_all(&workdir).unwrap();
    let mut tried = 0;

    // make-product on a held workdir, and on a held --output.
    let lock = hold(&workdir, "workdir");
    tried += 1;
    let output = make_product_cmd(&workdir, "demo").arg("--no-wait").output();
    assert_names_holder(&output, "workdir");
    drop(lock);
    let product = tmp.path().join("product");
    let lock = hold(&product, "product folder");
    tried += 1;
    let output = make_product_cmd(&workdir, "demo")
        .path_arg("--output", &product)
        .arg("--no-wait")
        .output();
    assert_names_holder(&output, "product folder");

    // Without --no-wait the second run waits, says for whom, and goes on once the holder is done.
    tried += 1;
    let mut child = make_product_cmd(&workdir, "demo")
        .path_arg("--output", &product)
        .spawn();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    while !seen.contains("waiting for it to end") {
        let line = lines
            .next()
            .expect("make-product ended without waiting")
            .unwrap();
        seen.push_str(&line);
        seen.push('\n');
    }
    assert!(
        seen.contains(&format!("pid {}", std::process::id())),
        "{seen}"
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "it did not wait");
    drop(lock);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    let rest = rest.join("\n");
    // It went on: the (empty) workdir is then refused for what it is.
    assert_eq!(status.code(), Some(2), "{seen}{rest}");
    assert!(rest.contains("is free now"), "{seen}{rest}");
    assert!(rest.contains("stage.json"), "{seen}{rest}");
    assert!(
        !tmp.path().join(".wd.pixi-airgap-lock").exists()
            && !tmp.path().join(".product.pixi-airgap-lock").exists(),
        "the lock files are removed by their holders"
    );

    // The stage commands hold the workdir too.
    if let Some(bed) = testbed() {
        let project = tmp.path().join("multi-env");
        copy_tree(&fixtures().join("locks/v4-multi"), &project);
        let lock = hold(&workdir, "workdir");
        for command in ["stage-host", "pack"] {
            tried += 1;
            let output = TestCommand::new()
                .args([command, "--image", &bed.image, "--no-wait"])
                .path_arg("--project-dir", &project)
                .path_arg("--workdir", &workdir)
                .output();
            assert_names_holder(&output, "workdir");
        }
        drop(lock);
    }

    record_count(&format!(
        "concurrency: {tried} second runs on a held folder refused or made to wait"
    ));
}

/// Never a lock file that is not ours: a file of that name the user wrote is refused, not
/// truncated, and a link in its place is not followed.
#[test]
fn a_lock_file_that_is_not_ours_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let workdir = tmp.path().join("wd");
    std::fs::create_dir_all(&workdir).unwrap();
    let lock = tmp.path().join(".wd.pixi-airgap-lock");
    std::fs::write(&lock, "my notes\n").unwrap();
    let output = make_product_cmd(&workdir, "demo").arg("--no-wait").output();
    assert_exit(&output, 2, "not written by pixi-airgap");
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), "my notes\n");
    record_count("concurrency: 1 foreign lock file left alone");
}
