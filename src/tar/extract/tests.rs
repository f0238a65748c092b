use super::*;
use crate::tar::write::{plan_tree, planned, write_tar, Owner};

#[test]
fn extraction_refuses_escapes() {
    let mut data = Vec::new();
    {
        let mut builder = ::tar::Builder::new(&mut data);
        let mut header = ::tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        header.set_entry_type(::tar::EntryType::Regular);
        // `append_data` refuses `..`, so write the name into the header directly.
        let name = b"../escape.txt";
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_cksum();
        builder.append(&header, &b"x"[..]).unwrap();
        builder.finish().unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let err = extract_reader(
        data.as_slice(),
        &dest,
        None,
        None,
        ExtractLimits::default(),
        |_| false,
    )
    .unwrap_err();
    assert!(err.to_string().contains("outside the destination"), "{err}");
    assert!(!dir.path().join("escape.txt").exists());
}

#[test]
fn extraction_skips_what_it_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("src");
    std::fs::create_dir_all(root.join("keep")).unwrap();
    std::fs::create_dir_all(root.join("drop")).unwrap();
    std::fs::write(root.join("drop/x"), "x").unwrap();
    let entries = plan_tree(&root, Path::new("w")).unwrap();
    let data = write_tar(planned(entries.clone()), Owner::ROOT, Vec::new()).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let stats = extract_reader(
        data.as_slice(),
        &out,
        None,
        None,
        ExtractLimits::default(),
        |p| p.starts_with("w/drop"),
    )
    .unwrap();
    assert_eq!(stats.skipped, 2);
    assert!(out.join("w/keep").is_dir());
    assert!(!out.join("w/drop").exists());
}

/// A hostile archive, built entry by entry.
fn hostile(entries: &[(&str, ::tar::EntryType, u32, &str)]) -> Vec<u8> {
    let mut b = ::tar::Builder::new(Vec::new());
    for (path, kind, mode, data) in entries {
        let mut h = ::tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(*mode);
        match *kind {
            ::tar::EntryType::Symlink | ::tar::EntryType::Link => {
                h.set_size(0);
                h.set_link_name(data).unwrap();
                b.append_data(&mut h, path, std::io::empty()).unwrap();
            }
            _ => {
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, data.as_bytes()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn extract(data: &[u8]) -> (tempfile::TempDir, anyhow::Result<ExtractStats>) {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("in");
    std::fs::create_dir(&dest).unwrap();
    let r = extract_reader(
        data,
        &dest,
        Some(Path::new("wd")),
        None,
        ExtractLimits::default(),
        |_| false,
    );
    (tmp, r)
}

use ::tar::EntryType as T;

#[test]
fn links_that_leave_the_tree_are_refused() {
    for (name, target) in [
        ("absolute", "/etc/passwd"),
        ("relative", "../../../../root"),
        ("to the workdir's parent", "../.."),
    ] {
        let data = hostile(&[
            ("wd/", T::Directory, 0o755, ""),
            ("wd/x/l", T::Symlink, 0o777, target),
        ]);
        let (_tmp, r) = extract(&data);
        let err = r.expect_err(name);
        assert!(err.is::<RefusedEntry>(), "{name}: {err:#}");
    }
    // Each link alone stays inside; together they point above the root.
    let data = hostile(&[
        ("wd/d/", T::Directory, 0o755, ""),
        ("wd/d/up", T::Symlink, 0o777, ".."),
        ("wd/chain", T::Symlink, 0o777, "d/up/.."),
    ]);
    let (_tmp, r) = extract(&data);
    assert!(r.unwrap_err().is::<RefusedEntry>());
}

/// Safety round 2, item 3: chains that dangle while extracting, writes through a chain, hard
/// links through a link, and duplicates that change a path's kind.
#[test]
fn link_chains_are_resolved_against_the_tree_alone() {
    // `d/up` is the root; `x` then goes above it into something that does not exist here
    // (the final check once resolved through the file system, and skipped what dangled).
    for (name, entries) in [
        (
            "dangling chain",
            vec![
                ("wd/d/", T::Directory, 0o755, ""),
                ("wd/d/up", T::Symlink, 0o777, ".."),
                ("wd/x", T::Symlink, 0o777, "d/up/../no-such-folder/etc"),
            ],
        ),
        (
            "deep dangling chain",
            vec![
                ("wd/a/b/", T::Directory, 0o755, ""),
                ("wd/a/b/top", T::Symlink, 0o777, "../.."),
                (
                    "wd/a/b/x",
                    T::Symlink,
                    0o777,
                    "top/a/b/top/../missing/../../etc",
                ),
            ],
        ),
        (
            "chain through a link made later",
            vec![
                ("wd/d/", T::Directory, 0o755, ""),
                ("wd/x", T::Symlink, 0o777, "d/later/../../gone"),
                ("wd/d/later", T::Symlink, 0o777, ".."),
            ],
        ),
    ] {
        let data = hostile(&entries);
        let (tmp, r) = extract(&data);
        let err = r.expect_err(name);
        assert!(err.is::<RefusedEntry>(), "{name}: {err:#}");
        assert!(
            err.to_string().contains("outside the extracted tree"),
            "{name}: {err}"
        );
        assert!(!tmp.path().join("no-such-folder").exists());
    }
    // A write through a chain that leaves the tree creates nothing outside it.
    let data = hostile(&[
        ("wd/d/e/", T::Directory, 0o755, ""),
        ("wd/d/e/up", T::Symlink, 0o777, "../.."),
        ("wd/d/e/out", T::Symlink, 0o777, "up/.."),
        ("wd/d/e/out/planted/file", T::Regular, 0o644, "x"),
    ]);
    let (tmp, r) = extract(&data);
    let err = r.unwrap_err();
    assert!(
        err.to_string().contains("through a link out of the tree"),
        "{err}"
    );
    assert!(
        !tmp.path().join("planted").exists(),
        "a folder was made outside"
    );
    // A hard link whose source path runs through a link (even one inside the tree).
    let data = hostile(&[
        ("wd/sub/a", T::Regular, 0o644, "x"),
        ("wd/l", T::Symlink, 0o777, "sub"),
        ("wd/b", T::Link, 0o644, "wd/l/a"),
    ]);
    let (_tmp, r) = extract(&data);
    let err = r.unwrap_err();
    assert!(err.to_string().contains("through a symbolic link"), "{err}");
    // A second entry may not turn a checked link into a file or a folder, or back.
    for entries in [
        vec![
            ("wd/a", T::Symlink, 0o777, "b"),
            ("wd/a", T::Regular, 0o644, "x"),
        ],
        vec![
            ("wd/a", T::Symlink, 0o777, "b"),
            ("wd/a/", T::Directory, 0o755, ""),
        ],
        vec![
            ("wd/a/", T::Directory, 0o755, ""),
            ("wd/a", T::Symlink, 0o777, "b"),
        ],
    ] {
        let data = hostile(&entries);
        let (_tmp, r) = extract(&data);
        let err = r.unwrap_err();
        assert!(
            err.to_string().contains("a second entry for this path"),
            "{err}"
        );
    }
    // What real trees have still passes: a dangling link inside, a file rewritten, a loop.
    let data = hostile(&[
        ("wd/pkg/lib/", T::Directory, 0o755, ""),
        ("wd/pkg/lib/libx.so", T::Symlink, 0o777, "libx.so.1"),
        ("wd/pkg/f", T::Regular, 0o644, "1"),
        ("wd/pkg/f", T::Regular, 0o644, "2"),
        ("wd/pkg/loop", T::Symlink, 0o777, "loop"),
        ("wd/pkg/share", T::Symlink, 0o777, "lib/../lib"),
    ]);
    let (tmp, r) = extract(&data);
    r.unwrap();
    assert_eq!(std::fs::read(tmp.path().join("in/pkg/f")).unwrap(), b"2");
    assert_eq!(
        resolve_in_tree(Path::new("/nonexistent"), Path::new("a/../b")),
        Ok(())
    );
    assert!(resolve_in_tree(Path::new("/nonexistent"), Path::new("a/../../b")).is_err());
}

#[test]
fn absolute_links_into_the_container_workdir_become_relative() {
    let data = hostile(&[
        ("wd/cache/archive/a1/mod.py", T::Regular, 0o644, "x"),
        (
            "wd/cache/wheels/six/1.0",
            T::Symlink,
            0o777,
            "/workdir/cache/archive/a1",
        ),
        ("wd/cache/evil", T::Symlink, 0o777, "/workdir/../etc"),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("in");
    std::fs::create_dir(&dest).unwrap();
    let err = extract_reader(
        data.as_slice(),
        &dest,
        Some(Path::new("wd")),
        Some(Path::new("/workdir")),
        ExtractLimits::default(),
        |_| false,
    )
    .unwrap_err();
    assert!(
        err.is::<RefusedEntry>(),
        "`/workdir/../etc` still leaves: {err}"
    );
    assert_eq!(
        std::fs::read_link(dest.join("cache/wheels/six/1.0")).unwrap(),
        Path::new("../../archive/a1"),
        "through the nearest common folder, so renaming `cache` keeps it working"
    );
    assert!(dest.join("cache/wheels/six/1.0/mod.py").is_file());
    assert_eq!(
        shortest_relative(Path::new("top"), Path::new("")),
        Path::new(".")
    );
    assert_eq!(
        shortest_relative(Path::new("a/b/l"), Path::new("c/d")),
        Path::new("../../c/d")
    );
}

#[test]
fn in_tree_links_are_kept() {
    let data = hostile(&[
        ("wd/pkg/bin/tool", T::Regular, 0o755, "#!/bin/sh\n"),
        ("wd/pkg/bin/alias", T::Symlink, 0o777, "tool"),
        ("wd/pkg/lib", T::Symlink, 0o777, "../pkg/bin"),
    ]);
    let (tmp, r) = extract(&data);
    r.unwrap();
    let dest = tmp.path().join("in");
    assert_eq!(
        std::fs::read_link(dest.join("pkg/bin/alias")).unwrap(),
        Path::new("tool")
    );
    assert!(dest.join("pkg/lib/tool").is_file());
}

#[test]
fn modes_are_normalised_and_special_files_left_out() {
    use std::os::unix::fs::PermissionsExt;
    let data = hostile(&[
        ("wd/suid", T::Regular, 0o4755, "x"),
        ("wd/sgid", T::Regular, 0o2711, "x"),
        ("wd/ww", T::Regular, 0o666, "x"),
        ("wd/tmp/", T::Directory, 0o1777, ""),
        ("wd/ro/", T::Directory, 0o555, ""),
        ("wd/ro/sub/", T::Directory, 0o555, ""),
        ("wd/ro/sub/child", T::Regular, 0o444, "x"),
        ("wd/pipe", T::Fifo, 0o644, ""),
        ("wd/dev", T::Char, 0o644, ""),
    ]);
    let (tmp, r) = extract(&data);
    let stats = r.unwrap();
    let dest = tmp.path().join("in");
    let mode = |p: &str| {
        std::fs::metadata(dest.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("suid"), 0o755);
    assert_eq!(mode("sgid"), 0o755);
    assert_eq!(mode("ww"), 0o644);
    assert_eq!(mode("tmp"), 0o755);
    assert_eq!(mode("ro"), 0o755);
    assert_eq!(mode("ro/sub/child"), 0o644);
    assert_eq!(stats.sanitized_modes, 4);
    assert_eq!(stats.special, [PathBuf::from("pipe"), PathBuf::from("dev")]);
    assert!(!dest.join("pipe").exists());
}

#[test]
fn hard_links_stay_inside_and_limits_hold() {
    let data = hostile(&[
        ("wd/a", T::Regular, 0o644, "x"),
        ("wd/b", T::Link, 0o644, "wd/a"),
    ]);
    let (tmp, r) = extract(&data);
    r.unwrap();
    assert_eq!(std::fs::read(tmp.path().join("in/b")).unwrap(), b"x");
    for target in ["/etc/hostname", "wd/../../etc/hostname", "other/a"] {
        let data = hostile(&[
            ("wd/a", T::Regular, 0o644, "x"),
            ("wd/b", T::Link, 0o644, target),
        ]);
        let (_tmp, r) = extract(&data);
        assert!(r.unwrap_err().is::<RefusedEntry>(), "{target}");
    }
    let data = hostile(&[
        ("wd/a", T::Regular, 0o644, "0123456789"),
        ("wd/b", T::Regular, 0o644, "0123456789"),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let limits = ExtractLimits {
        max_bytes: 15,
        max_entries: 100,
    };
    let err = extract_reader(
        data.as_slice(),
        tmp.path(),
        Some(Path::new("wd")),
        None,
        limits,
        |_| false,
    )
    .unwrap_err();
    assert!(err.to_string().contains(MAX_BYTES_VAR), "{err}");
    let limits = ExtractLimits {
        max_bytes: 100,
        max_entries: 1,
    };
    assert!(extract_reader(
        data.as_slice(),
        tmp.path(),
        Some(Path::new("wd")),
        None,
        limits,
        |_| false
    )
    .is_err());
    // Entries outside the stripped folder are refused.
    let data = hostile(&[("elsewhere/a", T::Regular, 0o644, "x")]);
    let (_tmp, r) = extract(&data);
    assert!(r.unwrap_err().is::<RefusedEntry>());
}

/// Safety round 2, item 4: skipped and special entries count toward the entry limit, and the
/// list of special files stays short however many there are.
#[test]
fn every_entry_counts_and_the_special_list_is_bounded() {
    let names: Vec<String> = (0..50).map(|i| format!("wd/pipe{i}")).collect();
    let entries: Vec<_> = names
        .iter()
        .map(|n| (n.as_str(), T::Fifo, 0o644, ""))
        .collect();
    let data = hostile(&entries);
    let (tmp, r) = extract(&data);
    let stats = r.unwrap();
    assert_eq!(stats.special_count, 50);
    assert_eq!(stats.special.len(), SPECIAL_LISTED);
    drop(tmp);
    let tmp = tempfile::tempdir().unwrap();
    let limits = ExtractLimits {
        max_bytes: 1 << 20,
        max_entries: 10,
    };
    let err = extract_reader(
        data.as_slice(),
        tmp.path(),
        Some(Path::new("wd")),
        None,
        limits,
        |_| false,
    )
    .unwrap_err();
    assert!(err.to_string().contains(MAX_ENTRIES_VAR), "{err}");
    // Entries the caller skips count as well.
    let err = extract_reader(
        data.as_slice(),
        tmp.path(),
        Some(Path::new("wd")),
        None,
        limits,
        |_| true,
    )
    .unwrap_err();
    assert!(err.to_string().contains(MAX_ENTRIES_VAR), "{err}");
}

/// Safety round 2, item 16: a name that is not UTF-8 is refused, shown escaped.
#[test]
fn names_that_are_not_utf8_are_refused() {
    let mut b = ::tar::Builder::new(Vec::new());
    let mut h = ::tar::Header::new_gnu();
    h.set_entry_type(T::Regular);
    h.set_mode(0o644);
    h.set_size(1);
    let name = b"wd/caf\xe9";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    let data = b.into_inner().unwrap();
    let (_tmp, r) = extract(&data);
    let err = r.unwrap_err();
    assert!(err.is::<RefusedEntry>(), "{err:#}");
    assert!(err.to_string().contains("`caf\\xe9`"), "{err}");
}

#[test]
fn link_text_checks() {
    assert!(link_stays_inside(Path::new("a/b/l"), Path::new("../c")));
    assert!(link_stays_inside(Path::new("a/b/l"), Path::new("../../c")));
    assert!(!link_stays_inside(
        Path::new("a/b/l"),
        Path::new("../../../c")
    ));
    assert!(!link_stays_inside(Path::new("l"), Path::new("/x")));
    assert!(!link_stays_inside(Path::new("l"), Path::new("")));
}
