//! The verification flags (`--verify-run`, `--verify-task`, `--verify-script`, `--verify-expect`,
//! `--verify-env`), shared by `stage-host`, `stage-container`, `pack` and `verify-product`,
//! turned into [`VerificationRequest`]s once. What a verification is and how it runs is
//! [`crate::verification`]; this file owns only the command line's spelling of it.

use std::path::Path;

use crate::cli::values::TaskArg;
use crate::cli::VerifyArgs;
use crate::exit::InputError;
use crate::verification::{
    resolve_script, VerificationKind, VerificationRequest, VerificationSpec,
};

/// Validates the verification flags. A script must exist and lie inside the project or the
/// resources folder, because only those are carried into the container.
pub fn resolve(
    args: &VerifyArgs,
    project_dir: &Path,
    resources_dir: Option<&Path>,
) -> anyhow::Result<Vec<VerificationRequest>> {
    resolve_with(args, |script| {
        resolve_script(script, project_dir, resources_dir)
    })
}

/// Like [`resolve`], with the script located by `script` (for projects that are
/// not on this host).
pub fn resolve_with(
    args: &VerifyArgs,
    script: impl FnOnce(&Path) -> anyhow::Result<VerificationKind>,
) -> anyhow::Result<Vec<VerificationRequest>> {
    let VerifyArgs {
        verify_run,
        verify_task,
        verify_script,
        verify_expect,
        verify_env,
        command,
    } = args;
    // Each kind comes with the environment it names itself (only `ENV:TASK` does).
    let mut kinds: Vec<(Option<String>, VerificationKind)> = Vec::new();
    if *verify_run {
        if command.is_empty() {
            return Err(InputError::new("--verify-run needs a command after `--`").into());
        }
        kinds.push((
            None,
            VerificationKind::Run {
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
        for TaskArg { environment, task } in verify_task {
            kinds.push((
                environment.clone(),
                VerificationKind::Task { task: task.clone() },
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
    let mut requests = Vec::new();
    for (own_env, kind) in kinds {
        let spec = VerificationSpec {
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
            requests.push(VerificationRequest {
                environment,
                spec: spec.clone(),
            });
        }
    }
    Ok(requests)
}

/// [`crate::verification::assign`], with the flag that stages an environment named when a
/// verification asks for one that is not staged.
pub fn assign(
    requests: &[VerificationRequest],
    environments: &[String],
) -> anyhow::Result<Vec<crate::verification::Verification>> {
    crate::verification::assign(requests, environments).map_err(|err| {
        crate::exit::with_hint(
            err,
            "stage it with -e/--environment, or verify in a staged environment",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verification::*;

    fn tasks(texts: &[&str]) -> Vec<TaskArg> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    fn args() -> VerifyArgs {
        VerifyArgs::default()
    }

    #[test]
    fn run_needs_command_and_command_needs_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = args();
        a.verify_run = true;
        assert!(resolve(&a, dir.path(), None).is_err());
        let mut a = args();
        a.command = vec!["x".into()];
        let err = resolve(&a, dir.path(), None).unwrap_err();
        assert!(
            crate::exit::render(&err).contains("--verify-run -- CMD"),
            "{err}"
        );
        let mut a = args();
        a.verify_expect = Some("x".into());
        assert!(resolve(&a, dir.path(), None).is_err());
        assert_eq!(resolve(&args(), dir.path(), None).unwrap(), []);
        let mut a = args();
        a.verify_env = vec!["alpha".into()];
        let err = resolve(&a, dir.path(), None).unwrap_err();
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
        let spec = resolve(&a, &project, Some(&res)).unwrap()[0].spec.clone();
        let place = VerificationPlace {
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
        let spec = resolve(&a, &project, Some(&res)).unwrap()[0].spec.clone();
        assert_eq!(
            spec.command("e", "--frozen", &place)[5..],
            ["sh", "/w/resources/check.sh"]
        );
        a.verify_script = Some(dir.path().join("outside.sh"));
        let err = resolve(&a, &project, Some(&res)).unwrap_err();
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
        a.verify_script = Some(dir.path().join("missing.sh"));
        assert!(resolve(&a, &project, Some(&res)).is_err());
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
    }

    #[test]
    fn environments_per_verification() {
        let dir = tempfile::tempdir().unwrap();
        let staged = ["default".to_string(), "alpha".into(), "beta".into()];
        let mut a = args();
        a.verify_task = tasks(&["smoke", "beta:check"]);
        a.verify_env = vec!["alpha".into(), "default".into()];
        let requests = resolve(&a, dir.path(), None).unwrap();
        let bound = super::assign(&requests, &staged).unwrap();
        let pairs: Vec<(String, String)> = bound
            .iter()
            .map(|v| match &v.spec.kind {
                VerificationKind::Task { task } => (v.environment.clone(), task.clone()),
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
        a.verify_task = tasks(&["smoke"]);
        let bound = super::assign(&resolve(&a, dir.path(), None).unwrap(), &staged[1..]).unwrap();
        assert_eq!(
            bound[0].environment, "alpha",
            "no default: the first staged"
        );
        a.verify_task = tasks(&["gamma:smoke"]);
        let err = super::assign(&resolve(&a, dir.path(), None).unwrap(), &staged).unwrap_err();
        assert!(
            err.to_string().contains("`gamma`: it is not staged"),
            "{err}"
        );
        assert_eq!(log_name("verify", 0, 1, "alpha"), "verify.log");
        assert_eq!(
            log_name("proof-verify", 1, 3, "a/b"),
            "proof-verify-2-a_b.log"
        );
    }
}
