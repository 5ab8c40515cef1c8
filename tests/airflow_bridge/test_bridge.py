"""The Airflow bridge: generated DAGs, the hook and trigger against a real `dagster dev`, and real Airflow runs.

The module runs Dagster and the generated DAGs at a one-minute cadence (minute partitions), with a
scrapworker (started and stopped by the tests that need one) and the market-API simulator behind the
scraper assets. `airflow standalone` runs with ONE worker slot (parallelism 1), so tasks that wait for
Dagster while holding a slot would run one after another; deferred, they all wait at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import time_machine

from airflow_bridge.graphql import AssetTarget
from airflow_bridge.partitions import partition_key
from tests.support import LAKE, REPO_ROOT, clean_environ

BIN = Path(sys.executable).parent
CADENCE = "1"
HELLO = AssetTarget(location="lake_assets", asset_keys=(("hello",),))
RAW_KLINES = AssetTarget(location="lake_assets", asset_keys=(("raw_binance_klines",),))


# -- no services -----------------------------------------------------------------------------------
def test_the_committed_dag_file_is_current() -> None:
    result = subprocess.run(
        [LAKE, "bridge", "generate", "--check"],
        env=clean_environ(LAKE_ENV_FILE="/nonexistent/lake.env"),  # the defaults the file was generated with
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    env = clean_environ(LAKE_ENV_FILE="/nonexistent/lake.env")
    assert (
        subprocess.run([LAKE, "bridge", "generate", "--out", str(tmp_path)], env=env, capture_output=True).returncode
        == 0
    )
    generated = tmp_path / "lake_bridge_dags.py"
    generated.write_text(generated.read_text().replace('"retries": 2', '"retries": 5'))
    stale = subprocess.run(
        [LAKE, "bridge", "generate", "--check", "--out", str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert stale.returncode == 1 and "is stale" in stale.stderr


DAGBAG_PROBE = """
import importlib.abc, json, sys
class NoDagster(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dagster", "dagster_graphql", "lake_assets"):
            raise ImportError(f"{name} must not be imported where Airflow parses DAGs")
sys.meta_path.insert(0, NoDagster())
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
bag = DagBag(dag_folder=sys.argv[1])
dagster_hook = ProvidersManagerTaskRuntime().hooks.get("dagster")
print(json.dumps({
    "connection_type": dagster_hook and dagster_hook.hook_class_name,
    "errors": {k: str(v)[:500] for k, v in bag.import_errors.items()},
    "dags": {d.dag_id: {"timetable": type(d.timetable).__name__, "catchup": d.catchup,
                        "tasks": sorted(d.task_ids), "retries": d.default_args.get("retries"),
                        "cron": getattr(d.timetable, "_expression", None),
                        "upstream_of_klines": sorted(d.task_dict["maintenance__market__klines"].upstream_task_ids)
                        if "maintenance__market__klines" in d.task_dict else None}
             for d in bag.dags.values()},
}))
"""


def test_dagbag_imports_the_generated_folder_without_dagster(tmp_path: Path) -> None:
    env = clean_environ(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    probe = subprocess.run(
        [sys.executable, "-c", DAGBAG_PROBE, str(REPO_ROOT / "airflow_bridge" / "dags")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found["errors"] == {}
    # The bridge registers its connection type like a provider package does.
    assert found["connection_type"] == "airflow_bridge.hooks.dagster.DagsterHook"
    assert set(found["dags"]) == {
        "spark_static_data_v1_skeleton",
        "spark_static_data_v2_submit",
        "spark_partitioned_data_v1",
        "scraper_pipeline_v1",
        "scraper_typed_v1",
        "lake_maintenance_v1",
        "landing_sla_v1",
    }
    assert found["dags"]["landing_sla_v1"]["tasks"] == ["slots_on_time"]  # the SLA monitor, on its own
    # A slot is ONE task and one Dagster run for the whole chain; the typed table runs on its own schedule.
    scraper, typed = found["dags"]["scraper_pipeline_v1"], found["dags"]["scraper_typed_v1"]
    assert scraper["timetable"] == "CronDataIntervalTimetable" and scraper["catchup"] is False
    assert scraper["tasks"] == typed["tasks"] == ["materialize"]
    assert scraper["cron"] == typed["cron"] == "*/15 * * * *"  # the defaults: both every 15 minutes
    assert scraper["retries"] == 2
    # Table maintenance runs daily, once the UTC day has closed: every table's after the branch retention.
    maintenance = found["dags"]["lake_maintenance_v1"]
    assert maintenance["cron"] == "15 0 * * *"
    assert maintenance["tasks"] == [
        "maintenance__landing__signals",
        "maintenance__market__klines",
        "maintenance__seed__partitioned_data",
        "maintenance__seed__static_data",
        "maintenance__wap_branches",
    ]
    assert maintenance["upstream_of_klines"] == ["maintenance__wap_branches"]


def test_partition_key_comes_from_the_data_interval_with_a_fallback() -> None:
    scheduled = {
        "data_interval_start": datetime(2026, 11, 1, 0, 15, tzinfo=UTC),
        "data_interval_end": datetime(2026, 11, 1, 0, 30, tzinfo=UTC),
    }
    assert partition_key(scheduled, 15) == "2026-11-01-00:15"
    manual = {"logical_date": datetime(2026, 11, 1, 0, 30, tzinfo=UTC), "data_interval_start": None}
    assert partition_key(manual, 15) == "2026-11-01-00:15"  # the slot that ended at the logical date
    # No interval and no logical date (a run triggered through the API): the run's own run_after decides,
    # for every task and every try, whenever the try starts (the bug: each try used its own clock).
    triggered = {"dag_run": SimpleNamespace(run_after=datetime(2026, 11, 1, 0, 37, tzinfo=UTC))}
    assert partition_key(triggered, 15) == "2026-11-01-00:15"
    with pytest.raises(ValueError, match="no data interval, logical date or run_after"):
        partition_key({}, 15)


def test_a_retry_after_a_slot_boundary_keeps_the_runs_slot() -> None:
    """A manual run's task retried after the next slot began: same slot, so no second Dagster run. Each try
    runs with the process's clocks (time.time, datetime.now, ...) moved to when it would start."""
    run = SimpleNamespace(run_after=datetime(2026, 11, 1, 0, 44, tzinfo=UTC))
    tries = []
    for clock in (datetime(2026, 11, 1, 0, 44, 50, tzinfo=UTC), datetime(2026, 11, 1, 1, 2, tzinfo=UTC)):
        with time_machine.travel(clock, tick=False):
            tries.append(partition_key({"dag_run": run, "logical_date": None, "data_interval_start": None}, 15))
    assert tries == ["2026-11-01-00:15", "2026-11-01-00:15"]


def test_an_interval_of_several_slots_is_one_range() -> None:
    from airflow_bridge.partitions import partition_range

    typed = {
        "data_interval_start": datetime(2026, 11, 1, 0, 15, tzinfo=UTC),
        "data_interval_end": datetime(2026, 11, 1, 0, 30, tzinfo=UTC),
    }
    assert partition_range(typed, 1) == ("2026-11-01-00:15", "2026-11-01-00:29")  # 15 one-minute slots
    assert partition_range(typed, 15) == ("2026-11-01-00:15", "2026-11-01-00:15")  # one slot: no range


def test_a_backfill_s_progress_names_the_asset_furthest_behind() -> None:
    from airflow_bridge.graphql import backfill_progress

    statuses = [
        {"numPartitionsTargeted": 96, "numPartitionsMaterialized": 40, "numPartitionsFailed": 1},
        {"numPartitionsTargeted": 96, "numPartitionsMaterialized": 7, "numPartitionsFailed": 0},
    ]
    data = {"assetBackfillStatuses": statuses}
    answer = {"partitionBackfillOrError": {"status": "REQUESTED", "assetBackfillData": data}}
    assert backfill_progress(answer) == "7 of 96 partitions done, 1 failed"
    assert backfill_progress({"partitionBackfillOrError": {"status": "REQUESTED", "assetBackfillData": None}}) is None
