"""`lake up|status|down`: the whole platform on the embedded default, as one unit.

    stack (PostgreSQL, Redis, SeaweedFS, Nessie) -> bootstrap -> [market simulator] -> scrapworker x N
    -> Dagster webserver + daemon -> Airflow API server, scheduler, DAG processor, triggerer

`up` reports each component as it becomes healthy and returns when all are; it is idempotent like
`lake stack up` (running components are left alone, dead ones restarted). Everything listens on
127.0.0.1, logs to `$LAKE_HOME/logs/<name>.log`, and is stopped by `down` by its recorded PID together
with whatever is left in its session.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from lake import ports
from lake.access import Role
from lake.settings import LakeSettings, load_settings
from lake_tools.platform import airflow, dagster
from lake_tools.stack import Stack
from lake_tools.stack.process import ManagedProcess, ProcessState, StackError
from lake_tools.stack.stack import ComponentStatus

BIN = Path(sys.executable).parent
WORKER = "scrapworker"
SIMULATOR = "market-simulator"
# What the four seed pipelines are called in Airflow; `up` waits until the DAG processor has them (the
# bridge's one DAG file defines every DAG, so the others are loaded with them).
SEED_DAGS = frozenset(
    {"spark_static_data_v1_skeleton", "spark_static_data_v2_submit", "spark_partitioned_data_v1", "scraper_pipeline_v1"}
)


class Platform:
    def __init__(self, settings: LakeSettings) -> None:
        self.settings = settings
        self.stack = Stack.for_settings(settings)
        self.layout = self.stack.layout
        self.state_dir = self.layout.home / "platform"
        self.airflow = airflow.AirflowLayout(self.layout)

    # -- what runs ---------------------------------------------------------------------------------
    @property
    def dagster_url(self) -> str:
        return dagster.webserver_url(self.layout)

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.layout.port(ports.SIMULATOR)}"

    def _service_env(self, identity: str, offline: bool) -> dict[str, str]:
        """What a worker (`crawler`) or Dagster (`dagster`) runs with: its identity's settings file, and
        the simulator offline."""
        from lake_tools.dagster_home import environment

        env = {"LAKE_ENV_FILE": str(self.stack.identity_env_file(identity)), "LAKE_HOME": str(self.layout.home)}
        if offline:
            env["LAKE_CRAWLER__BASE_URLS"] = json.dumps({"binance": self.simulator_url})
        if identity != "dagster" or self.settings.dagster.postgres_url is None:
            # Not set up yet (`status` or `down` before any `up`): nothing will be started with this env.
            return env
        dagster_env = environment(self.settings, self.stack.identity_env_file(identity))
        return env | {
            key: dagster_env[key] for key in ("DAGSTER_HOME", "LAKE_DAGSTER__POSTGRES_URL", "DAGSTER_DISABLE_TELEMETRY")
        }

    def _airflow_env(self) -> dict[str, str]:
        return airflow.environment(
            self.airflow, self.dagster_url, self.stack.secrets().password("dagster", Role.BRIDGE)
        )

    def simulator(self) -> ManagedProcess:
        url = self.simulator_url

        def answers() -> bool:
            try:
                return requests.get(f"{url}/api/v3/ping", timeout=2).ok
            except requests.RequestException:
                return False

        return ManagedProcess(
            name=SIMULATOR,
            argv=[
                str(BIN / "market-sim"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.layout.port(ports.SIMULATOR)),
            ],
            state_dir=self.state_dir,
            log_dir=self.layout.log_dir,
            healthy=answers,
        )

    def worker(self, index: int, env: dict[str, str]) -> ManagedProcess:
        name = f"{WORKER}-{index}"
        process = ManagedProcess(
            name=name,
            argv=[str(BIN / "scrapworker"), "run", "--concurrency", "4"],
            state_dir=self.state_dir,
            log_dir=self.layout.log_dir,
            healthy=lambda: _logged(process.log_file, '"worker started"'),
            env=env,
            # Running jobs finish or are released on SIGTERM: give them the worker's own grace.
            stop_timeout=60,
        )
        return process

    def _recorded_workers(self) -> int:
        return len(list(self.state_dir.glob(f"{WORKER}-*.pid")))

    def processes(self, offline: bool = False, workers: int | None = None) -> list[ManagedProcess]:
        """The platform's own processes (not the stack's) in start order."""
        found: list[ManagedProcess] = []
        if offline or (self.simulator().pid() is not None):
            found.append(self.simulator())
        count = workers if workers is not None else max(1, self._recorded_workers())
        crawler = self._service_env("crawler", offline)
        found += [self.worker(index, crawler) for index in range(1, max(count, self._recorded_workers()) + 1)]
        found += dagster.processes(self.layout, self._service_env("dagster", offline), self.state_dir, self.stack)
        found += airflow.processes(self.airflow, self._airflow_env(), self.state_dir)
        return found

    # -- up / down / status ------------------------------------------------------------------------
    def up(self, offline: bool = False, workers: int = 1) -> Iterator[str]:
        from lake_tools.bootstrap import bootstrap

        if workers < 1 or workers > 16:
            raise StackError(f"--workers must be between 1 and 16 (got {workers})")
        started = time.monotonic()
        for line in self.stack.up():
            yield f"stack: {line}"
        self.stack.ensure_databases()
        self.settings = load_settings(env_file=self.stack.env_file)
        for line in bootstrap(self.settings):
            yield f"bootstrap: {line}"
        for process in self.processes(offline=offline, workers=workers):
            if process.name == "airflow-api-server" and process.state() is not ProcessState.RUNNING:
                yield "airflow: writing airflow.cfg, generating the bridge DAGs, migrating its database"
                secrets = self.stack.secrets()
                airflow.prepare(self.airflow, secrets, self._airflow_env(), [str(BIN / "lake"), "bridge", "generate"])
            yield self._start(process)
        yield self._wait_for_dags()
        yield f"platform healthy in {time.monotonic() - started:.0f} s"
        yield from self.summary()

    def _start(self, process: ManagedProcess) -> str:
        before = process.state()
        began = time.monotonic()
        if not process.start():
            return f"{process.name}: already running, pid {process.pid()}"
        verb = "had died; restarted" if before is ProcessState.DIED else "healthy"
        return f"{process.name}: {verb}, pid {process.pid()} ({time.monotonic() - began:.1f} s)"

    def _wait_for_dags(self, timeout: float = 240) -> str:
        password = self.stack.secrets().airflow_admin_password
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException, KeyError, ValueError):
                seen = airflow.dag_ids(self.airflow.url, password)
            if seen >= SEED_DAGS:
                return f"airflow: the bridge DAGs are loaded ({len(seen)} DAGs)"
            time.sleep(1)
        missing = ", ".join(sorted(SEED_DAGS - seen))
        raise StackError(
            f"Airflow did not load the bridge DAGs within {timeout:.0f} s (missing: {missing}); "
            f"see {self.layout.log_dir}/airflow-dag-processor.log"
        )

    def summary(self) -> Iterator[str]:
        yield ""
        env_file = self.stack.env_file
        yield f"Dagster  {self.dagster_url}  (user {Role.OPERATOR}; password: LAKE_DAGSTER__PASSWORD in {env_file})"
        yield f"Airflow  {self.airflow.url}  (user {airflow.ADMIN}; password: cat {self.airflow.passwords_file})"
        yield f"logs     {self.layout.log_dir}/"
        yield "stop     lake down"

    def status(self) -> list[ComponentStatus]:
        found = self.stack.status()
        urls = {
            "dagster-webserver": self.dagster_url,
            "airflow-api-server": self.airflow.url,
            SIMULATOR: self.simulator_url,
        }
        for process in self.processes(workers=self._recorded_workers() or 1):
            found.append(ComponentStatus(process.name, process.state(), process.pid(), urls.get(process.name, "")))
        return found

    def down(self) -> Iterator[str]:
        for process in reversed(self.processes(workers=self._recorded_workers())):
            before = process.state()
            if process.stop():
                yield f"{process.name}: stopped"
            elif before is ProcessState.DIED:
                yield f"{process.name}: had already died (see {process.log_file})"
        for line in self.stack.down():
            yield f"stack: {line}"


def _logged(log: Path, text: str) -> bool:
    try:
        return text in log.read_text(errors="replace")
    except FileNotFoundError:
        return False
