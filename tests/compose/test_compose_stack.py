"""docker/compose.yaml brought up for real on a Docker engine, and the seed's pipelines run inside it.

The order is the user's: the stack comes up healthy; the four seed DAGs are unpaused through Airflow's
REST API and run green (the Celery worker and the triggerer drive Dagster over GraphQL, Dagster runs each
step in a container of its own, Spark applications run in client mode on the containerised standalone
cluster and write through Nessie onto the S3 store, the crawler container lands the simulator's klines);
the blocking NULL-partition check stops the downstream report; DuckDB inside a container reads what the
stack wrote; `lake doctor` in the containers names the seed's documented failures; and everything
survives `docker compose down` and `up` again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lake_tools.compose.project import COMPOSE_FILE
from tests.compose.conftest import RunningCompose, wait_for
from tests.support import shipped_landings

pytestmark = pytest.mark.compose

SEED_DAGS = (
    "spark_static_data_v1_skeleton",
    "spark_static_data_v2_submit",
    "spark_partitioned_data_v1",
    "scraper_pipeline_v1",
)
ONE_SHOTS = {"storage-init", "bootstrap", "airflow-init"}

RUNS = """query($filter: RunsFilter) { runsOrError(filter: $filter) { ... on Runs { results {
  runId status tags { key value } } } } }"""
CHECKS = """query($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events {
  __typename ... on AssetCheckEvaluationEvent { evaluation { checkName success } }
  ... on MaterializationEvent { assetKey { path } } ... on MessageEvent { message } } } } }"""


def dag_runs(stack: RunningCompose, dag_id: str) -> list[dict[str, Any]]:
    return stack.airflow("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "-start_date", "limit": 20})["dag_runs"]


def finished_run(stack: RunningCompose, dag_id: str, timeout: float) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        runs = [r for r in dag_runs(stack, dag_id) if r["state"] in ("success", "failed")]
        return runs[0] if runs else None

    return wait_for(done, timeout, f"a finished run of {dag_id}", every=5)


def dagster_runs(stack: RunningCompose, **tags: str) -> list[dict[str, Any]]:
    filters = {"tags": [{"key": key.replace("__", "/"), "value": value} for key, value in tags.items()]}
    return stack.dagster(RUNS, {"filter": filters})["runsOrError"]["results"]


def run_events(stack: RunningCompose, run_id: str) -> list[dict[str, Any]]:
    return stack.dagster(CHECKS, {"runId": run_id})["logsForRun"]["events"]


def failure_messages(stack: RunningCompose, run_id: str) -> list[str]:
    return [e["message"][:400] for e in run_events(stack, run_id) if "Failure" in e["__typename"]]


# -- the stack comes up --------------------------------------------------------------------------------
def test_every_service_is_healthy_and_publishes_on_loopback_only(stack: RunningCompose) -> None:
    services = {s["Service"]: s for s in stack.services()}
    assert {
        "rustfs",
        "nessie",
        "spark-master",
        "spark-worker",
        "dagster-webserver",
        "airflow-worker",
        "scrapworker",
        "market-sim",
    } <= set(services)
    for name, service in services.items():
        if name in ONE_SHOTS:
            assert service["State"] == "exited" and service["ExitCode"] == 0, (name, service["Status"])
        else:
            assert service["State"] == "running" and service["Health"] == "healthy", (name, service["Status"])
        for port in service.get("Publishers") or []:
            if port.get("PublishedPort"):
                assert port["URL"] == "127.0.0.1", (name, port)
    # Every published port answers on loopback: where compose.yaml says it listens.
    assert "8080:8080" in COMPOSE_FILE.read_text() and stack.airflow("GET", "/version")["version"].startswith("3.")


def test_the_images_share_one_python_minor_and_java_between_driver_and_executors(stack: RunningCompose) -> None:
    probe = "import sys, subprocess; print(sys.version_info[:2]); subprocess.run(['java', '-version'])"
    versions = {}
    for service in ("dagster-code", "spark-worker"):
        result = stack.exec(service, "python3", "-c", probe)
        assert result.returncode == 0, result.stderr
        versions[service] = (result.stdout.strip(), result.stderr.splitlines()[0])
    assert versions["dagster-code"] == versions["spark-worker"], versions


# -- the seed's pipelines, green inside the containers ------------------------------------------------------
@pytest.fixture(scope="module")
def seed_runs(stack: RunningCompose) -> dict[str, dict[str, Any]]:
    """Each seed DAG unpaused through the REST API and its first scheduled run, finished."""
    for dag_id in SEED_DAGS:
        stack.airflow("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    try:
        return {dag_id: finished_run(stack, dag_id, timeout=900) for dag_id in SEED_DAGS}
    finally:
        for dag_id in SEED_DAGS:
            stack.airflow("PATCH", f"/dags/{dag_id}", json={"is_paused": True})


@pytest.mark.parametrize("dag_id", SEED_DAGS)
def test_a_seed_dag_runs_green_through_dagster_in_its_own_container(
    stack: RunningCompose, seed_runs: dict[str, dict[str, Any]], dag_id: str
) -> None:
    run = seed_runs[dag_id]
    runs = dagster_runs(stack, airflow__dag_id=dag_id, airflow__run_id=run["dag_run_id"])
    described = [(r["runId"], r["status"], failure_messages(stack, r["runId"])) for r in runs]
    assert run["state"] == "success", described
    assert runs and all(r["status"] == "SUCCESS" for r in runs), described
    # The DockerRunLauncher ran it in a container of its own: dagster-docker tags the run with it.
    for dagster_run in runs:
        tags = {t["key"]: t["value"] for t in dagster_run["tags"]}
        assert tags.get("docker/container_id"), tags
    checks = {
        e["evaluation"]["checkName"]: e["evaluation"]["success"]
        for r in runs
        for e in run_events(stack, r["runId"])
        if e["__typename"] == "AssetCheckEvaluationEvent"
    }
    assert all(checks.values()), checks
    if dag_id != "spark_static_data_v1_skeleton":
        assert checks.get("no_null_partitions") is True, checks


def test_the_slot_landed_once_per_job_from_the_simulator_through_the_crawler_container(
    stack: RunningCompose, seed_runs: dict[str, dict[str, Any]]
) -> None:
    run = seed_runs["scraper_pipeline_v1"]
    start = datetime.fromisoformat(run["data_interval_start"]).astimezone(UTC)
    where = f"ds = '{start:%Y-%m-%d}' AND hr = {start.hour} AND min = {start.minute}"
    expected = sum(len(landing.param_sets) for landing in shipped_landings())
    rows = query_in_container(
        stack, f"SELECT count(*) AS n, count(DISTINCT job_id) AS jobs FROM landing.signals WHERE {where}"
    )
    assert rows == [[expected, expected]], rows
    # The worker that crawled them is the scrapworker container, which logs each landing.
    logs = stack.compose("logs", "--no-color", "scrapworker").stdout
    assert "landed" in logs or "manifest" in logs, logs[-2000:]


def query_in_container(stack: RunningCompose, sql: str) -> list[list[Any]]:
    """`lake query` (DuckDB over Nessie's REST catalog) inside the dagster-code container, rows as JSON."""
    result = stack.exec("dagster-code", "lake", "query", "--json", sql)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)["rows"]


def test_duckdb_inside_a_container_reads_the_tables_the_stack_wrote(
    stack: RunningCompose, seed_runs: dict[str, dict[str, Any]]
) -> None:
    [[static_rows]] = query_in_container(stack, "SELECT count(*) FROM seed.static_data")
    [[partitioned_rows]] = query_in_container(stack, "SELECT count(*) FROM seed.partitioned_data")
    assert static_rows > 0 and partitioned_rows > 0


def test_the_blocking_null_partition_check_stops_the_downstream_report(
    stack: RunningCompose, seed_runs: dict[str, dict[str, Any]]
) -> None:
    """A NULL partition value on main (the real way: a value that does not cast) fails the blocking check of
    the next run; its report step never runs, the Airflow task fails, and main is not advanced."""
    import pyarrow as pa
    from pyiceberg.expressions import IsNull

    from lake.catalog import open_catalog

    table = open_catalog(stack.settings()).load_table("seed.partitioned_data")
    row = {
        "event_id": "bad",
        "slot_start": datetime(2026, 11, 3),
        "value": 1.0,
        "ds": "2026-11-03",
        "hr": None,
        "min": 0,
    }
    table.append(pa.Table.from_pylist([row], schema=table.schema().as_arrow()))
    try:
        logical = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
        stack.airflow("PATCH", "/dags/spark_partitioned_data_v1", json={"is_paused": False})
        triggered = stack.airflow(
            "POST",
            "/dags/spark_partitioned_data_v1/dagRuns",
            json={"logical_date": logical.isoformat(), "dag_run_id": f"null-check-{logical:%H%M}"},
        )
        run = wait_for(
            lambda: next(
                (
                    r
                    for r in dag_runs(stack, "spark_partitioned_data_v1")
                    if r["dag_run_id"] == triggered["dag_run_id"] and r["state"] in ("success", "failed")
                ),
                None,
            ),
            900,
            "the triggered run",
            every=5,
        )
        assert run["state"] == "failed"
        [dagster_run] = dagster_runs(stack, airflow__run_id=triggered["dag_run_id"])
        events = run_events(stack, dagster_run["runId"])
        evaluations = {
            e["evaluation"]["checkName"]: e["evaluation"]["success"]
            for e in events
            if e["__typename"] == "AssetCheckEvaluationEvent"
        }
        materialized = {tuple(e["assetKey"]["path"]) for e in events if e["__typename"] == "MaterializationEvent"}
        assert evaluations.get("no_null_partitions") is False, evaluations
        assert ("seed", "partitioned_data_report") not in materialized
    finally:
        stack.airflow("PATCH", "/dags/spark_partitioned_data_v1", json={"is_paused": True})
        table.delete(IsNull("hr"))
