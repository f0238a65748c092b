//! The user's proof that an environment works: a command, a pixi task or a script, optionally with
//! text its output must contain, in one or more environments. Shared by staging (online) and
//! `verify-product` (offline).
//!
//! Which environment a verification runs in: `--verify-env ENV` (repeatable) runs it in each ENV;
//! `--verify-task ENV:TASK` (repeatable) runs that task in ENV; otherwise `default` when it is
//! staged, else the first staged environment.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::VerifyArgs;
use crate::exit::InputError;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum VerifyKind {
    /// `pixi run CMD ARGS...`
    Run { argv: Vec<String> },
    /// `pixi run TASK`
    Task { task: String },
    /// A script carried along with the project (`Project`) or the resources (`Resources`), run under
    /// `pixi run` with the interpreter its `#!` line names, or `sh` without one.
    Script {
        location: ScriptLocation,
        /// `/`-separated path relative to the project or resources folder.
        path: String,
        interpreter: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptLocation {
    Project,
    Resources,
}

/// A verification: what to run and what its output must contain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifySpec {
    #[serde(flatten)]
    pub kind: VerifyKind,
    pub expect: Option<String>,
}

/// A verification as asked for: `environment` is `None` for "the usual one" (see [`environment`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRequest {
    pub environment: Option<String>,
    pub spec: VerifySpec,
}

/// A verification bound to the environment it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub environment: String,
    pub spec: VerifySpec,
}

/// Binds requests to environments, refusing one that is not among `environments` (the staged
/// ones: nothing else is installed).
pub fn assign(
    requests: &[VerifyRequest],
    environments: &[String],
) -> anyhow::Result<Vec<Verification>> {
    requests
        .iter()
        .map(|request| {
            let environment = match &request.environment {
                Some(env) if environments.contains(env) => env.clone(),
                Some(env) => {
                    return Err(InputError::new(format!(
                        "cannot verify in environment `{env}`: it is not staged (staged: {})",
                        environments.join(", ")
                    ))
                    .with_hint("stage it with -e/--environment, or verify in a staged environment")
                    .into())
                }
                None => environment(environments).to_string(),
            };
            Ok(Verification {
                environment,
                spec: request.spec.clone(),
            })
        })
        .collect()
}

/// The log of verification `index` of `total`: `PREFIX.log` when there is one, else
/// `PREFIX-<n>-<environment>.log` (1-based), so that none overwrites another.
pub fn log_name(prefix: &str, index: usize, total: usize, environment: &str) -> String {
    if total <= 1 {
        return format!("{prefix}.log");
    }
    let env: String = environment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}-{}-{env}.log", index + 1)
}

/// Where the staged tree sits inside a container, to turn a spec into a command line.
#[derive(Debug, Clone)]
pub struct VerifyPlace<'a> {
    pub project_dir: &'a str,
    pub resources_dir: &'a str,
}

impl VerifySpec {
    /// Validates the verification flags. A script must exist and lie inside the project or the
    /// resources folder, because only those are carried into the container.
    pub fn resolve(
        args: &VerifyArgs,
        project_dir: &Path,
        resources_dir: Option<&Path>,
    ) -> anyhow::Result<Vec<VerifyRequest>> {
        Self::resolve_with(args, |script| {
            resolve_script(script, project_dir, resources_dir)
        })
    }

    /// Like [`VerifySpec::resolve`], with the script located by `script` (for projects that are
    /// not on this host).
    pub fn resolve_with(
        args: &VerifyArgs,
        script: impl FnOnce(&Path) -> anyhow::Result<VerifyKind>,
    ) -> anyhow::Result<Vec<VerifyRequest>> {
        let VerifyArgs {
            verify_run,
            verify_task,
            verify_script,
            verify_expect,
            verify_env,
            command,
        } = args;
        // Each kind comes with the environment it names itself (only `ENV:TASK` does).
        let mut kinds: Vec<(Option<String>, VerifyKind)> = Vec::new();
        if *verify_run {
            if command.is_empty() {
                return Err(InputError::new("--verify-run needs a command after `--`").into());
            }
            kinds.push((
                None,
                VerifyKind::Run {
                    argv: command.clone(),
                },
            ));
        } else if !command.is_empty() {
            return Err(InputError::new(format!(
                "unexpected arguments after `--`: {}",
                command.join(" ")
            ))
            .with_hint("to run a command as the verification, write `--verify-run -- CMD ARGS...`")
            .into());
        } else if !verify_task.is_empty() {
            for text in verify_task {
                let (env, task) = match text.split_once(':') {
                    Some((env, task)) => (Some(env.trim()), task),
                    None => (None, text.as_str()),
                };
                if task.trim().is_empty() || env.is_some_and(str::is_empty) {
                    return Err(InputError::new(format!(
                        "--verify-task `{text}` is not TASK or ENV:TASK"
                    ))
                    .into());
                }
                kinds.push((
                    env.map(str::to_string),
                    VerifyKind::Task {
                        task: task.to_string(),
                    },
                ));
            }
        } else if let Some(path) = verify_script {
            kinds.push((None, script(path)?));
        }
        if kinds.is_empty() {
            for (flag, given) in [
                ("--verify-expect", verify_expect.is_some()),
                ("--verify-env", !verify_env.is_empty()),
            ] {
                if given {
                    return Err(InputError::new(format!(
                        "{flag} needs a verification (--verify-run, --verify-task or --verify-script)"
                    ))
                    .into());
                }
            }
        }
        if let Some(env) = verify_env.iter().find(|e| e.trim().is_empty()) {
            return Err(
                InputError::new(format!("--verify-env `{env}` names no environment")).into(),
            );
        }
        let mut requests = Vec::new();
        for (own_env, kind) in kinds {
            let spec = Self {
                kind,
                expect: verify_expect.clone(),
            };
            // `ENV:TASK` runs in ENV; anything else in each --verify-env, or the usual one.
            let environments: Vec<Option<String>> = match own_env {
                Some(env) => vec![Some(env)],
                None if verify_env.is_empty() => vec![None],
                None => verify_env.iter().cloned().map(Some).collect(),
            };
            for environment in environments {
                requests.push(VerifyRequest {
                    environment,
                    spec: spec.clone(),
                });
            }
        }
        Ok(requests)
    }

    /// The command line, run in the project folder. `lock_flag` is `--locked` online and
    /// `--frozen` offline.
    pub fn command(&self, environment: &str, lock_flag: &str, place: &VerifyPlace) -> Vec<String> {
        let mut cmd = vec!["pixi".to_string(), "run".to_string(), lock_flag.to_string()];
        cmd.extend(crate::pixi::environment_args(environment));
        match &self.kind {
            VerifyKind::Run { argv } => cmd.extend(argv.iter().cloned()),
            VerifyKind::Task { task } => cmd.push(task.clone()),
            VerifyKind::Script {
                location,
                path,
                interpreter,
            } => {
                let base = match location {
                    ScriptLocation::Project => place.project_dir,
                    ScriptLocation::Resources => place.resources_dir,
                };
                cmd.extend(interpreter.iter().cloned());
                cmd.push(format!("{}/{path}", base.trim_end_matches('/')));
            }
        }
        cmd
    }

    /// A short description for logs and reports.
    pub fn describe(&self) -> String {
        let what = match &self.kind {
            VerifyKind::Run { argv } => format!("command `{}`", argv.join(" ")),
            VerifyKind::Task { task } => format!("task `{task}`"),
            VerifyKind::Script { location, path, .. } => {
                let base = match location {
                    ScriptLocation::Project => "project",
                    ScriptLocation::Resources => "resources",
                };
                format!("script `{path}` (from the {base} folder)")
            }
        };
        match &self.expect {
            Some(text) => format!("{what}, expecting {text:?} in its output"),
            None => what,
        }
    }

    /// Judges a finished run: exit 0, and the expected text when one was asked for.
    pub fn judge(&self, exit_code: i64, output: &str) -> VerifyVerdict {
        let expect_found = self
            .expect
            .as_ref()
            .map(|text| output.contains(text.as_str()));
        VerifyVerdict {
            exit_code,
            expect_found,
            passed: exit_code == 0 && expect_found != Some(false),
        }
    }
}

/// A verification that ran: what, where, how it ended, and its log.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VerificationReport {
    pub spec: VerifySpec,
    pub environment: String,
    pub command: String,
    #[serde(flatten)]
    pub verdict: VerifyVerdict,
    pub seconds: f64,
    pub log: String,
}

/// The environment a verification runs in: `default` when it is among `environments`, else the
/// first one. Staging and the offline proof must agree on it.
pub fn environment(environments: &[String]) -> &str {
    if environments.iter().any(|e| e == "default") {
        "default"
    } else {
        environments
            .first()
            .map(String::as_str)
            .unwrap_or("default")
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifyVerdict {
    pub exit_code: i64,
    /// `None` when no text was expected.
    pub expect_found: Option<bool>,
    pub passed: bool,
}

impl VerifyVerdict {
    pub fn reason(&self) -> String {
        if self.exit_code != 0 {
            format!("it exited with {}", self.exit_code)
        } else if self.expect_found == Some(false) {
            "its output lacks the expected text".to_string()
        } else {
            "it passed".to_string()
        }
    }
}

/// Where a `--verify-script` path is looked for. The rule, the same in `stage-host`,
/// `stage-container` and `verify-product`:
///
/// * a relative path is tried against the project folder first (that is where the script runs),
///   then the resources folder, then the current folder; the first existing file wins;
/// * an absolute path, and a file found through the current folder, must lie in the project or
///   the resources folder: only those are carried into the container (and into the product);
/// * when nothing is found, the error (exit 2) names every place tried.
///
/// For `stage-host` the folders are `--project-dir` and `--resources-dir`; for `verify-product`
/// the product's `<name>/` and `res/`; for `stage-container` only the project in the container
/// (there are no resources, and the current folder is on another machine).
#[derive(Debug, Clone, Copy)]
pub struct ScriptSearch<'a> {
    pub project: &'a Path,
    pub resources: Option<&'a Path>,
    /// `None` when the current folder cannot hold the script (a project inside a container).
    pub current_dir: Option<&'a Path>,
}

/// A place a script was looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptCandidate {
    pub location: ScriptLocation,
    /// `/`-separated, relative to the project or resources folder.
    pub rel: String,
    /// The full path looked at.
    pub full: PathBuf,
}

/// Finds `script` by the [`ScriptSearch`] rule; `is_file` says whether a full path is a file.
pub fn locate_script(
    script: &Path,
    search: &ScriptSearch,
    is_file: impl Fn(&Path) -> bool,
) -> anyhow::Result<ScriptCandidate> {
    let bases = [
        (ScriptLocation::Project, Some(search.project)),
        (ScriptLocation::Resources, search.resources),
    ];
    let inside = |full: &Path| {
        bases.iter().find_map(|(location, base)| {
            let rel = full.strip_prefix((*base)?).ok()?;
            let rel = crate::fsutil::slash_path(rel).ok()?;
            (!rel.is_empty()).then(|| ScriptCandidate {
                location: *location,
                rel,
                full: full.to_path_buf(),
            })
        })
    };
    let mut tried = Vec::new();
    if script.is_absolute() {
        let full = normalize(script).unwrap_or_else(|| script.to_path_buf());
        let found = inside(&full).or_else(|| {
            // The folders are known by their real paths; the script may be named through a link.
            std::fs::canonicalize(&full)
                .ok()
                .and_then(|real| inside(&real))
        });
        let Some(found) = found else {
            return Err(outside_error(script, search));
        };
        if is_file(&found.full) {
            return Ok(found);
        }
        tried.push((found.full, place_name(found.location)));
        return Err(missing_script_error(script, &tried));
    }
    for (location, base) in bases {
        let Some(base) = base else { continue };
        let Some(full) = normalize(&base.join(script)) else {
            continue;
        };
        // `../x` from the project may still land in the resources: tried there, not here.
        let Some(found) = inside(&full).filter(|f| f.location == location) else {
            continue;
        };
        if is_file(&found.full) {
            return Ok(found);
        }
        tried.push((found.full, place_name(location)));
    }
    if let Some(cwd) = search.current_dir {
        let full = normalize(&cwd.join(script)).unwrap_or_else(|| cwd.join(script));
        if is_file(&full) {
            // The project is known by its real path; so is a file reached through links.
            let real = std::fs::canonicalize(&full).unwrap_or(full);
            return inside(&real).ok_or_else(|| outside_error(script, search));
        }
        tried.push((full, "the current folder"));
    }
    Err(missing_script_error(script, &tried))
}

fn place_name(location: ScriptLocation) -> &'static str {
    match location {
        ScriptLocation::Project => "the project",
        ScriptLocation::Resources => "the resources folder",
    }
}

/// The error for a script found nowhere: it names every place tried.
pub fn missing_script_error(script: &Path, tried: &[(PathBuf, &str)]) -> anyhow::Error {
    let places: Vec<String> = tried
        .iter()
        .map(|(full, place)| format!("  {} ({place})", full.display()))
        .collect();
    InputError::new(format!(
        "verification script `{}` does not exist; tried:\n{}",
        script.display(),
        places.join("\n")
    ))
    .with_hint("a relative --verify-script is looked for in the project, then the resources folder, then the current folder")
    .into()
}

fn outside_error(script: &Path, search: &ScriptSearch) -> anyhow::Error {
    let mut places = vec![format!("`{}`", search.project.display())];
    if let Some(res) = search.resources {
        places.push(format!("`{}`", res.display()));
    }
    InputError::new(format!(
        "verification script `{}` is neither in the project nor in the resources folder ({})",
        script.display(),
        places.join(", ")
    ))
    .with_hint("only the project and the resources are copied into the container: move the script into one of them")
    .into()
}

/// `a/./b/../c` -> `a/c`, without looking at the disk; `None` when `..` climbs above the start.
fn normalize(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() || out.as_os_str().is_empty() {
                    return None;
                }
            }
            other => out.push(other),
        }
    }
    Some(out)
}

fn resolve_script(
    script: &Path,
    project_dir: &Path,
    resources_dir: Option<&Path>,
) -> anyhow::Result<VerifyKind> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let search = ScriptSearch {
        project: project_dir,
        resources: resources_dir,
        current_dir: Some(&cwd),
    };
    let found = locate_script(script, &search, Path::is_file)?;
    let head = read_head(&found.full)?;
    Ok(VerifyKind::Script {
        location: found.location,
        path: found.rel,
        interpreter: interpreter_from_shebang(&head),
    })
}

fn read_head(path: &PathBuf) -> anyhow::Result<String> {
    use std::io::Read;
    let mut buf = [0u8; 256];
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    let n = file
        .read(&mut buf)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// `#!/usr/bin/env python3 -u` -> `["/usr/bin/env", "python3", "-u"]`; no `#!` -> `["sh"]`.
/// The interpreter is named explicitly so the script need not be executable.
pub fn interpreter_from_shebang(head: &str) -> Vec<String> {
    match head.lines().next().and_then(|l| l.strip_prefix("#!")) {
        Some(line) if !line.trim().is_empty() => {
            line.split_whitespace().map(str::to_string).collect()
        }
        _ => vec!["sh".to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> VerifyArgs {
        VerifyArgs {
            verify_run: false,
            verify_task: vec![],
            verify_script: None,
            verify_expect: None,
            verify_env: vec![],
            command: vec![],
        }
    }

    #[test]
    fn shebangs() {
        assert_eq!(interpreter_from_shebang("#!/bin/bash\necho"), ["/bin/bash"]);
        assert_eq!(
            interpreter_from_shebang("#!/usr/bin/env python3 -u\n"),
            ["/usr/bin/env", "python3", "-u"]
        );
        assert_eq!(interpreter_from_shebang("echo hi\n"), ["sh"]);
    }

    #[test]
    fn run_needs_command_and_command_needs_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = args();
        a.verify_run = true;
        assert!(VerifySpec::resolve(&a, dir.path(), None).is_err());
        let mut a = args();
        a.command = vec!["x".into()];
        let err = VerifySpec::resolve(&a, dir.path(), None).unwrap_err();
        assert!(err.to_string().contains("--verify-run -- CMD"), "{err}");
        let mut a = args();
        a.verify_expect = Some("x".into());
        assert!(VerifySpec::resolve(&a, dir.path(), None).is_err());
        assert_eq!(VerifySpec::resolve(&args(), dir.path(), None).unwrap(), []);
        let mut a = args();
        a.verify_env = vec!["alpha".into()];
        let err = VerifySpec::resolve(&a, dir.path(), None).unwrap_err();
        assert!(
            err.to_string()
                .contains("--verify-env needs a verification"),
            "{err}"
        );
    }

    #[test]
    fn script_must_be_carried_along() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("p");
        let res = dir.path().join("r");
        std::fs::create_dir_all(project.join("ci")).unwrap();
        std::fs::create_dir_all(&res).unwrap();
        std::fs::write(project.join("ci/check.py"), "#!/usr/bin/env python\n").unwrap();
        std::fs::write(res.join("check.sh"), "echo ok\n").unwrap();
        std::fs::write(dir.path().join("outside.sh"), "echo\n").unwrap();
        let mut a = args();
        a.verify_script = Some(project.join("ci/check.py"));
        let spec = VerifySpec::resolve(&a, &project, Some(&res)).unwrap()[0]
            .spec
            .clone();
        let place = VerifyPlace {
            project_dir: "/w/project/p",
            resources_dir: "/w/resources",
        };
        assert_eq!(
            spec.command("default", "--locked", &place),
            [
                "pixi",
                "run",
                "--locked",
                "/usr/bin/env",
                "python",
                "/w/project/p/ci/check.py"
            ]
        );
        a.verify_script = Some(res.join("check.sh"));
        let spec = VerifySpec::resolve(&a, &project, Some(&res)).unwrap()[0]
            .spec
            .clone();
        assert_eq!(
            spec.command("e", "--frozen", &place)[5..],
            ["sh", "/w/resources/check.sh"]
        );
        a.verify_script = Some(dir.path().join("outside.sh"));
        let err = VerifySpec::resolve(&a, &project, Some(&res)).unwrap_err();
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
        a.verify_script = Some(dir.path().join("missing.sh"));
        assert!(VerifySpec::resolve(&a, &project, Some(&res)).is_err());
    }

    #[test]
    fn relative_scripts_are_looked_for_in_project_resources_then_current_folder() {
        let dir = tempfile::tempdir().unwrap();
        let (project, res, cwd) = (
            dir.path().join("p"),
            dir.path().join("r"),
            dir.path().join("elsewhere"),
        );
        for d in [project.join("ci"), res.join("ci"), cwd.clone()] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(project.join("ci/both.sh"), "").unwrap();
        std::fs::write(res.join("ci/both.sh"), "").unwrap();
        std::fs::write(res.join("ci/res.sh"), "").unwrap();
        std::fs::write(cwd.join("here.sh"), "").unwrap();
        let search = ScriptSearch {
            project: &project,
            resources: Some(&res),
            current_dir: Some(&cwd),
        };
        let find = |s: &str| locate_script(Path::new(s), &search, Path::is_file);
        let found = find("./ci/both.sh").unwrap();
        assert_eq!(
            (found.location, found.rel.as_str()),
            (ScriptLocation::Project, "ci/both.sh")
        );
        let found = find("ci/res.sh").unwrap();
        assert_eq!(
            (found.location, found.rel.as_str()),
            (ScriptLocation::Resources, "ci/res.sh")
        );
        // Found through the current folder, but not carried along.
        let err = find("here.sh").unwrap_err();
        assert!(err.to_string().contains("neither in the project"), "{err}");
        // From the current folder into the project.
        let search_in = ScriptSearch {
            current_dir: Some(dir.path()),
            ..search
        };
        let found = locate_script(Path::new("p/ci/both.sh"), &search_in, Path::is_file).unwrap();
        assert_eq!(found.rel, "ci/both.sh");
        let err = find("ci/nope.sh").unwrap_err();
        let text = err.to_string();
        for place in [
            project.join("ci/nope.sh"),
            res.join("ci/nope.sh"),
            cwd.join("ci/nope.sh"),
        ] {
            assert!(text.contains(&place.display().to_string()), "{text}");
        }
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
        // An absolute path must lie in the project or the resources.
        let abs = project.join("ci/both.sh");
        assert_eq!(
            locate_script(&abs, &search, Path::is_file).unwrap().rel,
            "ci/both.sh"
        );
        let err = locate_script(&cwd.join("here.sh"), &search, Path::is_file).unwrap_err();
        assert!(err.to_string().contains("neither in the project"), "{err}");
        assert!(normalize(Path::new("/a/../..")).is_none());
        assert_eq!(
            normalize(Path::new("/a/./b/../c")).unwrap(),
            Path::new("/a/c")
        );
    }

    #[test]
    fn environments_per_verification() {
        let dir = tempfile::tempdir().unwrap();
        let staged = ["default".to_string(), "alpha".into(), "beta".into()];
        let mut a = args();
        a.verify_task = vec!["smoke".into(), "beta:check".into()];
        a.verify_env = vec!["alpha".into(), "default".into()];
        let requests = VerifySpec::resolve(&a, dir.path(), None).unwrap();
        let bound = assign(&requests, &staged).unwrap();
        let pairs: Vec<(String, String)> = bound
            .iter()
            .map(|v| match &v.spec.kind {
                VerifyKind::Task { task } => (v.environment.clone(), task.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            pairs,
            [
                ("alpha".to_string(), "smoke".to_string()),
                ("default".into(), "smoke".into()),
                ("beta".into(), "check".into())
            ]
        );
        let mut a = args();
        a.verify_task = vec!["smoke".into()];
        let bound = assign(
            &VerifySpec::resolve(&a, dir.path(), None).unwrap(),
            &staged[1..],
        )
        .unwrap();
        assert_eq!(
            bound[0].environment, "alpha",
            "no default: the first staged"
        );
        a.verify_task = vec!["gamma:smoke".into()];
        let err = assign(&VerifySpec::resolve(&a, dir.path(), None).unwrap(), &staged).unwrap_err();
        assert!(
            err.to_string().contains("`gamma`: it is not staged"),
            "{err}"
        );
        for bad in [":smoke", "beta:", ""] {
            a.verify_task = vec![bad.into()];
            assert!(VerifySpec::resolve(&a, dir.path(), None).is_err(), "{bad}");
        }
        assert_eq!(log_name("verify", 0, 1, "alpha"), "verify.log");
        assert_eq!(
            log_name("proof-verify", 1, 3, "a/b"),
            "proof-verify-2-a_b.log"
        );
    }

    #[test]
    fn judge() {
        let spec = VerifySpec {
            kind: VerifyKind::Task { task: "t".into() },
            expect: Some("OK".into()),
        };
        assert!(spec.judge(0, "all OK").passed);
        assert!(!spec.judge(0, "nope").passed);
        assert!(!spec.judge(3, "OK").passed);
        assert_eq!(
            spec.judge(0, "nope").reason(),
            "its output lacks the expected text"
        );
    }
}
