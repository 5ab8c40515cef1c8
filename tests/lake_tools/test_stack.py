"""`lake stack up|down|status` and `lake doctor` through the real command, on a stack of this test's own.

Its own stack (not the session one) because these tests kill and stop services.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from lake import ports
from lake.catalog import open_catalog
from lake.settings import load_settings
from lake.spark_submit import submit
from lake_tools.stack import ProcessState, Stack
from scrapworker.queue import redis_client
from tests.support import clean_environ, free_port, free_port_base, make_lake_home, run_lake


@pytest.fixture(scope="module")
def own_stack() -> Iterator[tuple[Stack, dict[str, str]]]:
    home = make_lake_home("lake-stack-test-")
    base = free_port_base()
    env = clean_environ(LAKE_HOME=str(home), LAKE_STACK__PORT_BASE=str(base))
    stack = Stack(home, base)
    try:
        yield stack, env
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)


def pids(stack: Stack) -> dict[str, int | None]:
    return {status.name: status.pid for status in stack.status()}


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def test_up_is_idempotent_and_status_reports_running(own_stack: tuple[Stack, dict[str, str]]) -> None:
    stack, env = own_stack
    first = run_lake("stack", "up", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(": started") == 4  # postgres, redis, seaweedfs, nessie
    before = pids(stack)

    second = run_lake("stack", "up", env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("already running") == 4
    assert pids(stack) == before  # nothing restarted

    status = run_lake("stack", "status", env=env)
    assert status.returncode == 0
    assert status.stdout.count(" running ") == 4
    assert (Path(env["LAKE_HOME"]) / "lake.env").stat().st_mode & 0o777 == 0o600


def test_bootstrap_then_doctor_pass(own_stack: tuple[Stack, dict[str, str]]) -> None:
    _, env = own_stack
    bootstrap = run_lake("bootstrap", env=env)
    assert bootstrap.returncode == 0, bootstrap.stderr
    doctor = run_lake("doctor", env=env)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    for component in ("Redis", "S3", "Iceberg catalog", "Nessie", "Java", "Spark jars", "PySpark Python"):
        assert any(line.startswith("[ok  ]") and component in line for line in doctor.stdout.splitlines()), component


def test_a_killed_component_is_reported_and_restarted(own_stack: tuple[Stack, dict[str, str]]) -> None:
    stack, env = own_stack
    before = pids(stack)
    redis_pid = before["redis"]
    assert redis_pid is not None
    os.kill(redis_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(redis_pid) and time.monotonic() < deadline:
        time.sleep(0.05)

    status = run_lake("stack", "status", env=env)
    assert status.returncode == 1
    assert "redis" in next(line for line in status.stdout.splitlines() if " died " in line)

    doctor = run_lake("doctor", env=env)
    assert doctor.returncode == 1
    failure = doctor.stdout.split("[FAIL] Redis (job queue)", 1)[1]
    assert "Connection refused" in failure.splitlines()[0]
    assert "lake stack up" in failure.splitlines()[1]  # the remedy
    assert "1 required component(s) down: Redis (job queue)" in doctor.stdout

    up = run_lake("stack", "up", env=env)
    assert "redis: had died" in up.stdout
    after = pids(stack)
    assert after["redis"] != redis_pid
    assert (after["postgres"], after["seaweedfs"], after["nessie"]) == (
        before["postgres"],
        before["seaweedfs"],
        before["nessie"],
    )


def test_down_stops_everything_and_up_keeps_the_data(own_stack: tuple[Stack, dict[str, str]]) -> None:
    stack, env = own_stack
    settings = load_settings(env_file=stack.env_file)
    catalog = open_catalog(settings)
    import pyarrow as pa

    table = catalog.create_table("seed.survives_restart", schema=pa.schema([("v", pa.int64())]))
    table.append(pa.table({"v": [1, 2, 3]}))
    queue = redis_client(settings.queue)
    queue.rpush("scrapworker:pending", "job-that-must-survive")
    queue.close()
    running = [pid for pid in pids(stack).values() if pid]
    assert len(running) == 4
    # A Redis the stack did not start, the same program as its own: `down` stops what it recorded, by PID,
    # never a process that merely looks like one of its components.
    bystander = subprocess.Popen(
        ["redis-server", "--port", str(free_port()), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        down = run_lake("stack", "down", env=env)
        assert down.returncode == 0, down.stderr
        assert down.stdout.count(": stopped") == 4
        assert not [pid for pid in running if alive(pid)]
        assert bystander.poll() is None and alive(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait()
    assert all(status.state is ProcessState.STOPPED for status in stack.status())
    again = run_lake("stack", "down", env=env)
    assert again.returncode == 0 and "nothing was running" in again.stdout

    assert run_lake("stack", "up", env=env).returncode == 0
    catalog = open_catalog(settings)
    assert ("seed", "survives_restart") in catalog.list_tables("seed")
    assert catalog.load_table("seed.survives_restart").scan().to_arrow().num_rows == 3
    queue = redis_client(settings.queue)
    assert queue.lrange("scrapworker:pending", 0, -1) == [b"job-that-must-survive"]
    queue.close()


@pytest.mark.spark
def test_the_ds_hr_min_job_on_a_spark_standalone_cluster(own_stack: tuple[Stack, dict[str, str]]) -> None:
    """`lake stack up --spark-cluster`: a master and a worker from pyspark's distribution; jobs submit to it."""
    stack, env = own_stack
    up = run_lake("stack", "up", "--spark-cluster", env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "spark-master: started" in up.stdout and "spark-worker: started" in up.stdout
    settings = load_settings(env_file=stack.env_file)
    assert settings.spark.master == stack.spark_master_url
    try:
        submit(
            settings,
            "partitioned_data",
            [
                "--table",
                "seed.on_the_cluster",
                "--cadence-minutes",
                "15",
                "--start",
                "2026-11-01T00:00Z",
                "--end",
                "2026-11-01T01:00Z",
            ],
        )
        table = open_catalog(settings).load_table("seed.on_the_cluster")
        assert table.scan().to_arrow().num_rows == 40
        # The application ran on the cluster's executors, not in a local driver.
        ui = stack.layout.port(ports.SPARK_MASTER_UI)
        master = requests.get(f"http://127.0.0.1:{ui}/json/", timeout=5).json()
        assert [app["name"] for app in master["completedapps"]] == ["partitioned_data"]
        assert master["aliveworkers"] == 1
    finally:
        down = run_lake("stack", "down", env=env)
    assert "spark-worker: stopped" in down.stdout and "spark-master: stopped" in down.stdout


def test_a_secrets_file_from_before_the_platform_gains_its_keys_and_stays_private(tmp_path: Path) -> None:
    """A LAKE_HOME made before `lake up` existed: its credentials stay, the Airflow keys are generated once."""
    import json
    import stat

    from lake_tools.stack.secrets import StackSecrets

    old = {"postgres_password": "kept-password", "s3_access_key_id": "kept-key", "s3_secret_access_key": "kept-secret"}
    (tmp_path / "secrets.json").write_text(json.dumps(old))
    upgraded = StackSecrets.load_or_create(tmp_path)
    assert (upgraded.postgres_password, upgraded.s3_access_key_id) == ("kept-password", "kept-key")
    assert upgraded.airflow_admin_password and upgraded.airflow_jwt_secret and len(upgraded.airflow_fernet_key) == 44
    assert StackSecrets.load_or_create(tmp_path) == upgraded  # generated once, then read back
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600
