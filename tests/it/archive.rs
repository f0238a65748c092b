//! The product archive (`pack --archive`) is reproducible: a fixed product gives the same bytes,
//! here and on any machine, so its sha256 is a snapshot.
//!
//! The snapshot is taken of a fixed product tree written by this test, not of a whole `pack` run:
//! a real product records the id of the image it was staged in, and the test images are built on
//! each machine (their ids differ), so only the archive writer's output can be pinned.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use pixi_airgap::product::archive::{write, ArchiveFormat};

/// A small product: folders, a script, a package file, a link, and modes the archive must reduce.
fn fixed_product(root: &Path) {
    let files: &[(&str, &str, u32)] = &[
        ("demo/pixi.toml", "[project]\nname = \"demo\"\n", 0o664),
        ("demo/pixi.lock", "version: 4\n", 0o600),
        ("envs.sh", "#!/bin/sh\nexport PIXI_HOME=x\n", 0o775),
        (
            "bootstrap-project.sh",
            "#!/bin/sh\npixi install --frozen\n",
            0o700,
        ),
        (
            "pkg-cache/pkgs/demo-1.0-0/info/index.json",
            "{\"name\":\"demo\"}\n",
            0o666,
        ),
        (
            "pkg-cache/pkgs/demo-1.0-0/bin/demo",
            "#!/bin/sh\necho demo\n",
            0o4755,
        ),
    ];
    for (path, content, mode) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    std::os::unix::fs::symlink("demo", root.join("pkg-cache/pkgs/demo-1.0-0/bin/demo-link"))
        .unwrap();
    std::fs::set_permissions(
        root.join("pkg-cache/pkgs"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
}

#[test]
fn fixed_product_archive_sha256_matches_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let product = dir.path().join("product");
    fixed_product(&product);
    let mut sums = String::new();
    for format in [ArchiveFormat::Tar, ArchiveFormat::TarZst] {
        let dest = dir.path().join(format.extension());
        std::fs::create_dir_all(&dest).unwrap();
        let info = write(&product, &dest, "product", format).unwrap();
        sums.push_str(&format!(
            "{}  {} bytes  product.{}\n",
            info.sha256,
            info.size_bytes,
            format.extension()
        ));
    }
    insta::assert_snapshot!("product-archive-sha256", sums);
}
