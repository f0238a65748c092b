//! A verification: the user's own check that an environment works, a command, a pixi task or a
//! script, optionally with text its output must contain, in one or more environments. Run while
//! staging (online) and again in the proof (`verify-product`, offline, [`crate::proof`]). In the
//! code "verification" is always this; the proof is what `verify-product` does.
//!
//! Which environment a verification runs in: `--verify-env ENV` (repeatable) runs it in each ENV;
//! `--verify-task ENV:TASK` (repeatable) runs that task in ENV; otherwise `default` when it is
//! staged, else the first staged environment.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::InputError;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationKind {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptLocation {
    Project,
    Resources,
}

/// A verification: what to run and what its output must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationSpec {
    pub kind: VerificationKind,
    pub expect: Option<String>,
}

/// A verification as asked for: `environment` is `None` for "the usual one" (see [`environment`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRequest {
    pub environment: Option<String>,
    pub spec: VerificationSpec,
}

/// A verification bound to the environment it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub environment: String,
    pub spec: VerificationSpec,
}

/// Binds requests to environments, refusing one that is not among `environments` (the staged
/// ones: nothing else is installed).
pub fn assign(
    requests: &[VerificationRequest],
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
pub struct VerificationPlace<'a> {
    pub project_dir: &'a str,
    pub resources_dir: &'a str,
}

impl VerificationSpec {
    /// The command line, run in the project folder. `lock_flag` is `--locked` online and
    /// `--frozen` offline.
    pub fn command(
        &self,
        environment: &str,
        lock_flag: &str,
        place: &VerificationPlace,
    ) -> Vec<String> {
        let mut cmd = vec!["pixi".to_string(), "run".to_string(), lock_flag.to_string()];
        cmd.extend(crate::pixi::environment_args(environment));
        match &self.kind {
            VerificationKind::Run { argv } => cmd.extend(argv.iter().cloned()),
            VerificationKind::Task { task } => cmd.push(task.clone()),
            VerificationKind::Script {
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
            VerificationKind::Run { argv } => format!("command `{}`", argv.join(" ")),
            VerificationKind::Task { task } => format!("task `{task}`"),
            VerificationKind::Script { location, path, .. } => {
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
    pub fn judge(&self, exit_code: i64, output: &str) -> VerificationVerdict {
        let expect_found = self
            .expect
            .as_ref()
            .map(|text| output.contains(text.as_str()));
        self.verdict(exit_code, expect_found)
    }

    /// Judges a finished run whose output was searched as it streamed (`expect_found`: whether
    /// the expected text was seen, `None` when none was asked for).
    pub fn verdict(&self, exit_code: i64, expect_found: Option<bool>) -> VerificationVerdict {
        let expect_found = self.expect.as_ref().map(|_| expect_found == Some(true));
        VerificationVerdict {
            exit_code,
            expect_found,
            passed: exit_code == 0 && expect_found != Some(false),
        }
    }
}

/// A verification that ran: what, where, how it ended, and its log.
#[derive(Debug, Clone)]
pub struct VerificationReport {
    pub spec: VerificationSpec,
    pub environment: String,
    pub command: String,
    pub verdict: VerificationVerdict,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerificationVerdict {
    pub exit_code: i64,
    /// `None` when no text was expected.
    pub expect_found: Option<bool>,
    pub passed: bool,
}

impl VerificationVerdict {
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
    .with_hint("a relative script path is looked for in the project, then the resources folder, then the current folder")
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

/// Locates a verification script on this host (project, resources, then the current folder) and
/// reads the interpreter from its `#!` line.
pub fn resolve_script(
    script: &Path,
    project_dir: &Path,
    resources_dir: Option<&Path>,
) -> anyhow::Result<VerificationKind> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let search = ScriptSearch {
        project: project_dir,
        resources: resources_dir,
        current_dir: Some(&cwd),
    };
    let found = locate_script(script, &search, Path::is_file)?;
    let head = read_head(&found.full)?;
    Ok(VerificationKind::Script {
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

    #[test]
    fn paths_are_normalised_without_the_file_system() {
        assert!(normalize(Path::new("/a/../..")).is_none());
        assert_eq!(
            normalize(Path::new("/a/./b/../c")).unwrap(),
            Path::new("/a/c")
        );
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
    fn judge() {
        let spec = VerificationSpec {
            kind: VerificationKind::Task { task: "t".into() },
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
