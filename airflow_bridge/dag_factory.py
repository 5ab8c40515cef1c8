"""DAG objects from the pipeline specs `lake bridge generate` writes (lake_assets/airflow_dags.py).

The generated DAG file calls `build_dags`; this module imports Airflow, never Dagster.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_bridge.graphql import AssetTarget
from airflow_bridge.operators.dagster import DagsterMaterializeOperator


def build_dags(pipelines: Sequence[dict[str, Any]]) -> dict[str, DAG]:
    return {spec["dag_id"]: build_dag(spec) for spec in pipelines}


def build_dag(spec: dict[str, Any]) -> DAG:
    """One DAG from a generated pipeline spec: its tasks as the spec lists them (a slot-partitioned
    pipeline's one `materialize` task, or an unpartitioned one's task per asset), wired as it says."""
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
        for upstream in task.get("upstream", []):
            tasks[upstream] >> tasks[task["task_id"]]
    return dag
