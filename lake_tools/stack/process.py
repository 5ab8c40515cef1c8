"""A service process the stack starts, finds again by its PID file, and stops by PID.

The PID file alone is not trusted: the kernel reuses PIDs. It records the PID with the process's start
time (in clock ticks since boot), and a process counts as ours only when both still match and it is
not a zombie. (Command lines are no proof: Redis rewrites its own.)

Each process leads its own session, and whatever it spawns stays in that session even when it is
re-parented to init (a Dagster code server its webserver restarted, Airflow's task runners). `stop`
therefore also stops every process still in the session, found by the recorded PID as session id and
started no earlier than the leader.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class StackError(RuntimeError):
    """A stack component could not be started or stopped; the message says which and why."""


class ProcessState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"  # never started, or stopped by `lake stack down`
    DIED = "died"  # we started it, it is gone, and nobody stopped it


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    state_dir: Path
    healthy: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    # Nessie reads its properties from ./config/application.properties: it runs in its own directory.
    cwd: Path | None = None
    # One-time set-up before the first start (initdb, data directories).
    prepare: Callable[[], object] = lambda: None
    # PostgreSQL refuses to run as root; when we are root it runs as this user instead.
    run_as: str | None = None
    stop_signal: signal.Signals = signal.SIGTERM
    start_timeout: float = 60.0
    stop_timeout: float = 30.0
    # Where its log goes; the PID file stays in state_dir.
    log_dir: Path | None = None

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return (self.log_dir or self.state_dir) / f"{self.name}.log"

    def pid(self) -> int | None:
        recorded = self._recorded()
        return recorded[0] if recorded else None

    def state(self) -> ProcessState:
        pid = self.pid()
        if pid is None:
            return ProcessState.STOPPED
        return ProcessState.RUNNING if self._is_ours(pid) else ProcessState.DIED

    def _recorded(self) -> tuple[int, int] | None:
        try:
            pid, started = self.pid_file.read_text().split()
            return int(pid), int(started)
        except (FileNotFoundError, ValueError):
            return None

    def start(self) -> bool:
        """Start unless already running; wait until healthy. Returns True when it started a process."""
        if self.state() is ProcessState.RUNNING:
            self._wait_healthy(self.pid())
            return False
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                # Its own session: a Ctrl-C in the shell that ran `lake stack up` must not stop it.
                start_new_session=True,
                user=self.run_as,
                group=pwd.getpwnam(self.run_as).pw_gid if self.run_as else None,
                extra_groups=[] if self.run_as else None,
            )
        started = _start_ticks(process.pid)
        self.pid_file.write_text(f"{process.pid} {started if started is not None else -1}\n")
        self._wait_healthy(process.pid)
        return True

    def stop(self) -> bool:
        """Stop the process we started (by PID), then what is left of its session. Returns True when
        the process was running."""
        recorded = self._recorded()
        if recorded is None:
            return False
        pid, started = recorded
        was_running = self._is_ours(pid)
        if was_running:
            os.kill(pid, self.stop_signal)
            if not _wait_until(lambda: not self._is_ours(pid), self.stop_timeout):
                os.kill(pid, signal.SIGKILL)
                _wait_until(lambda: not self._is_ours(pid), 10)
            _reap(pid)
        _stop_session(pid, started, self.stop_timeout)
        self.pid_file.unlink(missing_ok=True)
        return was_running

    def session_pids(self) -> list[int]:
        """Every live process in this process's session (itself included), e.g. for `lake status`."""
        recorded = self._recorded()
        return _session_members(*recorded) if recorded else []

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def _wait_healthy(self, pid: int | None) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if pid is None or not self._is_ours(pid):
                _reap(pid)
                raise StackError(
                    f"{self.name} exited during start-up; last lines of {self.log_file}:\n{self.log_tail()}"
                )
            if self.healthy():
                return
            time.sleep(0.1)
        raise StackError(
            f"{self.name} did not become healthy within {self.start_timeout:.0f} s; "
            f"see {self.log_file}:\n{self.log_tail()}"
        )

    def _is_ours(self, pid: int) -> bool:
        recorded = self._recorded()
        if recorded is None or recorded[0] != pid:
            return False
        fields = _stat_fields(pid)
        # fields[0] is the state letter: Z is a zombie, X is dead.
        if fields is None or fields[0] in ("Z", "X"):
            _reap(pid)
            return False
        return int(fields[19]) == recorded[1]


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the parenthesised command name (which may itself hold spaces)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def _session_members(session: int, not_before: int) -> list[int]:
    """Live processes whose session id is `session` and that started no earlier than its leader did
    (a later session under a reused PID would have started after; an older one cannot be ours)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        # fields: 0 state, 1 ppid, 2 pgrp, 3 session, ..., 19 start time.
        if fields and fields[0] not in ("Z", "X") and int(fields[3]) == session and int(fields[19]) >= not_before:
            members.append(int(entry.name))
    return members


def _stop_session(session: int, not_before: int, timeout: float) -> None:
    """SIGTERM what is left in the session, then SIGKILL what outlives the timeout."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        members = _session_members(session, not_before)
        for member in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, sig)
        if _wait_until(lambda: not _session_members(session, not_before), timeout if sig is signal.SIGTERM else 10):
            break
    for member in members:
        _reap(member)


def _start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def _reap(pid: int | None) -> None:
    """Collect the exit status of a child of this process, so it does not linger as a zombie."""
    if pid is None:
        return
    # Not our child (started by an earlier `lake` command): its new parent reaps it.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
