//! The seeded run's side of warm re-staging: streaming a [`super::CacheSeed`] into the build
//! container before `pixi install`, and, once the platform is known, what the run reused,
//! downloaded and leaves out of the copy back ([`crate::workdir::report::CacheReport`]).

use std::collections::BTreeSet;

use anyhow::Context;

use super::{needed_packages, CacheSeed};
use crate::lockfile::Lock;
use crate::session::Session;
use crate::stage::StagePlan;
use crate::tar::write::Owner;
use crate::workdir::report::CacheReport;

/// What a seeded run brought into the container: the conda packages of the seed, its origin,
/// and whether uv's cache went too.
pub struct Seeded {
    packages: BTreeSet<String>,
    seed: CacheSeed,
    uv: bool,
    seconds: f64,
}

/// Streams `seed` into the container's cache folder (see the module).
pub async fn seed_cache(
    session: &Session,
    plan: &StagePlan,
    seed: &CacheSeed,
    lock: &Lock,
) -> anyhow::Result<Seeded> {
    let packages = seed.packages()?;
    let uv = seed.uv_cache_fits(lock);
    tracing::info!(
        "seeding the container's cache with {} conda package(s){} from {}",
        packages.len(),
        if uv { " and uv's cache" } else { "" },
        seed.dir.display()
    );
    let started = std::time::Instant::now();
    let bytes = seed.size.bytes(uv);
    session
        .upload(
            seed.entries(uv),
            bytes,
            Owner::ROOT,
            plan.cw(),
            "seeding the cache",
        )
        .await
        .with_context(|| {
            format!(
                "failed to seed the container's cache from `{}`",
                seed.dir.display()
            )
        })?;
    Ok(Seeded {
        packages,
        seed: seed.clone(),
        uv,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The cache part of the report, and the seeded packages the copy back leaves out (those the
/// lock does not need on this platform). Without a platform nothing is left out.
pub fn cache_report(
    plan: &StagePlan,
    lock: &Lock,
    platform: Option<&str>,
    seeded: Option<Seeded>,
) -> (CacheReport, BTreeSet<String>) {
    let needed = platform
        .map(|p| needed_packages(lock, &plan.environments, p))
        .unwrap_or_default();
    let Some(Seeded {
        packages,
        seed,
        uv,
        seconds,
    }) = seeded
    else {
        let report = CacheReport {
            conda_packages: needed.len(),
            conda_downloaded: needed.len(),
            ..Default::default()
        };
        return (report, BTreeSet::new());
    };
    let stale: BTreeSet<String> = if platform.is_some() {
        packages.difference(&needed).cloned().collect()
    } else {
        tracing::warn!("the platform is unknown: the seeded cache is kept whole");
        BTreeSet::new()
    };
    let reused = needed.intersection(&packages).count();
    let report = CacheReport {
        warm: true,
        origin: Some(seed.origin),
        from: Some(seed.dir.clone()),
        conda_packages: needed.len(),
        conda_reused: reused,
        conda_downloaded: needed.len() - reused,
        conda_dropped: stale.len(),
        uv_cache_seeded: uv,
        seed_seconds: seconds,
    };
    tracing::info!(
        "cache: {} conda package(s) reused, {} downloaded, {} the lock no longer needs left out",
        report.conda_reused,
        report.conda_downloaded,
        report.conda_dropped
    );
    (report, stale)
}
