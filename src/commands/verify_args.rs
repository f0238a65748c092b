//! Resolution of the verification flags every command shares (`VerifyArgs`) into a
//! [`VerifySpec`].

use std::path::Path;

use crate::cli::VerifyArgs;
use crate::exit::InputError;
use crate::verify::{resolve_script, VerifyKind, VerifySpec};

/// Validates the verification flags of a project on this host; a script is located by
/// [`resolve_script`].
pub fn resolve(
    args: &VerifyArgs,
    project_dir: &Path,
    resources_dir: Option<&Path>,
) -> anyhow::Result<Option<VerifySpec>> {
    resolve_with(args, |script| {
        resolve_script(script, project_dir, resources_dir)
    })
}

/// Like [`resolve`], with the script located by `script` (for projects that are not on this
/// host).
pub fn resolve_with(
    args: &VerifyArgs,
    script: impl FnOnce(&Path) -> anyhow::Result<VerifyKind>,
) -> anyhow::Result<Option<VerifySpec>> {
    let VerifyArgs {
        verify_run,
        verify_task,
        verify_script,
        verify_expect,
        command,
    } = args;
    let kind = if *verify_run {
        if command.is_empty() {
            return Err(InputError::new("--verify-run needs a command after `--`").into());
        }
        Some(VerifyKind::Run {
            argv: command.clone(),
        })
    } else if !command.is_empty() {
        return Err(InputError::new(format!(
            "unexpected arguments after `--`: {}",
            command.join(" ")
        ))
        .with_hint("to run a command as the verification, write `--verify-run -- CMD ARGS...`")
        .into());
    } else if let Some(task) = verify_task {
        if task.trim().is_empty() {
            return Err(InputError::new("--verify-task needs a task name").into());
        }
        Some(VerifyKind::Task { task: task.clone() })
    } else if let Some(path) = verify_script {
        Some(script(path)?)
    } else {
        None
    };
    match (kind, verify_expect) {
        (Some(kind), expect) => Ok(Some(VerifySpec {
            kind,
            expect: expect.clone(),
        })),
        (None, Some(_)) => Err(InputError::new(
            "--verify-expect needs a verification (--verify-run, --verify-task or --verify-script)",
        )
        .into()),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::VerifyPlace;

    fn args() -> VerifyArgs {
        VerifyArgs {
            verify_run: false,
            verify_task: None,
            verify_script: None,
            verify_expect: None,
            command: vec![],
        }
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
        let text = crate::exit::render(&err);
        assert!(text.contains("--verify-run -- CMD"), "{text}");
        let mut a = args();
        a.verify_expect = Some("x".into());
        assert!(resolve(&a, dir.path(), None).is_err());
        assert_eq!(resolve(&args(), dir.path(), None).unwrap(), None);
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
        let spec = resolve(&a, &project, Some(&res)).unwrap().unwrap();
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
        let spec = resolve(&a, &project, Some(&res)).unwrap().unwrap();
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
}
