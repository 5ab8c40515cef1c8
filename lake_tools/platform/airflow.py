"""Airflow 3 for `lake up`: API server, scheduler, DAG processor and triggerer on the stack's PostgreSQL.

Not `airflow standalone` (SQLite, every component in one supervisor, a log server on every interface):
each component is its own process the platform starts, checks and stops by PID, configured by one
`airflow.cfg` rendered here (mode 0600: it holds the database password and the shared keys).

- Loopback only: the API server binds 127.0.0.1; the scheduler and triggerer run with
  `--skip-serve-logs`, so no log server listens at all (tasks run on this machine, and the API server
  reads their log files from `logs/airflow` directly).
- The bridge DAGs are generated for the effective settings (cadence included) into
  `$LAKE_HOME/airflow/dags`, so Airflow schedules the slots Dagster partitions.
- `dagster_default` is an `AIRFLOW_CONN_*` variable (JSON) pointing at the platform's Dagster webserver
  with the bridge's own identity.
- The UI's `admin` password is generated (simple auth manager's passwords file, 0600), never printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from lake import ports
from lake.access import Role
from lake_tools.stack import components
from lake_tools.stack.process import ManagedProcess, StackError
from lake_tools.stack.secrets import StackSecrets, write_private

BIN = Path(sys.executable).parent
ADMIN = "admin"


@dataclass(frozen=True)
class AirflowLayout:
    stack: components.StackLayout

    @property
    def home(self) -> Path:
        return self.stack.home / "airflow"

    @property
    def dags(self) -> Path:
        return self.home / "dags"

    @property
    def passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json"

    @property
    def port(self) -> int:
        return self.stack.port(ports.AIRFLOW_API)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def render_config(layout: AirflowLayout, secrets: StackSecrets) -> str:
    postgres = f"127.0.0.1:{layout.stack.port(ports.POSTGRES)}"
    database = f"postgresql+psycopg2://{components.DB_USER}:{secrets.postgres_password}@{postgres}/{components.AIRFLOW_DATABASE}"
    sections: dict[str, dict[str, object]] = {
        "core": {
            "dags_folder": layout.dags,
            "load_examples": "False",
            "executor": "LocalExecutor",
            # Task runners report to the API server: where it really is, not the default :8080.
            "execution_api_server_url": f"{layout.url}/execution/",
            "fernet_key": secrets.airflow_fernet_key,
            "simple_auth_manager_users": f"{ADMIN}:admin",
            "simple_auth_manager_passwords_file": layout.passwords_file,
            "default_timezone": "utc",
        },
        "database": {"sql_alchemy_conn": database},
        "api": {
            "host": "127.0.0.1",
            "port": layout.port,
            "base_url": layout.url,
            "workers": 1,  # one uvicorn worker: a 2-core machine runs the whole platform
            "secret_key": secrets.airflow_api_secret_key,
        },
        "api_auth": {"jwt_secret": secrets.airflow_jwt_secret},
        "logging": {"base_log_folder": layout.stack.log_dir / "airflow"},
        # A new slot's run is created within a second of its interval's end.
        "scheduler": {"scheduler_idle_sleep_time": 0.5},
    }
    lines = ["# Written by `lake up` on every start; edits are lost. Holds secrets: mode 0600, never commit it."]
    for section, values in sections.items():
        lines.append(f"\n[{section}]")
        lines += [f"{key} = {value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def dagster_connection(dagster_url: str, bridge_password: str) -> str:
    """`dagster_default` as an AIRFLOW_CONN_* value (JSON): the bridge calls Dagster as its own identity
    (lake.access), never the operator's."""
    dagster = urlsplit(dagster_url)
    connection = {
        "conn_type": "dagster",
        "host": dagster.hostname,
        "port": dagster.port,
        "schema": dagster.scheme,
        "login": str(Role.BRIDGE),
        "password": bridge_password,
    }
    return json.dumps(connection)


def environment(layout: AirflowLayout, dagster_url: str, bridge_password: str) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(layout.home),
        "AIRFLOW_CONN_DAGSTER_DEFAULT": dagster_connection(dagster_url, bridge_password),
        # The components start `airflow` subcommands (task runners) found on PATH.
        "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
    }


def prepare(layout: AirflowLayout, secrets: StackSecrets, env: dict[str, str], generate_dags: list[str]) -> None:
    """airflow.cfg, the admin's password, the bridge DAGs for these settings, and the migrated database."""
    write_private(layout.home / "airflow.cfg", render_config(layout, secrets))
    write_private(layout.passwords_file, json.dumps({ADMIN: secrets.airflow_admin_password}))
    generated = subprocess.run([*generate_dags, "--out", str(layout.dags)], capture_output=True, text=True, check=False)
    if generated.returncode != 0:
        raise StackError(f"could not generate the bridge DAGs: {generated.stderr.strip()[-800:]}")
    migrate = subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if migrate.returncode != 0:
        raise StackError(f"airflow db migrate failed:\n{migrate.stderr.strip()[-1500:]}")


def processes(layout: AirflowLayout, env: dict[str, str], state_dir: Path) -> list[ManagedProcess]:
    """The four components in start order; each is healthy when the API server's health says so."""
    health = Health(layout.url)

    def component(name: str, argv: list[str], healthy: object) -> ManagedProcess:
        return ManagedProcess(
            name=name,
            argv=[str(BIN / "airflow"), *argv],
            state_dir=state_dir,
            log_dir=layout.stack.log_dir,
            healthy=healthy,  # type: ignore[arg-type]
            env=env,
            start_timeout=180,
        )

    return [
        component("airflow-api-server", ["api-server", "--host", "127.0.0.1", "--port", str(layout.port)], health.api),
        component("airflow-scheduler", ["scheduler", "--skip-serve-logs"], lambda: health.component("scheduler")),
        component("airflow-dag-processor", ["dag-processor"], lambda: health.component("dag_processor")),
        component("airflow-triggerer", ["triggerer", "--skip-serve-logs"], lambda: health.component("triggerer")),
    ]


class Health:
    """`/api/v2/monitor/health`: the metadatabase and each component's latest heartbeat (no login needed)."""

    def __init__(self, url: str) -> None:
        self.url = f"{url}/api/v2/monitor/health"

    def _body(self) -> dict[str, dict[str, str]]:
        try:
            response = requests.get(self.url, timeout=2)
            body: dict[str, dict[str, str]] = response.json() if response.ok else {}
            return body
        except (requests.RequestException, ValueError):
            return {}

    def api(self) -> bool:
        return self._body().get("metadatabase", {}).get("status") == "healthy"

    def component(self, name: str) -> bool:
        return self._body().get(name, {}).get("status") == "healthy"


def token(url: str, password: str) -> str:
    """A bearer token for the REST API, as the UI's login gets one."""
    response = requests.post(f"{url}/auth/token", json={"username": ADMIN, "password": password}, timeout=10)
    response.raise_for_status()
    return str(response.json()["access_token"])


def dag_ids(url: str, password: str) -> set[str]:
    headers = {"Authorization": f"Bearer {token(url, password)}"}
    response = requests.get(f"{url}/api/v2/dags", params={"limit": 100}, headers=headers, timeout=10)
    response.raise_for_status()
    return {dag["dag_id"] for dag in response.json()["dags"]}
