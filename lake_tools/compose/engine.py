"""The Docker engine the compose stack runs on: one that already runs, or `dockerd` started here, by PID.

A user's laptop has an engine (Docker Desktop, a system `dockerd`): `DOCKER_HOST`, else the default socket,
is used as it is and never stopped. A machine without one (CI, these build machines, an air-gapped host)
gets Debian's `dockerd` (package docker.io) started by `lake compose engine up` on its own socket, with its
own data root and exec root, so it never meets a system engine's state. It leaves the host's firewall
alone (`--iptables=false --ip6tables=false`, `--ip-forward=false`): containers reach each other on their
compose network and the host through ports published on 127.0.0.1 (Docker's userland proxy); builds that
download packages use the host's network (`network: host`).

The data root holds the image layers, so it lives outside the checkout (LAKE_DOCKER__DATA_ROOT, by default
~/.cache/lake-ingest/docker): a second clone or a second CI run on the same machine builds nothing again.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lake_tools.stack.process import ManagedProcess, ProcessState, StackError

DEFAULT_SOCKET = Path("/var/run/docker.sock")
# Short paths: a unix socket path is at most 107 bytes, and containerd nests its own sockets below.
EXEC_ROOT = Path("/run/lake-docker")


class EngineError(StackError):
    """No engine answers, or ours could not be started; the message says what to install or look at."""


@dataclass(frozen=True)
class Engine:
    """Where the docker CLI and compose reach the engine, and whether we started it."""

    host: str  # unix:///path/to/docker.sock
    ours: bool

    @property
    def socket_path(self) -> Path:
        return Path(self.host.removeprefix("unix://"))

    def env(self) -> dict[str, str]:
        """The environment for `docker` and `docker compose` commands against this engine."""
        return {"DOCKER_HOST": self.host}


def socket_answers(path: Path, timeout: float = 2.0) -> bool:
    """The engine's API answers `GET /_ping` on this unix socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(timeout)
            client.connect(str(path))
            client.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status = client.recv(64).split(b"\r\n", 1)[0]
            return status.startswith(b"HTTP/1.") and b" 200 " in status + b" "
    except OSError:
        return False


class DockerEngine:
    def __init__(self, data_root: Path, state_dir: Path) -> None:
        self.data_root = data_root
        self.state_dir = state_dir
        self.socket = EXEC_ROOT / "docker.sock"

    def process(self) -> ManagedProcess:
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        return ManagedProcess(
            name="dockerd",
            argv=[
                dockerd,
                f"--data-root={self.data_root}",
                f"--exec-root={EXEC_ROOT}",
                f"--pidfile={EXEC_ROOT / 'dockerd.pid'}",
                f"--host=unix://{self.socket}",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--storage-driver=overlay2",
                # Containers log to files the engine rotates: a chatty service cannot fill the disk.
                "--log-opt=max-size=20m",
                "--log-opt=max-file=3",
            ],
            state_dir=self.state_dir,
            healthy=lambda: socket_answers(self.socket),
            prepare=self._prepare,
            start_timeout=90,
            # dockerd stops every container before it exits (each gets its stop timeout, 10 s by default).
            stop_timeout=120,
        )

    def find(self) -> Engine | None:
        """An engine that answers: DOCKER_HOST, the default socket, or ours; None when none does."""
        configured = os.environ.get("DOCKER_HOST", "")
        if configured.startswith("unix://") and socket_answers(Path(configured.removeprefix("unix://"))):
            ours = configured == f"unix://{self.socket}" and self.process().state() is ProcessState.RUNNING
            return Engine(configured, ours=ours)
        if configured and not configured.startswith("unix://"):
            return Engine(configured, ours=False)  # tcp:// or ssh://: the CLI knows how to reach it
        if socket_answers(self.socket):
            # One engine per machine on this socket, whichever LAKE_HOME started it: it is ours to stop
            # only where our PID file names it.
            return Engine(f"unix://{self.socket}", ours=self.process().state() is ProcessState.RUNNING)
        if socket_answers(DEFAULT_SOCKET):
            return Engine(f"unix://{DEFAULT_SOCKET}", ours=False)
        return None

    def up(self) -> Engine:
        """The engine that answers, else ours, started and healthy."""
        found = self.find()
        if found is not None:
            return found
        if shutil.which("dockerd") is None and not Path("/usr/sbin/dockerd").exists():
            raise EngineError(
                "no Docker engine answers and dockerd is not installed: install Debian's docker.io "
                "(scripts/install.sh does) or start your own engine and set DOCKER_HOST"
            )
        if os.geteuid() != 0:
            raise EngineError(
                "no Docker engine answers, and starting dockerd needs root: run as root or set DOCKER_HOST"
            )
        self.process().start()
        return Engine(f"unix://{self.socket}", ours=True)

    def down(self) -> bool:
        """Stop our dockerd (and its containerd) by PID; an engine we did not start is left alone."""
        return self.process().stop()

    def state(self) -> ProcessState:
        return self.process().state()

    def _prepare(self) -> None:
        self.data_root.mkdir(parents=True, exist_ok=True)
        EXEC_ROOT.mkdir(parents=True, exist_ok=True, mode=0o700)
        # A socket left by an engine that was killed would make the new one refuse to start.
        if self.socket.exists() and not socket_answers(self.socket):
            self.socket.unlink()


def docker(
    engine: Engine, *args: str, check: bool = True, capture: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI against `engine`; raises EngineError with its own message when it fails."""
    completed = subprocess.run(
        ["docker", *args],
        env=os.environ | engine.env(),
        capture_output=capture,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and completed.returncode != 0:
        reason = (completed.stderr or completed.stdout or "").strip().splitlines()[-5:] if capture else []
        raise EngineError(f"docker {' '.join(args[:3])} failed (exit {completed.returncode}): " + " | ".join(reason))
    return completed
