//! The secret filter against the corpus in `tests/fixtures/secrets/` (listed in its
//! `EXPECTED.toml`), first through the filter itself, then end to end through `stage-host` and
//! `stage-container`; and the refusal of credentials in the URLs of pixi's own files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::*;
use pixi_airgap::docker::ExecSpec;
use pixi_airgap::stage::filter::StageFilter;
use pixi_airgap::tar::{extract, stream, write as tarw};

/// What `EXPECTED.toml` says: secrets by class, and look-alikes.
struct Corpus {
    secrets: BTreeMap<String, Vec<String>>,
    lookalikes: Vec<String>,
}

impl Corpus {
    fn secret_paths(&self) -> impl Iterator<Item = &String> {
        self.secrets.values().flatten()
    }
}

fn corpus_dir() -> PathBuf {
    fixtures().join("secrets")
}

fn corpus() -> Corpus {
    let text = std::fs::read_to_string(corpus_dir().join("EXPECTED.toml")).unwrap();
    let doc: toml::Value = toml::from_str(&text).unwrap();
    let list = |v: &toml::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let secrets = doc["secrets"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(class, paths)| (class.clone(), list(paths)))
        .collect();
    Corpus {
        secrets,
        lookalikes: list(&doc["lookalikes"]["files"]),
    }
}

/// Copies the corpus to `dest` with the `@@` placeholders removed (so the copy is format-true),
/// after checking that `EXPECTED.toml` lists every file exactly once.
fn materialise(corpus: &Corpus, dest: &Path) {
    let root = corpus_dir();
    let mut on_disk = BTreeSet::new();
    for entry in walkdir::WalkDir::new(&root) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(&root).unwrap();
            if rel != Path::new("EXPECTED.toml") {
                on_disk.insert(rel.display().to_string());
            }
        }
    }
    let mut listed = BTreeSet::new();
    for path in corpus.secret_paths().chain(&corpus.lookalikes) {
        assert!(listed.insert(path.clone()), "{path} is listed twice");
    }
    assert_eq!(on_disk, listed, "EXPECTED.toml and the corpus differ");
    for rel in &on_disk {
        let text = std::fs::read_to_string(root.join(rel)).unwrap();
        let target = dest.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, text.replace("@@", "")).unwrap();
    }
}

/// Checks a staged copy of the corpus at `staged` (a folder, or a listing of relative paths):
/// no secret, every look-alike. Returns the number of secrets checked.
fn check_staged(corpus: &Corpus, what: &str, present: impl Fn(&str) -> bool) -> usize {
    let leaked: Vec<&String> = corpus.secret_paths().filter(|p| present(p)).collect();
    assert!(leaked.is_empty(), "{what}: secrets staged: {leaked:?}");
    let lost: Vec<&String> = corpus.lookalikes.iter().filter(|p| !present(p)).collect();
    assert!(lost.is_empty(), "{what}: look-alikes left out: {lost:?}");
    corpus.secret_paths().count()
}

fn print_counts(corpus: &Corpus, what: &str) {
    let classes: Vec<String> = corpus
        .secrets
        .iter()
        .map(|(class, paths)| format!("{class} {}", paths.len()))
        .collect();
    crate::common::record_count(&format!(
        "secrets, {what}: {} secrets excluded ({}), {} look-alikes kept",
        corpus.secret_paths().count(),
        classes.join(", "),
        corpus.lookalikes.len()
    ));
}

#[test]
fn corpus_has_enough_secrets_in_every_class() {
    let corpus = corpus();
    assert!(corpus.secret_paths().count() >= 120);
    for class in [
        "cloud",
        "ci",
        "registry",
        "keys",
        "database",
        "iac",
        "history",
        "vpn",
        "passwords",
        "web",
        "app",
        "content",
    ] {
        assert!(
            corpus.secrets.get(class).is_some_and(|v| !v.is_empty()),
            "no {class} secrets"
        );
    }
    // The repository copy must not carry a format-true token: the content check finds nothing
    // in any corpus file before the placeholders are removed.
    for path in corpus.secret_paths().chain(&corpus.lookalikes) {
        let raw = std::fs::read(corpus_dir().join(path)).unwrap();
        assert_eq!(
            pixi_airgap::secrets::content_finding(&raw),
            None,
            "{path} is format-true in the repository"
        );
    }
}

#[test]
fn host_filter_excludes_every_secret_and_keeps_every_lookalike() {
    let corpus = corpus();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("corpus");
    materialise(&corpus, &root);
    let filter = StageFilter::new(&[], &[]).unwrap();
    let (entries, report) =
        pixi_airgap::stage::walk::plan_filtered(&root, Path::new("p"), &filter).unwrap();
    let staged: BTreeSet<String> = entries
        .iter()
        .filter_map(|e| e.path.strip_prefix("p").ok())
        .map(|p| p.display().to_string())
        .collect();
    check_staged(&corpus, "host filter", |p| staged.contains(p));
    // Content secrets are reported one by one, like named ones.
    for path in &corpus.secrets["content"] {
        assert!(report.secrets.contains(path), "{path} not reported");
    }
    print_counts(&corpus, "host filter");

    // `--include-secret` brings back a file that only its content excluded.
    let filter = StageFilter::new(&[], &["aws_settings.py".to_string()]).unwrap();
    let (entries, _) =
        pixi_airgap::stage::walk::plan_filtered(&root, Path::new("p"), &filter).unwrap();
    assert!(entries
        .iter()
        .any(|e| e.path == Path::new("p/content/aws_settings.py")));
}

#[test]
fn container_filter_excludes_every_secret_and_keeps_every_lookalike() {
    let corpus = corpus();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("corpus");
    materialise(&corpus, &root);
    // As the engine sends a container's folder: unfiltered, under the folder's own name.
    let entries = tarw::tree_entries(&root, Path::new("corpus"));
    let filter = StageFilter::new(&[], &[]).unwrap();
    let (out, report) = runtime()
        .block_on(async {
            let source = stream::tar_stream(Box::new(entries), tarw::Owner::ROOT);
            pixi_airgap::stage::walk::refilter_stream(
                Box::pin(source),
                Vec::new(),
                PathBuf::from("p"),
                filter,
                Vec::new(),
            )
            .await
        })
        .unwrap();
    let dest = tmp.path().join("out");
    std::fs::create_dir(&dest).unwrap();
    extract::extract_reader(
        out.as_slice(),
        &dest,
        None,
        None,
        extract::ExtractLimits::default(),
        |_| false,
    )
    .unwrap();
    let staged = dest.join("p");
    check_staged(&corpus, "container filter", |p| staged.join(p).exists());
    for path in &corpus.lookalikes {
        assert_eq!(
            std::fs::read(staged.join(path)).unwrap(),
            std::fs::read(root.join(path)).unwrap(),
            "{path} changed"
        );
    }
    for path in &corpus.secrets["content"] {
        assert!(report.secrets.contains(path), "{path} not reported");
    }
    print_counts(&corpus, "container filter");
}

/// Lists the staged corpus from inside the container, into `out/verify.log`.
const LIST_SCRIPT: &str = "#!/bin/sh\necho corpus-listing-start\nfind corpus -print\n";

fn listed_in_log(log: &str) -> BTreeSet<String> {
    assert!(log.contains("corpus-listing-start"), "{log}");
    log.lines()
        .filter_map(|l| l.trim().strip_prefix("corpus/"))
        .map(str::to_string)
        .collect()
}

fn check_workdir(corpus: &Corpus, what: &str, workdir: &Path, source: &Path) {
    let staged = workdir.join("project/single-env/corpus");
    check_staged(corpus, what, |p| staged.join(p).exists());
    for path in &corpus.lookalikes {
        assert_eq!(
            std::fs::read(staged.join(path)).unwrap(),
            std::fs::read(source.join(path)).unwrap(),
            "{what}: {path} changed"
        );
    }
}

#[test]
fn no_secret_of_the_corpus_reaches_the_container_or_the_workdir() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    let corpus = corpus();
    let (tmp, project) = locked_fixture(&bed, &server, "single");
    let leftovers = LeftoverGuard::new(tmp.path());
    let source = project.join("corpus");
    materialise(&corpus, &source);
    std::fs::write(project.join("list-corpus.sh"), LIST_SCRIPT).unwrap();

    // stage-host: what the container saw is listed by the verification, inside the container.
    let wd = tmp.path().join("host-wd");
    let (p, w) = (project.display().to_string(), wd.display().to_string());
    let script = project.join("list-corpus.sh").display().to_string();
    let out = TestCommand::new()
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
            &script,
        ])
        .output();
    assert_success(&out);
    let log = std::fs::read_to_string(wd.join("out/verify.log")).unwrap();
    let seen = listed_in_log(&log);
    check_staged(&corpus, "stage-host container", |p| seen.contains(p));
    check_workdir(&corpus, "stage-host workdir", &wd, &source);
    leftovers.assert_clean();
    print_counts(&corpus, "stage-host");

    // stage-container: the project (secrets included) lives in the user's container.
    let container = user_container(&bed, &server, &project);
    let wd = tmp.path().join("container-wd");
    let w = wd.display().to_string();
    let out = TestCommand::new()
        .args([
            "stage-container",
            "--container-id",
            container.id(),
            "--project-path-in-container",
            "/home/dev/single",
            "--workdir",
            &w,
            "--verify-script",
            "list-corpus.sh",
        ])
        .output();
    let code = out.status.code();
    let log = std::fs::read_to_string(wd.join("out/verify.log"));
    runtime().block_on(container.remove()).unwrap();
    assert_eq!(code, Some(0), "{}", stderr(&out));
    let seen = listed_in_log(&log.unwrap());
    check_staged(&corpus, "stage-container container", |p| seen.contains(p));
    check_workdir(&corpus, "stage-container workdir", &wd, &source);
    print_counts(&corpus, "stage-container");
}

/// A project that passes every check before Docker: a manifest and a lock.
fn bare_project(dir: &Path) -> PathBuf {
    let project = dir.join("bare");
    std::fs::create_dir_all(project.join(".pixi")).unwrap();
    std::fs::write(
        project.join("pixi.toml"),
        "[project]\nname = \"bare\"\nchannels = [\"conda-forge\"]\nplatforms = [\"linux-64\"]\n",
    )
    .unwrap();
    std::fs::write(
        project.join("pixi.lock"),
        "version: 6\nenvironments:\n  default:\n    channels: []\npackages: []\n",
    )
    .unwrap();
    project
}

const PASSWORD: &str = "pa55-fake-s3cret";
/// A channel token in the shape conda channels take one (`/t/<token>/`); fake.
const TOKEN: &str = "fk-0a1b2c3d-4e5f-6789-abcd-ef0123456789";

#[test]
fn url_credentials_are_refused_before_any_container_naming_file_and_line() {
    let cases = [
        (
            ".pixi/config.toml",
            format!("# a mirror\n[mirrors]\n\"https://a.example\" = [\"https://u:{PASSWORD}@mirror.example/c\"]\n"),
            3,
        ),
        (
            "pixi.toml",
            format!("[project]\nname = \"bare\"\nchannels = [\"https://{PASSWORD}@conda.example/t/c\"]\nplatforms = [\"linux-64\"]\n"),
            3,
        ),
        (
            "pixi.lock",
            format!("version: 6\nenvironments:\n  default:\n    channels:\n    - url: https://token:{PASSWORD}@conda.example/c/\npackages: []\n"),
            5,
        ),
        // Safety round 2, item 18: channel tokens in the path, and the download configuration
        // beside the manifest (pyproject.toml while pixi.toml is the manifest, pip, conda).
        (
            "pixi.toml",
            format!("[project]\nname = \"bare\"\nchannels = [\"https://conda.example/t/{TOKEN}/private\"]\nplatforms = [\"linux-64\"]\n"),
            3,
        ),
        (
            "pixi.lock",
            format!("version: 6\nenvironments:\n  default:\n    channels:\n    - url: https://conda.example/t/{TOKEN}/private/\npackages: []\n"),
            5,
        ),
        (
            "pyproject.toml",
            format!("[project]\nname = \"bare\"\n[tool.uv]\nindex-url = \"https://ci:{PASSWORD}@pypi.example/simple\"\n"),
            4,
        ),
        (
            "pip.conf",
            format!("[global]\nindex-url = https://ci:{PASSWORD}@pypi.example/simple\n"),
            2,
        ),
        (
            ".condarc",
            format!("channels:\n  - https://conda.example/t/{TOKEN}/private\n"),
            2,
        ),
    ];
    let mut tried = 0;
    for (file, content, line) in cases {
        tried += 1;
        let tmp = tempfile::tempdir().unwrap();
        let project = bare_project(tmp.path());
        std::fs::write(project.join(file), content).unwrap();
        let wd = tmp.path().join("wd");
        let (p, w) = (project.display().to_string(), wd.display().to_string());
        // The image does not exist: the refusal must come before anything asks Docker.
        let args = [
            "stage-host",
            "--image",
            "pixi-airgap-test:does-not-exist",
            "--project-dir",
            &p,
            "--workdir",
            &w,
        ];
        let out = TestCommand::new().args(args).output();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(&format!("{file}:{line}")), "{file}: {err}");
        assert!(err.contains("--allow-url-credentials"), "{file}: {err}");
        assert!(
            !err.contains(PASSWORD) && !err.contains(TOKEN),
            "{file}: the secret was printed: {err}"
        );
        assert!(!wd.exists(), "{file}: the workdir was created");

        // With the escape hatch, the scan only warns (the run then fails later, at the image).
        let mut allowed = args.to_vec();
        allowed.push("--allow-url-credentials");
        let out = TestCommand::new().args(&allowed).output();
        let err = stderr(&out);
        assert!(err.contains("--allow-url-credentials"), "{file}: {err}");
        assert!(err.contains(&format!("{file}:{line}")), "{file}: {err}");
        assert!(!err.contains("would be staged"), "{file}: {err}");
        assert!(
            !err.contains(PASSWORD) && !err.contains(TOKEN),
            "{file}: the secret was printed: {err}"
        );
    }
    crate::common::record_count(&format!(
        "URL credentials: {tried} placements refused before any container"
    ));
}

#[test]
fn url_credentials_in_a_real_project_are_refused_unless_allowed() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    let (tmp, project) = locked_fixture(&bed, &server, "single");
    let leftovers = LeftoverGuard::new(tmp.path());
    std::fs::create_dir_all(project.join(".pixi")).unwrap();
    // A comment: pixi ignores it, the scan (which reads lines, not TOML) does not.
    let config = format!("# mirror: https://ci:{PASSWORD}@mirror.example/conda\n");
    std::fs::write(project.join(".pixi/config.toml"), &config).unwrap();
    let p = project.display().to_string();

    let wd = tmp.path().join("refused");
    let w = wd.display().to_string();
    let host = |w: &str, extra: &[&str]| {
        let mut args = vec![
            "stage-host",
            "--image",
            &bed.image,
            "--network",
            &server.network,
            "--project-dir",
            &p,
            "--workdir",
            w,
        ];
        args.extend_from_slice(extra);
        TestCommand::new().args(&args).output()
    };
    let out = host(&w, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(".pixi/config.toml:1"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    assert!(!wd.exists());
    leftovers.assert_clean();

    // stage-container refuses before it writes anything into the user's container.
    let container = user_container(&bed, &server, &project);
    let cwd = tmp.path().join("refused-container");
    let cw = cwd.display().to_string();
    let out = TestCommand::new()
        .args([
            "stage-container",
            "--container-id",
            container.id(),
            "--project-path-in-container",
            "/home/dev/single",
            "--workdir",
            &cw,
            "--container-workdir-path",
            "/tmp/airgap-wd",
        ])
        .output();
    let probe = runtime().block_on(exec_in(
        &bed.docker,
        container.id(),
        &ExecSpec::new([
            "sh",
            "-c",
            "test -e /tmp/airgap-wd && echo present || echo absent",
        ]),
    ));
    runtime().block_on(container.remove()).unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/home/dev/single/.pixi/config.toml:1"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
    assert!(probe.0.contains("absent"), "{probe:?}");

    // The escape hatch stages it, config included.
    let wd = tmp.path().join("allowed");
    let w = wd.display().to_string();
    let out = host(&w, &["--allow-url-credentials"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(".pixi/config.toml:1"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    assert_eq!(
        std::fs::read_to_string(wd.join("project/single-env/.pixi/config.toml")).unwrap(),
        config
    );
}
