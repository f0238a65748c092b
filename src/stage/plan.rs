//! The staging plan ([`StagePlan`]): everything a staging run needs, resolved, and the project's
//! files it was made from ([`ProjectFiles`]: a folder on this host, or the few files copied out of
//! a container). The plan is built in one place, `crate::commands::stage_plan::build`, the one
//! conversion from what the user asked for to what a run does; nothing after it reads the
//! manifest or the lock again.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::docker::Container;
use crate::lockfile::Lock;
use crate::pixi::{self, LockInfo, ProjectManifest};
use crate::tar::write::TarEntry;
use crate::verification::{
    interpreter_from_shebang, locate_script, missing_script_error, ScriptLocation, ScriptSearch,
    Verification, VerificationKind,
};
use crate::workdir::Workdir;

use super::filter::StageFilter;
use super::seed;

/// Where the project comes from.
#[derive(Debug, Clone)]
pub enum ProjectSource {
    /// Folders on this host (`stage-host`).
    Host {
        project_dir: PathBuf,
        resources_dir: Option<PathBuf>,
    },
    /// A folder inside the build container itself (`stage-container`): streamed out through the
    /// engine, filtered on the host as it passes, and streamed back in.
    Container { path: String },
}

/// The files of the project the plan reads: the project folder on this host, or a private copy
/// of the few files the plan needs from a project in a container (the manifests, the lock,
/// `.pixi/config.toml`, and the first bytes of a verification script).
#[derive(Debug, Clone)]
pub struct ProjectFiles {
    source: ProjectSource,
    /// Where the manifest, the lock and the config are read from.
    dir: PathBuf,
    /// The local copy of a container's files (which `dir` names): held, never read, so that it
    /// lives as long as the last clone of the plan.
    _copy: Option<Arc<tempfile::TempDir>>,
    /// The first bytes of the verification script read from a container (there is at most
    /// one), with its path relative to the project.
    script_head: Option<(String, Vec<u8>)>,
    /// What errors about a container's project are said of: `in container ID:PATH`.
    place: Option<String>,
}

/// The files of a project in a container that the plan reads, relative to the project.
const CONTAINER_FILES: [&str; 4] = [
    "pixi.toml",
    "pyproject.toml",
    "pixi.lock",
    ".pixi/config.toml",
];

/// Manifests, locks and configs beyond this are not a project's.
const CONTAINER_FILE_LIMIT: usize = 64 * 1024 * 1024;

/// How much of a script its `#!` line is read from.
const SCRIPT_HEAD: usize = 256;

impl ProjectFiles {
    /// A project on this host.
    pub fn host(project_dir: PathBuf, resources_dir: Option<PathBuf>) -> Self {
        Self {
            dir: project_dir.clone(),
            source: ProjectSource::Host {
                project_dir,
                resources_dir,
            },
            _copy: None,
            script_head: None,
            place: None,
        }
    }

    /// Copies what the plan reads of the project at `path` in `container`: the manifests, the
    /// lock, the config, and the head of the verification script `script` (when one is given and
    /// lies in the project). A file the container lacks is simply not copied; the plan then says
    /// what is missing, as for a host folder.
    pub async fn from_container(
        container: &Container,
        path: &str,
        script: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let docker = container.docker();
        let copy = tempfile::tempdir().context("failed to create a temporary folder")?;
        // Named like the project, so messages about the copy read like messages about it.
        let folder = Path::new(path)
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("project"));
        let dir = copy.path().join(folder);
        std::fs::create_dir_all(dir.join(".pixi"))
            .context("failed to create a temporary folder")?;
        for name in CONTAINER_FILES {
            let full = format!("{path}/{name}");
            if let Some(bytes) = docker
                .read_file(container.id(), &full, CONTAINER_FILE_LIMIT)
                .await?
            {
                std::fs::write(dir.join(name), bytes)
                    .with_context(|| format!("failed to keep a copy of {name}"))?;
            }
        }
        let mut script_head = None;
        // A script outside the project is refused when the plan locates it.
        if let Some(rel) = script.and_then(|s| locate_in_container(s, path).ok()) {
            let full = format!("{path}/{rel}");
            if let Some(head) = docker.read_file(container.id(), &full, SCRIPT_HEAD).await? {
                script_head = Some((rel, head));
            }
        }
        Ok(Self {
            source: ProjectSource::Container {
                path: path.to_string(),
            },
            dir,
            _copy: Some(Arc::new(copy)),
            script_head,
            place: Some(format!("in container {}:{path}", container.short_id())),
        })
    }

    pub fn source(&self) -> &ProjectSource {
        &self.source
    }

    /// The folder the manifest, the lock and the config are read from: the project, or the
    /// local copy of a container's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An error about the project, said of the container's project when it is one (the copy's
    /// paths would mean nothing to the user).
    pub fn in_source(&self, err: anyhow::Error) -> anyhow::Error {
        match &self.place {
            None => err,
            Some(place) => err.context(place.clone()),
        }
    }

    /// A `--verify-script` path as a verification: located by the [`ScriptSearch`] rule, its
    /// interpreter read from its `#!` line.
    pub fn script(&self, script: &Path) -> anyhow::Result<VerificationKind> {
        match &self.source {
            ProjectSource::Host {
                project_dir,
                resources_dir,
            } => crate::verification::resolve_script(script, project_dir, resources_dir.as_deref()),
            ProjectSource::Container { path } => {
                let rel = locate_in_container(script, path)?;
                let head = self.script_head.as_ref().filter(|(read, _)| *read == rel);
                let (_, head) = head.ok_or_else(|| {
                    let full = PathBuf::from(format!("{path}/{rel}"));
                    missing_script_error(&full, &[(full.clone(), "the project in the container")])
                })?;
                Ok(VerificationKind::Script {
                    location: ScriptLocation::Project,
                    path: rel,
                    interpreter: interpreter_from_shebang(&String::from_utf8_lossy(head)),
                })
            }
        }
    }
}

/// A script's path relative to the project `path` in a container, by the rule of
/// [`ScriptSearch`]: the project only (there are no resources, and this host's current folder
/// is not in the container).
fn locate_in_container(script: &Path, path: &str) -> anyhow::Result<String> {
    let search = ScriptSearch {
        project: Path::new(path),
        resources: None,
        current_dir: None,
    };
    // Whether it exists is known once its head is read.
    Ok(locate_script(script, &search, |_| true)?.rel)
}

/// Everything a staging run needs, validated.
#[derive(Debug, Clone)]
pub struct StagePlan {
    /// The project's files as the plan read them (a container's copy lives as long as the plan).
    pub files: ProjectFiles,
    pub manifest: ProjectManifest,
    pub lock: LockInfo,
    /// The lock itself, parsed once (seeding and the cache report read its packages).
    pub lock_file: Lock,
    /// Absolute POSIX path inside the container.
    pub container_workdir: String,
    pub workdir: Workdir,
    pub environments: Vec<String>,
    /// `KEY=VALUE` pairs for every exec in the container.
    pub env: Vec<String>,
    pub filter: StageFilter,
    /// Each runs in its environment, in this order.
    pub verifications: Vec<Verification>,
    /// The host-side pre-flight check; the version checks are added once the container's pixi
    /// is known.
    pub preflight: crate::check::PreflightReport,
    /// Copy the container's pixi into `WORKDIR/pixi-bin/pixi` for the product.
    pub bundle_pixi: bool,
    /// Run installs and verifications under this pid file in the container, so that they can be
    /// stopped on the way out (stage-container: the user's container outlives us).
    pub pid_file: Option<String>,
    /// `--cache-from`: the cache to seed the container's with (else the workdir's own, when it
    /// has one from its last staging).
    pub cache_from: Option<seed::CacheSeed>,
}

impl StagePlan {
    /// Where the project comes from.
    pub fn source(&self) -> &ProjectSource {
        &self.files.source
    }

    pub(super) fn cw(&self) -> &str {
        self.container_workdir.trim_end_matches('/')
    }
    pub(super) fn container_project(&self) -> String {
        format!("{}/{}/{}", self.cw(), Workdir::PROJECT, self.manifest.name)
    }
    pub(super) fn container_resources(&self) -> String {
        format!("{}/{}", self.cw(), Workdir::RESOURCES)
    }
    pub(super) fn container_cache(&self) -> String {
        format!("{}/{}", self.cw(), Workdir::PIXI_CACHE)
    }

    /// Variables for every exec: the user's, then the cache redirection (which wins).
    pub(super) fn exec_env(&self) -> Vec<String> {
        let mut env = self.env.clone();
        for var in pixi::CACHE_VARS {
            env.push(format!("{var}={}", self.container_cache()));
        }
        env
    }

    /// The folders every staged container workdir has, relative to it.
    pub(super) fn skeleton() -> Vec<TarEntry> {
        Workdir::CONTAINER_FOLDERS
            .into_iter()
            .map(TarEntry::dir)
            .collect()
    }

    pub(super) fn project_prefix(&self) -> PathBuf {
        PathBuf::from(Workdir::PROJECT).join(&self.manifest.name)
    }
}

/// The pid file installs and verifications run under: inside the container workdir, which is ours.
pub fn pid_file(container_workdir: &str) -> String {
    format!(
        "{}/.pixi-airgap-running.pid",
        container_workdir.trim_end_matches('/')
    )
}

/// The files of a project in a container as [`ProjectFiles::from_container`] copies them, for
/// tests: `copy` holds the copied files, `script_head` the script's path and first bytes.
#[cfg(test)]
impl ProjectFiles {
    pub(crate) fn container_for_tests(
        copy: PathBuf,
        path: &str,
        script_head: Option<(String, Vec<u8>)>,
    ) -> Self {
        Self {
            source: ProjectSource::Container {
                path: path.to_string(),
            },
            dir: copy,
            _copy: None,
            script_head,
            place: Some(format!("in container test:{path}")),
        }
    }
}

/// A plan for project `demo` in `project_dir`, staged into `workdir` through `/workdir/`, with
/// the user's variables `A=1` and `PIXI_CACHE_DIR=/elsewhere`: for tests of what follows from a
/// plan, without reading a project.
#[cfg(test)]
impl StagePlan {
    pub(super) fn for_tests(project_dir: &Path, workdir: &Path) -> Self {
        let environments = vec!["default".to_string()];
        StagePlan {
            files: ProjectFiles::host(project_dir.to_path_buf(), None),
            manifest: ProjectManifest {
                kind: pixi::ProjectManifestKind::PixiToml,
                path: project_dir.join("pixi.toml"),
                name: "demo".to_string(),
                environments: environments.clone(),
            },
            lock: LockInfo {
                path: project_dir.join("pixi.lock"),
                sha256: String::new(),
                version: Some(6),
                environments: environments.clone(),
                conda_packages: Vec::new(),
            },
            lock_file: Lock {
                version: Some(6),
                environments: std::collections::BTreeMap::new(),
                packages: Vec::new(),
                platform_virtual_packages: std::collections::BTreeMap::new(),
            },
            container_workdir: "/workdir/".to_string(),
            workdir: Workdir::new(workdir).expect("a workdir path"),
            environments,
            env: vec!["A=1".to_string(), "PIXI_CACHE_DIR=/elsewhere".to_string()],
            filter: StageFilter::new(&[], &[]).expect("the default filter compiles"),
            verifications: Vec::new(),
            preflight: crate::check::PreflightReport::default(),
            bundle_pixi: false,
            pid_file: None,
            cache_from: None,
        }
    }
}
