"""`lake stack up|down|status`: the embedded stack as one unit, and the settings it hands the project.

`up` is idempotent: running services are left alone, dead ones are reported and restarted, and the env
file the rest of the project reads (`$LAKE_HOME/lake.env`) is rewritten from the same ports and
generated credentials every time. Nessie starts last, configured from that same env file through the
settings model (lake.catalog_config.nessie_properties), so server and clients cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lake import ports
from lake.access import Role, s3_access_key_id
from lake.settings import LakeSettings, NessieSettings, loopback_services
from lake_tools.stack import components
from lake_tools.stack.process import ManagedProcess, ProcessState, StackError
from lake_tools.stack.secrets import StackSecrets, write_private
from lake_tools.tokens import public_key, sign

WAREHOUSE_BUCKET = NessieSettings().warehouse_bucket  # the settings' default warehouse location
# The kinds of process that hold credentials of their own, beside the operator's `lake.env`.
IDENTITIES = ("crawler", "dagster", "reader", "nessie")

ENV_FILE_HEADER = """\
# Written by `lake stack up` for the embedded stack; rewritten on every `up`, so edits here are lost.
# Override a value with an environment variable of the same name, or point LAKE_ENV_FILE elsewhere.
# Holds generated credentials: keep it private (mode 0600) and out of version control.
"""


@dataclass(frozen=True)
class ComponentStatus:
    """One process of the stack or the platform, for `lake stack status` and `lake status`."""

    name: str
    state: ProcessState
    pid: int | None
    where: str  # its address or URL, or nothing

    def line(self) -> str:
        pid = f"pid {self.pid}" if self.pid and self.state is ProcessState.RUNNING else ""
        return f"{self.name:<22} {self.state.value:<8} {pid:<11} {self.where}".rstrip()


class Stack:
    def __init__(self, home: Path, port_base: int, raw_bucket: str = "raw", queue_prefix: str = "scrapworker") -> None:
        self.layout = components.StackLayout(home=home.resolve(), port_base=port_base)
        self.raw_bucket = raw_bucket
        self.queue_prefix = queue_prefix

    @classmethod
    def for_settings(cls, settings: LakeSettings) -> Stack:
        return cls(settings.home, settings.stack.port_base, settings.s3.raw_bucket, settings.queue.prefix)

    @property
    def env_file(self) -> Path:
        return self.layout.home / "lake.env"

    @property
    def spark_master_url(self) -> str:
        return f"spark://127.0.0.1:{self.layout.port(ports.SPARK_MASTER)}"

    def secrets(self) -> StackSecrets:
        return StackSecrets.load_or_create(self.layout.state_dir)

    def processes(self, spark_cluster: bool | None = None) -> Iterator[tuple[ManagedProcess, int]]:
        """In start order. spark_cluster None: the cluster's processes only when an `up` started them."""
        secrets, port = self.secrets(), self.layout.port
        yield components.postgres(self.layout, secrets), port(ports.POSTGRES)
        yield components.redis(self.layout, secrets, self.queue_prefix), port(ports.REDIS)
        yield components.seaweedfs(self.layout, secrets, self.raw_bucket, WAREHOUSE_BUCKET), port(ports.S3)
        yield components.nessie(self.layout, self._prepare_nessie), port(ports.NESSIE)
        master = components.spark_master(self.layout)
        if spark_cluster or (spark_cluster is None and master.pid() is not None):
            yield master, port(ports.SPARK_MASTER)
            yield components.spark_worker(self.layout, cores=2, memory="4g"), port(ports.SPARK_WORKER)

    def status(self) -> list[ComponentStatus]:
        return [ComponentStatus(p.name, p.state(), p.pid(), f"127.0.0.1:{port}") for p, port in self.processes()]

    def up(self, spark_cluster: bool = False) -> list[str]:
        """Start what is not running; returns one line per component saying what happened."""
        report = []
        for process, port in self.processes(spark_cluster or None):
            before = process.state()
            started = process.start()
            if before is ProcessState.DIED:
                report.append(f"{process.name}: had died (see {process.log_file}); restarted, pid {process.pid()}")
            elif started:
                report.append(f"{process.name}: started, pid {process.pid()}, 127.0.0.1:{port}")
            else:
                report.append(f"{process.name}: already running, pid {process.pid()}")
        self.write_env_files(spark_cluster=spark_cluster or self._cluster_running())
        report.append(f"settings written to {self.env_file}")
        return report

    def down(self) -> list[str]:
        report = []
        # Reverse order: the services that use PostgreSQL and S3 go before them.
        for process, _ in reversed(list(self.processes(spark_cluster=True))):
            before = process.state()
            if process.stop():
                report.append(f"{process.name}: stopped")
            elif before is ProcessState.DIED:
                report.append(f"{process.name}: had already died (see {process.log_file})")
        return report or ["nothing was running"]

    def identity_env_file(self, identity: str) -> Path:
        """The settings a process of one kind runs with (lake.access): `crawler`, `dagster`, `reader` or
        `nessie`; the person's own are `lake.env`."""
        return self.layout.home / "identities" / f"{identity}.env"

    def settings_env(self, spark_cluster: bool = False) -> dict[str, str]:
        """The LAKE_* variables that point every component at this stack; no credential among them."""
        services = loopback_services(self.layout.port_base)
        services.pop("LAKE_NESSIE__JDBC_URL")  # Nessie's own server setting: only its identity file holds it
        env = {
            "LAKE_HOME": str(self.layout.home),
            "LAKE_STACK__PORT_BASE": str(self.layout.port_base),
            **services,
            "LAKE_S3__REGION": "us-east-1",
            "LAKE_S3__PATH_STYLE": "true",
            "LAKE_S3__RAW_BUCKET": self.raw_bucket,
            "LAKE_CATALOG__WAREHOUSE": "warehouse",
            "LAKE_NESSIE__WAREHOUSE_LOCATION": f"s3://{WAREHOUSE_BUCKET}/",
        }
        if spark_cluster:
            env["LAKE_SPARK__MASTER"] = self.spark_master_url
        return env

    def identity_env(self, identity: str, secrets: StackSecrets) -> dict[str, str]:
        """Each kind of process's credentials, and only those (lake.access has the table of rights)."""
        key = secrets.catalog_signing_key

        def queue(role: Role) -> dict[str, str]:
            return {"LAKE_QUEUE__USERNAME": str(role), "LAKE_QUEUE__PASSWORD": secrets.password("redis", role)}

        def s3(role: Role, prefix: str = "LAKE_S3__") -> dict[str, str]:
            return {
                f"{prefix}ACCESS_KEY_ID": s3_access_key_id(role),
                f"{prefix}SECRET_ACCESS_KEY": secrets.password("s3", role),
            }

        # The driver named: SQLAlchemy 2.1 would pick psycopg 3, whose binding Dagster's SQL trips on.
        postgres = f"127.0.0.1:{self.layout.port(ports.POSTGRES)}"
        dagster_storage = {
            "LAKE_DAGSTER__POSTGRES_URL": (
                f"postgresql+psycopg2://{components.DB_USER}:{secrets.postgres_password}"
                f"@{postgres}/{components.DAGSTER_DATABASE}"
            )
        }
        if identity == "operator":
            return {
                **queue(Role.OPERATOR),
                "LAKE_S3__ACCESS_KEY_ID": secrets.s3_access_key_id,
                "LAKE_S3__SECRET_ACCESS_KEY": secrets.s3_secret_access_key,
                "LAKE_CATALOG__TOKEN": sign(key, Role.OPERATOR),
                "LAKE_DAGSTER__USERNAME": str(Role.OPERATOR),
                "LAKE_DAGSTER__PASSWORD": secrets.password("dagster", Role.OPERATOR),
                **dagster_storage,
                "LAKE_AIRFLOW__USERNAME": "admin",
                "LAKE_AIRFLOW__PASSWORD": secrets.airflow_admin_password,
            }
        if identity == "crawler":
            return queue(Role.CRAWLER) | s3(Role.CRAWLER)
        if identity == "dagster":
            return {
                **queue(Role.PRODUCER),
                **s3(Role.WRITER),
                "LAKE_CATALOG__TOKEN": sign(key, Role.WRITER),
                "LAKE_MAINTENANCE__CATALOG_TOKEN": sign(key, Role.MAINTENANCE),
                **s3(Role.MAINTENANCE, "LAKE_MAINTENANCE__S3_"),
                **dagster_storage,
            }
        if identity == "reader":
            return s3(Role.READER) | {"LAKE_CATALOG__TOKEN": sign(key, Role.READER)}
        if identity == "nessie":
            return {
                **s3(Role.NESSIE),
                "LAKE_NESSIE__JDBC_URL": loopback_services(self.layout.port_base)["LAKE_NESSIE__JDBC_URL"],
                "LAKE_NESSIE__JDBC_USER": components.DB_USER,
                "LAKE_NESSIE__JDBC_PASSWORD": secrets.postgres_password,
                "LAKE_NESSIE__TOKEN_PUBLIC_KEY": public_key(key),
            }
        raise ValueError(f"no identity {identity!r}")

    def write_env_files(self, spark_cluster: bool = False) -> Path:
        """`lake.env` (the operator's) and one file per identity, all 0600; returns `lake.env`."""
        shared, secrets = self.settings_env(spark_cluster), self.secrets()
        for identity, path in [("operator", self.env_file)] + [(i, self.identity_env_file(i)) for i in IDENTITIES]:
            env = shared | self.identity_env(identity, secrets)
            write_private(path, ENV_FILE_HEADER + "".join(f"{k}={v}\n" for k, v in env.items()))
        return self.env_file

    def _cluster_running(self) -> bool:
        return components.spark_master(self.layout).state() is ProcessState.RUNNING

    def _prepare_nessie(self, workdir: Path) -> None:
        """Before Nessie starts: its database, its warehouse bucket, and its properties from the settings."""
        from lake.catalog_config import nessie_properties
        from lake.settings import load_settings

        self.ensure_databases()
        self.write_env_files(spark_cluster=self._cluster_running())
        settings = load_settings(env_file=self.identity_env_file("nessie"))
        self._create_bucket(settings.nessie.warehouse_bucket)
        body = "".join(f"{key}={_escape_property(value)}\n" for key, value in nessie_properties(settings).items())
        write_private(workdir / "config" / "application.properties", body)

    def _create_bucket(self, bucket: str) -> None:
        import boto3

        secrets = self.secrets()
        client = boto3.client(
            "s3",
            endpoint_url=loopback_services(self.layout.port_base)["LAKE_S3__ENDPOINT"],
            region_name="us-east-1",
            aws_access_key_id=secrets.s3_access_key_id,
            aws_secret_access_key=secrets.s3_secret_access_key,
        )
        try:
            client.create_bucket(Bucket=bucket)
        except (client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
            pass
        except Exception as exc:
            raise StackError(f"could not create the warehouse bucket {bucket!r} on SeaweedFS: {exc}") from None

    def ensure_databases(self) -> None:
        """Every database the stack and the platform use (Nessie, Dagster, Airflow), created if missing."""
        import psycopg2  # the stack needs the 'catalog' extra; keep `lake --help` light

        connection = psycopg2.connect(
            host="127.0.0.1",
            port=self.layout.port(ports.POSTGRES),
            user=components.DB_USER,
            password=self.secrets().postgres_password,
            dbname="postgres",
        )
        connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        try:
            with connection.cursor() as cursor:
                for database in components.DATABASES:
                    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                    if cursor.fetchone() is None:
                        cursor.execute(f'CREATE DATABASE "{database}"')
        finally:
            connection.close()


def _escape_property(value: str) -> str:
    """Java properties syntax: backslashes escaped (values are URLs, names and generated keys)."""
    return value.replace("\\", "\\\\")
