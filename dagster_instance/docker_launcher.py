"""dagster-docker's DockerRunLauncher, with each new pool's limit created before the run's container starts.

The compose stack runs every Dagster run in a container of its own (docker/dagster/dagster.yaml); its
webserver and daemon launch them. Two runs claiming a new pool at once fail one of them on PostgreSQL
(dagster_instance/pools.py), so this launcher creates the pools first, as the embedded stack's does.
"""

from __future__ import annotations

from dagster_docker import DockerRunLauncher

from dagster_instance.internals import LaunchRunContext
from dagster_instance.pools import ensure_pools, run_pools


class PoolSafeDockerRunLauncher(DockerRunLauncher):
    def launch_run(self, context: LaunchRunContext) -> None:
        ensure_pools(self._instance, run_pools(self._instance, context.dagster_run))
        super().launch_run(context)
