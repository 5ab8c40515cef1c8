"""The Airflow bridge: generated DAGs, the runtime against a real `dagster dev`, and real Airflow runs.

The module runs Dagster and the generated DAGs at a one-minute cadence (minute partitions), with a
scrapworker and the market-API simulator behind the scraper assets.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from airflow_bridge.runtime import AssetTarget, DagsterClient, DagsterRunError, materialize, partition_key
from lake.catalog import open_catalog
from lake.settings import LakeSettings
from lake_tools.stack import Stack
from scrapworker.simulator import MarketSimulator
from tests.support import LAKE, REPO_ROOT, clean_environ, free_port

BIN = Path(sys.executable).parent
CADENCE = "1"
HELLO = AssetTarget(location="lake_assets", asset_keys=(("hello",),))


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
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "errors": {k: str(v)[:500] for k, v in bag.import_errors.items()},
    "dags": {d.dag_id: {"timetable": type(d.timetable).__name__, "catchup": d.catchup,
                        "tasks": sorted(d.task_ids), "retries": d.default_args.get("retries")}
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
    assert set(found["dags"]) == {
        "spark_static_data_v1_skeleton",
        "spark_static_data_v2_submit",
        "spark_partitioned_data_v1",
        "scraper_pipeline_v1",
    }
    scraper = found["dags"]["scraper_pipeline_v1"]
    assert scraper["timetable"] == "CronDataIntervalTimetable" and scraper["catchup"] is False
    assert scraper["tasks"] == ["landing__signals", "market__klines", "raw_binance_klines"]
    assert scraper["retries"] == 2


def test_partition_key_comes_from_the_data_interval_with_a_fallback() -> None:
    scheduled = {
        "data_interval_start": datetime(2026, 11, 1, 0, 15, tzinfo=UTC),
        "data_interval_end": datetime(2026, 11, 1, 0, 30, tzinfo=UTC),
    }
    assert partition_key(scheduled, 15) == "2026-11-01-00:15"
    manual = {"logical_date": datetime(2026, 11, 1, 0, 30, tzinfo=UTC), "data_interval_start": None}
    assert partition_key(manual, 15) == "2026-11-01-00:15"  # the slot that ended at the logical date
    bare: dict[str, object] = {}
    assert partition_key(bare, 15, now=datetime(2026, 11, 1, 0, 37, tzinfo=UTC)) == "2026-11-01-00:15"


# -- a running Dagster ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bridge_env(stack: Stack, lake_settings: LakeSettings, simulator: MarketSimulator) -> Iterator[Path]:
    path = stack.layout.home / f"bridge-{secrets.token_hex(3)}.env"
    path.write_text(
        stack.env_file.read_text()
        + f"LAKE_QUEUE__PREFIX=bridge-{secrets.token_hex(3)}\n"
        + f"LAKE_CRAWLER__BASE_URLS={json.dumps({'binance': simulator.base_url})}\n"
        + f"LAKE_PARTITIONS__CADENCE_MINUTES={CADENCE}\n"
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
    worker = subprocess.Popen(
        [str(BIN / "scrapworker"), "run"], env=clean_environ(LAKE_ENV_FILE=str(bridge_env)), stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: requests.get(f"{url}/server_info", timeout=2).ok, 120, "dagster dev")
        yield url
    finally:
        _stop_tree(worker)
        _stop_tree(process)


@pytest.fixture(scope="module")
def airflow_home(
    tmp_path_factory: pytest.TempPathFactory, bridge_env: Path, dagster_url: str
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
    env = clean_environ(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_DAGSTER_DEFAULT=dagster_url,
    )
    migrate = subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    return home, env


def test_airflow_dags_test_runs_the_scraper_pipeline_through_dagster(
    airflow_home: tuple[Path, dict[str, str]], dagster_url: str, lake_settings: LakeSettings
) -> None:
    _, env = airflow_home
    run = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "scraper_pipeline_v1", "2026-11-06T00:10:00+00:00"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    client = DagsterClient(dagster_url)
    runs = client.runs_tagged({"airflow/dag_id": "scraper_pipeline_v1"})
    assert len(runs) == 3 and {r["status"] for r in runs} == {"SUCCESS"}
    partitions = {tag["value"] for r in runs for tag in r["tags"] if tag["key"] == "dagster/partition"}
    assert partitions == {"2026-11-06-00:09"}  # the interval [00:09, 00:10) that ends at the logical date
    tasks = {t["value"] for r in runs for t in r["tags"] if t["key"] == "airflow/task_id"}
    assert tasks == {"raw_binance_klines", "landing__signals", "market__klines"}  # one Dagster run per task
    evaluations = [
        e
        for r in runs
        for e in client.query(
            "query($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events { __typename } } } }",
            {"runId": r["runId"]},
        )["logsForRun"]["events"]
        if e["__typename"] == "AssetCheckEvaluationEvent"
    ]
    assert len(evaluations) >= 4  # the checks of signals and klines ran in those runs
    table = open_catalog(lake_settings).load_table("landing.signals")
    assert table.scan(row_filter="ds == '2026-11-06' and hr == 0 and min == 9").to_arrow().num_rows == 2


def test_a_failing_dagster_run_fails_the_airflow_task(airflow_home: tuple[Path, dict[str, str]]) -> None:
    _, env = airflow_home
    # No landing exists for this slot: the klines Spark job refuses to run, so the Dagster run fails.
    run = subprocess.run(
        [str(BIN / "airflow"), "tasks", "test", "scraper_pipeline_v1", "market__klines", "2026-11-07T00:10:00+00:00"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = run.stdout + run.stderr
    # `airflow tasks test` exits 0 whatever the task did; the task's own state tells.
    assert "new_state=up_for_retry" in output, output[-3000:]
    assert "DagsterRunError: Dagster run failure" in output and "is not complete: no manifest" in output
    assert "/runs/" in output  # the link to the failed run


def test_a_retry_attaches_to_the_run_instead_of_launching_another(dagster_url: str) -> None:
    client = DagsterClient(dagster_url)
    identity = {
        "dag_id": "retry_probe",
        "run_id": f"manual__{secrets.token_hex(4)}",
        "task_id": "hello",
        "partition": "2026-11-08-00:00",
    }
    first = materialize(client, HELLO, try_number=1, **identity)
    second = materialize(client, HELLO, try_number=2, **identity)
    assert first == second
    assert len(client.runs_tagged({"airflow/run_id": identity["run_id"]})) == 1


def test_a_failed_launch_names_dagster_s_reason(dagster_url: str) -> None:
    client = DagsterClient(dagster_url)
    bogus = AssetTarget(location="lake_assets", asset_keys=(("no_such_asset",),))
    with pytest.raises(DagsterRunError, match="Dagster"):
        materialize(client, bogus, dag_id="x", run_id="y", task_id="z", try_number=1, partition="2026-11-08-00:00")


def test_a_five_minute_airflow_backfill_gives_five_dagster_partitions(
    airflow_home: tuple[Path, dict[str, str]], dagster_url: str
) -> None:
    home, env = airflow_home
    api_port = free_port()
    env = env | {
        "AIRFLOW__API__PORT": str(api_port),
        # Task runners report to the API server: tell them where it is, not the default :8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # standalone starts its scheduler, api-server, ... as `airflow` commands found on PATH.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = (home / "standalone.log").open("wb")
    standalone = subprocess.Popen(
        [str(BIN / "airflow"), "standalone"], env=env, stdout=log, stderr=log, start_new_session=True
    )
    try:
        dag = "spark_static_data_v1_skeleton"
        _wait_for(lambda: _airflow_ok(env, ["dags", "list"], dag), 180, "airflow standalone to parse the DAGs")
        assert _airflow(env, ["dags", "unpause", dag]).returncode == 0
        created = _airflow(
            env,
            [
                "backfill",
                "create",
                "--dag-id",
                dag,
                "--from-date",
                "2026-11-09T00:00:00+00:00",
                "--to-date",
                "2026-11-09T00:04:00+00:00",
            ],
        )
        assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
        client = DagsterClient(dagster_url)

        def backfill_runs() -> list[dict[str, object]]:
            # Unpausing also schedules the latest interval; count only the backfill's runs.
            return [
                r
                for r in client.runs_tagged({"airflow/dag_id": dag})
                if any(t["key"] == "airflow/run_id" and t["value"].startswith("backfill") for t in r["tags"])  # type: ignore[union-attr]
            ]

        _wait_for(lambda: len([r for r in backfill_runs() if r["status"] == "SUCCESS"]) >= 5, 300, "five Dagster runs")
        runs = backfill_runs()
        partitions = sorted(t["value"] for r in runs for t in r["tags"] if t["key"] == "dagster/partition")  # type: ignore[union-attr]
        assert partitions == [f"2026-11-09-00:0{m}" for m in range(5)]
    finally:
        _stop_tree(standalone)


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


def _airflow(env: dict[str, str], args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=120)


def _airflow_ok(env: dict[str, str], args: list[str], expect: str) -> bool:
    result = _airflow(env, args)
    return result.returncode == 0 and expect in result.stdout


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
