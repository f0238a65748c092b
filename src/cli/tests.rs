//! The command line's own checks: settings as flag defaults, and that flags are named only where
//! they are parsed and resolved (`src/cli/`, `src/commands/`): the library says what is wrong,
//! the command adds which flag to change (with a hint, or by passing the name in). Our flags are
//! taken from clap itself, every subcommand.

use std::path::{Path, PathBuf};

use super::*;

/// Where the library may spell one of our flags, and why: a command line we run, not a message.
const ALLOWED: &[(&str, &str)] = &[
    // pixi's own flag in a command we run and report, not ours.
    ("src/stage/steps.rs", "pixi info --json"),
    // systemctl's own flag in a hint about starting Podman.
    ("src/docker/error.rs", "systemctl --user"),
];

fn long_flags(command: &clap::Command, flags: &mut Vec<String>) {
    for arg in command.get_arguments() {
        if let Some(long) = arg.get_long() {
            if !["help", "version"].contains(&long) {
                flags.push(format!("--{long}"));
            }
        }
    }
    for sub in command.get_subcommands() {
        long_flags(sub, flags);
    }
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The code of a line: nothing for a comment line, and a trailing `// ...` cut off when the
/// quotes before it are balanced (so it is not inside a string).
fn code_of(line: &str) -> &str {
    if line.trim_start().starts_with("//") {
        return "";
    }
    match line.find(" // ") {
        Some(at) if line[..at].matches('"').count() % 2 == 0 => &line[..at],
        _ => line,
    }
}

/// Where `flag` occurs in `code` as a whole word and not as a whole string literal (`"--flag"`
/// alone is an argument of a command line we build, which is not a message).
fn named_in(code: &str, flag: &str) -> bool {
    let word =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    code.match_indices(flag).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + flag.len()..].chars().next();
        let whole_literal = before == Some('"') && after == Some('"');
        !(word(before) || word(after) || whole_literal)
    })
}

#[test]
fn only_the_command_line_layers_name_our_flags() {
    let mut flags = Vec::new();
    long_flags(&<Cli as clap::CommandFactory>::command(), &mut flags);
    flags.sort();
    flags.dedup();
    assert!(flags.contains(&"--no-wait".to_string()), "{flags:?}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel.starts_with("src/cli/")
            || rel.starts_with("src/commands/")
            || rel.ends_with("/tests.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            // The unit tests at the end of a file may spell what users type.
            if line.trim() == "#[cfg(test)]" {
                break;
            }
            if ALLOWED.iter().any(|(f, t)| rel == *f && line.contains(t)) {
                continue;
            }
            let code = code_of(line);
            for flag in &flags {
                if named_in(code, flag) {
                    found.push(format!("{rel}:{}: {flag}: {}", number + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "flags named outside src/cli and src/commands (say what is wrong there, and let the \
         command add the flag with a hint or pass its name in):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_what_it_should() {
    assert!(named_in(r#"hint("drop --no-wait to wait")"#, "--no-wait"));
    assert!(!named_in(r#".args(["--keep"])"#, "--keep"));
    assert!(!named_in(r#""--keep-container""#, "--keep"));
    assert_eq!(code_of("  /// --force"), "");
    assert_eq!(code_of(r#"f(); // --force"#), "f();");
    assert_eq!(code_of(r#""a // --force""#), r#""a // --force""#);
}

fn make_product(extra: &[&str]) -> Result<Cli, clap::Error> {
    let dir = std::env::temp_dir();
    let mut args = vec![
        "pixi-airgap",
        "make-product",
        "--project-name",
        "p",
        "--workdir",
    ];
    args.push(dir.to_str().unwrap());
    args.extend(extra);
    Cli::try_parse_from_env(args)
}

/// A variable that is a flag's default: read as a boolean, beaten by the flag, and named when
/// its value is bad. (The only test that sets it.)
#[test]
fn a_setting_is_its_flags_default() {
    let no_wait = |cli: Cli| match cli.command {
        Command::MakeProduct(args) => args.no_wait,
        other => panic!("{other:?}"),
    };
    std::env::set_var(settings::NO_WAIT.name, "yes");
    assert!(no_wait(make_product(&[]).unwrap()));
    std::env::set_var(settings::NO_WAIT.name, "0");
    assert!(!no_wait(make_product(&[]).unwrap()));
    assert!(no_wait(make_product(&["--no-wait"]).unwrap()));
    std::env::set_var(settings::NO_WAIT.name, "maybe");
    let err = make_product(&[]).unwrap_err().to_string();
    assert!(
        err.contains("environment variable PIXI_AIRGAP_NO_WAIT"),
        "{err}"
    );
    // Given on the command line, the variable is not what was wrong.
    let err = make_product(&["--workdir=/nonexistent/wd"])
        .unwrap_err()
        .to_string();
    assert!(!err.contains("PIXI_AIRGAP_"), "{err}");
    std::env::remove_var(settings::NO_WAIT.name);
}

/// Every flag bound to a variable is bound to a declared setting.
#[test]
fn every_flag_variable_is_a_declared_setting() {
    fn walk(command: &clap::Command, found: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if let Some(var) = arg.get_env() {
                found.push(var.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, found);
        }
    }
    let mut found = Vec::new();
    walk(&<Cli as clap::CommandFactory>::command(), &mut found);
    assert!(!found.is_empty());
    for var in found {
        assert!(
            settings::ALL.iter().any(|s| s.name == var),
            "{var} is not in settings::ALL"
        );
    }
}

/// Clap quotes what it was given; a control character in it is escaped, as in our own errors.
#[test]
fn quoted_values_cannot_drive_the_terminal() {
    for args in [
        vec!["pixi-airgap", "x\u{1b}[2J"],
        vec![
            "pixi-airgap",
            "verify-product",
            "--user",
            "\u{1b}]0;pwned\u{7}",
        ],
    ] {
        let err = Cli::try_parse_from_env(args).unwrap_err().to_string();
        assert!(err.contains("\\u{1b}"), "{err}");
        assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    }
}
