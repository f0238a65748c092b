//! The product's software bill of materials: a CycloneDX 1.5 JSON document listing every conda and
//! PyPI package that `pixi.lock` installs for the staged environments, with name, version, package
//! URL, the URL it was fetched from, its sha256 and its licence where the package records one
//! (conda: the lock's `license`, else `info/index.json` in the cache; PyPI: the wheel's `METADATA`
//! in the uv cache). `make-product` writes it next to `pixi-airgap.json` and lists it there.
//!
//! The document is deterministic: its serial number is derived from the lock's sha256 and the
//! project name, its timestamp is the product's creation time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::lockfile::{self, Lock, LockedPackage, PackageKind};

/// What the SBOM is about.
pub struct SbomInput<'a> {
    pub project_name: &'a str,
    pub lock: &'a Lock,
    pub lock_sha256: &'a str,
    pub environments: &'a [String],
    pub platform: &'a str,
    /// The pixi cache (`pkgs/`, `uv-cache/`), for licences the lock does not record.
    pub cache_dir: Option<&'a Path>,
    /// RFC 3339.
    pub timestamp: &'a str,
}

/// Builds the CycloneDX document.
pub fn build(input: &SbomInput) -> Value {
    let mut seen = BTreeSet::new();
    let mut packages: Vec<&LockedPackage> = Vec::new();
    for env in input.environments {
        for pkg in input.lock.environment_packages(env, input.platform) {
            if seen.insert((pkg.kind, pkg.location.clone())) {
                packages.push(pkg);
            }
        }
    }
    packages.sort_by(|a, b| (a.kind, &a.name, &a.location).cmp(&(b.kind, &b.name, &b.location)));
    let wheel_licenses = input
        .cache_dir
        .map(|c| wheel_licenses(&c.join("uv-cache")))
        .unwrap_or_default();
    let components: Vec<Value> = packages
        .iter()
        .map(|pkg| component(pkg, input.cache_dir, &wheel_licenses))
        .collect();
    let digest = Sha256::digest(format!("{}\n{}", input.lock_sha256, input.project_name));
    let h = crate::fsutil::hex(&digest);
    // A version-4-shaped UUID from the digest: stable for the same lock and project.
    let serial = format!(
        "urn:uuid:{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    );
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": input.timestamp,
            "tools": {"components": [{
                "type": "application",
                "name": env!("CARGO_PKG_NAME"),
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {
                "type": "application",
                "bom-ref": format!("project:{}", input.project_name),
                "name": input.project_name,
                "properties": [
                    {"name": "pixi-airgap:environments", "value": input.environments.join(",")},
                    {"name": "pixi-airgap:platform", "value": input.platform},
                    {"name": "pixi-airgap:lock-sha256", "value": input.lock_sha256},
                ],
            },
        },
        "components": components,
    })
}

fn component(
    pkg: &LockedPackage,
    cache: Option<&Path>,
    wheel_licenses: &BTreeMap<(String, String), String>,
) -> Value {
    let version = pkg.version.clone().unwrap_or_default();
    let (purl, license) = match pkg.kind {
        PackageKind::Conda => {
            let subdir = pkg
                .location
                .rsplit('/')
                .nth(1)
                .filter(|s| s.contains('-') || *s == "noarch")
                .map(|s| format!("?subdir={s}"))
                .unwrap_or_default();
            let license = pkg
                .license
                .clone()
                .or_else(|| cache.and_then(|c| conda_cache_license(c, pkg)));
            (
                format!(
                    "pkg:conda/{}@{}{subdir}",
                    purl_part(&pkg.name.to_lowercase()),
                    purl_part(&version)
                ),
                license,
            )
        }
        PackageKind::Pypi => {
            let name = lockfile::normalize_pypi_name(&pkg.name);
            let license = wheel_licenses
                .get(&(name.clone(), version.clone()))
                .cloned();
            (
                format!("pkg:pypi/{}@{}", purl_part(&name), purl_part(&version)),
                license,
            )
        }
    };
    let kind = match pkg.kind {
        PackageKind::Conda => "conda",
        PackageKind::Pypi => "pypi",
    };
    let mut c = json!({
        "type": "library",
        "bom-ref": format!("{kind}:{}", pkg.location),
        "name": pkg.name,
        "version": version,
        "purl": purl,
    });
    if let Some(sha) = pkg.sha256.as_deref().filter(|s| s.len() == 64) {
        c["hashes"] = json!([{"alg": "SHA-256", "content": sha}]);
    }
    if let Some(l) = license.filter(|l| !l.trim().is_empty()) {
        c["licenses"] = json!([{"license": {"name": l.trim()}}]);
    }
    if pkg.location.contains("://") && !pkg.location.starts_with("file:") {
        let url = pkg.location.trim_start_matches("git+");
        c["externalReferences"] = json!([{"type": "distribution", "url": url}]);
    }
    c
}

/// Percent-encodes what a purl segment may not hold.
fn purl_part(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The licence in a conda package's `info/index.json` in the cache (`pkgs/NAME-VERSION-BUILD/`).
fn conda_cache_license(cache: &Path, pkg: &LockedPackage) -> Option<String> {
    let stem = crate::lockfile::conda_archive_stem(&pkg.location)?;
    let index = std::fs::read(cache.join("pkgs").join(stem).join("info/index.json")).ok()?;
    let v: Value = serde_json::from_slice(&index).ok()?;
    v.get("license")?.as_str().map(str::to_string)
}

/// `(normalized name, version) -> licence` from every `*.dist-info/METADATA` in the uv cache
/// (`License-Expression:`, else a one-line `License:`).
fn wheel_licenses(uv_cache: &Path) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let walk = walkdir::WalkDir::new(uv_cache)
        .follow_links(false)
        .follow_root_links(false)
        .max_depth(6);
    for entry in walk.into_iter().filter_map(Result::ok) {
        if entry.file_name() != "METADATA"
            || !entry
                .path()
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n.to_string_lossy().ends_with(".dist-info"))
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let (mut name, mut version, mut expr, mut license) = (None, None, None, None);
        // Headers end at the first empty line; the description follows.
        for line in text.lines().take_while(|l| !l.is_empty()) {
            if let Some(v) = line.strip_prefix("Name: ") {
                name = Some(lockfile::normalize_pypi_name(v.trim()));
            } else if let Some(v) = line.strip_prefix("Version: ") {
                version = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("License-Expression: ") {
                expr = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("License: ") {
                license = Some(v.trim().to_string());
            }
        }
        if let (Some(n), Some(v), Some(l)) = (name, version, expr.or(license)) {
            out.insert((n, v), l);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_package_with_purl_hash_and_licence() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/locks/v7-mixed");
        let lock = Lock::read(&dir.join("pixi.lock")).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let meta = cache
            .path()
            .join("uv-cache/archive-v0/abc/six-1.16.0.dist-info");
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("METADATA"),
            "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n\nLicense: not this\n",
        )
        .unwrap();
        let envs = vec!["default".to_string()];
        let input = SbomInput {
            project_name: "mixed",
            lock: &lock,
            lock_sha256: "00",
            environments: &envs,
            platform: "linux-64",
            cache_dir: Some(cache.path()),
            timestamp: "2024-01-01T00:00:00Z",
        };
        let bom = build(&input);
        assert_eq!(bom, build(&input), "deterministic");
        let components = bom["components"].as_array().unwrap();
        assert_eq!(components.len(), 8);
        let find = |name: &str| components.iter().find(|c| c["name"] == name).unwrap();
        let python = find("python");
        assert_eq!(python["purl"], "pkg:conda/python@3.11.2?subdir=linux-64");
        assert_eq!(python["licenses"][0]["license"]["name"], "PSF-2.0");
        assert_eq!(python["hashes"][0]["alg"], "SHA-256");
        assert_eq!(
            python["externalReferences"][0]["url"],
            "http://airgap-channel:8080/testchannel/linux-64/python-3.11.2-0.tar.bz2"
        );
        let six = find("six");
        assert_eq!(six["purl"], "pkg:pypi/six@1.16.0");
        assert_eq!(six["licenses"][0]["license"]["name"], "MIT");
        assert!(find("localpkg").get("externalReferences").is_none());
        assert_eq!(purl_part("1.0+local"), "1.0%2Blocal");
    }
}
