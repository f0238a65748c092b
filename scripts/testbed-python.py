#!/usr/bin/env python3
"""Builds the Python parts of the test bed (called by scripts/testbed.sh).

`conda-python DEBS_DIR OUT_DIR`: assembles a `python` conda package (linux-64 `.tar.bz2`) from the
Debian python3.11 packages unpacked in DEBS_DIR (`dpkg-deb -x` of python3.11-minimal,
libpython3.11-minimal, libpython3.11-stdlib): the interpreter under `bin/`, the standard library
under `lib/python3.11/`, and a `sitecustomize.py` that puts `lib/python3.11/site-packages` (where
the installer writes PyPI packages) on `sys.path`, because Debian's `site.py` only looks in
`dist-packages`. Writes the package and `<package>.json`, its repodata record, to OUT_DIR.

`pypi-index FILES_DIR OUT_DIR`: writes a PEP 503 simple index for the wheels and sdists in
FILES_DIR: `OUT_DIR/files/<file>` and `OUT_DIR/simple/<project>/index.html` with sha256 fragments.

Every byte is deterministic (sorted entries, fixed times), so the channel and its lock files are too.
"""
import hashlib
import io
import json
import os
import re
import sys
import tarfile

MTIME = 1_700_000_000
VERSION = "3.11.2"
SITE = "lib/python3.11/site-packages"
SITECUSTOMIZE = """\
# Added by the pixi-airgap test bed: Debian's site.py only reads dist-packages, while conda
# installers write PyPI packages to lib/python3.11/site-packages of the environment.
import os
import site
import sys

site.addsitedir(os.path.join(sys.prefix, "lib", "python3.11", "site-packages"))
"""


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def collect(debs):
    """(archive path, bytes or link target, mode, is_link) for every file of the package."""
    files = {}
    binary = os.path.join(debs, "usr/bin/python3.11")
    with open(binary, "rb") as f:
        files["bin/python3.11"] = (f.read(), 0o755, False)
    files["bin/python3"] = ("python3.11", 0o777, True)
    files["bin/python"] = ("python3.11", 0o777, True)
    stdlib = os.path.join(debs, "usr/lib/python3.11")
    for root, dirs, names in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "test", "idlelib", "tkinter"))
        for name in sorted(names):
            full = os.path.join(root, name)
            rel = os.path.join("lib/python3.11", os.path.relpath(full, stdlib))
            if os.path.islink(full):
                target = os.readlink(full)
                if target.startswith("/"):
                    continue
                files[rel] = (target, 0o777, True)
                continue
            with open(full, "rb") as f:
                mode = 0o755 if os.stat(full).st_mode & 0o111 else 0o644
                files[rel] = (f.read(), mode, False)
    files["lib/python3.11/sitecustomize.py"] = (SITECUSTOMIZE.encode(), 0o644, False)
    files[SITE + "/.keep"] = (b"", 0o644, False)
    return files


def add(tar, name, data, mode, link=False):
    info = tarfile.TarInfo(name)
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = mode
    if link:
        info.type = tarfile.SYMTYPE
        info.linkname = data
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def conda_python(debs, out):
    files = collect(debs)
    index = {
        "arch": "x86_64",
        "build": "0",
        "build_number": 0,
        "depends": [],
        "license": "PSF-2.0",
        "name": "python",
        "platform": "linux",
        "python_site_packages_path": SITE,
        "subdir": "linux-64",
        "timestamp": MTIME * 1000,
        "version": VERSION,
    }
    paths = []
    for name in sorted(files):
        data, _mode, link = files[name]
        if link:
            paths.append({"_path": name, "path_type": "softlink", "size_in_bytes": len(data)})
        else:
            paths.append({"_path": name, "path_type": "hardlink", "sha256": sha256(data),
                          "size_in_bytes": len(data)})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2", format=tarfile.GNU_FORMAT) as tar:
        add(tar, "info/index.json", json.dumps(index, sort_keys=True).encode(), 0o644)
        add(tar, "info/paths.json",
            json.dumps({"paths": paths, "paths_version": 1}, sort_keys=True).encode(), 0o644)
        add(tar, "info/files", "".join(n + "\n" for n in sorted(files)).encode(), 0o644)
        for name in sorted(files):
            data, mode, link = files[name]
            add(tar, name, data, mode, link)
    data = buf.getvalue()
    file_name = f"python-{VERSION}-0.tar.bz2"
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, file_name + ".tmp"), "wb") as f:
        f.write(data)
    os.replace(os.path.join(out, file_name + ".tmp"), os.path.join(out, file_name))
    record = dict(index)
    record.update({"md5": hashlib.md5(data).hexdigest(), "sha256": sha256(data), "size": len(data)})
    with open(os.path.join(out, file_name + ".json"), "w") as f:
        json.dump({"file_name": file_name, "record": record}, f, sort_keys=True)


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def project_of(file_name):
    if file_name.endswith(".whl"):
        return file_name.split("-")[0]
    return file_name.rsplit("-", 1)[0]


def pypi_index(files_dir, out):
    by_project = {}
    os.makedirs(os.path.join(out, "files"), exist_ok=True)
    for name in sorted(os.listdir(files_dir)):
        with open(os.path.join(files_dir, name), "rb") as f:
            data = f.read()
        with open(os.path.join(out, "files", name), "wb") as f:
            f.write(data)
        by_project.setdefault(normalize(project_of(name)), []).append((name, sha256(data)))
    root = ["<!DOCTYPE html>\n<html><body>\n"]
    for project in sorted(by_project):
        root.append(f'<a href="{project}/">{project}</a>\n')
        links = "".join(f'<a href="../../files/{n}#sha256={h}">{n}</a>\n' for n, h in by_project[project])
        os.makedirs(os.path.join(out, "simple", project), exist_ok=True)
        with open(os.path.join(out, "simple", project, "index.html"), "w") as f:
            f.write(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
    root.append("</body></html>\n")
    with open(os.path.join(out, "simple", "index.html"), "w") as f:
        f.write("".join(root))


def main(argv):
    if len(argv) == 4 and argv[1] == "conda-python":
        conda_python(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "pypi-index":
        pypi_index(argv[2], argv[3])
    else:
        sys.exit(f"usage: {argv[0]} conda-python DEBS_DIR OUT_DIR | pypi-index FILES_DIR OUT_DIR")


if __name__ == "__main__":
    main(sys.argv)
