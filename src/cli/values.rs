//! Where a flag's value is parsed: the types clap turns flag values into (`value_parser`,
//! `FromStr`), so that a bad value is reported by clap itself, naming the flag it was given to
//! (`error: invalid value 'x' for '--flag <VALUE>': ...`, exit 2). What a value means once it
//! is parsed (a user's environment looked up, a folder canonicalised, a limit applied to a
//! container) is decided by the commands, not here; nothing here names a flag.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::builder::{PathBufValueParser, TypedValueParser};

use crate::product::split::SplitSize;
use crate::session::RunAs;

/// A path inside a container: absolute, normalised (no empty, `.` or `..` component) and not `/`.
/// A trailing `/` is dropped, so `/workdir/` is `/workdir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPath(String);

impl ContainerPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for ContainerPath {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim_end_matches('/');
        let ok = trimmed.starts_with('/')
            && trimmed
                .split('/')
                .skip(1)
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if !ok {
            return Err(
                "not an absolute path like /workdir (not `/`, no `.` or `..`, no `//`)".to_string(),
            );
        }
        Ok(Self(trimmed.to_string()))
    }
}

impl fmt::Display for ContainerPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `UID` or `UID:GID`, both numbers (`UID` alone means `UID:UID`).
impl FromStr for RunAs {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let number = |s: &str| s.parse::<u64>().ok();
        let user = match text.split_once(':') {
            Some((u, g)) => number(u)
                .zip(number(g))
                .map(|(uid, gid)| RunAs { uid, gid }),
            None => number(text).map(|uid| RunAs { uid, gid: uid }),
        };
        user.ok_or_else(|| "not UID or UID:GID (numbers, e.g. 1000 or 1000:1000)".to_string())
    }
}

/// `KEY=VALUE`, or `KEY` alone: a value to be taken from this process's environment (looked up
/// when the command resolves its options, not here). The key is not empty and holds no `=`,
/// white space or NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvPair {
    pub key: String,
    pub value: Option<String>,
}

impl FromStr for EnvPair {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (key, value) = match text.split_once('=') {
            Some((key, value)) => (key, Some(value.to_string())),
            None => (text, None),
        };
        if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '\0') {
            return Err("not KEY or KEY=VALUE (KEY not empty, without spaces)".to_string());
        }
        Ok(Self {
            key: key.to_string(),
            value,
        })
    }
}

/// `TASK`, or `ENV:TASK` to run the task in environment `ENV`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskArg {
    pub environment: Option<String>,
    pub task: String,
}

impl FromStr for TaskArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (environment, task) = match text.split_once(':') {
            Some((env, task)) => (Some(env.trim()), task),
            None => (None, text),
        };
        if task.trim().is_empty() || environment.is_some_and(str::is_empty) {
            return Err("not TASK or ENV:TASK".to_string());
        }
        Ok(Self {
            environment: environment.map(str::to_string),
            task: task.to_string(),
        })
    }
}

/// A name the engine or pixi looks up (an image, a container, an environment): anything but
/// empty or blank, which would name nothing (or, for an image, whatever the engine defaults to).
pub fn parse_name(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("names nothing (empty or blank)".to_string());
    }
    Ok(text.to_string())
}

/// A number of bytes, the one rule for every size on the command line: a whole number, then
/// optionally a unit (a space between them is allowed). `k`, `m`, `g`, `t` and `KiB`, `MiB`,
/// `GiB`, `TiB` are powers of 1024; `KB`, `MB`, `GB`, `TB` are powers of 1000; `B` or no unit is
/// bytes. Letters may be of either case (`512m`, `8G`, `700mb`), but `KB` and `KiB` stay
/// different: `--memory 512mb` is 512,000,000 bytes, `--memory 512m` 536,870,912. No fractions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// What [`ByteSize`] accepts, for messages.
const SIZE_UNITS: &str =
    "a whole number of bytes, or with k, m, g, t (KiB, MiB, GiB, TiB) or KB, MB, GB, TB";

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = trimmed.split_at(digits);
        let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "t" | "tib" => 1 << 40,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "tb" => 1_000_000_000_000,
            _ => return Err(format!("not a size: give {SIZE_UNITS}")),
        };
        if number.is_empty() {
            return Err(format!("not a size: give {SIZE_UNITS}"));
        }
        number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(factor))
            .map(Self)
            .ok_or_else(|| "too large a size".to_string())
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

/// A limit given on the command line: a number, or no limit (`none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<u64>);

/// The least memory pixi can run in.
const MIN_MEMORY: u64 = 16 << 20;

/// `--memory`: a [`ByteSize`] of at least 16 MiB, or `none`.
pub fn parse_memory(text: &str) -> Result<Limit, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(Limit(None));
    }
    let ByteSize(bytes) = text
        .parse()
        .map_err(|err: String| format!("{err}; or none"))?;
    if bytes < MIN_MEMORY {
        return Err("less than 16m: pixi cannot run in that".to_string());
    }
    Ok(Limit(Some(bytes)))
}

/// `--pids-limit`: a whole number of at least 64, or `none`.
pub fn parse_pids(text: &str) -> Result<Limit, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") {
        return Ok(Limit(None));
    }
    match text.parse::<u32>() {
        Ok(n) if n >= 64 => Ok(Limit(Some(u64::from(n)))),
        Ok(_) => Err("less than 64: pixi cannot run with that few".to_string()),
        Err(_) => Err("not a whole number (or none)".to_string()),
    }
}

/// `--split-size`: a [`ByteSize`] of at least one byte.
pub fn parse_split_size(text: &str) -> Result<SplitSize, String> {
    let ByteSize(bytes) = text.parse()?;
    SplitSize::new(bytes).ok_or_else(|| "a part holds at least 1 byte".to_string())
}

/// A folder that exists (the path as given: the command makes it absolute or canonical). Parsed
/// from the raw argument, so a path that is not UTF-8 is still a path.
pub fn existing_dir() -> impl TypedValueParser<Value = PathBuf> {
    PathBufValueParser::new().try_map(|path: PathBuf| check_dir(&path).map(|()| path))
}

fn check_dir(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err("not a folder".to_string()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err("no such folder".to_string()),
        Err(err) => Err(format!("cannot be read as a folder: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_anything_but_blank() {
        assert_eq!(parse_name("img:1").unwrap(), "img:1");
        for blank in ["", " ", "\t"] {
            assert!(parse_name(blank).is_err(), "{blank:?}");
        }
    }

    #[test]
    fn container_paths() {
        let parse = |s: &str| s.parse::<ContainerPath>().map(ContainerPath::into_string);
        assert_eq!(parse("/workdir/").unwrap(), "/workdir");
        assert_eq!(parse("/a/b").unwrap(), "/a/b");
        for bad in ["/", "", "rel", "/a/../b", "/a//b", "/a/./b", "//"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn users() {
        assert_eq!(
            "1000".parse(),
            Ok(RunAs {
                uid: 1000,
                gid: 1000
            })
        );
        assert_eq!("1000:50".parse(), Ok(RunAs { uid: 1000, gid: 50 }));
        for bad in ["", "root", "1000:", ":1", "1:2:3", "-1"] {
            assert!(bad.parse::<RunAs>().is_err(), "{bad}");
        }
    }

    #[test]
    fn env_pairs() {
        let pair = |s: &str| s.parse::<EnvPair>();
        assert_eq!(
            pair("A=1=2"),
            Ok(EnvPair {
                key: "A".into(),
                value: Some("1=2".into())
            })
        );
        assert_eq!(pair("B=").unwrap().value.as_deref(), Some(""));
        assert_eq!(pair("HOME").unwrap().value, None);
        for bad in ["", "=x", "A B=1", " A", "A\0"] {
            assert!(pair(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tasks() {
        let task = |s: &str| s.parse::<TaskArg>();
        assert_eq!(
            task("beta:check"),
            Ok(TaskArg {
                environment: Some("beta".into()),
                task: "check".into()
            })
        );
        assert_eq!(task("smoke").unwrap().environment, None);
        for bad in [":smoke", "beta:", "", "  ", " :x"] {
            assert!(task(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn one_size_rule() {
        for (text, bytes) in [
            ("1", 1),
            ("4096", 4096),
            ("12B", 12),
            ("1KiB", 1024),
            ("1k", 1024),
            ("512m", 512 << 20),
            ("512MiB", 512 << 20),
            ("8g", 8 << 30),
            ("8G", 8 << 30),
            ("4 GiB", 4 << 30),
            ("1t", 1 << 40),
            ("2kb", 2000),
            ("700MB", 700_000_000),
            ("3GB", 3_000_000_000),
            ("1TB", 1_000_000_000_000),
        ] {
            assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{text}");
        }
        for bad in [
            "",
            "MiB",
            "g",
            "12XB",
            "8x",
            "-1",
            "1.5GiB",
            "99999999999t",
            "99999999999999999999GiB",
        ] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn each_size_keeps_its_own_limits() {
        assert_eq!(parse_memory("8g"), Ok(Limit(Some(8 << 30))));
        assert_eq!(parse_memory("512MiB"), Ok(Limit(Some(512 << 20))));
        assert_eq!(parse_memory("512mb"), Ok(Limit(Some(512_000_000))));
        assert_eq!(parse_memory("none"), Ok(Limit(None)));
        assert_eq!(parse_memory("1073741824"), Ok(Limit(Some(1 << 30))));
        for bad in ["", "8x", "g", "1m", "16MB", "-1g", "99999999999t"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_memory("16m"), Ok(Limit(Some(16 << 20))));
        assert_eq!(parse_pids("4096"), Ok(Limit(Some(4096))));
        assert_eq!(parse_pids("none"), Ok(Limit(None)));
        for bad in ["", "10", "-5", "many"] {
            assert!(parse_pids(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_split_size("650MiB").map(SplitSize::bytes),
            Ok(650 << 20)
        );
        assert_eq!(parse_split_size("1").map(SplitSize::bytes), Ok(1));
        for bad in ["0", "0MiB", "none", ""] {
            assert!(parse_split_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn folders() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert_eq!(check_dir(dir.path()), Ok(()));
        assert_eq!(check_dir(&file), Err("not a folder".to_string()));
        assert_eq!(
            check_dir(&dir.path().join("missing")),
            Err("no such folder".to_string())
        );
    }
}
