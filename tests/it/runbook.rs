//! The README's air-gap runbook, line by line, as a person runs it: stage with a project-relative
//! verification script from an unrelated folder, make the product with the workdir helper called
//! with `--workdir/--project-name`, and prove it offline with `--out-dir WORKDIR/out`. Afterwards
//! the staging run's logs and the proof's logs are both there. The product is signed with a
//! release key made by `ssh-keygen` as the README shows, the proof checks the signature first, and
//! the carried product passes `check-product.sh --allowed-signers`.

use std::path::Path;
use std::process::Command;

use crate::common::*;

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_runbook_keeps_staging_and_proof_logs_and_resolves_scripts_from_the_project() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    let (tmp, project) = locked_fixture(&bed, &server, "single");
    let leftovers = LeftoverGuard::new(tmp.path());
    std::fs::create_dir_all(project.join("ci")).unwrap();
    std::fs::write(
        project.join("ci/smoke.sh"),
        "set -e\nhello-airgap\necho runbook-script-ok\n",
    )
    .unwrap();
    // The runbook is run from a folder that is neither the project nor the workdir.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let workdir = tmp.path().join("wd");
    let (p, w) = (project.display().to_string(), workdir.display().to_string());
    // The release key and the allowed-signers line, as the README makes them.
    let keygen = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "release@example.org",
            "-f",
            "release",
        ])
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{keygen:?}");
    let public = std::fs::read_to_string(elsewhere.join("release.pub")).unwrap();
    let fields: Vec<&str> = public.split_whitespace().take(2).collect();
    std::fs::write(
        elsewhere.join("allowed_signers"),
        format!(
            "release@example.org namespaces=\"pixi-airgap\" {}\n",
            fields.join(" ")
        ),
    )
    .unwrap();

    let output = TestCommand::new()
        .current_dir(&elsewhere)
        .args([
            "stage-host",
            "--image",
            &bed.image,
            "--network",
            &server.network,
            "--project-dir",
            &p,
            "--workdir",
            &w,
            "--verify-script",
            "./ci/smoke.sh",
            "--verify-expect",
            "runbook-script-ok",
            "--bundle-pixi",
        ])
        .output();
    assert_success(&output);
    let stage = read_json(&workdir.join("out/stage.json"));
    assert_eq!(stage["verification"]["spec"]["location"], "project");
    assert_eq!(stage["verification"]["spec"]["path"], "ci/smoke.sh");
    assert_eq!(stage["verification"]["passed"], true);
    let name = stage["project_name"].as_str().unwrap().to_string();

    let helper = Command::new(workdir.join("helpers/make-archive-ready-product.sh"))
        .args([
            "--workdir",
            &w,
            "--project-name",
            &name,
            "--sign-key",
            "./release",
        ])
        .current_dir(&elsewhere)
        .env_remove("PIXI_AIRGAP_SIGN_PASSPHRASE")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(
        helper.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&helper.stderr)
    );

    let staging_logs = ["verify.log", "install-default.log", "stage.json"];
    let before: Vec<Vec<u8>> = staging_logs
        .iter()
        .map(|f| read(&workdir.join("out").join(f)))
        .collect();
    let out = workdir.join("out");
    let product = workdir.join("product");
    let (o, pr) = (out.display().to_string(), product.display().to_string());
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify-product",
            "--image",
            &bed.image,
            "--product-dir",
            &pr,
            "--out-dir",
            &o,
            "--project-name",
            &name,
        ];
        args.extend(extra);
        TestCommand::new()
            .current_dir(&elsewhere)
            .args(&args)
            .output()
    };

    // The final step as documented: the signature, then the verification recorded at staging
    // time runs again.
    let output = verify(&["--allowed-signers", "./allowed_signers"]);
    assert_exit(
        &output,
        0,
        "signature good: SHA256SUMS signed by release@example.org",
    );
    for (file, bytes) in staging_logs.iter().zip(&before) {
        assert_eq!(
            &read(&out.join(file)),
            bytes,
            "the proof changed the staging run's {file}"
        );
    }
    let report = read_json(&out.join("verify-report.json"));
    assert_eq!(report["result"], "success");
    assert_eq!(report["bootstrap"]["log"], "proof-bootstrap.log");
    assert_eq!(report["verification"]["log"], "proof-verify.log");
    let boot = String::from_utf8(read(&out.join("proof-bootstrap.log"))).unwrap();
    assert!(boot.contains("is installed"), "{boot}");
    let proof = String::from_utf8(read(&out.join("proof-verify.log"))).unwrap();
    assert!(proof.contains("runbook-script-ok"), "{proof}");
    assert!(
        proof.contains("--frozen"),
        "the proof's own command: {proof}"
    );
    let staged_log = String::from_utf8(read(&out.join("verify.log"))).unwrap();
    assert!(
        staged_log.contains("--locked"),
        "the staging run's command: {staged_log}"
    );

    // Running the proof again would replace it: refused without --force, before any container.
    let output = verify(&[]);
    assert_exit(&output, 2, "already holds an offline proof");
    assert_eq!(read_json(&out.join("verify-report.json")), report);

    // With --force, and a project-relative script resolved in the product from elsewhere.
    let output = verify(&[
        "--force",
        "--verify-script",
        "./ci/smoke.sh",
        "--verify-expect",
        "runbook-script-ok",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let again = read_json(&out.join("verify-report.json"));
    assert_eq!(again["verification"]["spec"]["path"], "ci/smoke.sh");
    assert_eq!(again["verification"]["passed"], true);
    for (file, bytes) in staging_logs.iter().zip(&before) {
        assert_eq!(&read(&out.join(file)), bytes, "{file} changed");
    }

    // A script found nowhere names every place tried.
    let output = verify(&["--force", "--verify-script", "ci/nope.sh"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    for place in [
        product.join(&name).join("ci/nope.sh"),
        product.join("res/ci/nope.sh"),
        elsewhere.join("ci/nope.sh"),
    ] {
        assert!(text.contains(&place.display().to_string()), "{text}");
    }
    leftovers.assert_clean();

    // The air-gapped side's first line, on the real product (carried as a tar, unpacked elsewhere).
    let carried = tmp.path().join("carried");
    std::fs::create_dir_all(&carried).unwrap();
    let tar = Command::new("sh")
        .arg("-c")
        .arg("tar -C \"$1\" -cf - product | tar -C \"$2\" -xf -")
        .args(["sh", &w, &carried.display().to_string()])
        .output()
        .unwrap();
    assert!(tar.status.success(), "{tar:?}");
    let check = Command::new("sh")
        .arg("check-product.sh")
        .args(["--allowed-signers"])
        .arg(elsewhere.join("allowed_signers"))
        .arg("--preflight")
        .current_dir(carried.join("product"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(0), "{said}");
    assert!(said.contains("signature good"), "{said}");
    assert!(said.contains("is intact"), "{said}");
    assert!(
        said.contains("preflight: nothing found that stops an install"),
        "{said}"
    );
}
