"""The Airflow side of the bridge: an operator that materialises Dagster assets, and the DAG builder.

Imported by the generated DAG file through airflow_bridge.runtime; imports Airflow, never Dagster.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, BaseOperator, Param
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_bridge.runtime import AssetTarget, DagsterClient, DagsterRunError, materialize, partition_key
from lake_contracts import tags


class DagsterMaterializeOperator(BaseOperator):
    """Materialise Dagster assets (with their checks) for the run's slot, or for a range via params."""

    ui_color = "#4f43dd"

    def __init__(self, *, target: AssetTarget, cadence_minutes: int, run_timeout: float = 3600, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.cadence_minutes = cadence_minutes
        self.run_timeout = run_timeout
        self._dagster_run: str | None = None

    def execute(self, context: Any) -> str:
        client = DagsterClient.from_airflow()
        dag_id, run_id, try_number = context["dag"].dag_id, context["run_id"], context["ti"].try_number
        params = context.get("params") or {}
        if self.target.partitioned and params.get("range_start"):
            first, last = params["range_start"], params.get("range_end") or params["range_start"]
            backfill = client.launch_backfill(
                self.target, first, last, {tags.AIRFLOW_DAG: dag_id, tags.AIRFLOW_RUN: run_id}
            )
            self.log.info("launched Dagster backfill %s for %s...%s", backfill, first, last)
            status = client.wait_backfill(backfill, self.run_timeout)
            if status not in ("COMPLETED", "COMPLETED_SUCCESS"):
                raise DagsterRunError(f"Dagster backfill {backfill} ended {status}: {client.url}/runs/b/{backfill}")
            return backfill
        partition = partition_key(context, self.cadence_minutes) if self.target.partitioned else None
        return materialize(
            client,
            self.target,
            dag_id=dag_id,
            run_id=run_id,
            task_id=self.task_id,
            try_number=try_number,
            partition=partition,
            timeout=self.run_timeout,
            on_launched=self._remember,
        )

    def _remember(self, dagster_run: str) -> None:
        self._dagster_run = dagster_run

    def on_kill(self) -> None:
        if self._dagster_run:
            self.log.info("task killed: terminating Dagster run %s", self._dagster_run)
            DagsterClient.from_airflow().terminate(self._dagster_run)


def build_dag(spec: dict[str, Any]) -> DAG:
    """One DAG from a generated pipeline spec: a task per asset, wired as the assets are."""
    dag = DAG(
        dag_id=spec["dag_id"],
        description=spec["description"],
        # Interval semantics: a run covers [data_interval_start, data_interval_end), the slot.
        schedule=CronDataIntervalTimetable(spec["cron"], timezone="UTC"),
        start_date=datetime.fromisoformat(spec["start"]),
        catchup=spec["catchup"],
        max_active_runs=spec["max_active_runs"],
        default_args={"retries": spec["retries"], "retry_delay": timedelta(seconds=spec["retry_delay_seconds"])},
        tags=spec["tags"],
        params={
            # Set both (partition keys, YYYY-MM-DD-HH:MM) on a manual run: one Dagster backfill of the range.
            "range_start": Param(None, type=["null", "string"], description="first partition of a range backfill"),
            "range_end": Param(None, type=["null", "string"], description="last partition of a range backfill"),
        },
        doc_md=spec["doc_md"],
    )
    tasks: dict[str, DagsterMaterializeOperator] = {}
    for task in spec["tasks"]:
        target = AssetTarget(
            location=spec["location"],
            asset_keys=tuple(tuple(key) for key in task["asset_keys"]),
            check_keys=tuple((tuple(asset), name) for asset, name in task["check_keys"]),
            partitioned=task["partitioned"],
        )
        tasks[task["task_id"]] = DagsterMaterializeOperator(
            task_id=task["task_id"], target=target, cadence_minutes=spec["cadence_minutes"], dag=dag
        )
    for task in spec["tasks"]:
        for upstream in task["upstream"]:
            tasks[upstream] >> tasks[task["task_id"]]
    return dag
