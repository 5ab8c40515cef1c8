"""Each pool's concurrency limit created before a run claims it: shared by both run launchers.

Dagster 1.13 creates a pool's row at its first claim; two runs claiming a new pool at once (two slots
caught up together, a scheduled slot beside a backfilled one) both INSERT it, and on PostgreSQL the
loser's fallback UPDATE runs in the aborted transaction: that run fails with "current transaction is
aborted" (seen in the platform test under load, and in the compose stack). The launchers call
`ensure_pools` before a run starts, so runs find the row and never insert.
"""

from __future__ import annotations

import contextlib

from dagster import DagsterInstance, DagsterRun
from sqlalchemy.exc import SQLAlchemyError


def run_pools(instance: DagsterInstance, run: DagsterRun) -> set[str]:
    """The pools the run's steps will claim (each Spark table asset has its table's pool)."""
    if run.execution_plan_snapshot_id is None:
        return set()
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    return {step.pool for step in plan.steps if step.pool}


def ensure_pools(instance: DagsterInstance, pools: set[str]) -> None:
    """Give each new pool its default limit before any run claims it. Two launching processes can still
    race here: whichever wins, the row exists, so the loser's error is dropped."""
    storage = instance.event_log_storage
    for pool in sorted(pools - storage.get_concurrency_keys()):
        with contextlib.suppress(SQLAlchemyError):
            storage.initialize_concurrency_limit_to_default(pool)
