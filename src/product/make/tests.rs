use super::*;
use crate::product::manifest::{check, manifest_entries};

/// A staged workdir as stage-host leaves it, without running it.
fn staged_workdir(root: &Path) -> Workdir {
    let wd = Workdir::new(root).unwrap();
    let project = wd.project("demo");
    std::fs::create_dir_all(project.join(".pixi/envs/default")).unwrap();
    std::fs::write(project.join("pixi.toml"), "[project]\nname = \"demo\"\n").unwrap();
    std::fs::write(project.join("pixi.lock"), "version: 4\n").unwrap();
    std::fs::write(project.join(".pixi/envs/default/huge"), "env").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("pixi.toml", project.join("link")).unwrap();
    let pkg = wd.pixi_cache().join("pkgs/a-1-0/bin");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("tool"), "#!/bin/sh\n").unwrap();
    crate::fsutil::set_mode(&pkg.join("tool"), 0o755).unwrap();
    std::fs::write(wd.pixi_cache().join("pkgs/a-1-0.lock"), "").unwrap();
    std::fs::create_dir_all(wd.pixi_cache().join("pypi/.tmp")).unwrap();
    std::fs::create_dir_all(wd.resources()).unwrap();
    std::fs::create_dir_all(wd.out()).unwrap();
    let stage = serde_json::json!({
        "format_version": 1, "tool_version": "0", "command": "stage-host",
        "project_name": "demo", "manifest": "pixi.toml", "environments": ["default"],
        "image": "img", "image_id": "sha256:abc", "image_repo_digests": [],
        "pixi_version": "pixi 0.15.2", "platform": "linux-64", "container_workdir": "/workdir",
        "lock_sha256": crate::fsutil::sha256_file(&project.join("pixi.lock")).unwrap(),
        "lock_version": 4,
        "excluded": {"counts": {}, "secrets": [], "skipped_special": []},
        "installs": [], "verification": null, "workdir": root,
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:01:00Z",
        "result": "success"
    });
    std::fs::write(wd.out().join("stage.json"), stage.to_string()).unwrap();
    wd
}

#[test]
fn make_then_check_and_detect_damage() {
    let dir = tempfile::tempdir().unwrap();
    let wd = staged_workdir(&dir.path().join("wd"));
    let options = MakeOptions {
        workdir: wd.clone(),
        project_name: "demo".to_string(),
        output: wd.product(),
        force: false,
        sign_key: None,
    };
    let (manifest, totals, old) = make(&options).unwrap();
    old.wait().unwrap();
    let records: Vec<FileRecord> = crate::product::manifest::records(&wd.product())
        .unwrap()
        .collect::<anyhow::Result<_>>()
        .unwrap();
    let paths: Vec<&str> = records.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            ".pixi-airgap-product",
            "envs.sh",
            "bootstrap-project.sh",
            "check-product.sh",
            "product-facts.txt",
            "sbom.cdx.json",
            "demo/link",
            "demo/pixi.lock",
            "demo/pixi.toml",
            "pkg-cache/pkgs/a-1-0/bin/tool",
            "product-tree.txt",
        ],
        "no envs, no res/ when empty, no lock files or tmp folders from the cache"
    );
    if std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
        assert_eq!(
            manifest.created_at, "2026-01-01T00:01:00Z",
            "the staging run's end"
        );
    }
    assert_eq!(totals.files, 11);
    assert_eq!(
        totals.bytes,
        records.iter().filter_map(|r| r.size).sum::<u64>()
    );
    assert!(!wd.product().join("res").exists());
    // Same workdir, same manifest bytes.
    let first = std::fs::read(wd.product().join(ProductLayout::PRODUCT_MANIFEST)).unwrap();
    make(&options).unwrap().2.wait().unwrap();
    assert_eq!(
        std::fs::read(wd.product().join(ProductLayout::PRODUCT_MANIFEST)).unwrap(),
        first
    );
    let (_, report) = check(&wd.product()).unwrap();
    assert_eq!(report.checked, 11);
    assert!(report.extra.is_empty());
    // SHA256SUMS is what `sha256sum -c` reads, and product-tree.txt holds the rest.
    let sums = std::fs::read_to_string(wd.product().join("SHA256SUMS")).unwrap();
    let listed: Vec<&str> = sums.lines().map(|l| &l[66..]).collect();
    assert_eq!(
        listed,
        [
            ".pixi-airgap-product",
            "bootstrap-project.sh",
            "check-product.sh",
            "demo/pixi.lock",
            "demo/pixi.toml",
            "envs.sh",
            "pixi-airgap.json",
            "pkg-cache/pkgs/a-1-0/bin/tool",
            "product-facts.txt",
            "product-tree.txt",
            "sbom.cdx.json",
        ]
    );
    let out = std::process::Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(wd.product())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
            std::fs::read_to_string(wd.product().join("product-tree.txt")).unwrap(),
            "dir\tdemo\ndir\tdemo/.pixi\nlink\tdemo/link\tpixi.toml\ndir\tpkg-cache\ndir\tpkg-cache/pkgs\ndir\tpkg-cache/pkgs/a-1-0\ndir\tpkg-cache/pkgs/a-1-0/bin\ndir\tpkg-cache/pypi\n"
        );

    // A lost execute bit, a retargeted link and an extra file.
    let tool = wd.product().join("pkg-cache/pkgs/a-1-0/bin/tool");
    crate::fsutil::set_mode(&tool, 0o644).unwrap();
    std::fs::remove_file(wd.product().join("demo/link")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("pixi.lock", wd.product().join("demo/link")).unwrap();
    std::fs::write(wd.product().join("demo/extra.txt"), "x").unwrap();
    let err = check(&wd.product()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("changed: pkg-cache/pkgs/a-1-0/bin/tool"),
        "{text}"
    );
    assert!(text.contains("changed: demo/link"), "{text}");
    assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
}

/// Package files are hard-linked from the workdir (same inode); the project's files are
/// copied; without links every file is a copy; the manifest is the same either way.
#[cfg(unix)]
#[test]
fn package_files_are_linked_project_files_copied() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let wd = staged_workdir(&dir.path().join("wd"));
    let same_inode = |a: &Path, b: &Path| {
        std::fs::metadata(a).unwrap().ino() == std::fs::metadata(b).unwrap().ino()
    };
    let tool = "pkgs/a-1-0/bin/tool";
    let mut manifests = Vec::new();
    for links in [true, false] {
        let out = dir.path().join(format!("product-{links}"));
        std::fs::create_dir_all(&out).unwrap();
        let mut copier = Copier::new(links);
        let mut records = Vec::new();
        copier
            .tree(
                &wd.pixi_cache(),
                &mut TreeWriter::new(Dir::open(&out).unwrap()),
                "pkg-cache",
                &mut records,
                keep_cache,
                is_package_content,
            )
            .unwrap();
        copier
            .tree(
                &wd.project("demo"),
                &mut TreeWriter::new(Dir::open(&out).unwrap()),
                "demo",
                &mut records,
                keep_project,
                |_| false,
            )
            .unwrap();
        assert_eq!(
            same_inode(
                &wd.pixi_cache().join(tool),
                &out.join("pkg-cache").join(tool)
            ),
            links
        );
        assert_eq!(copier.linked, u64::from(links));
        assert!(!same_inode(
            &wd.project("demo").join("pixi.toml"),
            &out.join("demo/pixi.toml")
        ));
        manifests.push(serde_json::to_string(&records).unwrap());
    }
    assert_eq!(manifests[0], manifests[1]);
    // A package file with an unclean mode is copied (and cleaned), never shared.
    crate::fsutil::set_mode(&wd.pixi_cache().join(tool), 0o775).unwrap();
    let out = dir.path().join("product-unclean");
    std::fs::create_dir_all(&out).unwrap();
    let mut copier = Copier::new(true);
    copier
        .tree(
            &wd.pixi_cache(),
            &mut TreeWriter::new(Dir::open(&out).unwrap()),
            "pkg-cache",
            &mut Vec::new(),
            keep_cache,
            is_package_content,
        )
        .unwrap();
    assert_eq!(copier.linked, 0);
    assert!(!same_inode(
        &wd.pixi_cache().join(tool),
        &out.join("pkg-cache").join(tool)
    ));
    assert!(is_package_content(Path::new("pkgs/a-1-0/info/index.json")));
    assert!(!is_package_content(Path::new("pkgs/a-1-0.tar.bz2")));
    assert!(!is_package_content(Path::new("uv-cache/wheels/x/y")));
}

#[test]
fn make_refuses_a_wrong_name_and_an_unstaged_workdir() {
    let dir = tempfile::tempdir().unwrap();
    let wd = staged_workdir(&dir.path().join("wd"));
    let options = MakeOptions {
        workdir: wd.clone(),
        project_name: "other".to_string(),
        output: wd.product(),
        force: false,
        sign_key: None,
    };
    let err = make(&options).unwrap_err();
    assert!(
        err.to_string()
            .contains("does not match the staged project `demo`"),
        "{err}"
    );
    let empty = Workdir::new(&dir.path().join("empty")).unwrap();
    let options = MakeOptions {
        workdir: empty.clone(),
        project_name: "demo".to_string(),
        output: empty.product(),
        force: false,
        sign_key: None,
    };
    let err = make(&options).unwrap_err();
    assert!(err.to_string().contains("is not a staged workdir"), "{err}");
    assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
}

/// A made product whose manifest is rewritten by `edit`.
fn product_with(edit: impl FnOnce(&mut serde_json::Value)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let wd = staged_workdir(&dir.path().join("wd"));
    let options = MakeOptions {
        workdir: wd.clone(),
        project_name: "demo".to_string(),
        output: wd.product(),
        force: false,
        sign_key: None,
    };
    make(&options).unwrap().2.wait().unwrap();
    let path = wd.product().join(ProductLayout::PRODUCT_MANIFEST);
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(&path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    // As whoever edited it would: SHA256SUMS re-hashed to match, so the manifest's own
    // checks are what is tested.
    let sums_path = wd.product().join(crate::product::sums::SHA256SUMS);
    let sha = crate::fsutil::sha256_file(&path).unwrap();
    let sums: String = std::fs::read_to_string(&sums_path)
        .unwrap()
        .lines()
        .map(|l| match l.strip_suffix(ProductLayout::PRODUCT_MANIFEST) {
            Some(_) if l.len() == 66 + ProductLayout::PRODUCT_MANIFEST.len() => {
                format!("{sha}  {}\n", ProductLayout::PRODUCT_MANIFEST)
            }
            _ => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&sums_path, sums).unwrap();
    (dir, wd.product())
}

#[test]
fn manifests_that_name_places_outside_the_product_are_refused() {
    let add = |record: serde_json::Value| {
        move |v: &mut serde_json::Value| v["files"].as_array_mut().unwrap().push(record)
    };
    let file = |path: &str| serde_json::json!({"path": path, "sha256": "00", "size": 0});
    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(add(file("../x"))), "a `.` or `..` part"),
        (Box::new(add(file("demo/../../x"))), "a `.` or `..` part"),
        (Box::new(add(file("/etc/passwd"))), "an absolute path"),
        (Box::new(add(file("demo//x"))), "an empty part"),
        (Box::new(add(file(""))), "an empty path"),
        (
            Box::new(add(file(ProductLayout::PRODUCT_MANIFEST))),
            "cannot list itself",
        ),
        (Box::new(add(file("envs.sh"))), "listed twice"),
        (
            Box::new(add(
                serde_json::json!({"path": "demo/up", "symlink": "../../x"}),
            )),
            "leaves the product",
        ),
        (
            Box::new(add(
                serde_json::json!({"path": "demo/abs", "symlink": "/root"}),
            )),
            "leaves the product",
        ),
        (
            Box::new(add(serde_json::json!({"path": "demo/nohash"}))),
            "without its size",
        ),
        (
            Box::new(|v: &mut serde_json::Value| v["project_name"] = "..".into()),
            "not a plain folder name",
        ),
        (
            Box::new(|v: &mut serde_json::Value| v["format_version"] = 2.into()),
            "has manifest format version 2; this pixi-airgap",
        ),
        (
            Box::new(|v: &mut serde_json::Value| v["format_version"] = 0.into()),
            "has manifest format version 0",
        ),
        (
            Box::new(|v: &mut serde_json::Value| v["format_version"] = "1".into()),
            "no numeric format_version",
        ),
    ];
    for (edit, expect) in cases {
        let (_dir, product) = product_with(edit);
        let err = check(&product).unwrap_err();
        assert!(err.to_string().contains(expect), "{expect}: {err}");
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
    }
    // A newer format is refused by its version, whatever else changed.
    let (_dir, product) = product_with(|v| {
        v["format_version"] = 7.into();
        v["files"] = "restructured".into();
    });
    let err = ProductManifest::read(&product).unwrap_err();
    assert!(err.to_string().contains("format version 7"), "{err}");
}

#[test]
fn runtime_state_is_named_and_never_among_the_upload() {
    let (_dir, product) = product_with(|_| {});
    let envs = product.join("demo/.pixi/envs/default/bin");
    std::fs::create_dir_all(&envs).unwrap();
    std::fs::write(envs.join("python"), "x").unwrap();
    std::fs::write(product.join("demo/.pixi/other"), "x").unwrap();
    let (_, report) = check(&product).unwrap();
    let state: Vec<_> = report.runtime_state.into_iter().collect();
    assert_eq!(
        state,
        [
            ("demo/.pixi/envs".to_string(), 1),
            ("demo/.pixi/other".to_string(), 1)
        ]
    );
    assert!(report.extra.is_empty());
    // Anything else added is refused, a folder too.
    std::fs::write(product.join("stray.txt"), "x").unwrap();
    std::fs::create_dir(product.join("pkg-cache/empty")).unwrap();
    let err = check(&product).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("holds 2 entries that its manifest does not list")
            && text.contains("not part of the product: pkg-cache/empty/")
            && text.contains("not part of the product: stray.txt"),
        "{text}"
    );
    assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
    std::fs::remove_file(product.join("stray.txt")).unwrap();
    std::fs::remove_dir(product.join("pkg-cache/empty")).unwrap();
    let entries = manifest_entries(&product, Path::new("p")).unwrap();
    let paths: Vec<String> = entries
        .map(|e| e.unwrap().path.display().to_string())
        .collect();
    assert!(paths.contains(&"p/pkg-cache/pkgs/a-1-0/bin/tool".to_string()));
    assert!(paths.contains(&format!("p/{}", ProductLayout::PRODUCT_MANIFEST)));
    // The product's folders (its empty `.pixi/` too) and SHA256SUMS go, runtime state not.
    assert!(paths.contains(&"p/SHA256SUMS".to_string()));
    assert!(paths.contains(&"p/demo/.pixi".to_string()));
    assert!(
        paths
            .iter()
            .all(|p| !p.contains(".pixi/") && !p.contains("stray")),
        "{paths:?}"
    );
    // Folders come before what they hold.
    let tool = paths
        .iter()
        .position(|p| p == "p/pkg-cache/pkgs/a-1-0/bin/tool");
    let bin = paths.iter().position(|p| p == "p/pkg-cache/pkgs/a-1-0/bin");
    assert!(bin < tool);
}

#[test]
fn make_refuses_a_link_that_would_leave_the_product() {
    let dir = tempfile::tempdir().unwrap();
    let wd = staged_workdir(&dir.path().join("wd"));
    // Inside the workdir (project/demo/../../resources), outside the product (demo/../..).
    std::os::unix::fs::symlink("../../resources/x", wd.project("demo").join("res-link")).unwrap();
    let options = MakeOptions {
        workdir: wd.clone(),
        project_name: "demo".to_string(),
        output: wd.product(),
        force: false,
        sign_key: None,
    };
    let err = make(&options).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains(
            "`demo/res-link`: a link whose target `../../resources/x` leaves the product"
        ),
        "{text}"
    );
    assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
    assert!(!wd.product().exists());
}

#[test]
fn a_folder_replaced_by_a_link_is_not_followed() {
    let (dir, product) = product_with(|_| {});
    // The same files, but reached through a link: check must not read through it.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::rename(product.join("pkg-cache"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, product.join("pkg-cache")).unwrap();
    let err = check(&product).unwrap_err();
    assert!(
        err.to_string()
            .contains("changed: pkg-cache/pkgs/a-1-0/bin/tool"),
        "{err}"
    );
    // A link whose text stays inside (`out/..`) but that resolves outside the product
    // through another link (`out`, not in the manifest).
    let (dir, product) = product_with(|v| {
        for f in v["files"].as_array_mut().unwrap() {
            if f["path"] == "demo/link" {
                f["symlink"] = "out/..".into();
            }
        }
    });
    std::fs::remove_file(product.join("demo/link")).unwrap();
    std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("a/b"), product.join("demo/out")).unwrap();
    std::os::unix::fs::symlink("out/..", product.join("demo/link")).unwrap();
    let err = check(&product).unwrap_err();
    assert!(err.to_string().contains("changed: demo/link"), "{err}");
}

#[test]
fn cache_filter() {
    assert!(keep_cache(Path::new("pkgs"), true));
    assert!(keep_cache(Path::new("pkgs/a-1-0"), true));
    assert!(keep_cache(Path::new("pkgs/a-1-0/yarn.lock"), false));
    assert!(keep_cache(Path::new("pkgs/a-1-0/.tmp"), true));
    assert!(!keep_cache(Path::new("pkgs/a-1-0.lock"), false));
    assert!(!keep_cache(Path::new("cache.lock"), false));
    assert!(!keep_cache(Path::new("pypi/http/.tmp"), true));
    assert!(!keep_cache(Path::new("repodata"), true));
    assert!(keep_cache(Path::new("pypi/http/abc"), false));
}
