"""The compose stack for the tests and bench/compose_faults.py: brought up as `lake compose up` does (the
engine, the images, a throwaway docker/.env), reached from the host through its published ports and inside
its containers with `docker compose exec`, and taken down with its volumes at the end.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lake.settings import LakeSettings, load_settings
from lake_tools.compose.engine import EXEC_ROOT, DockerEngine, Engine
from lake_tools.compose.project import ComposeProject, host_environment, read_env_file
from tests.support import LAKE, REPO_ROOT, PlatformApis, clean_environ, make_lake_home, wait_for

LOGS = REPO_ROOT / "test-artifacts" / "compose-logs"


@dataclass
class RunningCompose(PlatformApis):
    airflow_url = "http://127.0.0.1:8080"
    dagster_url = "http://127.0.0.1:3000"

    project: ComposeProject
    home: Path
    up_output: str
    _token: str | None = field(default=None, repr=False)

    @property
    def credentials(self) -> dict[str, str]:
        return read_env_file(self.project.env_file)

    @property
    def host_env(self) -> dict[str, str]:
        """What a process on the host runs with: the published ports and the operator's identity."""
        return clean_environ(LAKE_HOME=str(self.home), **host_environment(self.credentials))

    def settings(self) -> LakeSettings:
        return load_settings(env_file=self.home / "none.env", **_sections(self.host_env))

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.project.run(*args, check=check, timeout=timeout)

    def exec(self, service: str, *command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """A command inside a running service's container, as compose runs it (no TTY)."""
        return self.compose("exec", "-T", service, *command, check=False, timeout=timeout)

    @property
    def airflow_password(self) -> str:
        return self.credentials["AIRFLOW_ADMIN_PASSWORD"]

    @property
    def dagster_login(self) -> tuple[str, str]:
        env = self.host_env
        return env["LAKE_DAGSTER__USERNAME"], env["LAKE_DAGSTER__PASSWORD"]

    def services(self) -> list[dict[str, Any]]:
        """`docker compose ps --all` as dicts (compose prints one JSON object a line)."""
        output = self.compose("ps", "--all", "--format", "json").stdout
        return [json.loads(line) for line in output.splitlines() if line.strip()]


def _sections(env: dict[str, str]) -> dict[str, Any]:
    """LAKE_SECTION__KEY=value pairs as the nested overrides load_settings takes."""
    overrides: dict[str, dict[str, str]] = {}
    for key, value in env.items():
        if key.startswith("LAKE_") and "__" in key:
            section, _, name = key.removeprefix("LAKE_").lower().partition("__")
            overrides.setdefault(section, {})[name] = value
    return overrides


@contextmanager
def compose_engine() -> Iterator[Engine]:
    """The engine compose runs on: one that already runs, else dockerd started here and stopped at the end."""
    home = make_lake_home("lake-compose-engine-")
    settings = load_settings(env_file=home / "none.env", home=home)
    docker_engine = DockerEngine(settings.docker.data_root, home / "docker")
    found = docker_engine.up()
    try:
        yield found
    finally:
        if found.ours:
            assert docker_engine.down(), "the engine started here was not running at the end"
            # dockerd, its containerd and every container shim name the exec root: none may outlive it.
            left = subprocess.run(["pgrep", "-af", str(EXEC_ROOT)], capture_output=True, text=True).stdout
            assert not left.strip(), f"the engine left processes behind:\n{left}"


@contextmanager
def compose_stack(engine: Engine, logs_name: str = "compose") -> Iterator[RunningCompose]:
    """The project `lake` from empty volumes, healthy; its logs kept under test-artifacts/ at the end.

    It owns the project `lake` on this engine: a running one on an engine it did not start is someone's
    stack (refused); the volumes a stopped one left hold other credentials, so it starts from empty ones.
    """
    home = make_lake_home("lake-compose-")
    project = ComposeProject(engine, env_file=home / "compose.env")
    # On an engine started here, running containers are ones its restart policies brought back after an
    # engine that was killed: leftovers, not someone's stack.
    running = project.run("ps", "--quiet", check=False).stdout.split()
    assert engine.ours or not running, "a compose project `lake` runs on this engine: `lake compose down` it first"
    project.run("down", "--volumes", "--remove-orphans", timeout=600)
    output = [*project.build(), *project.up()]
    try:
        yield RunningCompose(project, home, "\n".join(output))
    finally:
        LOGS.mkdir(parents=True, exist_ok=True)
        logs = project.run("logs", "--no-color", "--timestamps", check=False, timeout=300)
        (LOGS / f"{logs_name}.log").write_text(logs.stdout + logs.stderr)
        project.run("down", "--volumes", "--remove-orphans", check=False, timeout=600)


def lake_on_host(stack: RunningCompose, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LAKE, *args], env=stack.host_env, capture_output=True, text=True, timeout=timeout, check=False
    )


RUNS = """query($filter: RunsFilter) { runsOrError(filter: $filter) { ... on Runs { results {
  runId status tags { key value } } } } }"""
CHECKS = """query($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events {
  __typename ... on AssetCheckEvaluationEvent { evaluation { checkName success } }
  ... on MaterializationEvent { assetKey { path } } ... on MessageEvent { message } } } } }"""


def dag_runs(stack: RunningCompose, dag_id: str) -> list[dict[str, Any]]:
    return stack.airflow("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "-start_date", "limit": 20})["dag_runs"]


def finished_run(stack: RunningCompose, dag_id: str, timeout: float) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        runs = [r for r in dag_runs(stack, dag_id) if r["state"] in ("success", "failed")]
        return runs[0] if runs else None

    return wait_for(done, timeout, f"a finished run of {dag_id}", every=5)


def dagster_runs(stack: RunningCompose, **tags: str) -> list[dict[str, Any]]:
    filters = {"tags": [{"key": key.replace("__", "/"), "value": value} for key, value in tags.items()]}
    return stack.dagster(RUNS, {"filter": filters})["runsOrError"]["results"]


def run_events(stack: RunningCompose, run_id: str) -> list[dict[str, Any]]:
    return stack.dagster(CHECKS, {"runId": run_id})["logsForRun"]["events"]


def failure_messages(stack: RunningCompose, run_id: str) -> list[str]:
    return [e["message"][:400] for e in run_events(stack, run_id) if "Failure" in e["__typename"]]


def query_in_container(stack: RunningCompose, sql: str) -> list[list[Any]]:
    """`lake query` (DuckDB over Nessie's REST catalog) inside the dagster-code container, rows as JSON."""
    result = stack.exec("dagster-code", "lake", "query", "--json", sql)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)["rows"]
