//! Resolution of the options every staging command shares (`StageArgs`).

use crate::cli::values::EnvPair;
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
        let container_workdir = container_workdir_path.into_string();
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
            env: resolve_env(&env),
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
                .transpose()
                .map_err(|err| {
                    with_hint(
                        err,
                        "give --cache-from a workdir (it holds pixi-cache/) or a product folder \
                         (it holds pkg-cache/)",
                    )
                })?,
        })
    }
}

/// `KEY=VALUE` stays; `KEY` takes this process's value (and is dropped, with a warning, when
/// unset). The syntax was checked when the flag was parsed ([`EnvPair`]).
pub fn resolve_env(pairs: &[EnvPair]) -> Vec<String> {
    let mut env = Vec::new();
    for EnvPair { key, value } in pairs {
        match value.clone().or_else(|| std::env::var(key).ok()) {
            Some(v) => env.push(format!("{key}={v}")),
            None => tracing::warn!("--env {key}: not set in this shell, not passed on"),
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs() {
        std::env::set_var("PIXI_AIRGAP_TEST_ENV_PAIR", "v1");
        let pairs = [
            "A=1",
            "B=",
            "PIXI_AIRGAP_TEST_ENV_PAIR",
            "PIXI_AIRGAP_TEST_UNSET_VAR",
        ]
        .map(|text| text.parse::<EnvPair>().unwrap());
        assert_eq!(
            resolve_env(&pairs),
            ["A=1", "B=", "PIXI_AIRGAP_TEST_ENV_PAIR=v1"]
        );
    }
}
