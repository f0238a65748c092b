//! The test bed shared by the end-to-end tests: a real Docker engine, the pixi image that
//! `scripts/testbed.sh` prepares, a conda channel served over HTTP from a container on a private
//! network, and fixture projects locked against that channel.
//!
//! Tests that need Docker fail when no engine answers, unless PIXI_AIRGAP_SKIP_DOCKER_TESTS=1
//! (CI never sets it).
// The engine legs compile only their core (tests/it/main.rs): most of the harness is unused there.
#![cfg_attr(
    any(feature = "engine-podman", feature = "engine-remote"),
    allow(dead_code, unused_imports)
)]

pub mod channel;
pub mod cmd;
pub mod engine;

pub use cmd::{assert_exit, assert_success, outcome, TestCommand};
pub use engine::LeftoverGuard;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use pixi_airgap::docker::{Container, ContainerSpec, Docker, ExecSpec};
use pixi_airgap::tar::{stream, write as tarw};

/// DNS name of the channel server on the test network, as written into fixture manifests.
pub const CHANNEL_HOST: &str = "airgap-channel";

pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

#[derive(Clone)]
pub struct Testbed {
    pub docker: Docker,
    /// Image with pixi (the build and the offline-proof image).
    pub image: String,
    /// The same rootfs without pixi.
    pub nopixi_image: String,
}

impl Testbed {
    /// What `pixi --version` prints in the image under test: tests compare against this, never
    /// against a literal version.
    pub fn pixi_version(&self) -> String {
        let docker = self.docker.clone();
        let image = self.image.clone();
        runtime().block_on(async move {
            let spec = ContainerSpec {
                image,
                labels: vec![("io.pixi-airgap.test".into(), "version".into())],
                network: Some("none".into()),
                ..Default::default()
            };
            let container = docker
                .start_container(&spec)
                .await
                .expect("version container");
            let out = container
                .exec(&ExecSpec::new(["pixi", "--version"]), None)
                .await
                .unwrap();
            container.remove().await.unwrap();
            assert!(out.success(), "pixi --version failed: {}", out.text());
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
    }
}

/// Whether the test bed has the Python package and the PyPI index (scripts/testbed.sh builds
/// them; only the tests of pixi >= 0.18 use them); tests that need them fail with this message
/// otherwise.
#[cfg(feature = "pixi-modern")]
pub fn require_python_bed() {
    for var in [
        "PIXI_AIRGAP_TESTBED_PYTHON_PKG",
        "PIXI_AIRGAP_TESTBED_PYPI_INDEX",
    ] {
        assert!(
            std::env::var_os(var).is_some(),
            "{var} is not set: run the tests through scripts/test.sh, or \
             `eval \"$(scripts/testbed.sh --print-env)\"` first"
        );
    }
}

/// The test bed, or `None` when the user opted out of Docker tests. Panics with instructions when
/// Docker or the images are missing.
pub fn testbed() -> Option<Testbed> {
    if std::env::var("PIXI_AIRGAP_SKIP_DOCKER_TESTS").as_deref() == Ok("1") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PIXI_AIRGAP_SKIP_DOCKER_TESTS=1 under CI: CI runs every Docker test, it never skips one"
        );
        eprintln!("PIXI_AIRGAP_SKIP_DOCKER_TESTS=1: skipping a test that needs Docker");
        return None;
    }
    let docker = runtime().block_on(Docker::connect()).unwrap_or_else(|err| {
        panic!(
            "this test needs a Docker engine and none answered: {err:#}\n\
             start Docker (or set DOCKER_HOST); to skip Docker tests on purpose set PIXI_AIRGAP_SKIP_DOCKER_TESTS=1"
        )
    });
    let image = std::env::var("PIXI_AIRGAP_TEST_IMAGE")
        .or_else(|_| std::env::var("PIXI_AIRGAP_TESTBED_IMAGE"))
        .unwrap_or_else(|_| "pixi-airgap-testbed:pixi-0.15.2".to_string());
    let nopixi_image = std::env::var("PIXI_AIRGAP_TESTBED_NOPIXI_IMAGE")
        .unwrap_or_else(|_| "pixi-airgap-testbed:no-pixi".to_string());
    for img in [&image, &nopixi_image] {
        let found = runtime()
            .block_on(docker.image(img))
            .expect("inspect image");
        assert!(
            found.is_some(),
            "test image `{img}` is missing: run `scripts/testbed.sh` first (it builds and caches it)"
        );
    }
    let bed = Testbed {
        docker,
        image,
        nopixi_image,
    };
    check_pixi_line(&bed);
    Some(bed)
}

/// With `pixi015` or `pixi-modern` (tests/it/main.rs), the image under test must have pixi of
/// that line: a leg built for one line and run on the other's image would pass tests it should
/// run and fail the others. Checked once per run.
fn check_pixi_line(bed: &Testbed) {
    let wanted = if cfg!(feature = "pixi015") {
        "pixi015"
    } else if cfg!(feature = "pixi-modern") {
        "pixi-modern"
    } else {
        return;
    };
    static CHECKED: OnceLock<String> = OnceLock::new();
    let version = CHECKED.get_or_init(|| bed.pixi_version());
    // `pixi 0.15.2`: the 0.15 line is everything before 0.18 (pyproject.toml manifests).
    let minor = version
        .split_whitespace()
        .last()
        .and_then(|v| v.strip_prefix("0."))
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    let modern = minor.is_none_or(|m| m >= 18);
    assert_eq!(
        wanted == "pixi-modern",
        modern,
        "the tests were built with the feature `{wanted}`, but the image `{}` has {version}: \
         build with the feature of its pixi line (scripts/test.sh picks it from `pixi --version`)",
        bed.image
    );
}

/// The transport the engine under test must have been reached by (`engine.transport` of the
/// reports): what scripts/test-remote.sh says in `PIXI_AIRGAP_TEST_EXPECT_TRANSPORT`, else `unix`
/// when the environment names no remote engine; `None` when it names one the suite did not set.
pub fn expected_transport() -> Option<String> {
    if let Ok(transport) = std::env::var("PIXI_AIRGAP_TEST_EXPECT_TRANSPORT") {
        return Some(transport);
    }
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let context = std::env::var("DOCKER_CONTEXT").unwrap_or_default();
    ((host.is_empty() || host.starts_with("unix://")) && context.is_empty())
        .then(|| "unix".to_string())
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        chrono::Utc::now().timestamp_millis() % 100_000
    )
}

/// A private network with the test channel served on it. Removed on drop.
pub struct ChannelServer {
    pub network: String,
    container: String,
}

impl ChannelServer {
    pub fn start(bed: &Testbed) -> Self {
        let network = unique("pixi-airgap-test-net");
        engine::create_network(&network);
        let container = engine::start_http_server(&bed.image, &network, CHANNEL_HOST, "channel");
        // Dropped (and so removed) if an upload below panics.
        let server = Self { network, container };
        let dir = tempfile::tempdir().unwrap();
        channel::write_channel(&dir.path().join("testchannel"));
        runtime().block_on(async {
            if let Some(index) = std::env::var_os("PIXI_AIRGAP_TESTBED_PYPI_INDEX") {
                copy_tree(Path::new(&index), &dir.path().join("pypi"));
                upload_tree(
                    &bed.docker,
                    &server.container,
                    &dir.path().join("pypi"),
                    "/srv",
                    "pypi",
                )
                .await;
            }
            let channel = dir.path().join("testchannel");
            upload_tree(
                &bed.docker,
                &server.container,
                &channel,
                "/srv",
                "testchannel",
            )
            .await;
        });
        server
    }
}

impl ChannelServer {
    /// Deletes a package file from the channel (its `repodata.json` still lists it): from then on
    /// only a cache can provide it.
    pub fn remove_package(&self, file_name: &str) {
        let path = format!("/srv/testchannel/noarch/{file_name}");
        engine::docker(&["exec", self.container.as_str(), "rm", "--", path.as_str()]);
    }
}

impl Drop for ChannelServer {
    fn drop(&mut self) {
        engine::remove_container_and_network(&self.container, &self.network);
    }
}

impl Testbed {
    /// `stage-host` of `project` into `workdir` with the image under test, on the channel's
    /// network when there is one.
    pub fn stage_host(
        &self,
        server: Option<&ChannelServer>,
        project: &Path,
        workdir: &Path,
    ) -> TestCommand {
        let mut cmd = TestCommand::new();
        cmd.args(["stage-host", "--image", &self.image]);
        if let Some(server) = server {
            cmd.args(["--network", &server.network]);
        }
        cmd.path_arg("--project-dir", project)
            .path_arg("--workdir", workdir);
        cmd
    }

    /// `pack` of `project` into `workdir` with the image under test, on the channel's network,
    /// with a pinned `SOURCE_DATE_EPOCH` (archives are then byte-for-byte reproducible).
    pub fn pack(&self, server: &ChannelServer, project: &Path, workdir: &Path) -> TestCommand {
        let mut cmd = TestCommand::new();
        cmd.args(["pack", "--image", &self.image, "--network", &server.network])
            .path_arg("--project-dir", project)
            .path_arg("--workdir", workdir)
            .env("SOURCE_DATE_EPOCH", "1700000000");
        cmd
    }

    /// `verify-product` of `product` (project `name`) with the image under test, reports in `out`.
    pub fn verify_product(&self, product: &Path, out: &Path, name: &str) -> TestCommand {
        let mut cmd = TestCommand::new();
        cmd.args(["verify-product", "--image", &self.image])
            .path_arg("--product-dir", product)
            .path_arg("--out-dir", out)
            .args(["--project-name", name]);
        cmd
    }
}

/// `make-product` of the project `name` staged in `workdir`.
pub fn make_product_cmd(workdir: &Path, name: &str) -> TestCommand {
    let mut cmd = TestCommand::new();
    cmd.arg("make-product")
        .path_arg("--workdir", workdir)
        .args(["--project-name", name]);
    cmd
}

/// The usual start of an end-to-end test: the test bed, a channel server on its own network, and
/// a fixture project locked against it in a temp folder.
pub struct Locked {
    pub bed: Testbed,
    pub server: ChannelServer,
    pub tmp: tempfile::TempDir,
    pub project: PathBuf,
    /// Nothing the tool made for a workdir in `tmp` is left at the end of the test.
    pub leftovers: engine::LeftoverGuard,
}

impl Locked {
    /// `None` only when Docker tests are skipped on purpose (see [`testbed`]).
    pub fn fixture(name: &str) -> Option<Self> {
        let bed = testbed()?;
        let server = ChannelServer::start(&bed);
        let (tmp, project) = locked_fixture(&bed, &server, name);
        let leftovers = engine::LeftoverGuard::new(tmp.path());
        Some(Self {
            bed,
            server,
            tmp,
            project,
            leftovers,
        })
    }
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Copies a fixture project into a temp folder (as `<tmp>/<name>`) and writes its pixi.lock by
/// running `pixi install` online against the channel in a throwaway container.
pub fn locked_fixture(
    bed: &Testbed,
    server: &ChannelServer,
    name: &str,
) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join(name);
    copy_tree(&fixtures().join(name), &project);
    write_lock(bed, server, &project);
    (tmp, project)
}

/// Runs `pixi install` for every environment in a container on the channel network and brings
/// the resulting pixi.lock back into `project`.
///
/// pixi 0.15.2 has been seen (rarely, under load) to hang for good in this first, solving
/// install, with no network traffic; each attempt is bounded and a hung one is tried again, so a
/// hang costs minutes instead of the whole CI run.
pub fn write_lock(bed: &Testbed, server: &ChannelServer, project: &Path) {
    let docker = bed.docker.clone();
    runtime().block_on(async {
        let spec = ContainerSpec {
            image: bed.image.clone(),
            labels: vec![("io.pixi-airgap.test".into(), "lock".into())],
            network: Some(server.network.clone()),
            ..Default::default()
        };
        let container = docker.start_container(&spec).await.expect("lock container");
        let mkdir = container
            .exec(&ExecSpec::new(["mkdir", "-p", "/lock/p"]), None)
            .await
            .unwrap();
        assert!(mkdir.success());
        upload_tree(&docker, container.id(), project, "/lock/p", "").await;
        let env = vec![
            "PIXI_CACHE_DIR=/lock/cache".to_string(),
            "RATTLER_CACHE_DIR=/lock/cache".to_string(),
        ];
        let out = container
            .exec(&ExecSpec::new(["sh", "-c", LOCK_SCRIPT]).env(&env), None)
            .await
            .unwrap();
        assert!(out.success(), "locking the fixture failed:\n{}", out.text());
        // Environments other than default must be solved too.
        let out = container
            .exec(&ExecSpec::new(["sh", "-c", "cat /lock/p/pixi.lock"]), None)
            .await
            .unwrap();
        assert!(out.success(), "no pixi.lock:\n{}", out.text());
        std::fs::write(project.join("pixi.lock"), &out.output).unwrap();
        container.remove().await.unwrap();
    });
}

const LOCK_SCRIPT: &str = r#"
lock() {
  for attempt in 1 2 3; do
    timeout 240 pixi install --manifest-path "$1" 2>&1 && return 0
    [ $? = 124 ] || return 1
    echo "pixi install hung (attempt $attempt); trying again"
  done
  return 1
}
lock /lock/p/pixi.toml || lock /lock/p/pyproject.toml
"#;

pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else if entry.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Containers that carry our label for a given workdir (must be none after every run).
pub fn containers_for_workdir(bed: &Testbed, workdir: &Path) -> Vec<String> {
    let workdir = workdir.display().to_string();
    runtime()
        .block_on(
            bed.docker
                .labelled_containers(pixi_airgap::docker::LABEL_WORKDIR),
        )
        .unwrap()
        .into_iter()
        .filter(|c| c.labels.get(pixi_airgap::docker::LABEL_WORKDIR) == Some(&workdir))
        .map(|c| c.id)
        .collect()
}

/// Files that exercise the stager, plus secrets and junk that must never be staged.
pub fn dress_stager_project(project: &Path, resources: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let write = |rel: &str, content: &[u8]| {
        let path = project.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    };
    write("bin/run me.sh", b"#!/bin/sh\necho ran\n");
    std::fs::set_permissions(
        project.join("bin/run me.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    write("données/naïve – ünïcode.txt", "ça marche\n".as_bytes());
    write(
        "ci/check.sh",
        b"set -e\nhello-airgap\ntest -x \"bin/run me.sh\"\necho script-ok\n",
    );
    std::fs::create_dir_all(project.join("empty/nested")).unwrap();
    std::os::unix::fs::symlink("données/naïve – ünïcode.txt", project.join("link-to-file"))
        .unwrap();
    std::os::unix::fs::symlink("bin", project.join("link-to-dir")).unwrap();
    write(".env.example", b"TOKEN=changeme\n");
    write(".pixi/config.toml", b"# project-local pixi settings\n");
    write(".pixi/envs/default/junk", b"junk");
    // Secrets and junk.
    for secret in [
        ".env",
        ".env.production",
        ".npmrc",
        ".pypirc",
        ".netrc",
        ".git-credentials",
        "id_rsa",
        ".ssh/id_ed25519",
        "certs/server.pem",
        "certs/server.key",
        "store.p12",
        ".aws/credentials",
        ".docker/config.json",
        "kubeconfig",
        ".rattler/credentials.json",
        "sub/.env",
    ] {
        write(secret, b"TOP-SECRET-VALUE\n");
    }
    write(".git/config", b"[core]\n");
    write("src/__pycache__/x.pyc", b"junk");
    write("node_modules/x/index.js", b"junk");
    // A large resource (not sparse), streamed both ways.
    std::fs::create_dir_all(resources.join("models")).unwrap();
    let mut big =
        std::io::BufWriter::new(std::fs::File::create(resources.join("models/big.bin")).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..(48 * 1024 * 1024 / 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::io::Write::write_all(&mut big, &x.to_le_bytes()).unwrap();
    }
    std::io::Write::flush(&mut big).unwrap();
    std::fs::write(resources.join("README.txt"), b"resources\n").unwrap();
    std::fs::write(resources.join(".npmrc"), b"TOP-SECRET-VALUE\n").unwrap();
}

/// Stages a fixture with its smoke verification and returns (tmp, workdir).
pub fn staged(
    bed: &Testbed,
    server: &ChannelServer,
    fixture: &str,
    extra: &[&str],
) -> (tempfile::TempDir, PathBuf, String) {
    let (tmp, project) = locked_fixture(bed, server, fixture);
    let workdir = tmp.path().join("wd");
    bed.stage_host(Some(server), &project, &workdir)
        .args(extra)
        .assert_success();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workdir.join("out/stage.json")).unwrap()).unwrap();
    let name = report["project_name"].as_str().unwrap().to_string();
    (tmp, workdir, name)
}

pub fn make_product(workdir: &Path, name: &str, output: Option<&Path>) -> std::process::Output {
    let mut cmd = make_product_cmd(workdir, name);
    if let Some(out) = output {
        cmd.path_arg("--output", out);
    }
    cmd.output()
}

pub fn verify_product(
    bed: &Testbed,
    product: &Path,
    out: &Path,
    name: &str,
    extra: &[&str],
) -> std::process::Output {
    bed.verify_product(product, out, name).args(extra).output()
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Starts the "user's" container on the channel network with `project` copied to /home/dev/<name>.
pub fn user_container(bed: &Testbed, server: &ChannelServer, project: &Path) -> Container {
    let name = project.file_name().unwrap().to_string_lossy().into_owned();
    runtime().block_on(async {
        let spec = ContainerSpec {
            image: bed.image.clone(),
            labels: vec![("io.pixi-airgap.test".into(), "user-container".into())],
            network: Some(server.network.clone()),
            ..Default::default()
        };
        let container = bed.docker.start_container(&spec).await.unwrap();
        let mkdir = container
            .exec(&ExecSpec::new(["mkdir", "-p", "/home/dev"]), None)
            .await
            .unwrap();
        assert!(mkdir.success());
        upload_tree(&bed.docker, container.id(), project, "/home/dev", &name).await;
        container
    })
}

pub fn in_container(bed: &Testbed, container: &Container, script: &str) -> (String, i64) {
    runtime().block_on(exec_in(
        &bed.docker,
        container.id(),
        &ExecSpec::new(["sh", "-c", script]),
    ))
}

/// The shells users source envs.sh from. A missing one fails the test in CI and is skipped with a
/// note elsewhere (scripts/testbed.sh installs dash and busybox; zsh comes with the host tools).
pub fn shells() -> Vec<Vec<&'static str>> {
    let mut found = Vec::new();
    for shell in [
        vec!["bash"],
        vec!["dash"],
        vec!["busybox", "sh"],
        vec!["zsh"],
    ] {
        let works = std::process::Command::new(shell[0])
            .args(&shell[1..])
            .args(["-c", "true"])
            .status()
            .is_ok_and(|s| s.success());
        if works {
            found.push(shell);
        } else if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{shell:?} is missing: CI must test envs.sh with every shell (install it)");
        } else {
            eprintln!("{shell:?} is missing here: not tested (CI fails without it)");
        }
    }
    found
}

/// Records what an adversarial test tried (attacks, bad inputs, secrets, kill points): printed,
/// and appended to `target/tmp/safety-counts.log`, which `scripts/test.sh` shows at the end of
/// the suite with the image each count was made on.
pub fn record_count(line: &str) {
    use std::io::Write;
    eprintln!("{line}");
    let image = std::env::var("PIXI_AIRGAP_TEST_IMAGE")
        .or_else(|_| std::env::var("PIXI_AIRGAP_TESTBED_IMAGE"))
        .unwrap_or_else(|_| "pixi-airgap-testbed:pixi-0.15.2".to_string());
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("safety-counts.log");
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{line} [{image}]");
    }
}

pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut file = std::fs::File::open(path).unwrap();
    std::io::copy(&mut file, &mut hasher).unwrap();
    pixi_airgap::fsutil::hex(&hasher.finalize())
}

pub async fn exec_in(
    docker: &pixi_airgap::docker::Docker,
    id: &str,
    spec: &pixi_airgap::docker::ExecSpec,
) -> (String, i64) {
    let out = pixi_airgap::docker::exec_raw(docker, id, spec)
        .await
        .unwrap();
    (out.text(), out.exit_code)
}

/// Path -> (kind, mode, content hash) of every entry under `root`, links not followed: the
/// before/after picture of a tree that must not change.
pub fn tree_snapshot(root: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    let mut out = std::collections::BTreeMap::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(false)
        .follow_root_links(false)
    {
        let entry = entry.unwrap();
        let meta = entry.path().symlink_metadata().unwrap();
        let what = if meta.file_type().is_symlink() {
            format!(
                "link {}",
                std::fs::read_link(entry.path()).unwrap().display()
            )
        } else if meta.is_file() {
            format!(
                "file {:o} {}",
                std::os::unix::fs::PermissionsExt::mode(&meta.permissions()),
                sha256_file(entry.path())
            )
        } else {
            format!(
                "dir {:o}",
                std::os::unix::fs::PermissionsExt::mode(&meta.permissions())
            )
        };
        out.insert(entry.path().strip_prefix(root).unwrap().to_path_buf(), what);
    }
    out
}

/// Copies what the host tree `src` holds into a container as root: it lands at `at/name` (`name`
/// may have several parts or be empty; missing folders are made by the engine, an existing one
/// keeps its mode: the tree's root itself is not sent).
pub async fn upload_tree(docker: &Docker, container_id: &str, src: &Path, at: &str, name: &str) {
    let root = PathBuf::from(name);
    let entries =
        tarw::tree_entries(src, &root).filter(move |e| !matches!(e, Ok(e) if e.path == root));
    docker
        .upload(
            container_id,
            at,
            stream::tar_stream(Box::new(entries), tarw::Owner::ROOT),
        )
        .await
        .unwrap_or_else(|err| panic!("upload of {} failed: {err}", src.display()));
}

/// A staged workdir as stage-host leaves it, made by hand (no container needed): project `demo`
/// with one package `a-1-0` in its cache. For tests of make-product and of what reads a product
/// before any container starts.
pub fn hand_staged_workdir(root: &Path) -> PathBuf {
    let wd = root.join("wd");
    let project = wd.join("project/demo");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(wd.join(".pixi-airgap-workdir"), "").unwrap();
    std::fs::write(project.join("pixi.toml"), "[project]\nname = \"demo\"\n").unwrap();
    std::fs::write(project.join("pixi.lock"), "version: 4\n").unwrap();
    let pkg = wd.join("pixi-cache/pkgs/a-1-0/bin");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("tool"), "#!/bin/sh\n").unwrap();
    std::fs::create_dir_all(wd.join("resources")).unwrap();
    std::fs::create_dir_all(wd.join("out")).unwrap();
    // Format 1 on purpose (a flat image): make-product reads the stage.json of earlier
    // pixi-airgaps too.
    let stage = serde_json::json!({
        "format_version": 1, "tool_version": "0", "command": "stage-host",
        "project_name": "demo", "manifest": "pixi.toml", "environments": ["default"],
        "image": "img", "image_id": "sha256:abc", "image_repo_digests": [],
        "pixi_version": "pixi 0.15.2", "platform": "linux-64", "container_workdir": "/workdir",
        "lock_sha256": sha256_file(&project.join("pixi.lock")), "lock_version": 4,
        "excluded": {"counts": {}, "secrets": [], "skipped_special": []},
        "installs": [], "verification": null, "workdir": wd,
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:01:00Z",
        "result": "success"
    });
    std::fs::write(wd.join("out/stage.json"), stage.to_string()).unwrap();
    wd
}

/// Whether a running stage has opened its log `out/NAME`: a run writes into its own folder
/// (`WORKDIR/.incoming-*/`) until it is complete, then swaps it in.
pub fn stage_log_exists(workdir: &Path, name: &str) -> bool {
    workdir.join("out").join(name).exists()
        || std::fs::read_dir(workdir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with(".incoming-")
                    && e.path().join("out").join(name).exists()
            })
        })
}
