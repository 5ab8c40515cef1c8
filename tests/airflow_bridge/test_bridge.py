"""The Airflow bridge: generated DAGs, the hook and trigger against a real `dagster dev`, and real Airflow runs.

The module runs Dagster and the generated DAGs at a one-minute cadence (minute partitions), with a
scrapworker (started and stopped by the tests that need one) and the market-API simulator behind the
scraper assets. `airflow standalone` runs with ONE worker slot (parallelism 1), so tasks that wait for
Dagster while holding a slot would run one after another; deferred, they all wait at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import time_machine

from airflow_bridge.graphql import AssetTarget, DagsterRunError
from airflow_bridge.hooks.dagster import DagsterHook
from airflow_bridge.partitions import partition_key
from airflow_bridge.triggers.dagster import DagsterRunTrigger
from lake.access import Role
from lake.catalog import open_catalog
from lake.settings import LakeSettings
from lake_tools.platform.airflow import dagster_connection
from lake_tools.platform.airflow import token as airflow_token
from lake_tools.stack import Stack
from market_sim import MarketSimulator
from tests.support import LAKE, REPO_ROOT, clean_environ, free_port, jobs_per_slot, kline_symbols

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


# -- a running Dagster ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bridge_env(stack: Stack, lake_settings: LakeSettings, simulator: MarketSimulator) -> Iterator[Path]:
    path = stack.layout.home / f"bridge-{secrets.token_hex(3)}.env"
    path.write_text(
        stack.env_file.read_text()
        + f"LAKE_QUEUE__PREFIX=scrapworker-bridge-{secrets.token_hex(3)}\n"
        + f"LAKE_CRAWLER__BASE_URLS={json.dumps({'binance': simulator.base_url})}\n"
        + f"LAKE_PARTITIONS__CADENCE_MINUTES={CADENCE}\n"
        + "LAKE_PARTITIONS__TYPED_EVERY_MINUTES=2\n"
    )
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def dagster_url(bridge_env: Path, stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`lake dagster dev` (webserver + daemon) on the embedded instance, stopped by PID at the end."""
    port = free_port()
    log = (tmp_path_factory.mktemp("dagster") / "dagster.log").open("wb")
    env = clean_environ(LAKE_HOME=str(stack.layout.home), LAKE_ENV_FILE=str(bridge_env))
    process = subprocess.Popen(
        [LAKE, "dagster", "dev", "-p", str(port), "-h", "127.0.0.1"],
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    login = (str(Role.OPERATOR), stack.secrets().password("dagster", Role.OPERATOR))
    try:
        _wait_for(lambda: requests.get(f"{url}/server_info", auth=login, timeout=2).ok, 120, "dagster dev")
        yield url
    finally:
        _stop_tree(process)


class Workers:
    """The scrapworker behind the raw-landing assets: tests start it, or stop it to hold landings back."""

    def __init__(self, env_file: Path, log: Path) -> None:
        self.env_file, self.log = env_file, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.process is None:
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(
                    [str(BIN / "scrapworker"), "run"],
                    env=clean_environ(LAKE_ENV_FILE=str(self.env_file)),
                    stdout=log,
                    stderr=log,
                )

    def stop(self) -> None:
        if self.process is not None:
            _stop_tree(self.process)
            self.process = None


@pytest.fixture(scope="module")
def workers(bridge_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    control = Workers(bridge_env, tmp_path_factory.mktemp("scrapworker") / "worker.log")
    try:
        yield control
    finally:
        control.stop()


def bridge_connection(dagster_url: str, stack: Stack) -> str:
    """`dagster_default` as the bridge's own identity on Dagster's webserver, as `lake up` sets it."""
    return dagster_connection(dagster_url, stack.secrets().password("dagster", Role.BRIDGE))


@pytest.fixture(scope="module")
def hook(dagster_url: str, stack: Stack) -> Iterator[DagsterHook]:
    """The hook as a task sees it: the `dagster_default` connection, here from AIRFLOW_CONN_DAGSTER_DEFAULT."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_DAGSTER_DEFAULT", bridge_connection(dagster_url, stack))
        yield DagsterHook()


# A one-task DAG over the raw landing: its Dagster run waits for a scrapworker, so the test decides when
# the runs can end. Built by the same factory as the generated DAGs.
PROBE_DAG = "deferral_probe"
PROBE_SPEC = {
    "dag_id": PROBE_DAG,
    "description": "test: bridge tasks that wait for Dagster defer",
    "doc_md": "Test DAG.",
    "cron": "*/1 * * * *",
    "cadence_minutes": 1,
    "catchup": False,
    "max_active_runs": 8,
    # Retries as the generated DAGs have them: Airflow 3.3 can fail a deferred task whose trigger fires
    # before the scheduler has seen the worker exit (apache/airflow#72716); the retry then attaches to
    # the finished Dagster run and completes without deferring again.
    "retries": 2,
    "retry_delay_seconds": 5,
    "start": "2026-11-01T00:00:00+00:00",
    "tags": ["test"],
    "location": "lake_assets",
    "tasks": [
        {
            "task_id": "raw_binance_klines",
            "asset_keys": [["raw_binance_klines"]],
            "check_keys": [],
            "partitioned": True,
            "upstream": [],
        }
    ],
}


@pytest.fixture(scope="module")
def airflow_home(
    tmp_path_factory: pytest.TempPathFactory, bridge_env: Path, dagster_url: str, stack: Stack
) -> tuple[Path, dict[str, str]]:
    """An Airflow home with its own sqlite DB and a dags folder generated at the module's cadence."""
    home = tmp_path_factory.mktemp("airflow")
    dags = home / "dags"
    generate = subprocess.run(
        [LAKE, "bridge", "generate", "--out", str(dags)],
        env=clean_environ(LAKE_ENV_FILE=str(bridge_env)),
        capture_output=True,
        text=True,
    )
    assert generate.returncode == 0, generate.stderr
    (dags / f"{PROBE_DAG}.py").write_text(
        "import json\n"
        "from airflow_bridge.dag_factory import build_dags\n"
        f"globals().update(build_dags([json.loads({json.dumps(json.dumps(PROBE_SPEC))})]))\n"
    )
    env = clean_environ(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_DAGSTER_DEFAULT=bridge_connection(dagster_url, stack),
    )
    migrate = subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    return home, env


@pytest.fixture(scope="module")
def airflow_api(airflow_home: tuple[Path, dict[str, str]]) -> Iterator[tuple[str, requests.Session]]:
    """`airflow standalone` (scheduler, API server, DAG processor, triggerer) with one worker slot, and a
    session logged in to its REST API as its admin (simple auth manager, a generated password)."""
    home, env = airflow_home
    api_port = free_port()
    password = secrets.token_urlsafe(12)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({"admin": password}))
    passwords.chmod(0o600)
    env = env | {
        "AIRFLOW__API__PORT": str(api_port),
        # Task runners report to the API server: tell them where it is, not the default :8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "1",  # one worker slot: a waiting task must not hold it
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        # standalone starts its scheduler, api-server, ... as `airflow` commands found on PATH.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = (home / "standalone.log").open("wb")
    standalone = subprocess.Popen(
        [str(BIN / "airflow"), "standalone"], env=env, stdout=log, stderr=log, start_new_session=True
    )
    api = f"http://127.0.0.1:{api_port}/api/v2"
    session = requests.Session()

    def dags() -> set[str]:
        if "Authorization" not in session.headers:
            session.headers["Authorization"] = f"Bearer {airflow_token(f'http://127.0.0.1:{api_port}', password)}"
        return {d["dag_id"] for d in session.get(f"{api}/dags", params={"limit": 100}, timeout=5).json()["dags"]}

    try:
        _wait_for(lambda: {PROBE_DAG, "scraper_pipeline_v1"} <= dags(), 240, "airflow standalone to parse the DAGs")
        assert requests.get(f"{api}/dags", timeout=5).status_code == 401  # no one gets in without the login
        yield api, session
    finally:
        _stop_tree(standalone)


def _dags_test(env: dict[str, str], dag_id: str, logical_date: str) -> str:
    run = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", dag_id, logical_date],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout + run.stderr


def _tasks_test(env: dict[str, str], dag_id: str, task_id: str, logical_date: str) -> str:
    """`airflow tasks test`'s output; it exits 0 whatever the task did, so the output is what tells."""
    run = subprocess.run(
        [str(BIN / "airflow"), "tasks", "test", dag_id, task_id, logical_date],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return run.stdout + run.stderr


def _check_evaluations(hook: DagsterHook, run_id: str) -> int:
    events = hook.query(
        "query($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events { __typename } } } }",
        {"runId": run_id},
    )["logsForRun"]["events"]
    return sum(e["__typename"] == "AssetCheckEvaluationEvent" for e in events)


def test_airflow_dags_test_runs_the_scraper_pipeline_through_dagster(
    airflow_home: tuple[Path, dict[str, str]], hook: DagsterHook, workers: Workers, lake_settings: LakeSettings
) -> None:
    _, env = airflow_home
    workers.start()
    for logical_date in ("2026-11-06T00:11:00+00:00", "2026-11-06T00:12:00+00:00"):
        output = _dags_test(env, "scraper_pipeline_v1", logical_date)
        assert "running trigger in line" in output  # the task deferred to DagsterRunTrigger
    runs = hook.runs_tagged({"airflow/dag_id": "scraper_pipeline_v1"})
    # One Dagster run per slot carries the chain: raw landing, then its signal with the signal's checks.
    assert len(runs) == 2 and {r["status"] for r in runs} == {"SUCCESS"}
    partitions = sorted(tag["value"] for r in runs for tag in r["tags"] if tag["key"] == "dagster/partition")
    assert partitions == ["2026-11-06-00:10", "2026-11-06-00:11"]  # the intervals that end at the logical dates
    assert all(_check_evaluations(hook, r["runId"]) == 3 for r in runs)  # signals_complete, ... passed or not
    table = open_catalog(lake_settings).load_table("landing.signals")
    signals = table.scan(row_filter="ds == '2026-11-06' and hr == 0 and min >= 10 and min <= 11").to_arrow()
    assert signals.num_rows == 2 * jobs_per_slot()  # one per landing job of each slot
    # The typed table every 2 minutes: its interval [00:10, 00:12) is ONE run over both slots (one
    # spark-submit), tagged with the range, reading each slot's landing.
    _dags_test(env, "scraper_typed_v1", "2026-11-06T00:12:00+00:00")
    [typed] = hook.runs_tagged({"airflow/dag_id": "scraper_typed_v1"})
    run_tags = {tag["key"]: tag["value"] for tag in typed["tags"]}
    assert typed["status"] == "SUCCESS"
    assert (run_tags["dagster/asset_partition_range_start"], run_tags["dagster/asset_partition_range_end"]) == (
        "2026-11-06-00:10",
        "2026-11-06-00:11",
    )
    assert _check_evaluations(hook, typed["runId"]) == 2  # no_null_partitions and typed_rows_committed
    klines = open_catalog(lake_settings).load_table("market.klines")
    window = "open_time >= '2026-11-06T00:10:00+00:00' and open_time < '2026-11-06T00:12:00+00:00'"
    assert klines.scan(row_filter=window).to_arrow().num_rows == 2 * kline_symbols()  # 2 minutes per symbol


def test_a_failing_dagster_run_fails_the_airflow_task(airflow_home: tuple[Path, dict[str, str]]) -> None:
    _, env = airflow_home
    # No landing exists for these slots: the klines Spark job refuses to run, so the Dagster run fails.
    output = _tasks_test(env, "scraper_typed_v1", "materialize", "2026-11-07T00:10:00+00:00")
    # `airflow tasks test` exits 0 whatever the task did; the task's own state tells.
    assert "new_state=up_for_retry" in output, output[-3000:]
    assert "DagsterRunError: Dagster run failure" in output and "is not complete: no manifest" in output
    assert "/runs/" in output  # the link to the failed run


def test_the_sla_monitor_fails_its_airflow_task_naming_the_missing_slots(
    airflow_home: tuple[Path, dict[str, str]], hook: DagsterHook
) -> None:
    _, env = airflow_home
    # The last day's slots at this cadence have no signals in this stack but the few the tests landed: the
    # monitor's Dagster run (the check alone) fails, and so does the Airflow task, naming the slots.
    output = _tasks_test(env, "landing_sla_v1", "slots_on_time", "2026-11-07T00:10:00+00:00")
    assert "new_state=failed" in output, output[-3000:]
    assert re.search(r"check slots_on_time failed: \d+ of \d+ due slot\(s\) have no signal: 20\d\d-", output), output[
        -3000:
    ]
    [monitor] = hook.runs_tagged({"airflow/dag_id": "landing_sla_v1"})
    assert monitor["status"] == "FAILURE" and _check_evaluations(hook, monitor["runId"]) == 1  # the check alone


def test_a_retry_attaches_to_the_run_instead_of_launching_another(hook: DagsterHook) -> None:
    identity = {
        "airflow/dag_id": "retry_probe",
        "airflow/run_id": f"manual__{secrets.token_hex(4)}",
        "airflow/task_id": "hello",
        "dagster/partition": "2026-11-08-00:00",
    }
    first = hook.launch_or_attach(HELLO, identity, try_number=1)
    second = hook.launch_or_attach(HELLO, identity, try_number=2)
    assert first == second
    assert len(hook.runs_tagged({"airflow/run_id": identity["airflow/run_id"]})) == 1


def test_a_failed_launch_names_dagster_s_reason(hook: DagsterHook) -> None:
    bogus = AssetTarget(location="lake_assets", asset_keys=(("no_such_asset",),))
    with pytest.raises(DagsterRunError, match="Dagster refused the launch"):
        hook.launch_or_attach(bogus, {"airflow/run_id": "y", "dagster/partition": "2026-11-08-00:00"}, try_number=1)


def _first_event(trigger: DagsterRunTrigger) -> dict[str, object]:
    async def first() -> dict[str, object]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def test_the_trigger_reports_the_end_of_a_run_and_stops_it_when_killed(hook: DagsterHook, workers: Workers) -> None:
    workers.stop()  # the landing's run now waits for a worker: a run that is still going
    tags = {"airflow/run_id": f"trigger__{secrets.token_hex(4)}", "dagster/partition": "2026-11-08-00:05"}
    waiting = hook.launch(RAW_KLINES, tags)
    timeout = DagsterRunTrigger(dagster_id=waiting, deadline=time.time() + 3, max_delay=1)
    event = _first_event(timeout)
    assert event["status"] == "TIMEOUT" and "still" in str(event["message"])
    asyncio.run(timeout.on_kill())  # what Airflow calls when a user kills the deferred task
    assert _first_event(DagsterRunTrigger(dagster_id=waiting, deadline=time.time() + 120))["status"] == "CANCELED"
    done = hook.launch(HELLO, {"airflow/run_id": tags["airflow/run_id"], "dagster/partition": "2026-11-08-00:06"})
    assert _first_event(DagsterRunTrigger(dagster_id=done, deadline=time.time() + 120)) == {
        "kind": "run",
        "dagster_id": done,
        "status": "SUCCESS",
    }
    unknown = _first_event(DagsterRunTrigger(dagster_id="0" * 36, deadline=time.time() + 60))
    assert unknown["status"] == "ERROR" and "has no run" in str(unknown["message"])


def test_more_waiting_tasks_than_worker_slots_all_defer_and_complete(
    airflow_api: tuple[str, requests.Session], hook: DagsterHook, workers: Workers
) -> None:
    api, airflow = airflow_api
    workers.stop()  # hold the landings back: every task waits on its Dagster run
    run_ids = [f"probe_{minute}_{secrets.token_hex(3)}" for minute in (1, 2, 3)]
    assert airflow.patch(f"{api}/dags/{PROBE_DAG}", json={"is_paused": False}, timeout=30).ok
    for run_id, minute in zip(run_ids, (1, 2, 3), strict=True):
        created = airflow.post(
            f"{api}/dags/{PROBE_DAG}/dagRuns",
            json={"dag_run_id": run_id, "logical_date": f"2026-11-10T00:0{minute}:00+00:00"},
            timeout=30,
        )
        assert created.ok, created.text

    def states() -> dict[str, str]:
        found = airflow.get(f"{api}/dags/{PROBE_DAG}/dagRuns/~/taskInstances", params={"limit": 100}, timeout=10)
        return {ti["dag_run_id"]: ti["state"] for ti in found.json()["task_instances"] if ti["dag_run_id"] in run_ids}

    # Three tasks wait at once on one worker slot: each has deferred, none holds the slot.
    _wait_for(lambda: list(states().values()) == ["deferred"] * 3, 300, "three deferred tasks")
    workers.start()
    _wait_for(lambda: list(states().values()) == ["success"] * 3, 300, "the three tasks to succeed")
    partitions = {
        t["value"]
        for r in hook.runs_tagged({"airflow/dag_id": PROBE_DAG})
        if r["status"] == "SUCCESS" and any(t["value"] in run_ids for t in r["tags"])
        for t in r["tags"]
        if t["key"] == "dagster/partition"
    }
    assert partitions == {"2026-11-10-00:00", "2026-11-10-00:01", "2026-11-10-00:02"}
    # Paused again: its run every minute would keep the module's SQLite metadata database busy.
    assert airflow.patch(f"{api}/dags/{PROBE_DAG}", json={"is_paused": True}, timeout=30).ok


def test_a_five_minute_airflow_backfill_gives_five_dagster_partitions(
    airflow_api: tuple[str, requests.Session], hook: DagsterHook
) -> None:
    api, airflow = airflow_api
    dag = "spark_static_data_v1_skeleton"
    assert airflow.patch(f"{api}/dags/{dag}", json={"is_paused": False}, timeout=30).ok
    body = {"dag_id": dag, "from_date": "2026-11-09T00:00:00+00:00", "to_date": "2026-11-09T00:04:00+00:00"}
    # Through the API server, as the UI does. The test's metadata database is SQLite, which answers a write
    # that meets the scheduler's with "database is locked" (rolled back): such a refusal is retried.
    for _ in range(5):
        created = airflow.post(f"{api}/backfills", json=body, timeout=60)
        if created.ok or "locked" not in created.text:
            break
        time.sleep(2)
    assert created.ok, created.text[-2000:]

    def backfill_runs() -> list[dict[str, Any]]:
        # Unpausing also schedules the latest interval; count only the backfill's runs.
        return [
            r
            for r in hook.runs_tagged({"airflow/dag_id": dag})
            if any(t["key"] == "airflow/run_id" and t["value"].startswith("backfill") for t in r["tags"])
        ]

    _wait_for(lambda: len([r for r in backfill_runs() if r["status"] == "SUCCESS"]) >= 5, 300, "five Dagster runs")
    partitions = sorted(t["value"] for r in backfill_runs() for t in r["tags"] if t["key"] == "dagster/partition")
    assert partitions == [f"2026-11-09-00:0{m}" for m in range(5)]


def _stop_tree(process: subprocess.Popen[bytes]) -> None:
    """Stop a process and every descendant by PID: standalone's components outlive its process group."""
    import psutil

    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    _, alive = psutil.wait_procs(tree, timeout=30)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    process.wait(timeout=30)


def _wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():  # type: ignore[operator]
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}")
