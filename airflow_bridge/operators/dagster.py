"""DagsterMaterializeOperator: materialise Dagster assets (with their checks) for an Airflow run's slot.

The task launches the Dagster run (or attaches to the one an earlier try launched, unless that run
failed), tags it with the Airflow dag, run, task and try, and defers to DagsterRunTrigger: while Dagster
works, the task holds no worker slot. When the run ends the task resumes in `execute_complete`, which
returns the run id (XCom) or fails with Dagster's own error and a link to the run.

A manual run with `range_start`/`range_end` params launches one Dagster backfill of that range instead.
"""

from __future__ import annotations

import time
from typing import Any, NoReturn

from airflow.sdk import BaseOperator

from airflow_bridge import graphql
from airflow_bridge.graphql import AssetTarget, DagsterRunError
from airflow_bridge.hooks.dagster import DagsterHook
from airflow_bridge.partitions import partition_range
from airflow_bridge.triggers.dagster import DagsterRunTrigger, Kind
from lake_contracts import tags


class DagsterMaterializeOperator(BaseOperator):
    ui_color = "#4f43dd"

    def __init__(
        self,
        *,
        target: AssetTarget,
        cadence_minutes: int,
        dagster_conn_id: str = DagsterHook.default_conn_name,
        run_timeout: float = 3600,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.cadence_minutes = cadence_minutes
        self.dagster_conn_id = dagster_conn_id
        self.run_timeout = run_timeout

    def execute(self, context: Any) -> str | None:
        hook = DagsterHook(self.dagster_conn_id)
        dag_id, run_id = context["dag"].dag_id, context["run_id"]
        params = context.get("params") or {}
        if self.target.partitioned and params.get("range_start"):
            first, last = params["range_start"], params.get("range_end") or params["range_start"]
            backfill = hook.launch_backfill(
                self.target, first, last, {tags.AIRFLOW_DAG: dag_id, tags.AIRFLOW_RUN: run_id}
            )
            self.log.info(
                "launched Dagster backfill %s for %s...%s: %s", backfill, first, last, hook.backfill_link(backfill)
            )
            self._wait_for(backfill, "backfill")
        # The task id is part of the identity: every task of one Airflow run shares its dag and run ids.
        identity = {tags.AIRFLOW_DAG: dag_id, tags.AIRFLOW_RUN: run_id, tags.AIRFLOW_TASK: self.task_id}
        slots = partition_range(context, self.cadence_minutes) if self.target.partitioned else None
        if slots is None:
            what = "the asset"
        elif slots.first == slots.last:
            identity[tags.PARTITION] = slots.first
            what = f"partition {slots.first}"
        else:
            # An interval of several slots (the typed tables): ONE run over the range, one Spark submit.
            identity |= {tags.RANGE_START: slots.first, tags.RANGE_END: slots.last}
            what = f"partitions {slots.first}...{slots.last}"
        dagster_run = hook.launch_or_attach(self.target, identity, context["ti"].try_number)
        self.log.info("Dagster run for %s: %s", what, hook.run_link(dagster_run))
        status = hook.run_status(dagster_run)
        if status in graphql.RUN_TERMINAL:
            # A retry attached to a finished run: nothing to wait for. (Deferring would also race a
            # trigger that fires at once against the scheduler, which Airflow 3.3 can lose; see README.)
            return self.execute_complete(context, {"kind": "run", "dagster_id": dagster_run, "status": status})
        self._wait_for(dagster_run, "run")

    def _wait_for(self, dagster_id: str, kind: Kind) -> NoReturn:
        trigger = DagsterRunTrigger(
            dagster_id=dagster_id,
            kind=kind,
            deadline=time.time() + self.run_timeout,
            dagster_conn_id=self.dagster_conn_id,
        )
        self.defer(trigger=trigger, method_name="execute_complete")

    def execute_complete(self, context: Any, event: dict[str, Any]) -> str:
        hook = DagsterHook(self.dagster_conn_id)
        dagster_id, kind, status = event["dagster_id"], event["kind"], event["status"]
        if kind == "run":
            link = hook.run_link(dagster_id)
            if status == "SUCCESS":
                self.log.info("Dagster run succeeded: %s", link)
                return str(dagster_id)
            if status in graphql.RUN_TERMINAL:
                raise DagsterRunError(f"Dagster run {status.lower()}: {hook.failure_message(dagster_id)} ({link})")
        else:
            link = hook.backfill_link(dagster_id)
            if status in graphql.BACKFILL_SUCCESS:
                self.log.info("Dagster backfill completed: %s", link)
                return str(dagster_id)
            if status in graphql.BACKFILL_TERMINAL:
                raise DagsterRunError(f"Dagster backfill {dagster_id} ended {status}: {link}")
        raise DagsterRunError(f"{event.get('message') or status} ({link})")
