"""A run launcher whose runs fork from a warm process instead of starting a fresh Python each.

Dagster's DefaultRunLauncher asks the code server to start each run, and the code server `spawn`s a new
interpreter that imports Dagster and the code location again: 4-9 s per run on the 2-core machines, most
of a minute slot's latency budget. This launcher runs the very same entry point
(`dagster._grpc.impl.start_run_in_subprocess`, what the code server runs in its child) in a child of a
multiprocessing *forkserver* that imported Dagster and the heavy libraries once (`preload`). The code
location itself is imported by each run, so an edited asset is picked up by the next run as before.

It runs inside the process that launches (the webserver for launches over GraphQL, the daemon for schedules,
sensors and backfills). Start those as modules (`python -m lake_tools.platform.dagster_web`, the webserver
behind its login, and `python -m dagster._daemon`, as `lake up` does): multiprocessing runs a script-started
parent's main script again in every child before the run (1.4 s a run, measured), a `-m ...__main__` module
never. Its run workers are that process's descendants, in its session, so `lake down` stops them with it.
Terminating a run sets the same termination event the code server would; a run launched by the other
process is interrupted by its recorded PID.

Dagster has no pre-forked launcher of its own (its forkserver option is the multiprocess *executor*'s,
for steps); production keeps dagster-docker's DockerRunLauncher (docker/dagster/dagster.yaml).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import Array, DagsterRun, Field, serialize_value

from dagster_instance.internals import (
    CheckRunHealthResult,
    ConfigurableClass,
    ConfigurableClassData,
    ExecuteExternalJobArgs,
    IPCErrorMessage,
    LaunchRunContext,
    RunInSubprocessComplete,
    RunLauncher,
    WorkerStatus,
    recon_job_from_origin,
    start_run_in_subprocess,
)
from dagster_instance.pools import ensure_pools, run_pools

# Where a run's worker runs, for a terminate sent to the other launching process.
WORKER_TAG = "lake/run_worker"
DEFAULT_PRELOAD = [
    "dagster",
    "dagster._grpc.impl",
    "dagster_postgres",
    # The instance each run opens: storage classes, SQLAlchemy's driver and Alembic's version check.
    "dagster_postgres.run_storage",
    "dagster_postgres.event_log",
    "dagster_postgres.schedule_storage",
    "sqlalchemy.dialects.postgresql.psycopg2",
    "alembic.migration",
    "alembic.script",
    "dagster_pipes",
    "pyiceberg.catalog.rest",
    "pyiceberg.table",
    # What a signals step's first pyiceberg commit would import: ~90 ms a run when left to the run.
    "pyiceberg.io.pyarrow",
    "pyiceberg.avro.file",
    "pyiceberg.table.update.snapshot",
    "pydantic_settings",
    "pyarrow",
    "boto3",
    "botocore.client",
    "redis",
    "requests",
    "dagster_instance.forkserver_warm",  # last: it uses boto3 once, so that no run has to load its model
]


class ForkserverRunLauncher(RunLauncher, ConfigurableClass):
    def __init__(self, preload: list[str] | None = None, inst_data: ConfigurableClassData | None = None) -> None:
        self._inst_data = inst_data
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(preload if preload is not None else DEFAULT_PRELOAD))
        self._workers: dict[str, Any] = {}
        self._lock = threading.Lock()
        super().__init__()  # type: ignore[no-untyped-call]  # Dagster's base leaves it unannotated

    # -- ConfigurableClass -------------------------------------------------------------------------
    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {"preload": Field(Array(str), is_required=False, default_value=DEFAULT_PRELOAD)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> ForkserverRunLauncher:
        return cls(preload=config_value.get("preload"), inst_data=inst_data)

    # -- RunLauncher -------------------------------------------------------------------------------
    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        job_origin, remote_origin = run.job_code_origin, run.remote_job_origin
        if job_origin is None or remote_origin is None:
            raise ValueError(f"run {run.run_id} has no code origin: only runs of a code location can be launched")
        arguments = ExecuteExternalJobArgs(
            job_origin=remote_origin,
            run_id=run.run_id,
            instance_ref=self._instance.get_ref(),
        )
        ensure_pools(self._instance, run_pools(self._instance, run))
        events = self._context.Queue()
        termination = self._context.Event()
        worker = self._context.Process(
            target=start_run_in_subprocess,
            args=[serialize_value(arguments), recon_job_from_origin(job_origin), events, termination],
            name=f"dagster-run-{run.run_id[:8]}",
        )
        worker.start()
        with self._lock:
            self._workers[run.run_id] = (worker, termination)
        self._instance.add_run_tags(run.run_id, {WORKER_TAG: f"{socket.gethostname()}:{worker.pid}"})
        threading.Thread(target=self._follow, args=(run.run_id, worker, events), daemon=True).start()

    def _follow(self, run_id: str, worker: Any, events: Any) -> None:
        """Read the worker's start-up messages (a failed start is reported on the run) and reap it."""
        while True:
            try:
                message = events.get(timeout=1)
            except queue.Empty:
                if not worker.is_alive():
                    break
                continue
            if isinstance(message, IPCErrorMessage):
                run = self._instance.get_run_by_id(run_id)
                if run is not None and not run.is_finished:
                    self._instance.report_run_failed(run, message.message)
            if isinstance(message, RunInSubprocessComplete):
                break
        worker.join()
        with self._lock:
            self._workers.pop(run_id, None)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        with self._lock:
            ours = self._workers.get(run_id)
        if ours is not None:
            ours[1].set()  # the run's termination thread interrupts it, as under the code server
            return True
        pid = self._worker_pid(run)
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)  # Dagster's run worker turns SIGINT into its interrupt
            return True
        return False

    # -- run monitoring (the daemon): a run whose worker is gone is failed, not left STARTED ---------
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        pid = self._worker_pid(run)
        if pid is None:
            # Not tagged yet (the worker can report its start before launch_run tags it) or another
            # host's: the daemon fails a run on anything but RUNNING, so only a worker seen gone is failed.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker recorded on this host yet")
        if _alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(pid))
        return CheckRunHealthResult(WorkerStatus.NOT_FOUND, f"run worker {pid} is gone", run_worker_id=str(pid))

    @staticmethod
    def _worker_pid(run: DagsterRun) -> int | None:
        host, _, pid = run.tags.get(WORKER_TAG, "").rpartition(":")
        return int(pid) if host == socket.gethostname() and pid.isdigit() else None

    def join(self, timeout: float = 30) -> None:
        with self._lock:
            workers = [worker for worker, _ in self._workers.values()]
        for worker in workers:
            worker.join(timeout)


def _alive(pid: int) -> bool:
    """A live, non-zombie process (a zombie's /proc/PID/stat state is Z)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False
