//! The user's proof that an environment works: a command, a pixi task or a script, optionally with
//! text its output must contain. Shared by staging (online) and `verify-product` (offline).

use std::path::{Path, PathBuf};

use anyhow::Context;

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

/// Where the staged tree sits inside a container, to turn a spec into a command line.
#[derive(Debug, Clone)]
pub struct VerifyPlace<'a> {
    pub project_dir: &'a str,
    pub resources_dir: &'a str,
}

impl VerifySpec {
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

/// Locates a verification script on this host. It must exist and lie inside the project or the
/// resources folder, because only those are carried into the container.
pub fn resolve_script(
    script: &Path,
    project_dir: &Path,
    resources_dir: Option<&Path>,
) -> anyhow::Result<VerifyKind> {
    let absolute = std::path::absolute(script)
        .with_context(|| format!("failed to resolve `{}`", script.display()))?;
    if !absolute.is_file() {
        return Err(InputError::new(format!(
            "verification script `{}` does not exist",
            script.display()
        ))
        .into());
    }
    let found = [
        (ScriptLocation::Project, Some(project_dir)),
        (ScriptLocation::Resources, resources_dir),
    ]
    .into_iter()
    .find_map(|(location, base)| {
        let rel = absolute.strip_prefix(base?).ok()?;
        Some((location, rel.to_path_buf()))
    });
    let Some((location, rel)) = found else {
        return Err(InputError::new(format!(
            "verification script `{}` is neither in the project nor in the resources folder",
            script.display()
        ))
        .with_hint("only the project and the resources folder are copied into the container: move the script into one of them")
        .into());
    };
    let path = crate::fsutil::slash_path(&rel)?;
    let head = read_head(&absolute)?;
    Ok(VerifyKind::Script {
        location,
        path,
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
