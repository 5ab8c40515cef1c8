"""The compose stack for real: `lake compose up` as a user runs it (engine, images, credentials), the
tests against it from the host and inside its containers, and `lake compose down` plus the engine stopped
at the end, by PID. Its own phase of scripts/test.sh: it publishes the fixed ports compose.yaml names and
needs both cores, so it never runs beside the other modules.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from lake.settings import LakeSettings, load_settings
from lake_tools.compose.engine import DockerEngine, Engine
from lake_tools.compose.project import ComposeProject, host_environment, read_env_file
from tests.support import LAKE, REPO_ROOT, clean_environ, make_lake_home

LOGS = REPO_ROOT / "test-artifacts" / "compose-logs"
T = TypeVar("T")


@dataclass
class RunningCompose:
    project: ComposeProject
    home: Path
    up_output: str
    _token: str | None = field(default=None, repr=False)

    @property
    def credentials(self) -> dict[str, str]:
        return read_env_file(self.project.env_file)

    @property
    def host_env(self) -> dict[str, str]:
        """What a process on the host runs with: the published ports and the stack's S3 key."""
        return clean_environ(LAKE_HOME=str(self.home), **host_environment(self.credentials))

    def settings(self) -> LakeSettings:
        return load_settings(env_file=self.home / "none.env", **_sections(self.host_env))

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.project.run(*args, check=check, timeout=timeout)

    def exec(self, service: str, *command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """A command inside a running service's container, as compose runs it (no TTY)."""
        return self.compose("exec", "-T", service, *command, check=False, timeout=timeout)

    def airflow(self, method: str, path: str, **kwargs: Any) -> Any:
        """Airflow's REST API (/api/v2) as the admin docker/.env names, with a token from /auth/token."""
        if self._token is None:
            login = {
                "username": self.credentials["AIRFLOW_ADMIN_USERNAME"],
                "password": self.credentials["AIRFLOW_ADMIN_PASSWORD"],
            }
            response = requests.post("http://127.0.0.1:8080/auth/token", json=login, timeout=30)
            assert response.status_code in (200, 201), response.text[:300]
            self._token = str(response.json()["access_token"])
        response = requests.request(
            method,
            f"http://127.0.0.1:8080/api/v2{path}",
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=30,
            **kwargs,
        )
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json()

    def dagster(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = requests.post(
            "http://127.0.0.1:3000/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
        response.raise_for_status()
        return response.json()["data"]

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


def wait_for[T](probe: Callable[[], T | None], timeout: float, what: str, every: float = 3) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """The engine compose runs on: one that already runs, else dockerd started here and stopped at the end."""
    home = make_lake_home("lake-compose-engine-")
    settings = load_settings(env_file=home / "none.env", home=home)
    docker_engine = DockerEngine(settings.docker.data_root, home / "docker")
    found = docker_engine.up()
    try:
        yield found
    finally:
        if found.ours:
            assert docker_engine.down(), "the engine started for the tests was not running at the end"


@pytest.fixture(scope="session")
def stack(engine: Engine) -> Iterator[RunningCompose]:
    home = make_lake_home("lake-compose-")
    project = ComposeProject(engine, env_file=home / "compose.env")
    # The tests own the compose project `lake` on this engine: a running one is someone's stack (refused);
    # volumes a stopped one left hold other credentials, so the tests start from empty ones.
    running = project.run("ps", "--quiet", check=False).stdout.split()
    assert not running, "a compose project `lake` runs on this engine: `lake compose down` it before the tests"
    project.run("down", "--volumes", "--remove-orphans", timeout=600)
    output = [*project.build(), *project.up()]
    compose = RunningCompose(project, home, "\n".join(output))
    try:
        yield compose
    finally:
        LOGS.mkdir(parents=True, exist_ok=True)
        logs = project.run("logs", "--no-color", "--timestamps", check=False, timeout=300)
        (LOGS / "compose.log").write_text(logs.stdout + logs.stderr)
        project.run("down", "--volumes", "--remove-orphans", check=False, timeout=600)


def lake_on_host(stack: RunningCompose, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LAKE, *args], env=stack.host_env, capture_output=True, text=True, timeout=timeout, check=False
    )
