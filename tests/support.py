"""Helpers the test fixtures share: free ports, a private LAKE_HOME, and running the `lake` command."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lake_tools.stack.components import StackLayout

REPO_ROOT = Path(__file__).resolve().parent.parent
LAKE = str(Path(sys.executable).parent / "lake")


def free_port_base(start: int = 40000, stop: int = 55000, step: int = 200) -> int:
    """A port base whose every stack port is free now, so tests never collide with a running stack.

    The scan starts at a random place so that two test runs starting together rarely pick the same base;
    under pytest-xdist each worker scans only its own share of the bases, so workers never race for one.
    """
    bases = list(range(start, stop, step))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... or unset without xdist
    if worker:
        bases = bases[int(worker.removeprefix("gw")) :: int(os.environ["PYTEST_XDIST_WORKER_COUNT"])]
    first = random.randrange(len(bases))
    for base in bases[first:] + bases[:first]:
        if all(_port_free(port) for port in StackLayout(Path("/"), base).all_ports().values()):
            return base
    raise RuntimeError(f"no free port range between {start} and {stop}")


def free_port() -> int:
    """One free loopback port, for a service a test starts by itself."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    from scrapworker.endpoints import load_catalog
    from scrapworker.landings import load_landings

    return load_landings(load_catalog())


def jobs_per_slot() -> int:
    return sum(len(landing.param_sets) for landing in shipped_landings())


def kline_symbols() -> int:
    return sum(len(landing.param_sets) for landing in shipped_landings() if landing.typed == "klines")
