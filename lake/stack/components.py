"""The embedded stack's services: PostgreSQL, Redis and SeaweedFS, each project-private.

Every one listens on loopback only, on ports derived from `LAKE_STACK__PORT_BASE` (never the defaults,
so a system PostgreSQL or Redis on the machine is left alone), and keeps its data under `$LAKE_HOME`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lake.stack.process import ManagedProcess, StackError
from lake.stack.secrets import StackSecrets

# Offsets from the port base; chosen to echo each service's usual port.
POSTGRES_PORT = 32  # 5432
S3_PORT = 33  # 8333
REDIS_PORT = 79  # 6379
ICEBERG_REST_PORT = 81  # 8181
# SeaweedFS's internal servers; each gRPC port must be free too.
_WEED_PORTS = {
    "master.port": 93,
    "master.port.grpc": 94,
    "volume.port": 80,
    "volume.port.grpc": 82,
    "filer.port": 88,
    "filer.port.grpc": 89,
    "s3.port.grpc": 34,
    # weed's worker dials the admin gRPC at admin port + 10000 whatever -admin.port.grpc says.
    "admin.port": 46,
}
ADMIN_GRPC_OFFSET = 10000

CATALOG_DATABASE = "lake_catalog"
DAGSTER_DATABASE = "dagster"
DATABASES = (CATALOG_DATABASE, DAGSTER_DATABASE)
DB_USER = "lake"
TABLE_BUCKET = "lake"  # SeaweedFS's S3 Tables bucket behind its Iceberg REST catalog


@dataclass(frozen=True)
class StackLayout:
    home: Path
    port_base: int

    @property
    def state_dir(self) -> Path:
        return self.home / "stack"

    def port(self, offset: int) -> int:
        return self.port_base + offset

    def all_ports(self) -> dict[str, int]:
        ports = {
            "postgres": self.port(POSTGRES_PORT),
            "redis": self.port(REDIS_PORT),
            "s3": self.port(S3_PORT),
            "iceberg-rest": self.port(ICEBERG_REST_PORT),
        }
        ports |= {f"seaweedfs {name}": self.port(offset) for name, offset in _WEED_PORTS.items()}
        ports["seaweedfs admin grpc"] = self.port(_WEED_PORTS["admin.port"]) + ADMIN_GRPC_OFFSET
        return ports


def postgres(layout: StackLayout, secrets: StackSecrets) -> ManagedProcess:
    bindir = _postgres_bindir()
    data = layout.home / "postgres" / "data"
    port = layout.port(POSTGRES_PORT)
    run_as = "postgres" if os.geteuid() == 0 else None

    def prepare() -> None:
        if not (data / "PG_VERSION").exists():
            _initdb(bindir, data, secrets.postgres_password, run_as)

    return ManagedProcess(
        name="postgres",
        argv=[
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            # TCP only: no socket files in /var/run that another cluster may own.
            "-c",
            "unix_socket_directories=",
        ],
        state_dir=layout.state_dir,
        healthy=lambda: _pg_ready(bindir, port),
        prepare=prepare,
        run_as=run_as,
        # SIGTERM is "smart" shutdown, which waits for every client to leave; SIGINT is "fast".
        stop_signal=signal.SIGINT,
    )


def redis(layout: StackLayout) -> ManagedProcess:
    data = layout.home / "redis"
    port = layout.port(REDIS_PORT)
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    return ManagedProcess(
        name="redis",
        argv=[
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            # The job queue must survive `lake stack down`: append-only file, fsync every second.
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
        ],
        state_dir=layout.state_dir,
        prepare=lambda: data.mkdir(parents=True, exist_ok=True),
        healthy=lambda: _redis_ping(port),
    )


def seaweedfs(layout: StackLayout, secrets: StackSecrets, raw_bucket: str) -> ManagedProcess:
    data = layout.home / "seaweedfs"
    binary = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    ports = [f"-{name}={layout.port(offset)}" for name, offset in _WEED_PORTS.items()]
    s3_port, rest_port = layout.port(S3_PORT), layout.port(ICEBERG_REST_PORT)
    return ManagedProcess(
        name="seaweedfs",
        argv=[
            binary,
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-tableBucket={TABLE_BUCKET}",
            f"-bucket={raw_bucket}",
            f"-s3.port={s3_port}",
            f"-s3.port.iceberg={rest_port}",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            *ports,
        ],
        state_dir=layout.state_dir,
        prepare=lambda: data.mkdir(parents=True, exist_ok=True),
        # weed mini creates its admin identity from these on start-up.
        env={
            "AWS_ACCESS_KEY_ID": secrets.s3_access_key_id,
            "AWS_SECRET_ACCESS_KEY": secrets.s3_secret_access_key,
        },
        healthy=lambda: (
            _http_answers(f"http://127.0.0.1:{s3_port}/") and _http_answers(f"http://127.0.0.1:{rest_port}/v1/config")
        ),
    )


def _postgres_bindir() -> Path:
    # Debian installs each major version side by side; take the newest.
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[4]))
    if found:
        return found[-1].parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise StackError(
        "PostgreSQL server binaries not found: install the Debian package 'postgresql' (scripts/install.sh does)"
    )


def _initdb(bindir: Path, data: Path, password: str, run_as: str | None) -> None:
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    pwfile = data.parent / "initdb.pw"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    if run_as:
        user = pwd.getpwnam(run_as)
        for path in (data.parent, data, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
        _require_traversable(data.parent, run_as)
    try:
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "--username",
                DB_USER,
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            text=True,
            user=run_as,
            group=pwd.getpwnam(run_as).pw_gid if run_as else None,
            extra_groups=[] if run_as else None,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(data, ignore_errors=True)
        raise StackError(f"initdb failed for {data}:\n{exc.stderr.strip()}") from None
    finally:
        pwfile.unlink(missing_ok=True)


def _require_traversable(path: Path, user: str) -> None:
    """As root, PostgreSQL runs as `user`, who must be able to reach the data directory."""
    for parent in [path, *path.parents]:
        if parent.stat().st_mode & 0o001 == 0 and parent.stat().st_uid != pwd.getpwnam(user).pw_uid:
            raise StackError(
                f"{parent} is not traversable by the '{user}' user that PostgreSQL runs as; "
                f"chmod o+x {parent} or choose another LAKE_HOME"
            )


def _pg_ready(bindir: Path, port: int) -> bool:
    result = subprocess.run(
        [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"],
        check=False,
        capture_output=True,
    )
    return result.returncode == 0


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL we built
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer (403 from S3 without credentials) means it is serving
    except OSError:
        return False
