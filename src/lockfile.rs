//! A typed reading of `pixi.lock`: which packages each environment installs on each platform, and
//! what the lock records about each package (kind, location, name, version, hashes, licence,
//! dependencies). The pre-flight check (`crate::check`), the SBOM (`crate::sbom`) and the lock
//! summary of staging (`crate::pixi::LockInfo`) all read the lock through this module.
//!
//! Formats understood (the `version:` at the top):
//! - 4 (pixi 0.15 and nearby): `packages: [{kind: conda|pypi, name, version, url, ...}]`;
//! - 5 and 6: `packages: [{conda: URL, ...} | {pypi: URL, ...}]`;
//! - 7 (current pixi): as 6; conda records may omit `name`/`version` (taken from the file name),
//!   source packages built by pixi-build are `conda_source: "NAME[HASH] @ LOCATION"` (a `conda:`
//!   location that is not a package archive counts as one too), and a `pypi:` location may be a
//!   path (`./pkg`) or a `git+` URL.
//!
//! Environments, in every format: `environments: {NAME: {packages: {PLATFORM: [{conda|pypi: LOC}]}}}`.
//! Older formats (3 and below, `package:` entries with `manager:`) are read for their conda URLs only.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::exit::InputError;

/// The newest lock format this module reads fully.
pub const NEWEST_FORMAT: u64 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageKind {
    Conda,
    Pypi,
}

/// One package record of the lock's `packages:` list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LockedPackage {
    pub kind: PackageKind,
    /// URL, path or `git+` URL, as the lock writes it.
    pub location: String,
    pub name: String,
    pub version: Option<String>,
    pub sha256: Option<String>,
    pub md5: Option<String>,
    pub license: Option<String>,
    /// Conda `depends` (match specs, virtual packages such as `__glibc >=2.17` included).
    pub depends: Vec<String>,
    /// Format 4 records `editable:` on PyPI packages; later formats keep it in the manifest.
    pub editable: bool,
    /// PyPI names a conda package provides (`purls: [pkg:pypi/NAME@VERSION]`), normalized.
    pub pypi_names: Vec<String>,
}

impl LockedPackage {
    /// A conda package archive (`.conda` or `.tar.bz2`), as opposed to a source package.
    pub fn is_conda_archive(&self) -> bool {
        self.kind == PackageKind::Conda
            && (self.location.ends_with(".conda") || self.location.ends_with(".tar.bz2"))
    }

    /// The PyPI source form: built at install time.
    pub fn pypi_source(&self) -> Option<PypiSource> {
        if self.kind != PackageKind::Pypi {
            return None;
        }
        let loc = self.location.as_str();
        if loc.starts_with("git+") {
            Some(PypiSource::Git)
        } else if is_path(loc) {
            Some(PypiSource::Path)
        } else if loc.ends_with(".whl") {
            None
        } else {
            Some(PypiSource::Sdist)
        }
    }
}

/// How a PyPI package that is not a wheel reaches the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PypiSource {
    Sdist,
    Path,
    Git,
}

/// Whether a lock location is a local path rather than a URL.
pub fn is_path(location: &str) -> bool {
    location.starts_with("./")
        || location.starts_with("../")
        || location.starts_with('/')
        || location == "."
        || location.starts_with("file:")
}

/// A reference from an environment to a package record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRef {
    pub kind: PackageKind,
    pub location: String,
}

#[derive(Debug, Clone, Default)]
pub struct LockedEnvironment {
    /// Platform -> the packages installed there, in lock order.
    pub packages: BTreeMap<String, Vec<PackageRef>>,
}

/// A parsed `pixi.lock`.
#[derive(Debug, Clone)]
pub struct Lock {
    pub version: Option<u64>,
    pub environments: BTreeMap<String, LockedEnvironment>,
    pub packages: Vec<LockedPackage>,
    /// Format 7: the virtual packages each platform was solved against (`__glibc=2.28`, ...).
    pub platform_virtual_packages: BTreeMap<String, Vec<String>>,
}

impl Lock {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))?;
        Self::parse(&bytes).map_err(|err| {
            InputError::new(format!("`{}` is not a valid lock file", path.display()))
                .with_source(err)
                .into()
        })
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, serde_yaml::Error> {
        let doc: serde_yaml::Value = serde_yaml::from_slice(bytes)?;
        let version = doc.get("version").and_then(|v| v.as_u64());
        let mut environments = BTreeMap::new();
        if let Some(envs) = doc.get("environments").and_then(|e| e.as_mapping()) {
            for (name, env) in envs {
                let Some(name) = name.as_str() else { continue };
                let mut locked = LockedEnvironment::default();
                if let Some(platforms) = env.get("packages").and_then(|p| p.as_mapping()) {
                    for (platform, refs) in platforms {
                        let Some(platform) = platform.as_str() else {
                            continue;
                        };
                        let refs = refs
                            .as_sequence()
                            .map(|seq| seq.iter().filter_map(package_ref).collect())
                            .unwrap_or_default();
                        locked.packages.insert(platform.to_string(), refs);
                    }
                }
                environments.insert(name.to_string(), locked);
            }
        }
        let mut packages = Vec::new();
        if let Some(seq) = doc.get("packages").and_then(|p| p.as_sequence()) {
            packages.extend(seq.iter().filter_map(package_record));
        }
        if let Some(seq) = doc.get("package").and_then(|p| p.as_sequence()) {
            // Format 3 and earlier: conda URLs only.
            for p in seq {
                if p.get("manager").and_then(|m| m.as_str()) != Some("conda") {
                    continue;
                }
                if let Some(url) = p.get("url").and_then(|u| u.as_str()) {
                    packages.push(LockedPackage {
                        kind: PackageKind::Conda,
                        location: url.to_string(),
                        name: str_field(p, "name")
                            .unwrap_or_else(|| conda_name_from_file(url).0.to_string()),
                        version: str_field(p, "version"),
                        sha256: str_field(p, "sha256"),
                        md5: str_field(p, "md5"),
                        license: None,
                        depends: Vec::new(),
                        editable: false,
                        pypi_names: Vec::new(),
                    });
                }
            }
        }
        let mut platform_virtual_packages = BTreeMap::new();
        if let Some(seq) = doc.get("platforms").and_then(|p| p.as_sequence()) {
            for p in seq {
                let Some(name) = p.get("name").and_then(|n| n.as_str()) else {
                    continue;
                };
                let virtuals = p
                    .get("virtual-packages")
                    .and_then(|v| v.as_sequence())
                    .map(|s| {
                        s.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                platform_virtual_packages.insert(name.to_string(), virtuals);
            }
        }
        Ok(Self {
            version,
            environments,
            packages,
            platform_virtual_packages,
        })
    }

    /// The record an environment's reference points at.
    pub fn package(&self, r: &PackageRef) -> Option<&LockedPackage> {
        self.packages
            .iter()
            .find(|p| p.kind == r.kind && p.location == r.location)
    }

    /// The records one environment installs on one platform (unknown references are skipped).
    pub fn environment_packages(&self, environment: &str, platform: &str) -> Vec<&LockedPackage> {
        self.environments
            .get(environment)
            .and_then(|e| e.packages.get(platform))
            .map(|refs| refs.iter().filter_map(|r| self.package(r)).collect())
            .unwrap_or_default()
    }
}

fn str_field(v: &serde_yaml::Value, key: &str) -> Option<String> {
    v.get(key).and_then(|x| match x {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn package_ref(v: &serde_yaml::Value) -> Option<PackageRef> {
    for (key, kind) in [
        ("conda", PackageKind::Conda),
        ("conda_source", PackageKind::Conda),
        ("pypi", PackageKind::Pypi),
    ] {
        if let Some(loc) = v.get(key).and_then(|l| l.as_str()) {
            return Some(PackageRef {
                kind,
                location: loc.to_string(),
            });
        }
    }
    None
}

fn package_record(v: &serde_yaml::Value) -> Option<LockedPackage> {
    // Format 4: `kind:` + `url:`; formats 5-7: `conda:`/`pypi:` hold the location.
    let (kind, location) = match v.get("kind").and_then(|k| k.as_str()) {
        Some("conda") => (PackageKind::Conda, str_field(v, "url")?),
        Some("pypi") => (PackageKind::Pypi, str_field(v, "url")?),
        Some(_) => return None,
        None => {
            let r = package_ref(v)?;
            (r.kind, r.location)
        }
    };
    let (file_name, file_version) = match kind {
        // `NAME[HASH] @ LOCATION`
        PackageKind::Conda if v.get("conda_source").is_some() => (
            location
                .split(['[', ' ', '@'])
                .next()
                .unwrap_or_default()
                .to_string(),
            None,
        ),
        PackageKind::Conda => {
            let (n, ver) = conda_name_from_file(&location);
            (n.to_string(), ver.map(str::to_string))
        }
        PackageKind::Pypi => (String::new(), None),
    };
    let name = str_field(v, "name").unwrap_or(file_name);
    let depends = v
        .get("depends")
        .and_then(|d| d.as_sequence())
        .map(|s| {
            s.iter()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let pypi_names = v
        .get("purls")
        .and_then(|p| p.as_sequence())
        .map(|s| {
            s.iter()
                .filter_map(|p| p.as_str()?.strip_prefix("pkg:pypi/"))
                .map(|p| normalize_pypi_name(p.split(['@', '?']).next().unwrap_or(p)))
                .collect()
        })
        .unwrap_or_default();
    Some(LockedPackage {
        kind,
        pypi_names,
        name,
        version: str_field(v, "version").or(file_version),
        sha256: str_field(v, "sha256"),
        md5: str_field(v, "md5"),
        license: str_field(v, "license"),
        depends,
        editable: v.get("editable").and_then(|e| e.as_bool()) == Some(true),
        location,
    })
}

/// The last path component of a location (a trailing `/` ignored).
fn file_name(location: &str) -> &str {
    location
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(location)
}

/// `NAME-VERSION-BUILD` from a conda archive's location (`.../NAME-VERSION-BUILD.tar.bz2` or
/// `.conda`): the name of its folder in a package cache's `pkgs/`. `None` for anything else.
pub fn conda_archive_stem(location: &str) -> Option<&str> {
    let file = file_name(location);
    file.strip_suffix(".tar.bz2")
        .or_else(|| file.strip_suffix(".conda"))
}

/// `(name, version)` from a conda archive's file name `NAME-VERSION-BUILD.tar.bz2`; for anything
/// else (a source package's path) the last path component and no version.
pub fn conda_name_from_file(location: &str) -> (&str, Option<&str>) {
    let Some(stem) = conda_archive_stem(location) else {
        return (file_name(location), None);
    };
    let mut parts = stem.rsplitn(3, '-');
    let (_build, version, name) = (parts.next(), parts.next(), parts.next());
    match (name, version) {
        (Some(name), Some(version)) => (name, Some(version)),
        _ => (stem, None),
    }
}

/// PyPI project names compare by their normalized form (PEP 503).
pub fn normalize_pypi_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut last_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !last_sep {
                out.push('-');
            }
            last_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            last_sep = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Lock {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/locks")
            .join(name)
            .join("pixi.lock");
        Lock::read(&path).unwrap()
    }

    #[test]
    fn reads_format_4() {
        let lock = fixture("v4-multi");
        assert_eq!(lock.version, Some(4));
        assert_eq!(
            lock.environments.keys().collect::<Vec<_>>(),
            ["alpha", "beta", "default"]
        );
        let beta = lock.environment_packages("beta", "linux-64");
        let names: Vec<&str> = beta.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["airgap-base", "airgap-beta", "airgap-hello"]);
        let hello = beta[2];
        assert_eq!(hello.version.as_deref(), Some("1.0.0"));
        assert_eq!(hello.license.as_deref(), Some("MIT"));
        assert_eq!(hello.depends, ["airgap-base >=1.0"]);
        assert!(hello.is_conda_archive());
        assert!(hello.sha256.as_deref().is_some_and(|s| s.len() == 64));
    }

    #[test]
    fn reads_format_7_with_pypi_sources() {
        let lock = fixture("v7-mixed");
        assert_eq!(lock.version, Some(7));
        let pkgs = lock.environment_packages("default", "linux-64");
        assert_eq!(pkgs.len(), 8, "{pkgs:#?}");
        let by_name = |n: &str| pkgs.iter().find(|p| p.name == n).unwrap();
        let python = by_name("python");
        assert_eq!(python.version.as_deref(), Some("3.11.2"));
        assert_eq!(python.license.as_deref(), Some("PSF-2.0"));
        assert_eq!(by_name("six").pypi_source(), None);
        assert_eq!(by_name("pyperclip").pypi_source(), Some(PypiSource::Sdist));
        assert_eq!(by_name("localpkg").pypi_source(), Some(PypiSource::Path));
        assert_eq!(by_name("gitpkg").pypi_source(), Some(PypiSource::Git));
        assert_eq!(
            lock.platform_virtual_packages["linux-64"],
            [
                "__unix=0=0",
                "__linux=4.18",
                "__glibc=2.28",
                "__archspec=0=x86_64"
            ]
        );
    }

    #[test]
    fn reads_source_packages() {
        let lock = fixture("v7-source");
        let pkgs = lock.environment_packages("default", "linux-64");
        let source = pkgs.iter().find(|p| p.name == "mypkg").unwrap();
        assert!(!source.is_conda_archive());
        assert_eq!(source.version.as_deref(), Some("0.1.0"));
    }

    #[test]
    fn names_from_file_names() {
        assert_eq!(
            conda_name_from_file("https://x/linux-64/libgcc-ng-13.2.0-h77fa898_7.conda"),
            ("libgcc-ng", Some("13.2.0"))
        );
        assert_eq!(
            conda_name_from_file("http://c/noarch/airgap-hello-1.0.0-0.tar.bz2"),
            ("airgap-hello", Some("1.0.0"))
        );
        assert_eq!(conda_name_from_file("./recipes/mypkg"), ("mypkg", None));
        assert_eq!(normalize_pypi_name("Python_Dateutil"), "python-dateutil");
        assert_eq!(normalize_pypi_name("zope..interface"), "zope-interface");
    }
}
