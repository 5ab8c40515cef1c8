"""The whole platform, started as a user starts it: `lake up --offline` in a private LAKE_HOME on free
loopback ports, at a one-minute cadence, and `lake down` at the end (the module's last test checks
that nothing is left). Nothing here starts a service itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from lake.settings import LakeSettings, load_settings
from tests.support import LAKE, REPO_ROOT, PlatformApis, clean_environ, free_port_base, make_lake_home

# Screenshots of every page the browser tests look at: CI keeps this folder as the run's artifacts.
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
LOGS = REPO_ROOT / "test-artifacts" / "platform-logs"


@dataclass
class RunningPlatform(PlatformApis):
    home: Path
    env: dict[str, str]
    up_output: str
    # The PIDs `lake up` recorded (from `lake status`): each leads the session its process's children stay in.
    leaders: set[int] = field(default_factory=set)
    _token: str | None = field(default=None, repr=False)

    @property
    def settings(self) -> LakeSettings:
        return load_settings(env_file=self.home / "lake.env")

    @property
    def dagster_url(self) -> str:
        return self.settings.dagster.url

    @property
    def airflow_url(self) -> str:
        return self.settings.airflow.url

    @property
    def airflow_password(self) -> str:
        return str(json.loads((self.home / "airflow" / "simple_auth_manager_passwords.json").read_text())["admin"])

    @property
    def dagster_login(self) -> tuple[str, str]:
        login = self.settings.dagster.login()
        assert login is not None
        return login

    def lake(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([LAKE, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False)

    def record_leaders(self) -> None:
        status = self.lake("status").stdout.splitlines()
        self.leaders |= {int(line.split()[3]) for line in status if line.split()[1] == "running"}

    def processes(self) -> list[psutil.Process]:
        """Every live process started for this platform: in the session of a process `lake up` recorded, or
        carrying its LAKE_HOME in its environment (Airflow rewrites its own, so the session is the proof)."""
        found = []
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if process.status() == psutil.STATUS_ZOMBIE:
                    continue
                if os.getsid(process.pid) in self.leaders or process.environ().get("LAKE_HOME") == str(self.home):
                    found.append(process)
        return found


@pytest.fixture(scope="module")
def platform() -> Iterator[RunningPlatform]:
    home = make_lake_home("lake-platform-")
    env = clean_environ(
        LAKE_HOME=str(home),
        LAKE_STACK__PORT_BASE=str(free_port_base()),
        LAKE_PARTITIONS__CADENCE_MINUTES="1",
        # Minute partitions from today's midnight (hundreds, not the 45k since the default start): what a
        # minute-cadence deployment keeps in Dagster, and light enough for the partitions view here.
        LAKE_PARTITIONS__START=datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z"),
        LAKE_PARTITIONS__TYPED_EVERY_MINUTES="2",
    )
    up = subprocess.run([LAKE, "up", "--offline"], env=env, capture_output=True, text=True, timeout=900, check=False)
    running = RunningPlatform(home, env, up.stdout + up.stderr)
    try:
        assert up.returncode == 0, running.up_output[-4000:]
        running.record_leaders()
        yield running
    finally:
        # Whatever a test did, stop everything by PID; the last test asserts that this leaves nothing.
        subprocess.run([LAKE, "down"], env=env, capture_output=True, timeout=300, check=False)
        # Every process's log (Airflow's task logs included) stays with the run's artifacts.
        shutil.rmtree(LOGS, ignore_errors=True)
        shutil.copytree(home / "logs", LOGS, dirs_exist_ok=True)
        shutil.rmtree(home, ignore_errors=True)
