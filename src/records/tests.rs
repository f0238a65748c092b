//! `docs/json.md` against the records: every field of every record (every optional field set) is
//! in the table of that record's section and the table has no other, and every field of an object
//! inside it is named in that section (or in the section of the record it embeds).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

use super::archive::{ArchiveRecord, PartRecord, SplitRecord};
use super::clean::{CleanReport, CreatorRecord, LeftoverRecord};
use super::delta::{DeltaManifest, DeltaSizes, LinkChange};
use super::make_product::{DeltaReport, MakeReport};
use super::pack::{Logs, PackReport, PackResult, Phase, ProductSummary};
use super::preflight::{CheckOutput, FindingRecord, PreflightRecord, SeverityRecord};
use super::product_manifest::{
    FileRecord, LockRecord, PixiRecord, ProductManifest, SigningKeyRecord, ToolInfo,
};
use super::proof::{AppliedDelta, BootstrapReport, ProofReport, ProofResult, Timings};
use super::stage::{
    BundledPixi, ExcludedRecord, ExclusionRecord, StageReport, StageResult, StepReport,
};
use super::verification::{
    KindRecord, LocationRecord, RecordedVerification, SpecRecord, VerificationRecord,
};
use super::{EngineRecord, ImageRecord, TransportRecord};

const DOC: &str = include_str!("../../docs/json.md");

/// The section of `docs/json.md` whose `## ` heading starts with `heading`, up to the next one.
fn section(heading: &str) -> &'static str {
    let start = DOC
        .find(&format!("\n{heading}"))
        .unwrap_or_else(|| panic!("docs/json.md has no section `{heading}`"));
    let rest = &DOC[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

/// Every `word` in backticks in `text`.
fn backticked(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The names in the first column of the section's table.
fn table_fields(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| backticked(l.split('|').nth(1).unwrap_or_default()))
        .collect()
}

/// Which section documents the fields under `key` (inside `parent`, in the record of section
/// `root`), when that is another record's.
fn embedded(root: &str, parent: &str, key: &str) -> Option<&'static str> {
    Some(match key {
        // make-product's and pack's `delta` is the delta's folder; its own `delta` is delta.json.
        "delta" if parent == "delta" => "## `delta.json`",
        "delta" if root == "## `make-product`" || root == "## `pack`" => "## `make-product`",
        "delta" => return None,
        "stage" => "## `stage-host`",
        "proof" => "## `verify-product`",
        "verification" | "verifications" | "spec" => "## `stage-host`",
        "preflight" => "## `check`",
        "findings" => "## `check`",
        "engine" => "## `verify-product`",
        "archive" => "## `pack`",
        _ => return None,
    })
}

/// Checks `value`'s fields against the section headed `heading`; returns what is missing.
fn missing(heading: &str, value: &Value) -> Vec<String> {
    let text = section(heading);
    let table = table_fields(text);
    let named = backticked(text);
    let mut missing = Vec::new();
    let Value::Object(fields) = value else {
        panic!("{heading}: not an object")
    };
    for (key, inner) in fields {
        if !table.contains(key) {
            missing.push(format!("{heading}: `{key}` not in the table"));
        }
        nested(heading, heading, "", key, inner, &named, &mut missing);
    }
    // And the other way: the table documents no field the record does not have.
    for documented in &table {
        if !fields.contains_key(documented) {
            missing.push(format!(
                "{heading}: `{documented}` is in the table, not in the record"
            ));
        }
    }
    missing
}

fn nested(
    root: &str,
    heading: &str,
    parent: &str,
    key: &str,
    value: &Value,
    named: &BTreeSet<String>,
    missing: &mut Vec<String>,
) {
    let (root, heading, named) = match embedded(root, parent, key) {
        Some(other) if other != heading => (other, other, backticked(section(other))),
        _ => (root, heading, named.clone()),
    };
    match value {
        Value::Object(fields) => {
            for (inner_key, inner) in fields {
                // A map keyed by data (exclusion counts), not by field names.
                if key == "counts" {
                    continue;
                }
                if !named.contains(inner_key) {
                    missing.push(format!("{heading}: `{key}.{inner_key}` not named"));
                }
                nested(root, heading, key, inner_key, inner, &named, missing);
            }
        }
        Value::Array(items) => {
            for item in items {
                nested(root, heading, parent, key, item, &named, missing);
            }
        }
        _ => {}
    }
}

fn image() -> ImageRecord {
    ImageRecord {
        name: Some("img".into()),
        id: Some("sha256:1".into()),
        repo_digests: vec!["img@sha256:2".into()],
    }
}

fn engine() -> EngineRecord {
    EngineRecord {
        name: "Docker".into(),
        version: "27".into(),
        api_version: "1.47".into(),
        transport: Some(TransportRecord::Unix),
        host: Some("unix:///var/run/docker.sock".into()),
    }
}

fn spec() -> SpecRecord {
    SpecRecord {
        kind: KindRecord::Script {
            location: LocationRecord::Project,
            path: "ci/check.sh".into(),
            interpreter: vec!["sh".into()],
        },
        expect: Some("ok".into()),
    }
}

fn verification() -> VerificationRecord {
    VerificationRecord {
        spec: spec(),
        environment: "default".into(),
        command: "pixi run sh ci/check.sh".into(),
        exit_code: 0,
        expect_found: Some(true),
        passed: true,
        seconds: 1.0,
        log: "out/verify.log".into(),
    }
}

fn preflight() -> PreflightRecord {
    PreflightRecord {
        platform: "linux-64".into(),
        environments: vec!["default".into()],
        lock_version: Some(6),
        pixi_version: Some("pixi 0.40.0".into()),
        requires_pixi: Some(">=0.30".into()),
        findings: vec![FindingRecord {
            severity: SeverityRecord::Warning,
            code: "pypi-sdist".into(),
            subject: "foo".into(),
            reason: "built at install time".into(),
            fix: "add its build back-end".into(),
        }],
    }
}

fn stage() -> StageReport {
    StageReport {
        format_version: super::stage::FORMAT_VERSION,
        tool_version: "0".into(),
        command: "stage-host".into(),
        project_name: "demo".into(),
        manifest: "pixi.toml".into(),
        environments: vec!["default".into()],
        image: image(),
        pixi_version: "pixi 0.40.0".into(),
        platform: Some("linux-64".into()),
        container_workdir: "/workdir".into(),
        lock_sha256: "00".into(),
        lock_version: Some(6),
        excluded: ExcludedRecord {
            counts: BTreeMap::from([(ExclusionRecord::Junk, 1)]),
            secrets: vec![".env".into()],
            skipped_special: vec!["fifo".into()],
        },
        preflight: preflight(),
        project_dir: Some(PathBuf::from("/p")),
        resources_dir: Some(PathBuf::from("/r")),
        installs: vec![StepReport {
            environment: "default".into(),
            command: "pixi install".into(),
            exit_code: 0,
            seconds: 1.0,
            log: "out/install-default.log".into(),
        }],
        verification: Some(verification()),
        verifications: vec![verification()],
        bundled_pixi: Some(BundledPixi {
            path: "pixi-bin/pixi".into(),
            source: "/usr/local/bin/pixi".into(),
            version: "pixi 0.40.0".into(),
            sha256: "00".into(),
            size: 1,
        }),
        cache: Some(super::stage::CacheReport {
            warm: true,
            origin: Some(super::stage::SeedOrigin::CacheFromProduct),
            from: Some(PathBuf::from("/old/product")),
            conda_packages: 3,
            conda_reused: 2,
            conda_downloaded: 1,
            conda_dropped: 1,
            uv_cache_seeded: true,
            seed_seconds: 0.5,
        }),
        workdir: PathBuf::from("/w"),
        started_at: "t".into(),
        finished_at: "t".into(),
        result: StageResult::Success,
    }
}

fn proof() -> ProofReport {
    ProofReport {
        format_version: super::proof::FORMAT_VERSION,
        tool_version: "0".into(),
        project_name: "demo".into(),
        product_dir: PathBuf::from("/product"),
        product_path_in_container: "/pixi-airgap-proof/product".into(),
        image: image(),
        pixi_version: "pixi 0.40.0".into(),
        bundled_pixi: false,
        network_mode: "none".into(),
        network_interfaces: vec!["lo".into()],
        user: Some("1000:1000".into()),
        files_checked: 1,
        extra_files: Vec::new(),
        runtime_state: vec!["demo/.pixi/envs".into()],
        bootstrap: BootstrapReport {
            command: "sh ./bootstrap-project.sh".into(),
            exit_code: 0,
            seconds: 1.0,
            log: "proof-bootstrap.log".into(),
        },
        verification: Some(verification()),
        verifications: vec![verification()],
        timings: Timings::default(),
        result: ProofResult::Success,
        engine: engine(),
        delta: Some(AppliedDelta {
            old_dir: PathBuf::from("/old"),
            delta_dir: PathBuf::from("/delta"),
            command: "sh apply-delta.sh".into(),
            exit_code: 0,
            seconds: 1.0,
            log: "proof-apply-delta.log".into(),
        }),
    }
}

fn delta() -> DeltaManifest {
    DeltaManifest {
        format_version: 1,
        tool: "pixi-airgap 0".into(),
        project_name: "demo".into(),
        base_sha256sums: "00".into(),
        target_sha256sums: "11".into(),
        added: vec!["a".into()],
        changed: vec!["b".into()],
        removed: vec!["c".into()],
        links: vec![LinkChange {
            path: "l".into(),
            target: "a".into(),
        }],
        dirs_added: vec!["d".into()],
        sizes: DeltaSizes {
            carried_bytes: 1,
            carried_files: 1,
            target_bytes: 1,
            target_files: 1,
            base_bytes: Some(1),
        },
        base_dirs_exact: true,
    }
}

fn archive() -> ArchiveRecord {
    ArchiveRecord {
        path: PathBuf::from("/w/product.tar.zst"),
        sha256_file: PathBuf::from("/w/product.tar.zst.sha256"),
        sha256: "00".into(),
        size_bytes: 1,
        format: "tar.zst",
        split: Some(SplitRecord {
            split_size: 1,
            parts: vec![PartRecord {
                path: PathBuf::from("/w/product.tar.zst.000"),
                sha256: "00".into(),
                size_bytes: 1,
            }],
            join_script: PathBuf::from("/w/join-product.sh"),
        }),
        signature: Some(PathBuf::from("/w/product.tar.zst.sha256.sig")),
    }
}

fn delta_report() -> DeltaReport {
    DeltaReport {
        dir: PathBuf::from("/delta"),
        delta: delta(),
        archive: Some(archive()),
    }
}

fn to_value(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("a record serializes")
}

#[test]
fn stage_json_is_documented() {
    let stage = stage();
    let engine = crate::docker::EngineInfo {
        name: "Docker".into(),
        version: "27".into(),
        api_version: "1.47".into(),
        transport: Some(crate::docker::engine::Transport::Unix),
        host: Some("unix:///var/run/docker.sock".into()),
    };
    let printed = super::WithEngine {
        report: &stage,
        engine: &engine,
    };
    let problems = missing("## `stage-host`", &to_value(&printed));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_product_manifest_is_documented() {
    let manifest = ProductManifest {
        format_version: 1,
        tool: ToolInfo {
            name: "pixi-airgap".into(),
            version: "0".into(),
        },
        created_at: "t".into(),
        project_name: "demo".into(),
        manifest_file: "pixi.toml".into(),
        environments: vec!["default".into()],
        platform: Some("linux-64".into()),
        pixi_version: "pixi 0.40.0".into(),
        image: image(),
        lock: LockRecord {
            sha256: "00".into(),
            format_version: Some(6),
        },
        verification: Some(RecordedVerification::from(&verification())),
        verifications: vec![RecordedVerification::from(&verification())],
        preflight: preflight().findings,
        sbom: Some("sbom.cdx.json".into()),
        pixi: Some(PixiRecord {
            path: "bin/pixi".into(),
            version: "pixi 0.40.0".into(),
            sha256: "00".into(),
            size: 1,
        }),
        signing_key: Some(SigningKeyRecord {
            fingerprint: "SHA256:x".into(),
            algorithm: "ssh-ed25519".into(),
        }),
    };
    let mut value = to_value(&manifest);
    // The last field, written record by record.
    let files = [
        FileRecord {
            path: "a".into(),
            sha256: Some("00".into()),
            size: Some(1),
            executable: true,
            symlink: None,
        },
        FileRecord {
            path: "l".into(),
            sha256: None,
            size: None,
            executable: false,
            symlink: Some("a".into()),
        },
    ];
    value["files"] = to_value(files);
    let problems = missing("## `pixi-airgap.json`", &value);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn verify_report_json_is_documented() {
    let problems = missing("## `verify-product`", &to_value(proof()));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn delta_json_is_documented() {
    let problems = missing("## `delta.json`", &to_value(delta()));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn make_product_json_is_documented() {
    let report = MakeReport {
        format_version: 1,
        product_dir: PathBuf::from("/product"),
        manifest: PathBuf::from("/product/pixi-airgap.json"),
        project_name: "demo".into(),
        environments: vec!["default".into()],
        pixi_version: "pixi 0.40.0".into(),
        files: 1,
        size_bytes: 1,
        delta: Some(delta_report()),
        signature: Some(PathBuf::from("/product/SHA256SUMS.sig")),
        signing_key: Some("SHA256:x".into()),
    };
    let problems = missing("## `make-product`", &to_value(report));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn pack_json_is_documented() {
    let report = PackReport {
        format_version: 1,
        result: PackResult::Success,
        workdir: PathBuf::from("/w"),
        phases: vec![Phase {
            name: "stage",
            seconds: 1.0,
        }],
        project_name: "demo".into(),
        pixi_version: "pixi 0.40.0".into(),
        image: image(),
        proof_image_independent: true,
        product: Some(ProductSummary {
            dir: PathBuf::from("/w/product"),
            files: 1,
            size_bytes: 1,
            packages: 1,
            signing_key: Some("SHA256:x".into()),
        }),
        archive: Some(archive()),
        delta: Some(delta_report()),
        logs: Logs {
            stage: PathBuf::from("/w/out"),
            proof: PathBuf::from("/w/proof"),
        },
        stage: stage(),
        proof: Some(proof()),
    };
    let problems = missing("## `pack`", &to_value(report));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn check_json_is_documented() {
    let report = CheckOutput {
        format_version: 1,
        preflight: preflight(),
    };
    let problems = missing("## `check`", &to_value(report));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn clean_json_is_documented() {
    let report = CleanReport {
        format_version: 1,
        dry_run: false,
        all: false,
        leftovers: vec![LeftoverRecord {
            kind: "container-workdir",
            id: "abc".into(),
            name: "n".into(),
            command: Some("stage-container".into()),
            workdir: Some("/w".into()),
            container_workdir: Some("/workdir".into()),
            creator: Some(CreatorRecord {
                pid: 1,
                host: "h".into(),
                pid_start: Some(1),
                created: "t".into(),
            }),
            creator_state: "gone",
            action: "removed",
            reason: Some("why".into()),
        }],
    };
    let problems = missing("## `clean`", &to_value(report));
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Every record nests the image the same way; a format-1 `stage.json` (flat image fields) is
/// brought to format 2 when read.
#[test]
fn the_image_is_one_nested_record_and_format_1_stage_json_is_upgraded() {
    let nested =
        serde_json::json!({"name": "img", "id": "sha256:1", "repo_digests": ["img@sha256:2"]});
    assert_eq!(to_value(stage())["image"], nested);
    assert_eq!(to_value(proof())["image"], nested);
    let mut doc = to_value(stage());
    let fields = doc.as_object_mut().expect("an object");
    fields.insert("format_version".into(), 1.into());
    fields.insert("image".into(), "img".into());
    fields.insert("image_id".into(), "sha256:1".into());
    fields.insert(
        "image_repo_digests".into(),
        serde_json::json!(["img@sha256:2"]),
    );
    super::stage::upgrade(&mut doc);
    let upgraded: StageReport = serde_json::from_value(doc).expect("format 1 reads as format 2");
    assert_eq!(upgraded.format_version, super::stage::FORMAT_VERSION);
    assert_eq!(upgraded.image, image());
    // Format 1 without digests (a local image) and a format this build does not know.
    let mut doc = serde_json::json!({"format_version": 1, "image": null, "image_id": null});
    super::stage::upgrade(&mut doc);
    assert_eq!(
        doc["image"],
        serde_json::json!({"name": null, "id": null, "repo_digests": []})
    );
    let mut newer = serde_json::json!({"format_version": 3, "image": "x"});
    super::stage::upgrade(&mut newer);
    assert_eq!(
        newer,
        serde_json::json!({"format_version": 3, "image": "x"})
    );
}
