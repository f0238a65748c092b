//! Warm re-staging: the package cache an earlier run left (the workdir's own `pixi-cache/` on a
//! re-staging, or `--cache-from DIR`: another workdir's `pixi-cache/` or a product's
//! `pkg-cache/`) is streamed into the build container's cache folder before `pixi install`, so
//! only what the lock adds is downloaded; and the conda packages it brought that the lock does
//! not need are left out of the copy back, so the workdir, and the product made from it, hold
//! exactly the lock's packages.
//!
//! A cache from elsewhere is untrusted input: it is walked without following a link, every link
//! in it must stay inside it, names must be UTF-8, and it reaches the container through the same
//! normalising tar writer as the project (modes 0644/0755, owner root, no setuid, no world-write,
//! no devices). uv's cache (`uv-cache/`, PyPI) cannot be pruned by package, so it is seeded only
//! when every PyPI package of the seed's own lock is still in the new lock; otherwise PyPI
//! packages are downloaded again and nothing stale can ride along.

mod run;

pub use run::{cache_report, seed_cache, Seeded};

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use anyhow::Context;

use crate::exit::InputError;
use crate::lockfile::{conda_archive_stem, Lock, PackageKind};
use crate::product::ProductLayout;
use crate::tar::extract::link_stays_inside;
use crate::tar::stream::Entries;
use crate::tar::write::{walk_dir, EntryKind, TarEntry, Walked};
use crate::workdir::report::SeedOrigin;
use crate::workdir::Workdir;

/// uv's cache inside pixi's cache folder (pixi 0.2x and later).
pub const UV_CACHE: &str = "uv-cache";
/// The conda packages inside pixi's cache folder.
pub const PKGS: &str = "pkgs";

/// A cache to seed the build container's cache folder with.
#[derive(Debug, Clone)]
pub struct CacheSeed {
    /// The cache folder itself (`.../pixi-cache` or `.../pkg-cache`), canonical.
    pub dir: PathBuf,
    pub origin: SeedOrigin,
    /// The lock the seed was made for, when it is beside it (for uv's cache; see the module).
    pub lock: Option<PathBuf>,
    /// What [`check_tree`] counted of it, for the upload's progress bar.
    pub size: SeedSize,
}

/// The bytes of file content a seed uploads: its conda packages, and uv's cache (which goes only
/// when it fits the lock). Counted as the tree is checked, so the run walks it once more only to
/// upload it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedSize {
    pub conda: u64,
    pub uv: u64,
}

impl SeedSize {
    /// The bytes the upload carries, with or without uv's cache.
    pub fn bytes(&self, uv: bool) -> u64 {
        self.conda + if uv { self.uv } else { 0 }
    }
}

impl CacheSeed {
    /// `--cache-from DIR`, checked before any container starts: a folder holding `pixi-cache/`
    /// (a workdir) or `pkg-cache/` (a product), whose cache passes [`check_tree`]. The errors
    /// have no hint: the command's names its flag.
    pub fn cache_from(dir: &Path) -> anyhow::Result<Self> {
        let meta = std::fs::metadata(dir).map_err(|err| {
            InputError::new(format!(
                "the folder to seed the cache from, `{}`, does not exist",
                dir.display()
            ))
            .with_source(err)
        })?;
        if !meta.is_dir() {
            return Err(InputError::new(format!(
                "the folder to seed the cache from, `{}`, is not a folder",
                dir.display()
            ))
            .into());
        }
        let root = std::fs::canonicalize(dir)
            .with_context(|| format!("failed to resolve `{}`", dir.display()))?;
        for (name, origin) in [
            (Workdir::PIXI_CACHE, SeedOrigin::CacheFromWorkdir),
            (ProductLayout::PKG_CACHE, SeedOrigin::CacheFromProduct),
        ] {
            let cache = root.join(name);
            match std::fs::symlink_metadata(&cache) {
                Ok(m) if m.is_dir() => {
                    let size = check_tree(&cache)?;
                    let lock = match origin {
                        SeedOrigin::CacheFromProduct => single_lock(&root),
                        _ => single_lock(&root.join(Workdir::PROJECT)),
                    };
                    return Ok(Self {
                        dir: cache,
                        origin,
                        lock,
                        size,
                    });
                }
                Ok(_) => {
                    return Err(InputError::new(format!(
                        "`{}` is not a folder (a link?); a cache to seed from is never followed through a link",
                        cache.display()
                    ))
                    .into())
                }
                Err(_) => {}
            }
        }
        Err(InputError::new(format!(
            "the folder to seed the cache from, `{}`, holds neither pixi-cache/ nor pkg-cache/",
            dir.display()
        ))
        .into())
    }

    /// The workdir's own cache from its last staging, when there is one to reuse. A cache that
    /// fails [`check_tree`] is not reused (the run goes cold, with a warning): the workdir is
    /// ours, and a cold run is always correct.
    pub fn own(workdir: &Workdir, project_name: &str) -> Option<Self> {
        let dir = workdir.pixi_cache();
        if !crate::workdir::is_marked(workdir.root())
            || !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir())
        {
            return None;
        }
        let size = match check_tree(&dir) {
            Ok(size) => size,
            Err(err) => {
                tracing::warn!("not reusing the workdir's cache: {err:#}");
                return None;
            }
        };
        let lock = workdir.project(project_name).join("pixi.lock");
        Some(Self {
            dir,
            origin: SeedOrigin::Workdir,
            lock: std::fs::symlink_metadata(&lock)
                .is_ok_and(|m| m.is_file())
                .then_some(lock),
            size,
        })
    }

    /// The conda packages in the seed, by the name of their folder in `pkgs/`
    /// (`NAME-VERSION-BUILD`).
    pub fn packages(&self) -> anyhow::Result<BTreeSet<String>> {
        let pkgs = self.dir.join(PKGS);
        let mut found = BTreeSet::new();
        let entries = match std::fs::read_dir(&pkgs) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(err) => {
                return Err(err).with_context(|| format!("failed to read `{}`", pkgs.display()))
            }
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("failed to read `{}`", pkgs.display()))?;
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep_in_seed(&Path::new(PKGS).join(&name), is_dir) {
                continue;
            }
            if let Some(stem) = package_stem(&name, is_dir) {
                found.insert(stem.to_string());
            }
        }
        Ok(found)
    }

    /// Whether uv's cache may go along: the seed has one, its lock is known, and every PyPI
    /// package of that lock is in `lock` (else something the new lock dropped could ride along
    /// in a cache that cannot be pruned by package).
    pub fn uv_cache_fits(&self, lock: &Lock) -> bool {
        if !self.dir.join(UV_CACHE).is_dir() {
            return false;
        }
        let Some(old) = self.lock.as_deref().and_then(|p| Lock::read(p).ok()) else {
            tracing::info!("uv's cache is not reused: the lock it was made for is not beside it");
            return false;
        };
        let new: BTreeSet<&str> = pypi_locations(&lock.packages).collect();
        let dropped = pypi_locations(&old.packages)
            .filter(|l| !new.contains(l))
            .count();
        if dropped > 0 {
            tracing::info!(
                "uv's cache is not reused: the lock no longer has {dropped} of its PyPI package(s), \
                 and uv's cache cannot be pruned by package"
            );
        }
        dropped == 0
    }

    /// The seed as tar entries under `pixi-cache/`, walked lazily: no link followed, every link
    /// checked again as it is archived (the tree may have changed since [`check_tree`]), lock
    /// files, temporary folders and the repodata cache left out, uv's cache only when `uv`.
    pub fn entries(&self, uv: bool) -> Entries {
        let root = self.dir.clone();
        let walk = walk_dir(
            &self.dir,
            Path::new(Workdir::PIXI_CACHE),
            move |rel, kind| {
                if !uv && rel.starts_with(UV_CACHE) {
                    return Ok(false);
                }
                crate::fsutil::require_utf8_name(&root.join(rel), "the seeded cache")?;
                Ok(keep_in_seed(rel, kind.is_dir()))
            },
        );
        let prefix = PathBuf::from(Workdir::PIXI_CACHE);
        Box::new(walk.filter_map(move |step| match step {
            Ok(Walked::Entry(entry)) => Some(check_entry(entry, &prefix)),
            Ok(Walked::Special(special)) => {
                tracing::warn!(
                    "seeding the cache: skipped `{special}`, not a file, folder or link"
                );
                None
            }
            Err(err) => Some(Err(err)),
        }))
    }
}

/// A link's entry passes only when it stays inside the cache.
fn check_entry(entry: TarEntry, prefix: &Path) -> anyhow::Result<TarEntry> {
    if let EntryKind::Symlink { target } = &entry.kind {
        let rel = entry.path.strip_prefix(prefix).unwrap_or(&entry.path);
        if !link_stays_inside(rel, target) {
            return Err(InputError::new(format!(
                "the cache to seed holds a link that leaves it: `{}` -> `{}`",
                rel.display(),
                target.display()
            ))
            .into());
        }
    }
    Ok(entry)
}

/// Checks a cache folder before it is used: walked without following links, every link stays
/// inside it, every name is UTF-8. The first problem is an input error naming the entry. On the
/// way it counts what of it would be seeded ([`keep_in_seed`]).
pub fn check_tree(cache: &Path) -> anyhow::Result<SeedSize> {
    let root = cache.to_path_buf();
    let mut size = SeedSize::default();
    for step in walk_dir(cache, Path::new(""), |rel, _| {
        crate::fsutil::require_utf8_name(&root.join(rel), "the cache to seed")?;
        Ok(true)
    }) {
        if let Walked::Entry(entry) = step? {
            let entry = check_entry(entry, Path::new(""))
                .with_context(|| format!("refusing to seed from `{}`", cache.display()))?;
            if let EntryKind::File { source, .. } = &entry.kind {
                if seeded(&entry.path) {
                    let bytes = std::fs::symlink_metadata(source).map_or(0, |m| m.len());
                    if entry.path.starts_with(UV_CACHE) {
                        size.uv += bytes;
                    } else {
                        size.conda += bytes;
                    }
                }
            }
        }
    }
    Ok(size)
}

/// Whether a file of a cache is seeded: it and every folder above it pass [`keep_in_seed`] (the
/// upload's walk does not enter a folder it leaves out).
fn seeded(rel: &Path) -> bool {
    rel.ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .all(|a| keep_in_seed(a, a != rel))
}

/// What of a cache is seeded: the conda packages in `pkgs/` (folders `NAME-VERSION-BUILD` and
/// their archives) and uv's cache, nothing else: no lock files, temporary folders, repodata
/// cache (an install from a lock never solves), or whatever else a cache from elsewhere holds.
fn keep_in_seed(rel: &Path, is_dir: bool) -> bool {
    let Some(name) = rel.file_name().map(|n| n.to_string_lossy()) else {
        return true;
    };
    match rel.components().count() {
        1 => is_dir && (name == PKGS || name == UV_CACHE),
        2 if rel.starts_with(PKGS) => {
            package_stem(&name, is_dir).is_some() && (is_dir || !name.ends_with(".lock"))
        }
        // Inside a package everything goes (pixi checks it).
        _ if rel.starts_with(PKGS) => true,
        _ if is_dir => !name.starts_with(".tmp"),
        _ => !name.ends_with(".lock"),
    }
}

/// The package an entry of `pkgs/` belongs to: a folder `NAME-VERSION-BUILD`, or its archive or
/// lock file beside it.
pub fn package_stem(name: &str, is_dir: bool) -> Option<&str> {
    if is_dir {
        return (!name.starts_with('.') && name.matches('-').count() >= 2).then_some(name);
    }
    [".tar.bz2", ".conda", ".lock"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .filter(|stem| stem.matches('-').count() >= 2)
}

/// The `pkgs/` folder names of the conda packages `environments` install on `platform`.
pub fn needed_packages(lock: &Lock, environments: &[String], platform: &str) -> BTreeSet<String> {
    let mut needed = BTreeSet::new();
    for environment in environments {
        for package in lock.environment_packages(environment, platform) {
            if !package.is_conda_archive() {
                continue;
            }
            if let Some(stem) = conda_archive_stem(&package.location) {
                needed.insert(stem.to_string());
            }
        }
    }
    needed
}

/// Whether the copy back leaves `rel` (relative to the container workdir) out: an entry of
/// `pixi-cache/pkgs/` that belongs to a package in `stale`.
pub fn is_stale(rel: &Path, stale: &BTreeSet<String>) -> bool {
    let mut parts = rel.components();
    let (
        Some(Component::Normal(cache)),
        Some(Component::Normal(pkgs)),
        Some(Component::Normal(entry)),
    ) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if cache != Workdir::PIXI_CACHE || pkgs != PKGS {
        return false;
    }
    let entry = entry.to_string_lossy();
    // A folder is known by its name; its archive and lock file by their stem.
    stale.contains(entry.as_ref())
        || package_stem(&entry, false).is_some_and(|stem| stale.contains(stem))
}

fn pypi_locations(packages: &[crate::lockfile::LockedPackage]) -> impl Iterator<Item = &str> {
    packages
        .iter()
        .filter(|p| p.kind == PackageKind::Pypi)
        .map(|p| p.location.as_str())
}

/// The one `pixi.lock` in the folders of `dir` (`dir/*/pixi.lock`), if there is exactly one: the
/// lock a product's or a workdir's cache was made for.
fn single_lock(dir: &Path) -> Option<PathBuf> {
    let mut found = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path().join("pixi.lock"))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_must_stay_inside() {
        let inside = [
            ("pkgs/a-1-0/lib/liba.so", "liba.so.1"),
            ("pkgs/a-1-0/lib/liba.so", "../../a-1-0/lib/x"),
            ("pkgs/a-1-0/bin/t", "./../lib/./y"),
            ("top", "pkgs"),
        ];
        for (rel, target) in inside {
            assert!(
                link_stays_inside(Path::new(rel), Path::new(target)),
                "{rel} -> {target}"
            );
        }
        let outside = [
            ("pkgs/a-1-0/lib/liba.so", "/etc/passwd"),
            ("pkgs/a-1-0/lib/liba.so", "../../../../x"),
            ("top", ".."),
            ("pkgs/x", "../../pixi-cache"),
            ("a", "b/../../c"),
        ];
        for (rel, target) in outside {
            assert!(
                !link_stays_inside(Path::new(rel), Path::new(target)),
                "{rel} -> {target}"
            );
        }
    }

    #[test]
    fn stale_entries_are_whole_packages_in_pkgs_only() {
        let stale: BTreeSet<String> = ["old-1.0-0".to_string()].into();
        for rel in [
            "pixi-cache/pkgs/old-1.0-0",
            "pixi-cache/pkgs/old-1.0-0/info/index.json",
            "pixi-cache/pkgs/old-1.0-0.tar.bz2",
            "pixi-cache/pkgs/old-1.0-0.conda",
            "pixi-cache/pkgs/old-1.0-0.lock",
        ] {
            assert!(is_stale(Path::new(rel), &stale), "{rel}");
        }
        for rel in [
            "pixi-cache/pkgs",
            "pixi-cache/pkgs/new-1.0-0",
            "pixi-cache/pkgs/old-1.0-01",
            "pixi-cache/uv-cache/old-1.0-0",
            "project/demo/pixi-cache/pkgs/old-1.0-0",
            "resources/pkgs/old-1.0-0",
        ] {
            assert!(!is_stale(Path::new(rel), &stale), "{rel}");
        }
    }

    #[test]
    fn package_stems() {
        assert_eq!(package_stem("a-1.0-0", true), Some("a-1.0-0"));
        assert_eq!(package_stem("a-1.0-0.tar.bz2", false), Some("a-1.0-0"));
        assert_eq!(package_stem("a-1.0-0.conda", false), Some("a-1.0-0"));
        assert_eq!(package_stem("cache.db", false), None);
        assert_eq!(package_stem(".tmpX-1-2", true), None);
        assert_eq!(package_stem("plain", true), None);
    }

    #[test]
    fn seed_filter() {
        for kept in [
            ("pkgs", true),
            ("uv-cache", true),
            ("pkgs/a-1-0", true),
            ("pkgs/a-1-0.conda", false),
            ("pkgs/a-1-0/x.lock", false),
            ("pkgs/a-1-0/.tmp/x", false),
            ("uv-cache/wheels-v5/x", false),
        ] {
            assert!(keep_in_seed(Path::new(kept.0), kept.1), "{kept:?}");
        }
        for left in [
            ("pkgs", false),
            ("repodata", true),
            ("planted", true),
            ("planted.txt", false),
            ("pkgs/a-1-0.lock", false),
            ("pkgs/.tmpabc-1-0", true),
            ("pkgs/planted", true),
            ("pkgs/planted.txt", false),
            ("uv-cache/.tmpX", true),
            ("uv-cache/x.lock", false),
        ] {
            assert!(!keep_in_seed(Path::new(left.0), left.1), "{left:?}");
        }
    }

    #[test]
    fn cache_from_takes_a_workdir_or_a_product_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let wd = dir.path().join("wd");
        std::fs::create_dir_all(wd.join("pixi-cache/pkgs/a-1-0/lib")).unwrap();
        std::fs::create_dir_all(wd.join("project/demo")).unwrap();
        std::fs::write(wd.join("project/demo/pixi.lock"), "version: 4\n").unwrap();
        std::os::unix::fs::symlink("x", wd.join("pixi-cache/pkgs/a-1-0/lib/l")).unwrap();
        let seed = CacheSeed::cache_from(&wd).unwrap();
        assert_eq!(seed.origin, SeedOrigin::CacheFromWorkdir);
        assert_eq!(
            seed.lock,
            Some(wd.canonicalize().unwrap().join("project/demo/pixi.lock"))
        );
        assert_eq!(seed.packages().unwrap(), ["a-1-0".to_string()].into());

        // What the upload will carry is counted as the tree is checked: the packages (not their
        // lock files, nor what is not a package), and uv's cache apart (not its temporary files).
        let cache = wd.join("pixi-cache");
        std::fs::write(cache.join("pkgs/a-1-0/lib/data"), [0u8; 100]).unwrap();
        std::fs::write(cache.join("pkgs/a-1-0.conda"), [0u8; 20]).unwrap();
        std::fs::write(cache.join("pkgs/a-1-0.lock"), [0u8; 7]).unwrap();
        std::fs::create_dir_all(cache.join("repodata")).unwrap();
        std::fs::write(cache.join("repodata/x.json"), [0u8; 50]).unwrap();
        std::fs::create_dir_all(cache.join("uv-cache/wheels/.tmpabc")).unwrap();
        std::fs::write(cache.join("uv-cache/wheels/w.whl"), [0u8; 3]).unwrap();
        std::fs::write(cache.join("uv-cache/wheels/.tmpabc/part"), [0u8; 9]).unwrap();
        let size = CacheSeed::cache_from(&wd).unwrap().size;
        assert_eq!(size, SeedSize { conda: 120, uv: 3 });
        assert_eq!((size.bytes(false), size.bytes(true)), (120, 123));

        let product = dir.path().join("product");
        std::fs::create_dir_all(product.join("pkg-cache/pkgs")).unwrap();
        assert_eq!(
            CacheSeed::cache_from(&product).unwrap().origin,
            SeedOrigin::CacheFromProduct
        );

        // Neither shape, a missing folder, a file, a cache that is a link, a link out.
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let linked = dir.path().join("linked");
        std::fs::create_dir_all(&linked).unwrap();
        std::os::unix::fs::symlink(wd.join("pixi-cache"), linked.join("pixi-cache")).unwrap();
        let escaping = dir.path().join("escaping");
        std::fs::create_dir_all(escaping.join("pkg-cache/pkgs/a-1-0")).unwrap();
        std::os::unix::fs::symlink("/etc", escaping.join("pkg-cache/pkgs/a-1-0/etc")).unwrap();
        for (bad, says) in [
            (empty, "holds neither"),
            (dir.path().join("missing"), "does not exist"),
            (file, "is not a folder"),
            (linked, "a link?"),
            (escaping, "a link that leaves it"),
        ] {
            let err = CacheSeed::cache_from(&bad).unwrap_err();
            assert!(
                format!("{err:#}").contains(says),
                "{}: {err:#}",
                bad.display()
            );
            assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
        }
    }
}
