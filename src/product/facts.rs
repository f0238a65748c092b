//! `product-facts.txt`: what the receiving machine needs, recorded at make-product time for
//! `check-product.sh --preflight`, which reads it with `sed` (no JSON parser on the other side).
//! One `key=value` per line (documented in `docs/json.md`); covered by `SHA256SUMS` and the
//! manifest like every file of the product.
//!
//! `install_bytes` is an estimate made here, not a measurement of the proof: the size of the
//! package files in `pkg-cache/pkgs` (what an install copies when it cannot hard-link from the
//! cache). Writing into the product after the proof would change a file its checksums cover.

use std::path::Path;

use crate::lockfile::Lock;
use crate::tar::write::{walk_dir, EntryKind, Walked};
use crate::workdir::report::StageReport;

/// The file's name at the product's root.
pub const PRODUCT_FACTS: &str = "product-facts.txt";
/// Bumped when a key changes meaning.
pub const FACTS_FORMAT: u32 = 1;

/// The facts, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFacts {
    /// `linux-64`, ...
    pub platform: String,
    /// The newest glibc the lock asks for (`__glibc` of the platform, or of any package).
    pub glibc: Option<String>,
    pub lock_version: Option<u64>,
    /// The first pixi that reads that lock format.
    pub lock_pixi_min: Option<String>,
    pub requires_pixi: Option<String>,
    /// `pixi --version` of the build.
    pub build_pixi: String,
    /// About how many bytes installing needs (see the module doc).
    pub install_bytes: u64,
}

impl ProductFacts {
    /// The facts of a staged project: its lock, the staging report and the cache it filled.
    pub fn gather(stage: &StageReport, lock: &Lock, cache: &Path) -> anyhow::Result<Self> {
        let platform = stage
            .platform
            .clone()
            .unwrap_or_else(|| "linux-64".to_string());
        Ok(Self {
            glibc: needed_glibc(lock, &stage.environments, &platform),
            lock_version: stage.lock_version,
            lock_pixi_min: stage
                .lock_version
                .and_then(crate::check::first_pixi_reading)
                .map(str::to_string),
            requires_pixi: stage.preflight.requires_pixi.clone(),
            build_pixi: stage.pixi_version.clone(),
            install_bytes: package_bytes(&cache.join("pkgs"))?,
            platform,
        })
    }

    /// The file's text: one `key=value` per line, values on one line.
    pub fn text(&self) -> String {
        let one_line = |s: &str| s.replace(['\n', '\r'], " ");
        let mut out = format!("format={FACTS_FORMAT}\n");
        out.push_str(&format!("platform={}\n", one_line(&self.platform)));
        out.push_str(&format!(
            "glibc={}\n",
            one_line(self.glibc.as_deref().unwrap_or(""))
        ));
        out.push_str(&format!(
            "lock_version={}\n",
            self.lock_version.map(|v| v.to_string()).unwrap_or_default()
        ));
        out.push_str(&format!(
            "lock_pixi_min={}\n",
            self.lock_pixi_min.as_deref().unwrap_or("")
        ));
        out.push_str(&format!(
            "requires_pixi={}\n",
            one_line(self.requires_pixi.as_deref().unwrap_or(""))
        ));
        out.push_str(&format!("build_pixi={}\n", one_line(&self.build_pixi)));
        out.push_str(&format!("install_bytes={}\n", self.install_bytes));
        out
    }
}

/// The newest glibc the lock needs on `platform` for `environments`: the platform's `__glibc`
/// virtual package (format 7) and every `__glibc >=X` a package depends on.
pub fn needed_glibc(lock: &Lock, environments: &[String], platform: &str) -> Option<String> {
    let mut needed: Option<String> = None;
    let mut consider = |v: &str| {
        let v = v.trim();
        if v.is_empty() || !v.starts_with(|c: char| c.is_ascii_digit()) {
            return;
        }
        if needed
            .as_deref()
            .is_none_or(|n| crate::check::compare_versions(v, n) == std::cmp::Ordering::Greater)
        {
            needed = Some(v.to_string());
        }
    };
    if let Some(v) = lock
        .platform_virtual_packages
        .get(platform)
        .and_then(|v| v.iter().find_map(|p| p.strip_prefix("__glibc=")))
    {
        consider(v);
    }
    for env in environments {
        for pkg in lock.environment_packages(env, platform) {
            for dep in &pkg.depends {
                let Some(spec) = dep.strip_prefix("__glibc") else {
                    continue;
                };
                // `__glibc >=2.17`, `__glibc >=2.17,<3.0.a0`: the lower bound.
                for part in spec.trim().split(',') {
                    if let Some(v) = part.trim().strip_prefix(">=") {
                        consider(v);
                    }
                }
            }
        }
    }
    needed
}

/// The size of the package files under `pkgs` (folders of extracted packages).
fn package_bytes(pkgs: &Path) -> anyhow::Result<u64> {
    if !pkgs.is_dir() {
        return Ok(0);
    }
    let mut total = 0u64;
    for step in walk_dir(pkgs, Path::new(""), |_, _| Ok(true)) {
        if let Walked::Entry(entry) = step? {
            if let EntryKind::File { source, .. } = entry.kind {
                total += std::fs::symlink_metadata(&source).map_or(0, |m| m.len());
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_is_the_newest_lower_bound_the_lock_asks_for() {
        let lock = Lock::parse(
            br#"version: 6
environments:
  default:
    channels: [{url: "https://example.invalid/c/"}]
    packages:
      linux-64:
      - conda: https://example.invalid/c/linux-64/a-1-0.conda
      - conda: https://example.invalid/c/linux-64/b-1-0.conda
packages:
- conda: https://example.invalid/c/linux-64/a-1-0.conda
  sha256: "00"
  depends: ["__glibc >=2.17,<3.0.a0"]
- conda: https://example.invalid/c/linux-64/b-1-0.conda
  sha256: "00"
  depends: ["__glibc >=2.99", "a"]
"#,
        )
        .unwrap();
        let envs = ["default".to_string()];
        assert_eq!(
            needed_glibc(&lock, &envs, "linux-64").as_deref(),
            Some("2.99")
        );
        assert_eq!(needed_glibc(&lock, &envs, "linux-aarch64"), None);
        let facts = ProductFacts {
            platform: "linux-64".into(),
            glibc: Some("2.99".into()),
            lock_version: Some(6),
            lock_pixi_min: Some("0.40.0".into()),
            requires_pixi: Some(">=0.40".into()),
            build_pixi: "pixi 0.77.0".into(),
            install_bytes: 12,
        };
        assert_eq!(
            facts.text(),
            "format=1\nplatform=linux-64\nglibc=2.99\nlock_version=6\nlock_pixi_min=0.40.0\nrequires_pixi=>=0.40\nbuild_pixi=pixi 0.77.0\ninstall_bytes=12\n"
        );
    }
}
