"""Helpers the test fixtures share: free ports, a private LAKE_HOME, running the `lake` command, waiting,
and the two control planes a platform test drives (Airflow's REST API, Dagster's GraphQL)."""

from __future__ import annotations

import functools
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from lake_tools.platform import airflow as airflow_api
from lake_tools.stack.components import StackLayout

REPO_ROOT = Path(__file__).resolve().parent.parent
LAKE = str(Path(sys.executable).parent / "lake")


# Test ports live below Linux's ephemeral range (32768-60999 by default): a port in that range can be taken
# at any moment by some process's outgoing connection, between our check that it is free and the server's
# bind. Stack bases sit in [12000, 22000), so their SeaweedFS admin gRPC ports (+10000) land in
# [22046, 32046) and never overlap another base's ports; single ports come from [10000, 12000).
STACK_BASES = range(12000, 22000, 200)
SINGLE_PORTS = range(10000, 12000)


def free_port_base() -> int:
    """A port base whose every stack port is free now, so tests never collide with a running stack.

    The scan starts at a random place so that two test runs starting together rarely pick the same base;
    under pytest-xdist each worker owns the bases whose index is its number modulo the worker count, so two
    workers never race for one base.
    """
    return _first_free(STACK_BASES, lambda base: list(StackLayout(Path("/"), base).all_ports().values()))


def free_port() -> int:
    """One free loopback port outside the ephemeral range, for a service a test starts by itself."""
    return _first_free(SINGLE_PORTS, lambda port: [port])


def _first_free(candidates: range, ports_of: Callable[[int], list[int]]) -> int:
    """The first of this worker's candidates, from a random start, whose ports are all outside the
    ephemeral range and free now."""
    usable = [value for value in _mine(candidates) if not any(map(_ephemeral, ports_of(value)))]
    if not usable:
        raise RuntimeError(f"no ports in {candidates} lie below the ephemeral range {_ephemeral_range()}")
    first = random.randrange(len(usable))
    for value in usable[first:] + usable[:first]:
        if all(map(_port_free, ports_of(value))):
            return value
    raise RuntimeError(f"no free ports in {candidates}")


def _mine(values: range) -> list[int]:
    """This pytest-xdist worker's share of `values` (all of them without xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... or unset without xdist
    if not worker:
        return list(values)
    return list(values[int(worker.removeprefix("gw")) :: int(os.environ["PYTEST_XDIST_WORKER_COUNT"])])


@functools.cache
def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _ephemeral(port: int) -> bool:
    low, high = _ephemeral_range()
    return low <= port <= high


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def make_lake_home(prefix: str) -> Path:
    """A fresh directory under /tmp that PostgreSQL's own user can reach (pytest's tmp dirs are 0700)."""
    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    home.chmod(0o755)
    return home


@contextmanager
def throwaway_stack(prefix: str = "lake-bench-") -> Iterator[Path]:
    """The embedded stack on free ports in a fresh LAKE_HOME, with the raw bucket; yields its env file.
    Stopped (by PID) and removed on exit. For benchmarks, which must not touch a developer's stack."""
    from lake.settings import load_settings
    from lake_tools.bootstrap import ensure_bucket
    from lake_tools.stack import Stack

    home = make_lake_home(prefix)
    stack = Stack(home, free_port_base())
    try:
        stack.up()
        env_file = home / "lake.env"
        ensure_bucket(load_settings(env_file=env_file))
        yield env_file
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)


def clean_environ(**extra: str) -> dict[str, str]:
    """The process environment without any LAKE_* variable of the developer's shell, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LAKE_")}
    return env | extra


def run_lake(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LAKE, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def shipped_landings() -> tuple[Any, ...]:  # scrapworker.landings.Landing; imported late, tests import this early
    """The shipped landings file, as the platform and the demo run it: what each slot lands."""
    from scrapworker.endpoints import load_endpoints
    from scrapworker.landings import load_landings

    return load_landings(load_endpoints())


def jobs_per_slot() -> int:
    return sum(len(landing.param_sets) for landing in shipped_landings())


def kline_symbols() -> int:
    return sum(len(landing.param_sets) for landing in shipped_landings() if landing.typed == "klines")


def wait_for[T](probe: Callable[[], T | None], timeout: float, what: str, every: float = 2) -> T:
    """`probe()`'s first truthy answer, polled every `every` seconds; fails naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


class PlatformApis:
    """Airflow's REST API (/api/v2, as the admin, a token from /auth/token) and Dagster's GraphQL, for a
    running platform: the embedded one (`lake up`) or the compose stack. Failures carry the answer's body."""

    airflow_url: str
    dagster_url: str
    _token: str | None

    @property
    def airflow_password(self) -> str:
        raise NotImplementedError

    @property
    def dagster_login(self) -> tuple[str, str]:
        """The operator's user and password on Dagster's webserver (it refuses anyone else)."""
        raise NotImplementedError

    def airflow(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._token is None:
            self._token = airflow_api.token(self.airflow_url, self.airflow_password)
        response = requests.request(
            method,
            f"{self.airflow_url}/api/v2{path}",
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=30,
            **kwargs,
        )
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json()

    def dagster(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = requests.post(
            f"{self.dagster_url}/graphql",
            json={"query": query, "variables": variables or {}},
            auth=self.dagster_login,
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["data"]


def generated_secrets(stack: Any) -> dict[str, str]:
    """Every secret a stack (lake_tools.stack.Stack) generated: its passwords, S3 keys, the token signing
    key, and each secret value of its settings files (the identities' tokens among them), by name."""
    from lake_tools.stack.stack import IDENTITIES

    generated = stack.secrets()
    found = {f"passwords.{name}": value for name, value in generated.passwords.items()}
    found |= {
        "postgres": generated.postgres_password,
        "s3 admin": generated.s3_secret_access_key,
        "airflow admin": generated.airflow_admin_password,
        "airflow jwt secret": generated.airflow_jwt_secret,
        "signing key": generated.catalog_signing_key.splitlines()[1],
    }
    for path in [stack.env_file, *(stack.identity_env_file(name) for name in IDENTITIES)]:
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            if any(word in name for word in ("PASSWORD", "SECRET", "TOKEN")) and value:
                found[f"{path.name}:{name}"] = value
    return found


def secrets_found_in(secrets: dict[str, str], files: list[Path], command_lines: dict[str, str]) -> list[str]:
    """'<where>: <secret name>' for each secret that appears in a file or a command line."""
    texts = {str(path): path.read_text(errors="replace") for path in files} | command_lines
    return [f"{where}: {name}" for where, text in texts.items() for name, value in secrets.items() if value in text]


def wait_for_fresh_window(window_seconds: float, needed: float) -> None:
    """The market simulator's weight windows are aligned to the epoch: sleep into the next one unless `needed`
    seconds remain in this one."""
    remaining = window_seconds - time.time() % window_seconds
    if remaining < needed:
        time.sleep(remaining + 0.02)
