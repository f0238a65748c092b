//! The product archive (`pack --archive`) is reproducible: a fixed product gives the same bytes,
//! here and on any machine, so its sha256 is a snapshot.
//!
//! The snapshot is taken of a fixed product tree written by this test, not of a whole `pack` run:
//! a real product records the id of the image it was staged in, and the test images are built on
//! each machine (their ids differ), so only the archive writer's output can be pinned.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use pixi_airgap::product::archive::{
    write, write_with, ArchiveFormat, ArchiveOptions, Compression, WINDOW_LOG,
};

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

/// The receiver unpacks a tar.zst with a plain `zstd -d` (or `tar --zstd`): the frame's window
/// must stay within what a decoder accepts without `--long` (2^27), here the archive's own 2^24,
/// on a product larger than the window. The level changes the bytes, and the same level gives the
/// same bytes.
#[test]
fn tar_zst_decodes_within_a_16_mib_window_and_its_level_sets_its_bytes() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let product = dir.path().join("product");
    fixed_product(&product);
    // 40 MiB of compressible, deterministic text: more than the window.
    let data = product.join("pkg-cache/pkgs/data-1.0-0/share");
    std::fs::create_dir_all(&data).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for file in 0..5 {
        let mut text = String::with_capacity(8 << 20);
        while text.len() < 8 << 20 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(&format!("line {} value {:x}\n", state % 1000, state >> 40));
        }
        std::fs::write(data.join(format!("f{file}.txt")), text).unwrap();
    }
    let archive = |name: &str, level: i32| {
        let dest = dir.path().join(name);
        std::fs::create_dir_all(&dest).unwrap();
        write_with(
            &product,
            &dest,
            "product",
            ArchiveOptions {
                compression: Compression::new(Some(level)),
                ..ArchiveOptions::new(ArchiveFormat::TarZst)
            },
        )
        .unwrap()
    };
    let first = archive("a", 3);
    let again = archive("b", 3);
    let other = archive("c", 1);
    assert_eq!(first.sha256, again.sha256);
    assert_ne!(first.sha256, other.sha256);
    assert_eq!(Compression::default().level, Compression::DEFAULT_LEVEL);

    let file = std::fs::File::open(&first.path).unwrap();
    let mut decoder = zstd::Decoder::new(file).unwrap();
    decoder.window_log_max(WINDOW_LOG).unwrap();
    let mut tar = Vec::new();
    decoder.read_to_end(&mut tar).unwrap();
    assert!(tar.len() > 40 << 20, "{}", tar.len());
    // A decoder that allows less than the archive's window refuses it: the limit above is real.
    let file = std::fs::File::open(&first.path).unwrap();
    let mut small = zstd::Decoder::new(file).unwrap();
    small.window_log_max(WINDOW_LOG - 4).unwrap();
    assert!(small.read_to_end(&mut Vec::new()).is_err());
}
