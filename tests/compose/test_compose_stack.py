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
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import requests

from lake_tools.compose.project import COMPOSE_FILE
from tests.compose.support import (
    RunningCompose,
    dag_runs,
    dagster_runs,
    failure_messages,
    finished_run,
    lake_on_host,
    query_in_container,
    run_events,
    wait_for,
)
from tests.support import shipped_landings

pytestmark = pytest.mark.compose

SEED_DAGS = (
    "spark_static_data_v1_skeleton",
    "spark_static_data_v2_submit",
    "spark_partitioned_data_v1",
    "scraper_pipeline_v1",
)
ONE_SHOTS = {"storage-init", "bootstrap", "airflow-init"}


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
    # The scrapworker container crawled each of them once: one "job succeeded" line per job of the slot.
    logs = stack.compose("logs", "--no-color", "scrapworker").stdout
    stamp = f"{start:%Y%m%dT%H%M}-"
    succeeded = [line for line in logs.splitlines() if '"job succeeded"' in line and stamp in line]
    assert len(succeeded) == expected, logs[-3000:]


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
    # Written from inside the stack: Nessie hands its clients the S3 endpoint the containers use.
    null_partition_row(stack, "add")
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
        # Every try of the task (Airflow retries it) launched a run, and each stopped at the check.
        attempts = dagster_runs(stack, airflow__run_id=triggered["dag_run_id"])
        assert attempts
        for attempt in attempts:
            assert_stopped_at_the_null_check(stack, attempt["runId"])
    finally:
        stack.airflow("PATCH", "/dags/spark_partitioned_data_v1", json={"is_paused": True})
        null_partition_row(stack, "delete")


NULL_ROW = """
import sys
from datetime import datetime

import pyarrow as pa
from pyiceberg.expressions import IsNull

from lake.catalog import open_catalog
from lake.settings import load_settings

table = open_catalog(load_settings()).load_table("seed.partitioned_data")
if sys.argv[1] == "add":
    row = {"event_id": "bad", "slot_start": datetime(2026, 11, 3), "value": 1.0}
    row |= {"ds": "2026-11-03", "hr": None, "min": 0}
    table.append(pa.Table.from_pylist([row], schema=table.schema().as_arrow()))
else:
    table.delete(IsNull("hr"))
"""


def null_partition_row(stack: RunningCompose, action: str) -> subprocess.CompletedProcess[str]:
    result = stack.exec("dagster-code", "python3", "-c", NULL_ROW, action)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def assert_stopped_at_the_null_check(stack: RunningCompose, run_id: str) -> None:
    events = run_events(stack, run_id)
    evaluations = {
        e["evaluation"]["checkName"]: e["evaluation"]["success"]
        for e in events
        if e["__typename"] == "AssetCheckEvaluationEvent"
    }
    materialized = {tuple(e["assetKey"]["path"]) for e in events if e["__typename"] == "MaterializationEvent"}
    assert evaluations.get("no_null_partitions") is False, evaluations
    assert ("seed", "partitioned_data_report") not in materialized


# -- the seed's documented failures, named with their fix ---------------------------------------------------
def test_lake_doctor_passes_inside_the_dagster_container_and_on_the_host(stack: RunningCompose) -> None:
    """Every component the driver's container reaches, and the host through the published ports."""
    inside = stack.exec("dagster-code", "lake", "doctor")
    assert inside.returncode == 0, inside.stdout + inside.stderr
    for component in ("Redis", "S3", "Iceberg catalog", "Nessie", "Java", "Spark jars", "PySpark Python"):
        assert f"[ok  ] {component}" in inside.stdout, inside.stdout
    on_host = lake_on_host(stack, "doctor")
    assert on_host.returncode == 0, on_host.stdout + on_host.stderr


def test_every_control_plane_refuses_an_anonymous_client(stack: RunningCompose) -> None:
    """Redis, S3, Nessie (Iceberg REST and its own API), Dagster's GraphQL and Airflow's REST API, as the
    host reaches them through the published ports: each asks who is calling."""
    with pytest.raises(redis.AuthenticationError, match="Authentication required"):
        redis.Redis(port=6379, protocol=2).ping()
    s3 = requests.put("http://127.0.0.1:9000/raw/anonymous.json", data=b"[]", timeout=10)
    assert s3.status_code == 403 and "AccessDenied" in s3.text, s3.text
    for url in ("http://127.0.0.1:19120/iceberg/v1/config?warehouse=warehouse", "http://127.0.0.1:19120/api/v2/trees"):
        assert requests.get(url, timeout=10).status_code == 401, url
    dagster = requests.post(f"{stack.dagster_url}/graphql", json={"query": "{ version }"}, timeout=10)
    assert dagster.status_code == 401 and dagster.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(f"{stack.airflow_url}/api/v2/dags", timeout=10).status_code == 401


def test_each_container_holds_only_its_identity_s_rights(stack: RunningCompose) -> None:
    """The crawler container cannot flush the queue nor write the warehouse; the Dagster container (the
    writer) cannot delete a branch that is not its own; each refusal as the caller sees it."""
    crawler = stack.exec(
        "scrapworker",
        "python3",
        "-c",
        "from lake.settings import load_settings; from lake.storage import s3_client;"
        "from scrapworker.queue import redis_client; s = load_settings()\n"
        "for call in (lambda: redis_client(s.queue).flushall(),"
        " lambda: s3_client(s, retries=1).put_object(Bucket='warehouse', Key='x', Body=b'x')):\n"
        "    try: call(); print('allowed')\n"
        "    except Exception as exc: print(type(exc).__name__, exc)",
    )
    lines = crawler.stdout.splitlines()
    assert lines[0] == "NoPermissionError this user has no permissions to run the 'flushall' command", crawler.stdout
    assert lines[1] == (
        "AccessDenied An error occurred (AccessDenied) when calling the PutObject operation: Access Denied."
    ), crawler.stdout + crawler.stderr
    writer = stack.exec(
        "dagster-code",
        "python3",
        "-c",
        "from lake.settings import load_settings; from lake.branches import NessieBranches, NessieApiError\n"
        "nessie = NessieBranches.from_settings(load_settings()); branch = nessie.create_branch('dev-acl', 'main')\n"
        "try: nessie.delete_branch(branch.name, branch.hash); print('allowed')\n"
        "except NessieApiError as exc: print(exc.status, exc.reason)",
    )
    assert writer.stdout.strip() == "403 'DELETE_REFERENCE' is not allowed for role 'writer' on reference 'dev-acl'", (
        writer.stdout + writer.stderr
    )


def test_a_python_app_in_cluster_deploy_mode_is_refused_by_spark_with_the_reason(stack: RunningCompose) -> None:
    """The seed's `--deploy-mode cluster`: a standalone cluster runs Python drivers in client mode only,
    and spark-submit says so before anything starts (the project's submits always use client mode)."""
    result = stack.exec(
        "dagster-code",
        "spark-submit",
        "--master",
        "spark://spark-master:7077",
        "--deploy-mode",
        "cluster",
        "/opt/lake/src/jobs/static_data.py",
        timeout=120,
    )
    assert result.returncode != 0
    assert "Cluster deploy mode is currently not supported for python applications on standalone clusters" in (
        result.stdout + result.stderr
    )


def test_a_query_of_a_namespace_that_does_not_exist_names_it(stack: RunningCompose) -> None:
    result = stack.exec("dagster-code", "lake", "query", "SELECT * FROM nowhere.nothing")
    assert result.returncode == 1
    assert "nowhere" in result.stderr and "Traceback" not in result.stderr, result.stderr[-1500:]


def test_nessie_given_upper_snake_environment_names_is_named_with_the_fix_by_lake_doctor(
    stack: RunningCompose,
) -> None:
    """The seed's Nessie configured through NESSIE_CATALOG_* environment names: Quarkus cannot map a name
    with '-' in it back to its property, so the warehouse is silently undefined; `lake doctor` in the
    driver's container names the fix. A second Nessie from the stack's own image, on the stack's network."""
    docker_env = stack.project.environment()
    image = stack.compose("images", "--format", "json", "nessie").stdout
    [nessie_image] = {f"{i['Repository']}:{i['Tag']}" for i in json.loads(image)}
    name = "lake-nessie-upper-snake"
    seed_style = {
        "NESSIE_CATALOG_DEFAULT_WAREHOUSE": "lake-warehouse",
        "NESSIE_CATALOG_WAREHOUSES_LAKE_WAREHOUSE_LOCATION": "s3://warehouse/",
        "quarkus.http.port": "19120",
        "quarkus.management.port": "9000",
        # Misconfigured as the seed was, but asking who is calling like every Nessie here: the stack's key.
        "nessie.server.authentication.enabled": "true",
        "quarkus.oidc.public-key": stack.credentials["NESSIE_TOKEN_PUBLIC_KEY"],
    }
    run = ["docker", "run", "-d", "--rm", "--name", name, "--network", "lake_default"]
    run += [arg for key, value in seed_style.items() for arg in ("-e", f"{key}={value}")]
    started = subprocess.run([*run, nessie_image], env=docker_env, capture_output=True, text=True, check=False)
    assert started.returncode == 0, started.stderr
    try:
        pointed_at_it = [
            f"LAKE_CATALOG__URI=http://{name}:19120/iceberg",
            "LAKE_CATALOG__WAREHOUSE=lake-warehouse",
            f"LAKE_CATALOG__NESSIE_HEALTH_URL=http://{name}:9000/q/health",
        ]

        def doctor() -> subprocess.CompletedProcess[str] | None:
            result = stack.exec("dagster-code", "env", *pointed_at_it, "lake", "doctor")
            nessie = next((line for line in result.stdout.splitlines() if "] Nessie" in line), "")
            return result if nessie and "ConnectionError" not in nessie else None

        result = wait_for(doctor, 180, "the second Nessie to answer", every=5)
        assert result.returncode != 0, result.stdout
        assert "configure Nessie with dot keys" in result.stdout, result.stdout
    finally:
        subprocess.run(["docker", "rm", "--force", name], env=docker_env, capture_output=True, check=False)


Report = subprocess.CompletedProcess[str]  # what `lake doctor` printed, and its exit code


def test_nessie_started_while_the_s3_store_is_down_serves_once_it_returns(
    stack: RunningCompose, seed_runs: dict[str, dict[str, Any]]
) -> None:
    """The seed's Nessie with its S3 store down at start: it starts and serves the catalog, `lake doctor`
    names the store (and Nessie's object-store health) with the setting to check, and everything is green
    again once the store is back, without restarting Nessie."""

    seen: list[Report] = []

    def doctor_once(ready: Callable[[Report], bool]) -> Report | None:
        result = stack.exec("dagster-code", "lake", "doctor")
        seen.append(result)
        return result if ready(result) else None

    def names_the_store(report: Report) -> bool:
        # Nessie's object-store health check runs on its own schedule after a restart: until it has, Nessie
        # reports UP or another check, and the doctor cannot yet name the store.
        return "[ok  ] Iceberg catalog" in report.stdout and "Nessie cannot reach its warehouse's object store" in (
            report.stdout
        )

    stack.compose("stop", "rustfs")
    try:
        stack.compose("restart", "nessie")
        try:
            down = wait_for(lambda: doctor_once(names_the_store), 180, "the doctor to name the object store", every=3)
        except pytest.fail.Exception:
            pytest.fail(f"`lake doctor` never named the object store; it last said:\n{seen[-1].stdout if seen else ''}")
        assert down.returncode == 1, down.stdout
        failing = {line.split()[1] for line in down.stdout.splitlines() if line.startswith("[FAIL]")}
        assert failing == {"S3", "Nessie"}, down.stdout
        assert "LAKE_S3__ENDPOINT" in down.stdout, down.stdout
    finally:
        stack.compose("start", "rustfs")
    back = wait_for(lambda: doctor_once(lambda r: r.returncode == 0), 180, "a green doctor", every=3)
    assert "[ok  ] Nessie" in back.stdout
    # The tables the seed runs wrote read through the restarted Nessie from the store that came back.
    [[count]] = query_in_container(stack, "SELECT count(*) FROM seed.static_data")
    assert count > 0


# -- data survives `docker compose down` and `up` ----------------------------------------------------------
RUN_COUNT = "{ runsOrError { ... on Runs { count } } }"


def test_tables_signals_and_both_histories_survive_down_and_up(
    stack: RunningCompose, seed_runs: dict[str, dict[str, Any]]
) -> None:
    def snapshot() -> dict[str, Any]:
        counts = {
            table: query_in_container(stack, f"SELECT count(*) FROM {table}")[0][0]
            for table in ("landing.signals", "seed.static_data", "seed.partitioned_data")
        }
        counts["dagster runs"] = stack.dagster(RUN_COUNT)["runsOrError"]["count"]
        counts["airflow runs"] = {dag_id: len(dag_runs(stack, dag_id)) for dag_id in SEED_DAGS}
        return counts

    before = snapshot()
    assert all(before[table] > 0 for table in ("landing.signals", "seed.static_data", "seed.partitioned_data"))
    assert before["dagster runs"] >= len(SEED_DAGS)
    stack.compose("down", timeout=600)
    assert not stack.services(), "down left containers behind"
    list(stack.project.up())
    assert snapshot() == before
