//! `--bundle-pixi`: the build container's own pixi travels in the product, and the offline proof
//! passes in an image that has no pixi at all.

use crate::common::*;
use pixi_airgap::docker::{ContainerSpec, ExecSpec};

#[test]
fn a_bundled_pixi_product_is_proven_in_an_image_without_pixi() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    let (tmp, project) = locked_fixture(&bed, &server, "single");
    let _leftovers = LeftoverGuard::new(tmp.path());
    let workdir = tmp.path().join("wd");
    let (p, w) = (project.display().to_string(), workdir.display().to_string());
    let output = TestCommand::new()
        .args([
            "pack",
            "--image",
            &bed.image,
            "--network",
            &server.network,
            "--project-dir",
            &p,
            "--workdir",
            &w,
            "--bundle-pixi",
            "--verify-image",
            &bed.nopixi_image,
            "--verify-task",
            "smoke",
            "--verify-expect",
            "hello from the air gap",
            "--json",
        ])
        .output();
    assert_success(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let version = bed.pixi_version();

    // Staging copied the container's pixi, and recorded it.
    let staged = &report["stage"]["bundled_pixi"];
    assert_eq!(staged["version"], version.as_str());
    assert_eq!(staged["source"], "/usr/local/bin/pixi");
    let staged_bin = workdir.join("pixi-bin/pixi");
    assert_eq!(staged["sha256"], sha256_file(&staged_bin).as_str());

    // The product carries it, with version and sha256 in its manifest.
    let product = workdir.join("product");
    let manifest = read_json(&product.join("pixi-airgap.json"));
    assert_eq!(manifest["pixi"]["path"], "bin/pixi");
    assert_eq!(manifest["pixi"]["version"], version.as_str());
    assert_eq!(
        manifest["pixi"]["sha256"],
        sha256_file(&product.join("bin/pixi")).as_str()
    );
    assert!(manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "bin/pixi" && f["executable"] == true));

    // The proof ran in the image without pixi, with the product's own.
    let proof = &report["proof"];
    assert_eq!(proof["image"]["name"], bed.nopixi_image.as_str());
    assert_eq!(proof["result"], "success");
    assert_eq!(proof["bundled_pixi"], true);
    assert_eq!(proof["pixi_version"], version.as_str());
    assert_eq!(proof["verification"]["passed"], true);

    // In the same image: a pixi on PATH of another version is warned about and passed over,
    // unless PIXI_AIRGAP_USE_PATH_PIXI=1; with no pixi on PATH the bundled one is simply used.
    // (bash: it tells envs.sh where it is, as the product is not bootstrapped here.)
    let outputs = runtime().block_on(async {
        let spec = ContainerSpec {
            image: bed.nopixi_image.clone(),
            network: Some("none".into()),
            labels: vec![("io.pixi-airgap.test".into(), "bundle".into())],
            ..Default::default()
        };
        let container = bed.docker.start_container(&spec).await.unwrap();
        upload_tree(&bed.docker, container.id(), &product, "/", "opt/product").await;
        let fake = "mkdir -p /fake && printf '#!/bin/sh\\necho pixi 9.9.9\\n' > /fake/pixi && chmod +x /fake/pixi";
        let scripts = [
            "command -v pixi || echo no-pixi-in-image".to_string(),
            "cd / && . /opt/product/envs.sh && command -v pixi && pixi --version".to_string(),
            format!("{fake} && export PATH=/fake:$PATH && cd / && . /opt/product/envs.sh && command -v pixi"),
            format!("{fake} && export PATH=/fake:$PATH PIXI_AIRGAP_USE_PATH_PIXI=1 && cd / && . /opt/product/envs.sh && command -v pixi"),
        ];
        let mut outs = Vec::new();
        for script in scripts {
            outs.push(container.exec(&ExecSpec::new(["bash", "-c", script.as_str()]), None).await.unwrap());
        }
        container.remove().await.unwrap();
        outs
    });
    for out in &outputs {
        assert!(out.success(), "{}", out.text());
    }
    assert!(
        outputs[0].text().contains("no-pixi-in-image"),
        "{}",
        outputs[0].text()
    );
    let bundled = outputs[1].text();
    assert!(bundled.contains("/opt/product/bin/pixi"), "{bundled}");
    assert!(bundled.contains(&version), "{bundled}");
    let preferred = outputs[2].text();
    assert!(preferred.contains("/opt/product/bin/pixi"), "{preferred}");
    assert!(
        preferred.contains("warning: PATH has pixi 9.9.9"),
        "{preferred}"
    );
    assert!(
        preferred.contains("PIXI_AIRGAP_USE_PATH_PIXI=1"),
        "{preferred}"
    );
    // stdout only: the order of stdout and stderr in an exec's output is not fixed.
    let overridden = String::from_utf8_lossy(&outputs[3].stdout).into_owned();
    assert!(
        overridden.trim_end().ends_with("/fake/pixi"),
        "{overridden}"
    );
}
