//! A tiny conda channel written by test code: noarch `.tar.bz2` packages with dependencies between
//! them, one of them with an executable, and a `repodata.json`. Every byte is deterministic.

use std::io::Write;
use std::path::Path;

use md5::Md5;
use serde_json::json;
use sha2::{Digest, Sha256};

/// One file inside a package.
pub struct PkgFile {
    pub path: &'static str,
    pub content: Vec<u8>,
    pub executable: bool,
}

pub struct Package {
    pub name: &'static str,
    pub version: &'static str,
    pub depends: Vec<&'static str>,
    pub files: Vec<PkgFile>,
}

impl Package {
    pub fn file_name(&self) -> String {
        format!("{}-{}-0.tar.bz2", self.name, self.version)
    }
}

/// The packages of the test channel.
pub fn packages() -> Vec<Package> {
    let text = |s: &str| s.as_bytes().to_vec();
    vec![
        Package {
            name: "airgap-base",
            version: "1.0.0",
            depends: vec![],
            files: vec![PkgFile {
                path: "share/airgap-base/VERSION",
                content: text("airgap-base 1.0.0\n"),
                executable: false,
            }],
        },
        Package {
            name: "airgap-hello",
            version: "1.0.0",
            depends: vec!["airgap-base >=1.0"],
            files: vec![PkgFile {
                path: "bin/hello-airgap",
                content: text(
                    "#!/bin/sh\n\
                     # prints a greeting and the version of the package it depends on\n\
                     here=$(cd \"$(dirname \"$0\")/..\" && pwd)\n\
                     echo \"hello from the air gap\"\n\
                     cat \"$here/share/airgap-base/VERSION\"\n",
                ),
                executable: true,
            }],
        },
        Package {
            name: "airgap-alpha",
            version: "0.1.0",
            depends: vec!["airgap-base"],
            files: vec![PkgFile {
                path: "share/airgap-alpha/ALPHA",
                content: text("alpha\n"),
                executable: false,
            }],
        },
        Package {
            name: "airgap-beta",
            version: "0.2.0",
            depends: vec!["airgap-base", "airgap-hello"],
            files: vec![PkgFile {
                path: "share/airgap-beta/BETA",
                content: text("beta\n"),
                executable: false,
            }],
        },
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn tar_add(builder: &mut tar::Builder<impl Write>, path: &str, data: &[u8], mode: u32) {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_mtime(1_700_000_000);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, path, data).unwrap();
}

/// The bytes of a package's `.tar.bz2`.
pub fn build_package(pkg: &Package) -> Vec<u8> {
    let index = json!({
        "arch": null,
        "build": "0",
        "build_number": 0,
        "depends": pkg.depends,
        "license": "MIT",
        "name": pkg.name,
        "noarch": "generic",
        "platform": null,
        "subdir": "noarch",
        "timestamp": 1_700_000_000_000u64,
        "version": pkg.version,
    });
    let paths: Vec<_> = pkg
        .files
        .iter()
        .map(|f| {
            json!({
                "_path": f.path,
                "path_type": "hardlink",
                "sha256": hex(&Sha256::digest(&f.content)),
                "size_in_bytes": f.content.len(),
            })
        })
        .collect();
    let paths = json!({"paths": paths, "paths_version": 1});
    let files: String = pkg.files.iter().map(|f| format!("{}\n", f.path)).collect();
    let mut tar_bytes = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut tar_bytes);
        tar_add(
            &mut builder,
            "info/index.json",
            index.to_string().as_bytes(),
            0o644,
        );
        tar_add(
            &mut builder,
            "info/paths.json",
            paths.to_string().as_bytes(),
            0o644,
        );
        tar_add(&mut builder, "info/files", files.as_bytes(), 0o644);
        for f in &pkg.files {
            tar_add(
                &mut builder,
                f.path,
                &f.content,
                if f.executable { 0o755 } else { 0o644 },
            );
        }
        builder.finish().unwrap();
    }
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    enc.write_all(&tar_bytes).unwrap();
    enc.finish().unwrap()
}

/// Writes the channel (`noarch/` with packages and repodata, an empty `linux-64/`) into `dir`.
pub fn write_channel(dir: &Path) {
    let noarch = dir.join("noarch");
    std::fs::create_dir_all(&noarch).unwrap();
    let mut entries = serde_json::Map::new();
    for pkg in packages() {
        let bytes = build_package(&pkg);
        std::fs::write(noarch.join(pkg.file_name()), &bytes).unwrap();
        entries.insert(
            pkg.file_name(),
            json!({
                "build": "0",
                "build_number": 0,
                "depends": pkg.depends,
                "license": "MIT",
                "md5": hex(&Md5::digest(&bytes)),
                "name": pkg.name,
                "noarch": "generic",
                "sha256": hex(&Sha256::digest(&bytes)),
                "size": bytes.len(),
                "subdir": "noarch",
                "timestamp": 1_700_000_000_000u64,
                "version": pkg.version,
            }),
        );
    }
    let repodata = json!({
        "info": {"subdir": "noarch"},
        "packages": entries,
        "packages.conda": {},
        "repodata_version": 1,
    });
    std::fs::write(noarch.join("repodata.json"), repodata.to_string()).unwrap();
    let linux = dir.join("linux-64");
    std::fs::create_dir_all(&linux).unwrap();
    // The `python` package that scripts/testbed.sh assembles from Debian's interpreter, with its
    // repodata record beside it.
    let mut linux_entries = serde_json::Map::new();
    if let Some(pkg_dir) = std::env::var_os("PIXI_AIRGAP_TESTBED_PYTHON_PKG") {
        for entry in std::fs::read_dir(&pkg_dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let sidecar: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let file_name = sidecar["file_name"].as_str().unwrap().to_string();
            std::fs::copy(Path::new(&pkg_dir).join(&file_name), linux.join(&file_name)).unwrap();
            linux_entries.insert(file_name, sidecar["record"].clone());
        }
    }
    let linux_repodata = json!({"info": {"subdir": "linux-64"}, "packages": linux_entries, "packages.conda": {}, "repodata_version": 1});
    std::fs::write(linux.join("repodata.json"), linux_repodata.to_string()).unwrap();
}
