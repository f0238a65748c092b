#!/usr/bin/env python3
"""Writes a conda channel of noarch `.conda` packages whose contents add up to a given size and file
count, and a project that depends on all of them, for benches/pack-vs-cli.sh.

    bench-channel.py CHANNEL_DIR PROJECT_DIR CHANNEL_URL SIZE_MIB FILES [EXTRA]

File contents are incompressible (seeded pseudo-random bytes) and deterministic: the same arguments
write the same bytes. The inner tars are wrapped in zstd frames of raw (stored) blocks, so the
channel costs no compression time to write and little to read, and the benchmark measures moving
bytes, not codecs. One more package, `bench-run`, carries `bench-check`, the task both flows run:
it counts the installed data files, so a partial install cannot pass. With EXTRA (a number), the
channel also holds that many small packages `bench-extra-NNN` (one 4 KiB file each) that the
project does not depend on yet: what benches/warm-restage.sh adds to the lock between two packs.
"""

import hashlib
import io
import json
import os
import random
import struct
import sys
import tarfile
import zipfile

MTIME = 1_700_000_000
FILES_PER_PACKAGE = 500
FILES_PER_DIR = 100


def zstd_raw(data: bytes) -> bytes:
    """A zstd frame of raw blocks (no compression): magic, a window of 128 KiB, then blocks."""
    block = 128 * 1024
    out = bytearray(struct.pack("<I", 0xFD2FB528))
    out += bytes([0x00, (17 - 10) << 3])  # no content size, no checksum; window log 17
    chunks = [data[i : i + block] for i in range(0, len(data), block)] or [b""]
    for n, chunk in enumerate(chunks):
        last = 1 if n == len(chunks) - 1 else 0
        header = last | (0 << 1) | (len(chunk) << 3)
        out += header.to_bytes(3, "little") + chunk
    return bytes(out)


def tar_of(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path, data, mode in entries:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = mode
            info.mtime = MTIME
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def conda_package(name, version, depends, files):
    """The bytes of `name-version-0.conda` holding `files` [(path, bytes, mode)]."""
    index = {
        "arch": None,
        "build": "0",
        "build_number": 0,
        "depends": depends,
        "license": "MIT",
        "name": name,
        "noarch": "generic",
        "platform": None,
        "subdir": "noarch",
        "timestamp": MTIME * 1000,
        "version": version,
    }
    paths = {
        "paths": [
            {
                "_path": path,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size_in_bytes": len(data),
            }
            for path, data, _ in files
        ],
        "paths_version": 1,
    }
    listing = "".join(f"{path}\n" for path, _, _ in files)
    info = tar_of(
        [
            ("info/index.json", json.dumps(index).encode(), 0o644),
            ("info/paths.json", json.dumps(paths).encode(), 0o644),
            ("info/files", listing.encode(), 0o644),
        ]
    )
    pkg = tar_of(files)
    stem = f"{name}-{version}-0"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for arcname, data in [
            ("metadata.json", json.dumps({"conda_pkg_format_version": 2}).encode()),
            (f"pkg-{stem}.tar.zst", zstd_raw(pkg)),
            (f"info-{stem}.tar.zst", zstd_raw(info)),
        ]:
            zinfo = zipfile.ZipInfo(arcname, date_time=(2023, 11, 14, 0, 0, 0))
            z.writestr(zinfo, data)
    return f"{stem}.conda", index, buf.getvalue()


def main():
    channel_dir, project_dir, url, size_mib, nfiles = sys.argv[1:6]
    n_extra = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    total, nfiles = int(size_mib) * 1024 * 1024, int(nfiles)
    rng = random.Random(f"pixi-airgap-bench-{size_mib}-{nfiles}")
    npkgs = max(1, nfiles // FILES_PER_PACKAGE)
    per_file, extra = divmod(total, nfiles)
    packages, file_no = [], 0
    for p in range(npkgs):
        count = nfiles // npkgs + (1 if p < nfiles % npkgs else 0)
        files = []
        for _ in range(count):
            size = per_file + (1 if file_no < extra else 0)
            path = f"share/bench-data/p{p:03d}/d{file_no // FILES_PER_DIR:04d}/f{file_no:06d}.bin"
            files.append((path, rng.randbytes(size), 0o644))
            file_no += 1
        packages.append((f"bench-data-{p:03d}", "1.0.0", [], files))
    check = (
        "#!/bin/sh\n"
        "# counts the installed data files: a partial install cannot pass\n"
        'n=$(find "$CONDA_PREFIX/share/bench-data" -type f | wc -l)\n'
        'echo "bench ok $n files"\n'
    )
    packages.append(("bench-run", "1.0.0", [], [("bin/bench-check", check.encode(), 0o755)]))
    extras = [
        (f"bench-extra-{n:03d}", "1.0.0", [], [(f"share/bench-extra/{n:03d}.bin", rng.randbytes(4096), 0o644)])
        for n in range(n_extra)
    ]

    noarch = os.path.join(channel_dir, "noarch")
    os.makedirs(noarch, exist_ok=True)
    records = {}
    for name, version, depends, files in packages + extras:
        fname, index, data = conda_package(name, version, depends, files)
        with open(os.path.join(noarch, fname), "wb") as f:
            f.write(data)
        record = {k: v for k, v in index.items() if k not in ("arch", "platform")}
        record.update(
            md5=hashlib.md5(data).hexdigest(),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
        records[fname] = record
    repodata = {"info": {"subdir": "noarch"}, "packages": {}, "packages.conda": records, "repodata_version": 1}
    with open(os.path.join(noarch, "repodata.json"), "w") as f:
        json.dump(repodata, f, sort_keys=True)
    linux = os.path.join(channel_dir, "linux-64")
    os.makedirs(linux, exist_ok=True)
    with open(os.path.join(linux, "repodata.json"), "w") as f:
        json.dump({"info": {"subdir": "linux-64"}, "packages": {}, "packages.conda": {}, "repodata_version": 1}, f)

    os.makedirs(project_dir, exist_ok=True)
    deps = "".join(f'{name} = "*"\n' for name, _, _, _ in packages)
    with open(os.path.join(project_dir, "pixi.toml"), "w") as f:
        f.write(
            "[project]\n"
            f'name = "bench-{size_mib}"\n'
            'version = "0.1.0"\n'
            f'channels = ["{url}"]\n'
            'platforms = ["linux-64"]\n\n'
            "[tasks]\n"
            'check = "bench-check"\n\n'
            "[dependencies]\n" + deps
        )
    print(f"bench ok {nfiles} files")


if __name__ == "__main__":
    main()
