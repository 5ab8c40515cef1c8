"""`lake stack up|down|status`: the embedded stack as one unit, and the settings it hands the project.

`up` is idempotent: running services are left alone, dead ones are reported and restarted, and the env
file the rest of the project reads (`$LAKE_HOME/lake.env`) is rewritten from the same ports and
generated credentials every time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lake.stack import components
from lake.stack.process import ManagedProcess, ProcessState
from lake.stack.secrets import StackSecrets

CatalogKind = Literal["sql", "rest"]

ENV_FILE_HEADER = """\
# Written by `lake stack up` for the embedded stack; rewritten on every `up`, so edits here are lost.
# Override a value with an environment variable of the same name, or point LAKE_ENV_FILE elsewhere.
# Holds generated credentials: keep it private (mode 0600) and out of version control.
"""


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    state: ProcessState
    pid: int | None
    port: int

    def line(self) -> str:
        pid = f"pid {self.pid}" if self.pid and self.state is ProcessState.RUNNING else ""
        return f"{self.name:<10} {self.state.value:<8} {pid:<12} 127.0.0.1:{self.port}"


class Stack:
    def __init__(self, home: Path, port_base: int, raw_bucket: str = "raw") -> None:
        self.layout = components.StackLayout(home=home.resolve(), port_base=port_base)
        self.raw_bucket = raw_bucket

    @property
    def env_file(self) -> Path:
        return self.layout.home / "lake.env"

    def secrets(self) -> StackSecrets:
        return StackSecrets.load_or_create(self.layout.state_dir)

    def processes(self) -> Iterator[tuple[ManagedProcess, int]]:
        secrets = self.secrets()
        yield components.postgres(self.layout, secrets), self.layout.port(components.POSTGRES_PORT)
        yield components.redis(self.layout), self.layout.port(components.REDIS_PORT)
        yield (
            components.seaweedfs(self.layout, secrets, self.raw_bucket),
            self.layout.port(components.S3_PORT),
        )

    def status(self) -> list[ComponentStatus]:
        return [ComponentStatus(p.name, p.state(), p.pid(), port) for p, port in self.processes()]

    def up(self, catalog_kind: CatalogKind = "sql") -> list[str]:
        """Start what is not running; returns one line per component saying what happened."""
        report = []
        for process, port in self.processes():
            before = process.state()
            started = process.start()
            if before is ProcessState.DIED:
                report.append(f"{process.name}: had died (see {process.log_file}); restarted, pid {process.pid()}")
            elif started:
                report.append(f"{process.name}: started, pid {process.pid()}, 127.0.0.1:{port}")
            else:
                report.append(f"{process.name}: already running, pid {process.pid()}")
        self._create_databases()
        self.write_env_file(self.env_file, catalog_kind)
        report.append(f"settings written to {self.env_file}")
        return report

    def down(self) -> list[str]:
        report = []
        # Reverse order: the services that use PostgreSQL go before it.
        for process, _ in reversed(list(self.processes())):
            before = process.state()
            if process.stop():
                report.append(f"{process.name}: stopped")
            elif before is ProcessState.DIED:
                report.append(f"{process.name}: had already died (see {process.log_file})")
            else:
                report.append(f"{process.name}: not running")
        return report

    def settings_env(self, catalog_kind: CatalogKind = "sql") -> dict[str, str]:
        """The LAKE_* variables that point every component at this stack."""
        secrets, port = self.secrets(), self.layout.port
        env = {
            "LAKE_HOME": str(self.layout.home),
            "LAKE_STACK__PORT_BASE": str(self.layout.port_base),
            "LAKE_S3__ENDPOINT": f"http://127.0.0.1:{port(components.S3_PORT)}",
            "LAKE_S3__REGION": "us-east-1",
            "LAKE_S3__ACCESS_KEY_ID": secrets.s3_access_key_id,
            "LAKE_S3__SECRET_ACCESS_KEY": secrets.s3_secret_access_key,
            "LAKE_S3__PATH_STYLE": "true",
            "LAKE_S3__RAW_BUCKET": self.raw_bucket,
            "LAKE_QUEUE__URL": f"redis://127.0.0.1:{port(components.REDIS_PORT)}/0",
            # The driver named: SQLAlchemy 2.1 would pick psycopg 3, whose binding Dagster's SQL trips on.
            "LAKE_DAGSTER__POSTGRES_URL": (
                f"postgresql+psycopg2://{components.DB_USER}:{secrets.postgres_password}"
                f"@127.0.0.1:{port(components.POSTGRES_PORT)}/{components.DAGSTER_DATABASE}"
            ),
            "LAKE_CATALOG__KIND": catalog_kind,
        }
        if catalog_kind == "sql":
            env |= {
                "LAKE_CATALOG__URI": f"postgresql://127.0.0.1:{port(components.POSTGRES_PORT)}/{components.CATALOG_DATABASE}",
                "LAKE_CATALOG__CREDENTIAL": f"{components.DB_USER}:{secrets.postgres_password}",
                # Spark cannot reach S3 on these machines (no AWS SDK v2 jar), so its tables live on file://.
                "LAKE_CATALOG__WAREHOUSE": (self.layout.home / "warehouse").as_uri(),
            }
        else:
            env |= {
                "LAKE_CATALOG__URI": f"http://127.0.0.1:{port(components.ICEBERG_REST_PORT)}",
                "LAKE_CATALOG__CREDENTIAL": f"{secrets.s3_access_key_id}:{secrets.s3_secret_access_key}",
                "LAKE_CATALOG__WAREHOUSE": f"s3://{components.TABLE_BUCKET}/",
            }
        return env

    def write_env_file(self, path: Path, catalog_kind: CatalogKind = "sql") -> Path:
        body = ENV_FILE_HEADER + "".join(f"{k}={v}\n" for k, v in self.settings_env(catalog_kind).items())
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(body)
        path.chmod(0o600)
        return path

    def _create_databases(self) -> None:
        import psycopg2  # the stack needs the 'catalog' extra; keep `lake --help` light

        connection = psycopg2.connect(
            host="127.0.0.1",
            port=self.layout.port(components.POSTGRES_PORT),
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
