//! The shell scripts shipped in products and workdirs. They are real `.sh` files under
//! `templates/`, embedded in the binary; `@NAME@` placeholders are replaced by shell-quoted values
//! and a rendered script with a placeholder left over is an error.

use std::path::Path;

use anyhow::{bail, Context};

pub const ENVS_SH: &str = include_str!("templates/envs.sh");
pub const BOOTSTRAP_SH: &str = include_str!("templates/bootstrap-project.sh");
pub const MAKE_ARCHIVE_READY_SH: &str = include_str!("templates/make-archive-ready-product.sh");
pub const CHECK_PRODUCT_SH: &str = include_str!("templates/check-product.sh");

/// A value for a placeholder.
pub enum Value<'a> {
    /// One shell word, single-quoted.
    Word(&'a str),
    /// Several words, each single-quoted, separated by spaces (for `set -- @LIST@`).
    Words(&'a [String]),
}

/// Quotes `s` as one POSIX shell word.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Replaces every `@KEY@` and checks that none is left.
pub fn render(template: &str, values: &[(&str, Value)]) -> anyhow::Result<String> {
    let mut out = template.to_string();
    for (key, value) in values {
        let placeholder = format!("@{key}@");
        if !out.contains(&placeholder) {
            bail!("template has no placeholder {placeholder}");
        }
        let text = match value {
            Value::Word(w) => shell_quote(w),
            Value::Words(ws) => ws
                .iter()
                .map(|w| shell_quote(w))
                .collect::<Vec<_>>()
                .join(" "),
        };
        out = out.replace(&placeholder, &text);
    }
    if let Some(left) = leftover_placeholder(&out) {
        bail!("template still has placeholder {left} after rendering");
    }
    Ok(out)
}

fn leftover_placeholder(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(start) = text[i..].find('@').map(|p| p + i) {
        let rest = &bytes[start + 1..];
        let len = rest
            .iter()
            .take_while(|b| b.is_ascii_uppercase() || **b == b'_')
            .count();
        if len > 0 && rest.get(len) == Some(&b'@') {
            return Some(text[start..start + len + 2].to_string());
        }
        i = start + 1;
    }
    None
}

/// The line of `envs.sh` where `bootstrap-project.sh` records the product's folder; as made, it
/// records nothing.
pub const ENVS_SH_RECORD_MARKER: &str = "_pixi_airgap_recorded=";
const ENVS_SH_UNRECORDED_LINE: &str = "_pixi_airgap_recorded=''";

/// `envs.sh` as `make-product` wrote it, given the text of one that `bootstrap-project.sh` may
/// have changed since: the recorded folder is the only change bootstrapping makes, so the
/// product's manifest can still vouch for the rest. `None` when the text has no single record
/// line, or that line is not in the one form bootstrap writes ([`is_recorded_line`]).
pub fn envs_sh_as_made(text: &str) -> Option<String> {
    let mut found = 0;
    let mut exact = true;
    let lines: Vec<&str> = text
        .split_inclusive('\n')
        .map(|line| {
            if line.starts_with(ENVS_SH_RECORD_MARKER) {
                found += 1;
                exact &= is_recorded_line(line.strip_suffix('\n').unwrap_or(line));
                if line.ends_with('\n') {
                    "_pixi_airgap_recorded=''\n"
                } else {
                    ENVS_SH_UNRECORDED_LINE
                }
            } else {
                line
            }
        })
        .collect();
    (found == 1 && exact).then(|| lines.concat())
}

/// Whether `line` is the recorded-folder line in the one form `bootstrap-project.sh` writes: the
/// marker, then one single-quoted word (a quote inside written `'\''`), and nothing after it; so
/// the line assigns a string and runs nothing. `check-product.sh` accepts the same form (as the
/// extended regular expression `^_pixi_airgap_recorded='([^']|'\\'')*'$`).
pub fn is_recorded_line(line: &str) -> bool {
    let Some(mut rest) = line
        .strip_prefix(ENVS_SH_RECORD_MARKER)
        .and_then(|r| r.strip_prefix('\''))
    else {
        return false;
    };
    loop {
        let Some(i) = rest.find('\'') else {
            return false;
        };
        let after = &rest[i..];
        if after == "'" {
            return true;
        }
        match after.strip_prefix(r"'\''") {
            Some(more) => rest = more,
            None => return false,
        }
    }
}

/// Whether the `envs.sh` at `path`, once its recorded folder is taken out, is the one a
/// product's manifest describes (`size` bytes with this `sha256`).
pub fn envs_sh_matches_as_made(path: &Path, size: u64, sha256: &str) -> anyhow::Result<bool> {
    use sha2::Digest;
    // A product's envs.sh is a few kilobytes; anything much larger is not one.
    let meta =
        std::fs::metadata(path).with_context(|| format!("failed to read `{}`", path.display()))?;
    if meta.len() > 1024 * 1024 {
        return Ok(false);
    }
    let text =
        std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))?;
    let Some(made) = std::str::from_utf8(&text).ok().and_then(envs_sh_as_made) else {
        return Ok(false);
    };
    Ok(made.len() as u64 == size
        && crate::fsutil::hex(&sha2::Sha256::digest(made.as_bytes())) == sha256)
}

/// `envs.sh`; `pixi_version` is the build's, to tell a bundled pixi from another one on PATH.
pub fn envs_sh(project_name: &str, pixi_version: &str) -> anyhow::Result<String> {
    render(
        ENVS_SH,
        &[
            ("PROJECT_NAME", Value::Word(project_name)),
            ("PIXI_VERSION", Value::Word(pixi_version)),
        ],
    )
}

pub fn bootstrap_sh(
    project_name: &str,
    pixi_version: &str,
    environments: &[String],
) -> anyhow::Result<String> {
    render(
        BOOTSTRAP_SH,
        &[
            ("PROJECT_NAME", Value::Word(project_name)),
            ("PIXI_VERSION", Value::Word(pixi_version)),
            ("ENVIRONMENTS", Value::Words(environments)),
        ],
    )
}

/// `check-product.sh`: the product's own integrity check and pre-flight.
pub fn check_product_sh(project_name: &str) -> anyhow::Result<String> {
    render(
        CHECK_PRODUCT_SH,
        &[("PROJECT_NAME", Value::Word(project_name))],
    )
}

pub fn make_archive_ready_sh(project_name: &str) -> anyhow::Result<String> {
    render(
        MAKE_ARCHIVE_READY_SH,
        &[("PROJECT_NAME", Value::Word(project_name))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's $HOME"), r"'it'\''s $HOME'");
    }

    #[test]
    fn leftovers_and_unknown_keys_are_errors() {
        assert!(render("a @X@ b", &[]).is_err());
        assert!(render("a b", &[("X", Value::Word("1"))]).is_err());
        assert_eq!(
            render("a @X@ b", &[("X", Value::Word("1"))]).unwrap(),
            "a '1' b"
        );
        // An e-mail address or a lone @ is not a placeholder.
        assert!(render("mail me@host.org @ x", &[]).is_ok());
    }

    #[test]
    fn envs_sh_has_one_empty_record_line_and_bootstrapping_changes_only_it() {
        let made = envs_sh("demo", "pixi 0.15.2").unwrap();
        let records: Vec<&str> = made
            .lines()
            .filter(|l| l.starts_with(ENVS_SH_RECORD_MARKER))
            .collect();
        assert_eq!(records, [ENVS_SH_UNRECORDED_LINE]);
        assert_eq!(envs_sh_as_made(&made).as_deref(), Some(made.as_str()));
        let recorded = made.replace(
            ENVS_SH_UNRECORDED_LINE,
            r"_pixi_airgap_recorded='/opt/it'\''s here'",
        );
        assert_ne!(recorded, made);
        assert_eq!(envs_sh_as_made(&recorded).as_deref(), Some(made.as_str()));
        // Any other change shows.
        let edited = recorded.replace("PIXI_FROZEN=true", "PIXI_FROZEN=false");
        assert_ne!(envs_sh_as_made(&edited).as_deref(), Some(made.as_str()));
        // Only the one quoted form: code after the folder is not a recorded folder.
        for evil in [
            "_pixi_airgap_recorded=''; evil",
            "_pixi_airgap_recorded='/x'; evil",
            r"_pixi_airgap_recorded='/x'\''; evil",
            "_pixi_airgap_recorded=/x",
            "_pixi_airgap_recorded='/x' ",
            "_pixi_airgap_recorded='/x''y'",
            "_pixi_airgap_recorded=\"/x\"",
        ] {
            assert!(!is_recorded_line(evil), "{evil}");
            let tampered = made.replace(ENVS_SH_UNRECORDED_LINE, evil);
            assert_eq!(envs_sh_as_made(&tampered), None, "{evil}");
        }
        for good in [
            "_pixi_airgap_recorded=''",
            "_pixi_airgap_recorded='/opt/p'",
            r"_pixi_airgap_recorded='/opt/it'\''s; here'",
            r"_pixi_airgap_recorded=''\'''",
        ] {
            assert!(is_recorded_line(good), "{good}");
        }
        let doubled = format!("{recorded}{ENVS_SH_UNRECORDED_LINE}\n");
        assert_eq!(envs_sh_as_made(&doubled), None);
        assert_eq!(envs_sh_as_made("export X=1\n"), None);
    }

    #[test]
    fn rendered_scripts_snapshot() {
        let envs = ["default".to_string(), "py 3.11".to_string()];
        insta::assert_snapshot!("envs.sh", envs_sh("demo's project", "pixi 0.15.2").unwrap());
        insta::assert_snapshot!(
            "bootstrap-project.sh",
            bootstrap_sh("demo's project", "pixi 0.15.2", &envs).unwrap()
        );
        insta::assert_snapshot!(
            "make-archive-ready-product.sh",
            make_archive_ready_sh("demo's project").unwrap()
        );
        insta::assert_snapshot!(
            "check-product.sh",
            check_product_sh("demo's project").unwrap()
        );
    }

    /// Every rendered script passes shellcheck (installed by scripts/testbed.sh).
    #[test]
    fn rendered_scripts_pass_shellcheck() {
        let dir = tempfile::tempdir().unwrap();
        let envs = ["default".to_string(), "test".to_string()];
        let scripts = [
            ("envs.sh", envs_sh("p", "pixi 0.15.2").unwrap()),
            (
                "bootstrap-project.sh",
                bootstrap_sh("p", "pixi 0.15.2", &envs).unwrap(),
            ),
            (
                "make-archive-ready-product.sh",
                make_archive_ready_sh("p").unwrap(),
            ),
            ("check-product.sh", check_product_sh("p").unwrap()),
        ];
        for (name, text) in scripts {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let out = std::process::Command::new("shellcheck")
                .args(["--shell=sh", "--external-sources", "--severity=style"])
                .arg(name)
                .current_dir(dir.path())
                .output()
                .expect(
                    "shellcheck is needed for this test: run scripts/testbed.sh (it installs it)",
                );
            assert!(
                out.status.success(),
                "{name} fails shellcheck:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
}
