"""Run tag names: Dagster's own partition tags and the ones the Airflow bridge stamps on a launched run."""

from __future__ import annotations

PARTITION = "dagster/partition"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"

AIRFLOW_DAG = "airflow/dag_id"
AIRFLOW_RUN = "airflow/run_id"
AIRFLOW_TASK = "airflow/task_id"
AIRFLOW_TRY = "airflow/try_number"
