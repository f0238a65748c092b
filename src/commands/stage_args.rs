//! Resolution of the options every staging command shares (`StageArgs`).

use crate::cli::StageArgs;
use crate::exit::{with_hint, InputError};
use crate::stage::filter::{FilterError, StageFilter};
use crate::workdir::Workdir;

/// `StageArgs`, validated: paths resolved, patterns compiled, variables looked up.
#[derive(Debug, Clone)]
pub struct CommonOptions {
    pub container_workdir: String,
    pub workdir: Workdir,
    /// As given; checked against the manifest once it is read.
    pub requested_environments: Vec<String>,
    pub env: Vec<String>,
    pub filter: StageFilter,
    /// `--allow-url-credentials`: findings of [`crate::secrets::check_url_credentials`] only warn.
    pub allow_url_credentials: bool,
    pub force: bool,
    /// `--no-wait`: a workdir another run holds is refused instead of waited for.
    pub wait: crate::runlock::Wait,
    pub json: bool,
    pub bundle_pixi: bool,
    /// `--cache-from`, checked: the cache to seed the build container's with.
    pub cache_from: Option<crate::stage::seed::CacheSeed>,
}

impl CommonOptions {
    pub fn resolve(args: StageArgs) -> anyhow::Result<Self> {
        let StageArgs {
            container_workdir_path,
            workdir,
            environments,
            env,
            exclude,
            include_secret,
            allow_url_credentials,
            force,
            no_wait,
            json,
            bundle_pixi,
            cache_from,
        } = args;
        let container_workdir = container_path(&container_workdir_path)?;
        let workdir = Workdir::new(&workdir.unwrap_or_else(Workdir::default_path))?;
        workdir.check_writable(force).map_err(|err| {
            with_hint(
                err,
                "pick a new --workdir, or pass --force to replace its staged folders",
            )
        })?;
        Ok(Self {
            container_workdir,
            workdir,
            requested_environments: environments,
            env: resolve_env(&env)?,
            filter: StageFilter::new(&exclude, &include_secret).map_err(|err| match err {
                FilterError::Exclude(source) => InputError::new("bad --exclude pattern")
                    .with_source(source)
                    .into(),
                FilterError::IncludeSecret(source) => {
                    InputError::new("bad --include-secret pattern")
                        .with_source(source)
                        .into()
                }
                built_in => anyhow::Error::new(built_in),
            })?,
            allow_url_credentials,
            force,
            wait: crate::runlock::Wait::from_no_wait(no_wait),
            json,
            bundle_pixi,
            cache_from: cache_from
                .as_deref()
                .map(crate::stage::seed::CacheSeed::cache_from)
                .transpose()?,
        })
    }
}

/// A container path must be absolute, normalised and not `/`.
pub fn container_path(path: &str) -> anyhow::Result<String> {
    let trimmed = path.trim_end_matches('/');
    let ok = trimmed.starts_with('/')
        && !trimmed.is_empty()
        && trimmed
            .split('/')
            .skip(1)
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if !ok {
        return Err(InputError::new(format!(
            "--container-workdir-path `{path}` must be an absolute path like /workdir (not `/`, no `.` or `..`)"
        ))
        .into());
    }
    Ok(trimmed.to_string())
}

/// `KEY=VALUE` stays; `KEY` takes this process's value (and is dropped, with a warning, when unset).
pub fn resolve_env(pairs: &[String]) -> anyhow::Result<Vec<String>> {
    let mut env = Vec::new();
    for pair in pairs {
        let (key, value) = match pair.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (pair.clone(), std::env::var(pair).ok()),
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(InputError::new(format!("--env `{pair}` is not KEY or KEY=VALUE")).into());
        }
        match value {
            Some(v) => env.push(format!("{key}={v}")),
            None => tracing::warn!("--env {key}: not set in this shell, not passed on"),
        }
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths() {
        assert_eq!(container_path("/workdir/").unwrap(), "/workdir");
        assert_eq!(container_path("/a/b").unwrap(), "/a/b");
        for bad in ["/", "", "rel", "/a/../b", "/a//b", "/a/./b"] {
            assert!(container_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_pairs() {
        std::env::set_var("PIXI_AIRGAP_TEST_ENV_PAIR", "v1");
        let env = resolve_env(&[
            "A=1".to_string(),
            "B=".to_string(),
            "PIXI_AIRGAP_TEST_ENV_PAIR".to_string(),
            "PIXI_AIRGAP_TEST_UNSET_VAR".to_string(),
        ])
        .unwrap();
        assert_eq!(env, ["A=1", "B=", "PIXI_AIRGAP_TEST_ENV_PAIR=v1"]);
        assert!(resolve_env(&["=x".to_string()]).is_err());
    }
}
