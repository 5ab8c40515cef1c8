"""The base images of the stand-ins, made from Debian's packages and this machine's Python 3.12.

No image registry is reachable from the machines this project is built on (nor from air-gapped sites),
so nothing can be pulled: `python:3.12-slim-bookworm` and `debian:bookworm` are rebuilt here.
`debootstrap --variant=minbase` installs bookworm from the Debian mirror apt already uses into a
directory, imported as `lake-standin/debian:bookworm`; the same tree plus a Python 3.12 built for bookworm
(pyenv's, copied to /usr/local) becomes `lake-standin/python:3.12-bookworm`. Every other stand-in and the
project's own images build on these two (docker/standins/, docker/compose.standins.yaml).

Both trust the certificate authorities this host added locally (/usr/local/share/ca-certificates): a
site's TLS-inspecting proxy is then trusted inside builds as it is on the host.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lake_tools.compose.engine import Engine, EngineError, docker

DEBIAN_IMAGE = "lake-standin/debian:bookworm"
PYTHON_IMAGE = "lake-standin/python:3.12-bookworm"
# What python:3.12-slim-bookworm carries besides Python: certificates, name service files, time zones,
# the shared libraries CPython's extension modules link, and curl (healthchecks of several stand-ins).
PACKAGES = (
    *("ca-certificates", "netbase", "tzdata", "curl", "libssl3", "libffi8", "libsqlite3-0", "libbz2-1.0"),
    *("liblzma5", "libreadline8", "libncursesw6", "libuuid1", "zlib1g", "libexpat1", "libnsl2", "libtirpc3"),
    *("libcrypt1", "libgdbm6"),
)
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def image_exists(engine: Engine, image: str) -> bool:
    return docker(engine, "image", "inspect", image, check=False).returncode == 0


def build_base_images(engine: Engine, rebuild: bool = False) -> Iterator[str]:
    """Import both base images unless present; yields one line per image."""
    if not rebuild and image_exists(engine, DEBIAN_IMAGE) and image_exists(engine, PYTHON_IMAGE):
        yield f"{DEBIAN_IMAGE}, {PYTHON_IMAGE}: present"
        return
    python = find_python312()
    if shutil.which("debootstrap") is None:
        raise EngineError("debootstrap is not installed: scripts/install.sh installs it")
    with tempfile.TemporaryDirectory(prefix="lake-rootfs-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "rootfs"
        _run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", "bookworm", str(root), apt_mirror()]
        )
        _trust_local_authorities(root)
        _clean(root)
        _import(engine, root, DEBIAN_IMAGE, ['CMD ["bash"]'])
        yield f"{DEBIAN_IMAGE}: imported"
        _install_python(python, root)
        _import(
            engine,
            root,
            PYTHON_IMAGE,
            [
                "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
                "ENV LANG=C.UTF-8",
                # pip's own certificate bundle lacks the authorities added above; the system's has them.
                "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
                'CMD ["python3"]',
            ],
        )
        yield f"{PYTHON_IMAGE}: imported (Python {_version(python)})"


def find_python312() -> Path:
    """A CPython 3.12 installed under its own prefix and built for bookworm: pyenv's, as scripts/install.sh finds it."""
    candidates = sorted((Path.home() / ".pyenv" / "versions").glob("3.12*/bin/python3.12"), reverse=True)
    for candidate in candidates:
        if candidate.resolve().parent.parent.joinpath("lib", "libpython3.12.so.1.0").exists():
            return candidate
    raise EngineError("no Python 3.12 under ~/.pyenv/versions (the base image copies one): install Python 3.12 there")


def apt_mirror() -> str:
    """The Debian mirror apt on this host uses (deb822 or one-line sources), so the image needs no other."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        deb822 = re.search(r"^URIs:\s*(\S+)", text, re.MULTILINE)
        if deb822 and "security" not in deb822.group(1):
            return deb822.group(1)
        one_line = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", text, re.MULTILINE)
        if one_line:
            return one_line.group(1)
    return DEFAULT_MIRROR


def _trust_local_authorities(root: Path) -> None:
    local = Path("/usr/local/share/ca-certificates")
    target = root / "usr/local/share/ca-certificates"
    target.mkdir(parents=True, exist_ok=True)
    for certificate in sorted(local.glob("*.crt")) if local.is_dir() else []:
        shutil.copy(certificate, target / certificate.name)
    _run(["chroot", str(root), "update-ca-certificates", "--fresh"])


def _clean(root: Path) -> None:
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (root / leftover).glob("*"):
            if path.is_file():
                path.unlink()


def _install_python(python: Path, root: Path) -> None:
    """Copy the prefix to /usr/local (its stdlib and pip, no other site-packages) and repoint its paths."""
    prefix = python.resolve().parent.parent
    target = root / "usr/local"
    for part in ("bin", "include", "lib", "share"):
        if (prefix / part).exists():
            shutil.copytree(
                prefix / part,
                target / part,
                symlinks=True,
                dirs_exist_ok=True,
                ignore=_site_packages_except_pip(prefix),
            )
    # Scripts' #! lines and sysconfig name the old prefix; Python itself finds its prefix at run time.
    old = str(prefix).encode()
    for path in [*(target / "bin").iterdir(), *(target / "lib/python3.12").glob("_sysconfigdata*.py")]:
        if path.is_file() and not path.is_symlink():
            body = path.read_bytes()
            if old in body[:100_000] and b"\0" not in body[:1024]:
                path.write_bytes(body.replace(old, b"/usr/local"))
    _run(["chroot", str(root), "ldconfig"])
    _run(["chroot", str(root), "/usr/local/bin/python3.12", "-c", "import ssl, sqlite3, ctypes, lzma, bz2"])


def _site_packages_except_pip(prefix: Path):  # type: ignore[no-untyped-def]
    site = prefix / "lib/python3.12/site-packages"

    def ignore(directory: str, names: list[str]) -> list[str]:
        if Path(directory) == site:
            return [name for name in names if not name.startswith("pip")]
        return [name for name in names if name == "__pycache__"]

    return ignore


def _import(engine: Engine, root: Path, image: str, changes: list[str]) -> None:
    tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    args = ["docker", "import", *[arg for change in changes for arg in ("--change", change)], "-", image]
    imported = subprocess.run(args, stdin=tar.stdout, env=os.environ | engine.env(), capture_output=True, text=True)
    tar.wait()
    if imported.returncode != 0 or tar.returncode != 0:
        raise EngineError(f"docker import {image} failed: {imported.stderr.strip()}")


def _version(python: Path) -> str:
    return subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True
    ).stdout.strip()


def _run(command: list[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        tail = " | ".join((completed.stderr or completed.stdout).strip().splitlines()[-5:])
        raise EngineError(f"{command[0]} {' '.join(command[1:3])} failed (exit {completed.returncode}): {tail}")
