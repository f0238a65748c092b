//! The staging plan: the one conversion from what the user asked for to what a staging run does,
//! as ripgrep's `HiArgs::from_low_args` is. Both staging commands give it the options they share
//! ([`CommonOptions`]), the verification flags and the project's files, read on this host
//! (`stage-host`) or copied out of the build container first (`stage-container`):
//! [`StagePlan::build`] reads the manifest and the lock once, selects the environments, scans for
//! credentials in URLs, binds the verifications and runs the pre-flight, always in that order.
//! Nothing after it reads the manifest or the lock again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::cli::VerifyArgs;
use crate::commands::stage_args::CommonOptions;
use crate::docker::Container;
use crate::exit::with_hint;
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
    /// The local copy of a container's files; shared by every clone of the plan, removed with
    /// the last.
    copy: Option<Arc<tempfile::TempDir>>,
    /// The first bytes of the verification scripts read from a container, by their path
    /// relative to the project.
    script_heads: BTreeMap<String, Vec<u8>>,
    /// The flag that names the project (for the hint when it holds no manifest).
    flag: &'static str,
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
    /// A project on this host; `flag` names the option that gave `project_dir`.
    pub fn host(project_dir: PathBuf, resources_dir: Option<PathBuf>, flag: &'static str) -> Self {
        Self {
            dir: project_dir.clone(),
            source: ProjectSource::Host {
                project_dir,
                resources_dir,
            },
            copy: None,
            script_heads: BTreeMap::new(),
            flag,
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
        flag: &'static str,
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
        let mut script_heads = BTreeMap::new();
        // A script outside the project is refused when the plan locates it.
        if let Some(rel) = script.and_then(|s| locate_in_container(s, path).ok()) {
            let full = format!("{path}/{rel}");
            if let Some(head) = docker.read_file(container.id(), &full, SCRIPT_HEAD).await? {
                script_heads.insert(rel, head);
            }
        }
        Ok(Self {
            source: ProjectSource::Container {
                path: path.to_string(),
            },
            dir,
            copy: Some(Arc::new(copy)),
            script_heads,
            flag,
            place: Some(format!("in container {}:{path}", container.short_id())),
        })
    }

    pub fn source(&self) -> &ProjectSource {
        &self.source
    }

    /// An error about the project, said of the container's project when it is one (the copy's
    /// paths would mean nothing to the user).
    fn in_source(&self, err: anyhow::Error) -> anyhow::Error {
        match &self.place {
            None => err,
            Some(place) => err.context(place.clone()),
        }
    }

    /// A `--verify-script` path as a verification: located by the [`ScriptSearch`] rule, its
    /// interpreter read from its `#!` line.
    fn script(&self, script: &Path) -> anyhow::Result<VerificationKind> {
        match &self.source {
            ProjectSource::Host {
                project_dir,
                resources_dir,
            } => crate::verification::resolve_script(script, project_dir, resources_dir.as_deref()),
            ProjectSource::Container { path } => {
                let rel = locate_in_container(script, path)?;
                let head = self.script_heads.get(&rel).ok_or_else(|| {
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
    pub source: ProjectSource,
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
    /// Keeps a container project's copied files (which `lock.path` names) while the plan lives.
    _files: Option<Arc<tempfile::TempDir>>,
}

impl StagePlan {
    /// Builds the plan (see the module). Nothing is written and no container is touched.
    pub fn build(
        common: &CommonOptions,
        files: ProjectFiles,
        verify: &VerifyArgs,
    ) -> anyhow::Result<Self> {
        let manifest = ProjectManifest::discover(&files.dir).map_err(|err| {
            files.in_source(with_hint(
                err,
                &format!(
                    "point {} at the folder that holds your pixi manifest",
                    files.flag
                ),
            ))
        })?;
        let (lock, lock_file) =
            LockInfo::read_parsed(&files.dir).map_err(|e| files.in_source(e))?;
        let environments = manifest.select_environments(&common.requested_environments)?;
        scan_url_credentials(&files, &manifest, &lock, common.allow_url_credentials)?;
        if let ProjectSource::Host {
            project_dir,
            resources_dir,
        } = &files.source
        {
            common.workdir.check_not_over(project_dir, "project")?;
            if let Some(res) = resources_dir {
                common.workdir.check_not_over(res, "resources folder")?;
            }
        }
        let requests = crate::commands::verify_args::resolve_with(verify, |s| files.script(s))?;
        let verifications = crate::verification::assign(&requests, &environments)?;
        // Last of the checks without a container: the arguments are right, is the project?
        let preflight = crate::check::preflight(&files.dir, &manifest, &lock_file, &environments)
            .map_err(|e| files.in_source(e))?;
        let pid_file = match &files.source {
            // Our own container: removing it ends whatever runs in it.
            ProjectSource::Host { .. } => None,
            ProjectSource::Container { .. } => Some(pid_file(&common.container_workdir)),
        };
        Ok(Self {
            source: files.source,
            manifest,
            lock,
            lock_file,
            container_workdir: common.container_workdir.clone(),
            workdir: common.workdir.clone(),
            environments,
            env: common.env.clone(),
            filter: common.filter.clone(),
            verifications,
            preflight,
            bundle_pixi: common.bundle_pixi,
            pid_file,
            cache_from: common.cache_from.clone(),
            _files: files.copy,
        })
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

/// Refuses credentials in the URLs of the files pixi reads (or only warns about them, when
/// allowed), before anything is written into a container.
fn scan_url_credentials(
    files: &ProjectFiles,
    manifest: &ProjectManifest,
    lock: &LockInfo,
    allow: bool,
) -> anyhow::Result<()> {
    let config = files.dir.join(".pixi/config.toml");
    let mut scanned = crate::secrets::pixi_files(&config, &manifest.path, &lock.path, &files.dir);
    if let ProjectSource::Container { path } = &files.source {
        for file in &mut scanned {
            file.label = format!("{path}/{}", file.label);
        }
    }
    crate::commands::check_url_credentials(&scanned, allow)
}

/// The pid file installs and verifications run under: inside the container workdir, which is ours.
fn pid_file(container_workdir: &str) -> String {
    format!(
        "{}/.pixi-airgap-running.pid",
        container_workdir.trim_end_matches('/')
    )
}

/// The files of a project in a container as [`ProjectFiles::from_container`] copies them, for
/// tests: `copy` holds the copied files, `heads` the scripts' first bytes.
#[cfg(test)]
impl ProjectFiles {
    pub(super) fn container_for_tests(
        copy: PathBuf,
        path: &str,
        script_heads: BTreeMap<String, Vec<u8>>,
    ) -> Self {
        Self {
            source: ProjectSource::Container {
                path: path.to_string(),
            },
            dir: copy,
            copy: None,
            script_heads,
            flag: "--project-path-in-container",
            place: Some(format!("in container test:{path}")),
        }
    }
}
