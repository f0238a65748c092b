//! A stale lock, judged only where it is certain: a dependency the project manifest names for an
//! environment that the lock's environment does not contain at all; and what the check reads from
//! the project manifest ([`ManifestFacts`]).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;

use crate::lockfile::{self, PackageKind};
use crate::pixi::ProjectManifestKind;

use super::*;

pub(super) fn stale_findings(
    env: &str,
    facts: &ManifestFacts,
    packages: &[&lockfile::LockedPackage],
) -> Vec<Finding> {
    let conda: BTreeSet<String> = packages
        .iter()
        .filter(|p| p.kind == PackageKind::Conda)
        .map(|p| p.name.to_lowercase())
        .collect();
    // PyPI names come from PyPI records and from the purls of conda packages that provide them.
    let pypi: BTreeSet<String> = packages
        .iter()
        .filter(|p| p.kind == PackageKind::Pypi)
        .map(|p| lockfile::normalize_pypi_name(&p.name))
        .chain(packages.iter().flat_map(|p| p.pypi_names.iter().cloned()))
        .collect();
    let Some(deps) = facts.environment_deps(env) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in &deps.conda {
        if !conda.contains(name) {
            out.push(stale(env, &format!("conda dependency `{name}`")));
        }
    }
    for name in &deps.pypi {
        // A PyPI dependency may be served by a conda package of the same name.
        if !pypi.contains(name) && !conda.contains(name) {
            out.push(stale(env, &format!("PyPI dependency `{name}`")));
        }
    }
    out
}

pub(super) fn stale(env: &str, what: &str) -> Finding {
    Finding::new(
        Severity::Error,
        "stale-lock",
        format!("environment `{env}`"),
        format!("the manifest asks for {what}, which pixi.lock does not have: the lock is older than the manifest"),
        "run `pixi lock` online and keep the updated pixi.lock",
    )
}

/// Dependency names of one feature.
#[derive(Debug, Clone, Default)]
pub(super) struct Deps {
    pub(super) conda: BTreeSet<String>,
    pub(super) pypi: BTreeSet<String>,
}

/// What the check needs from the manifest: dependency names per feature, environments' features,
/// editable PyPI dependencies and `requires-pixi`.
#[derive(Debug, Clone, Default)]
pub(super) struct ManifestFacts {
    pub(super) features: BTreeMap<String, Deps>,
    /// Environment -> (features, whether the default feature is included).
    pub(super) environments: BTreeMap<String, (Vec<String>, bool)>,
    pub(super) editable: BTreeSet<String>,
    pub(super) requires_pixi: Option<String>,
}

impl ManifestFacts {
    pub(super) fn parse(
        kind: ProjectManifestKind,
        text: &str,
        platform: &str,
    ) -> anyhow::Result<Self> {
        let doc: toml::Table = text.parse().context("the manifest is not valid TOML")?;
        let empty = toml::Table::new();
        let pixi = match kind {
            ProjectManifestKind::PixiToml => &doc,
            ProjectManifestKind::Pyproject => doc
                .get("tool")
                .and_then(|t| t.get("pixi"))
                .and_then(|p| p.as_table())
                .unwrap_or(&empty),
        };
        let mut facts = Self {
            requires_pixi: ["workspace", "project"].iter().find_map(|s| {
                pixi.get(*s)
                    .and_then(|t| t.get("requires-pixi"))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            }),
            ..Self::default()
        };
        let mut default = Deps::default();
        facts.add_feature_tables(&mut default, pixi, platform);
        if kind == ProjectManifestKind::Pyproject {
            if let Some(deps) = doc
                .get("project")
                .and_then(|p| p.get("dependencies"))
                .and_then(|d| d.as_array())
            {
                default
                    .pypi
                    .extend(deps.iter().filter_map(|d| d.as_str()).map(pep508_name));
            }
            if let Some(extras) = doc
                .get("project")
                .and_then(|p| p.get("optional-dependencies"))
                .and_then(|d| d.as_table())
            {
                for (extra, deps) in extras {
                    let names: Vec<String> = deps
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|d| d.as_str())
                                .map(pep508_name)
                                .collect()
                        })
                        .unwrap_or_default();
                    facts
                        .features
                        .entry(extra.clone())
                        .or_default()
                        .pypi
                        .extend(names);
                }
            }
        }
        facts.features.insert("default".to_string(), default);
        if let Some(features) = pixi.get("feature").and_then(|f| f.as_table()) {
            for (name, table) in features {
                let Some(table) = table.as_table() else {
                    continue;
                };
                let mut deps = facts.features.remove(name).unwrap_or_default();
                facts.add_feature_tables(&mut deps, table, platform);
                facts.features.insert(name.clone(), deps);
            }
        }
        facts
            .environments
            .insert("default".to_string(), (Vec::new(), true));
        if let Some(envs) = pixi.get("environments").and_then(|e| e.as_table()) {
            for (name, value) in envs {
                let (features, no_default) = match value {
                    toml::Value::Array(a) => (strings(a), false),
                    toml::Value::Table(t) => (
                        t.get("features")
                            .and_then(|f| f.as_array())
                            .map(|a| strings(a))
                            .unwrap_or_default(),
                        t.get("no-default-feature").and_then(|v| v.as_bool()) == Some(true),
                    ),
                    _ => continue,
                };
                facts
                    .environments
                    .insert(name.clone(), (features, !no_default));
            }
        }
        Ok(facts)
    }

    /// `[dependencies]`, `[pypi-dependencies]` and their `[target.PLATFORM.*]` forms of one table.
    fn add_feature_tables(&mut self, deps: &mut Deps, table: &toml::Table, platform: &str) {
        let mut tables = vec![table];
        if let Some(t) = table
            .get("target")
            .and_then(|t| t.get(platform))
            .and_then(|t| t.as_table())
        {
            tables.push(t);
        }
        for t in tables {
            // `[host-dependencies]`/`[build-dependencies]` belong to pixi-build, not environments.
            if let Some(d) = t.get("dependencies").and_then(|d| d.as_table()) {
                deps.conda.extend(d.keys().map(|k| k.to_lowercase()));
            }
            if let Some(d) = t.get("pypi-dependencies").and_then(|d| d.as_table()) {
                for (name, spec) in d {
                    let name = lockfile::normalize_pypi_name(name);
                    if spec.get("editable").and_then(|e| e.as_bool()) == Some(true) {
                        self.editable.insert(name.clone());
                    }
                    deps.pypi.insert(name);
                }
            }
        }
    }

    fn environment_deps(&self, env: &str) -> Option<Deps> {
        let (features, with_default) = self.environments.get(env)?;
        let mut all = Deps::default();
        let names = features
            .iter()
            .map(String::as_str)
            .chain(with_default.then_some("default"));
        for name in names {
            if let Some(d) = self.features.get(name) {
                all.conda.extend(d.conda.iter().cloned());
                all.pypi.extend(d.pypi.iter().cloned());
            }
        }
        Some(all)
    }
}

pub(super) fn strings(a: &[toml::Value]) -> Vec<String> {
    a.iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// The project name of a PEP 508 requirement (`requests[socks]>=2; python_version>"3"`).
pub(super) fn pep508_name(req: &str) -> String {
    let end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(req.len());
    lockfile::normalize_pypi_name(req[..end].trim())
}
