//! Verifications in more than one environment: `--verify-env ENV` (repeatable) and
//! `--verify-task ENV:TASK`, each run in its environment online while staging and offline in the
//! proof (from the product's manifest), each result recorded.

use crate::common::*;

fn log(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn each_environment_is_verified_online_and_offline() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    // Lists the environment's share/ folder: alpha has airgap-alpha, beta airgap-beta.
    let (tmp, workdir, name) = staged(
        &bed,
        &server,
        "multi",
        &[
            "--verify-env",
            "alpha",
            "--verify-env",
            "beta",
            "--verify-run",
            "--",
            "sh",
            "-c",
            "ls \"$CONDA_PREFIX/share\"",
        ],
    );
    let leftovers = LeftoverGuard::new(tmp.path());
    let stage = read_json(&workdir.join("out/stage.json"));
    let runs = stage["verifications"].as_array().unwrap();
    let envs: Vec<&str> = runs
        .iter()
        .map(|v| v["environment"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["alpha", "beta"]);
    assert!(runs.iter().all(|v| v["passed"] == true));
    assert_eq!(stage["verification"], runs[0]);
    let out = workdir.join("out");
    assert_eq!(runs[0]["log"], "out/verify-1-alpha.log");
    assert_eq!(runs[1]["log"], "out/verify-2-beta.log");
    let alpha = log(&out, "verify-1-alpha.log");
    let beta = log(&out, "verify-2-beta.log");
    assert!(
        alpha.contains("airgap-alpha") && !alpha.contains("airgap-beta"),
        "{alpha}"
    );
    assert!(
        beta.contains("airgap-beta") && !beta.contains("airgap-alpha"),
        "{beta}"
    );

    assert_eq!(make_product(&workdir, &name, None).status.code(), Some(0));
    let product = workdir.join("product");
    let manifest = read_json(&product.join("pixi-airgap.json"));
    let recorded: Vec<&str> = manifest["verifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["environment"].as_str().unwrap())
        .collect();
    assert_eq!(recorded, ["alpha", "beta"]);

    // Offline, the recorded verifications run again, each in its environment.
    let output = verify_product(&bed, &product, &out, &name, &["--json"]);
    assert_success(&output);
    let proof: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let runs = proof["verifications"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["log"], "proof-verify-1-alpha.log");
    assert_eq!(runs[1]["log"], "proof-verify-2-beta.log");
    let alpha = log(&out, "proof-verify-1-alpha.log");
    let beta = log(&out, "proof-verify-2-beta.log");
    assert!(
        alpha.contains("--frozen") && alpha.contains("airgap-alpha"),
        "{alpha}"
    );
    assert!(!alpha.contains("airgap-beta"), "{alpha}");
    assert!(
        beta.contains("airgap-beta") && !beta.contains("airgap-alpha"),
        "{beta}"
    );
    // The staging logs are still the staging run's.
    assert!(log(&out, "verify-1-alpha.log").contains("--locked"));

    // ENV:TASK offline, and a result per verification: the expected text is only in alpha.
    let output = verify_product(
        &bed,
        &product,
        &out,
        &name,
        &[
            "--force",
            "--json",
            "--verify-task",
            "beta:smoke",
            "--verify-task",
            "alpha:smoke",
            "--verify-task",
            "smoke",
        ],
    );
    assert_success(&output);
    let proof: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let envs: Vec<&str> = proof["verifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["environment"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["beta", "alpha", "default"]);
    assert!(
        !out.join("proof-verify-1-alpha.log").exists(),
        "--force removed the earlier proof"
    );
    assert!(log(&out, "proof-verify-1-beta.log").contains("1.0.0"));

    let output = verify_product(
        &bed,
        &product,
        &out,
        &name,
        &[
            "--force",
            "--json",
            "--verify-env",
            "alpha",
            "--verify-env",
            "beta",
            "--verify-expect",
            "airgap-alpha",
            "--verify-run",
            "--",
            "sh",
            "-c",
            "ls \"$CONDA_PREFIX/share\"",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let proof: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(proof["result"], "verification-failed");
    let passed: Vec<bool> = proof["verifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["passed"].as_bool().unwrap())
        .collect();
    assert_eq!(passed, [true, false], "alpha passes, beta lacks the text");

    // An environment that was not staged is refused before any container.
    let output = verify_product(
        &bed,
        &product,
        &out,
        &name,
        &["--force", "--verify-task", "gamma:smoke"],
    );
    assert_exit(&output, 2, "`gamma`: it is not staged");
    leftovers.assert_clean();
    drop(tmp);
}
