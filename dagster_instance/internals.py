"""Dagster's non-public APIs this project uses, in one place, and why.

Dagster documents no public API for writing a run launcher or for running a run in a process of one's own:
the names below are what its own launchers and code server use. A Dagster release may move or change any of
them without notice, so tests/dagster_instance/test_internals.py checks that each still exists with the
shape used here: an upgrade that breaks one fails there, naming it, instead of failing every run.
Everything else in the project uses `dagster`'s public API, but for names given as strings: dagster.yaml's
run coordinator and compute log manager (`dagster._core.run_coordinator`,
`dagster._core.storage.local_compute_log_manager`, the forms Dagster's own docs give), the daemon started as
`python -m dagster._daemon` (dagster_instance/forkserver_launcher.py says why a module, not the script), and
`dagster._grpc.impl` in the forkserver's preload list (imported early, never called by name).
"""

from __future__ import annotations

# The run launcher's interface (dagster_instance.forkserver_launcher, dagster_instance.docker_launcher): the base
# class, what launch_run receives, and what the daemon's run monitoring expects back.
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus

# The code server's own entry point for a run in a child process, with its arguments and its messages:
# the forkserver launcher runs exactly this in a pre-forked child instead of a fresh interpreter.
from dagster._grpc.impl import IPCErrorMessage, RunInSubprocessComplete, start_run_in_subprocess
from dagster._grpc.types import ExecuteExternalJobArgs

# How dagster.yaml instantiates a class it names (`module:`, `class:`, `config:`).
from dagster._serdes import ConfigurableClass, ConfigurableClassData

# A run's code origin, made into the job the child process executes.
from dagster._utils.hosted_user_process import recon_job_from_origin

__all__ = [
    "CheckRunHealthResult",
    "ConfigurableClass",
    "ConfigurableClassData",
    "ExecuteExternalJobArgs",
    "IPCErrorMessage",
    "LaunchRunContext",
    "RunInSubprocessComplete",
    "RunLauncher",
    "WorkerStatus",
    "recon_job_from_origin",
    "start_run_in_subprocess",
]
