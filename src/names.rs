//! The names that end up in folder names and in the product's shell scripts, and the one place
//! that says which are safe: project names, environment names and the pixi version string a
//! container reports. Everything outside these sets is refused (exit 2) before it reaches a file
//! name or a script, so no value can carry shell text, a line break or a `@PLACEHOLDER@`.
//!
//! - project name: 1-128 ASCII letters, digits, `.`, `_` and `-`, starting with a letter or a
//!   digit, and not a name the product itself uses at its top (`pkg-cache`, `res`, `bin`, ...,
//!   compared without case, so case-insensitive media cannot merge them);
//! - environment name: 1-64 ASCII letters, digits, `_` and `-`, starting with a letter or digit
//!   (pixi itself allows lowercase letters, digits and `-`);
//! - pixi version: `pixi X.Y.Z`, optionally followed by `-` or `+` and letters, digits, `.`, `-`
//!   or `+` (at most 64 characters in all).

use crate::exit::InputError;

/// Names a product, a workdir or a proof uses at its top level: a project of one of these names
/// would overlay them.
pub const RESERVED_PROJECT_NAMES: &[&str] = &[
    "pkg-cache",
    "res",
    "bin",
    "envs.sh",
    "bootstrap-project.sh",
    "check-product.sh",
    "pixi-airgap.json",
    "sbom.cdx.json",
    "SHA256SUMS",
    "project",
    "resources",
    "pixi-cache",
    "pixi-bin",
    "out",
    "helpers",
    "product",
    "home",
];

const MAX_PROJECT_NAME: usize = 128;
const MAX_ENVIRONMENT_NAME: usize = 64;
const MAX_PIXI_VERSION: usize = 64;

/// What is allowed, said once for error messages and the README.
pub const PROJECT_NAME_RULE: &str = "1-128 ASCII letters, digits, `.`, `_` and `-`, starting with a letter or a digit, and not one of the product's own names (pkg-cache, res, bin, envs.sh, ...)";
pub const ENVIRONMENT_NAME_RULE: &str =
    "1-64 ASCII letters, digits, `_` and `-`, starting with a letter or a digit";

fn starts_alnum(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Why `name` is not a safe project name, or `None` when it is.
pub fn project_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > MAX_PROJECT_NAME {
        return Some(format!("it must have 1 to {MAX_PROJECT_NAME} characters"));
    }
    if !starts_alnum(name)
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Some(format!("allowed: {PROJECT_NAME_RULE}"));
    }
    if let Some(reserved) = RESERVED_PROJECT_NAMES
        .iter()
        .find(|r| r.eq_ignore_ascii_case(name))
    {
        return Some(format!(
            "`{reserved}` is a name the product or the workdir uses for itself"
        ));
    }
    None
}

/// Why `name` is not a safe environment name, or `None` when it is.
pub fn environment_name_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_ENVIRONMENT_NAME
        && starts_alnum(name)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    (!ok).then(|| format!("allowed: {ENVIRONMENT_NAME_RULE}"))
}

/// Whether `text` is what `pixi --version` prints (`pixi 0.15.2`, `pixi 0.40.0-dev`).
pub fn is_pixi_version(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("pixi ") else {
        return false;
    };
    if text.len() > MAX_PIXI_VERSION {
        return false;
    }
    let (numbers, suffix) = match rest.find(['-', '+']) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let parts: Vec<&str> = numbers.split('.').collect();
    let numeric = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()));
    let suffix_ok = suffix.is_none_or(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
    });
    numeric && suffix_ok
}

/// Refuses (exit 2) a project name outside the safe set; `origin` says where it came from.
pub fn check_project_name(name: &str, origin: &str) -> anyhow::Result<()> {
    match project_name_problem(name) {
        None => Ok(()),
        Some(why) => Err(InputError::new(format!(
            "project name `{}` {origin} is not allowed: {why}",
            name.escape_debug()
        ))
        .with_hint("rename the project (`name` under [workspace] or [project] in the manifest)")
        .into()),
    }
}

/// Refuses (exit 2) an environment name outside the safe set.
pub fn check_environment_name(name: &str, origin: &str) -> anyhow::Result<()> {
    match environment_name_problem(name) {
        None => Ok(()),
        Some(why) => Err(InputError::new(format!(
            "environment name `{}` {origin} is not allowed: {why}",
            name.escape_debug()
        ))
        .into()),
    }
}

/// Refuses (exit 2) a pixi version string that is not `pixi X.Y.Z[-suffix]`.
pub fn check_pixi_version(text: &str, origin: &str) -> anyhow::Result<()> {
    if is_pixi_version(text) {
        return Ok(());
    }
    Err(InputError::new(format!(
        "`pixi --version` {origin} printed `{}`, which is not a pixi version (`pixi X.Y.Z`)",
        text.escape_debug()
    ))
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names() {
        for ok in ["demo", "multi-env", "my_proj.v2", "0ad", "A"] {
            assert_eq!(project_name_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "-x",
            "a b",
            "demo@PIXI_VERSION@",
            "demo's",
            "a/b",
            "a\nb",
            "$(id)",
            "pkg-cache",
            "RES",
            "Bin",
            "envs.sh",
            "pixi-airgap.json",
            &"x".repeat(129),
        ] {
            assert!(project_name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn environment_names() {
        for ok in ["default", "py311", "test-env", "a_b"] {
            assert_eq!(environment_name_problem(ok), None, "{ok}");
        }
        for bad in ["", "a.b", "py 3.11", "-x", "@ENVIRONMENTS@", "x;id", "é"] {
            assert!(environment_name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn pixi_versions() {
        for ok in [
            "pixi 0.15.2",
            "pixi 0.77.0",
            "pixi 0.40.0-dev",
            "pixi 1.2.3+abc.1",
        ] {
            assert!(is_pixi_version(ok), "{ok}");
        }
        for bad in [
            "",
            "pixi",
            "pixi 0.15",
            "0.15.2",
            "pixi 0.15.2\n# x",
            "pixi 0.15.2'$(touch /tmp/x)'",
            "pixi 0.15.2 extra",
            "pixi @PIXI_VERSION@",
            "pixi 0.15.2-",
            "pixi 0.15.x",
        ] {
            assert!(!is_pixi_version(bad), "{bad:?}");
        }
    }
}
