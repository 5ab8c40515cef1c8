"""Bridge overhead: the Airflow task's wall time minus the Dagster run's own time, median of 10.

    .venv/bin/python bench/bridge_overhead.py [--runs 10]

Starts its own embedded stack and `lake dagster dev` (webserver + daemon on PostgreSQL storage), then
runs what an Airflow bridge task runs for the `hello` asset on 10 slots: DagsterMaterializeOperator.execute
(launch, then defer), DagsterRunTrigger until its event (the triggerer's part), and execute_complete.
Overhead = that wall time - (Dagster run end - start): launching over GraphQL, the run worker's start,
and the trigger's polling backoff. Airflow's own scheduling of the deferral is not in it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".lake" / "bench-airflow"))  # importing Airflow creates it

from airflow.sdk.exceptions import TaskDeferred  # noqa: E402

from airflow_bridge.graphql import AssetTarget  # noqa: E402
from airflow_bridge.hooks.dagster import DagsterHook  # noqa: E402
from airflow_bridge.operators.dagster import DagsterMaterializeOperator  # noqa: E402
from airflow_bridge.triggers.dagster import DagsterRunTrigger  # noqa: E402
from lake.access import Role  # noqa: E402
from lake_tools.platform.airflow import dagster_connection  # noqa: E402
from lake_tools.stack import Stack  # noqa: E402
from tests.support import LAKE, clean_environ, free_port, free_port_base, make_lake_home  # noqa: E402

RUN_TIMES = "query($id: ID!) { runOrError(runId: $id) { ... on Run { startTime endTime } } }"


class _TaskInstance:
    try_number = 1


class _Dag:
    dag_id = "bench_bridge_overhead"


def _run_task(operator: DagsterMaterializeOperator, context: dict[str, object]) -> str:
    """The task body, the trigger in place of the triggerer, then the resumed task."""
    try:
        finished = operator.execute(context)
        assert finished is not None
        return finished
    except TaskDeferred as deferred:
        trigger = deferred.trigger
        assert isinstance(trigger, DagsterRunTrigger)

        async def first_event() -> dict[str, object]:
            async for event in trigger.run():
                return dict(event.payload)
            raise RuntimeError("the trigger ended without an event")

        return operator.execute_complete(context, asyncio.run(first_event()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    home = make_lake_home("lake-bench-")
    stack = Stack(home, free_port_base())
    port = free_port()
    dagster = None
    rows = []
    try:
        stack.up()
        env = clean_environ(LAKE_HOME=str(home))
        dagster = subprocess.Popen(
            [LAKE, "dagster", "dev", "-p", str(port), "-h", "127.0.0.1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        login = (str(Role.OPERATOR), stack.secrets().password("dagster", Role.OPERATOR))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/server_info", auth=login, timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(1)
        # The hook's connection, as Airflow would give it: the bridge's own identity.
        bridge_password = stack.secrets().password("dagster", Role.BRIDGE)
        os.environ["AIRFLOW_CONN_DAGSTER_DEFAULT"] = dagster_connection(url, bridge_password)
        hook = DagsterHook()
        operator = DagsterMaterializeOperator(
            task_id="hello", target=AssetTarget("lake_assets", (("hello",),)), cadence_minutes=15
        )
        first = datetime(2026, 11, 12, tzinfo=UTC)
        for i in range(args.runs + 1):  # the first run warms the code server; not counted
            start = first + timedelta(minutes=15 * i)
            context = {
                "dag": _Dag(),
                "run_id": f"bench__{time.time_ns()}",
                "ti": _TaskInstance(),
                "params": {},
                "data_interval_start": start,
                "data_interval_end": start + timedelta(minutes=15),
            }
            began = time.monotonic()
            run_id = _run_task(operator, context)
            wall = time.monotonic() - began
            times = hook.query(RUN_TIMES, {"id": run_id})["runOrError"]
            run_seconds = times["endTime"] - times["startTime"]
            if i:
                rows.append((wall, run_seconds))
    finally:
        if dagster is not None:
            os.killpg(dagster.pid, 15)
            dagster.wait(timeout=60)
        stack.down()
        shutil.rmtree(home, ignore_errors=True)

    walls, runs = [r[0] for r in rows], [r[1] for r in rows]
    overheads = [w - r for w, r in rows]
    print(f"== bridge overhead over {len(rows)} task runs of `hello` (dagster dev, PostgreSQL storage)")
    spread = f"(min {min(walls):.2f}, max {max(walls):.2f})"
    overhead = statistics.median(overheads)
    print(f"Airflow task wall time   median {statistics.median(walls):6.2f} s   {spread}")
    print(f"Dagster run time         median {statistics.median(runs):6.2f} s")
    print(f"bridge overhead          median {overhead:6.2f} s   (launch, run start, trigger polling)")
    print(f"overhead / task time     {statistics.median(overheads) / statistics.median(walls):.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
