"""Faults injected by container into the compose stack, and what each costs: nothing lost, nothing twice.

    .venv/bin/python bench/compose_faults.py [--only crawler,nessie,...]

Brings docker/compose.yaml up as the compose tests do (`lake compose` on the project's own engine, the
stand-in images, a throwaway docker/.env), then for each fault triggers `scraper_pipeline_v1` for a slot of
its own through Airflow's REST API, injects the fault at the moment it names, heals it, and waits for the
Airflow run to finish:

  celery-worker  `docker kill` of the Celery worker while the bridge task runs (Airflow retries the task)
  crawler        `docker kill` of the crawler while it lands the slot (its leases lapse, a worker re-takes them)
  nessie         `docker kill` of Nessie between the landing and the signal commit
  nessie-db      `docker restart` of Nessie's PostgreSQL during the run
  s3-paused      `docker pause` of the S3 store for 20 s while the slot lands

Then `scraper_typed_v1` types each of those slots. Prints, per fault: the Airflow run's state, the tries
its task took, seconds from trigger to success, the signal rows of the slot against the jobs it has (each
once), and the typed klines rows against the simulator's (each once). The baseline is the same slot path
with no fault (the first row): the extra seconds are what the fault cost.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # each figure as it is measured
sys.path.insert(0, str(ROOT))

from tests.compose.support import (  # noqa: E402
    RunningCompose,
    compose_engine,
    compose_stack,
    query_in_container,
    wait_for,
)
from tests.support import shipped_landings  # noqa: E402

PIPELINE, TYPED = "scraper_pipeline_v1", "scraper_typed_v1"
SLOT_MINUTES = 15  # the bridge DAGs' cadence (LAKE_PARTITIONS__* defaults)


def logs_since(stack: RunningCompose, service: str, since: str) -> str:
    return stack.compose("logs", "--no-color", "--since", since, service, check=False).stdout


def until_log(stack: RunningCompose, service: str, since: str, text: str, timeout: float = 300) -> None:
    wait_for(lambda: text in logs_since(stack, service, since), timeout, f"{text!r} in {service}'s log", every=1)


def docker(stack: RunningCompose, *args: str) -> None:
    subprocess.run(["docker", *args], env=stack.project.environment(), check=True, capture_output=True)


def container(stack: RunningCompose, service: str) -> str:
    return stack.compose("ps", "--quiet", service).stdout.strip()


def kill_and_start(stack: RunningCompose, service: str) -> None:
    """`docker kill` (no graceful stop), then the service started again 5 s later, as an operator would."""
    docker(stack, "kill", container(stack, service))
    time.sleep(5)
    stack.compose("start", service)


def task_running(stack: RunningCompose, dag_id: str, run_id: str) -> bool:
    instances = stack.airflow("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    return any(ti["state"] in ("running", "deferred") for ti in instances)


# Each fault: (its name, what it does once the run is triggered: (stack, dag run id, slot stamp, since)).
Fault = Callable[[RunningCompose, str, str, str], None]


def no_fault(stack: RunningCompose, run_id: str, stamp: str, since: str) -> None:
    return None


def kill_celery_worker(stack: RunningCompose, run_id: str, stamp: str, since: str) -> None:
    wait_for(lambda: task_running(stack, PIPELINE, run_id), 120, "the bridge task to run", every=0.5)
    kill_and_start(stack, "airflow-worker")


def kill_crawler(stack: RunningCompose, run_id: str, stamp: str, since: str) -> None:
    until_log(stack, "scrapworker", since, '"job started", "job_id": "binance.klines.')
    kill_and_start(stack, "scrapworker")


def kill_nessie_before_the_commit(stack: RunningCompose, run_id: str, stamp: str, since: str) -> None:
    jobs = sum(len(landing.param_sets) for landing in shipped_landings())
    wait_for(
        lambda: logs_since(stack, "scrapworker", since).count('"job succeeded"') >= jobs,
        300,
        "the slot's landings",
        every=0.5,
    )
    kill_and_start(stack, "nessie")


def restart_nessie_db(stack: RunningCompose, run_id: str, stamp: str, since: str) -> None:
    until_log(stack, "scrapworker", since, '"job started"')
    docker(stack, "restart", container(stack, "nessie-db"))


def pause_s3(stack: RunningCompose, run_id: str, stamp: str, since: str) -> None:
    until_log(stack, "scrapworker", since, '"job started"')
    docker(stack, "pause", container(stack, "rustfs"))
    time.sleep(20)
    docker(stack, "unpause", container(stack, "rustfs"))


FAULTS: dict[str, Fault] = {
    "none": no_fault,
    "celery-worker": kill_celery_worker,
    "crawler": kill_crawler,
    "nessie": kill_nessie_before_the_commit,
    "nessie-db": restart_nessie_db,
    "s3-paused": pause_s3,
}


def trigger(stack: RunningCompose, dag_id: str, logical: datetime, run_id: str) -> dict[str, Any]:
    body = {"logical_date": logical.isoformat(), "dag_run_id": run_id}
    return stack.airflow("POST", f"/dags/{dag_id}/dagRuns", json=body)  # type: ignore[no-any-return]


def finished(stack: RunningCompose, dag_id: str, run_id: str, timeout: float = 900) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = stack.airflow("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        return run if run["state"] in ("success", "failed") else None

    return wait_for(done, timeout, f"{dag_id} {run_id}", every=2)


def tries(stack: RunningCompose, dag_id: str, run_id: str) -> int:
    instances = stack.airflow("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    return max(ti["try_number"] for ti in instances)


def slot_where(start: datetime) -> str:
    end = start + timedelta(minutes=SLOT_MINUTES)
    return f"open_time >= TIMESTAMPTZ '{start.isoformat()}' AND open_time < TIMESTAMPTZ '{end.isoformat()}'"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(FAULTS), help="comma-separated faults (default: all)")
    args = parser.parse_args()
    chosen = ["none", *[name for name in args.only.split(",") if name != "none"]]
    jobs = sum(len(landing.param_sets) for landing in shipped_landings())
    # Slots a day back, one per fault, on the cadence's boundaries: each landed for the first time here.
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    base = now - timedelta(days=1, minutes=now.minute % SLOT_MINUTES)
    rows = []
    with compose_engine() as engine, compose_stack(engine, logs_name="bench-faults") as stack:
        for dag_id in (PIPELINE, TYPED):
            stack.airflow("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        for index, name in enumerate(chosen):
            logical = base + timedelta(minutes=SLOT_MINUTES * (index + 1))
            run_id = f"fault-{name}-{logical:%H%M}"
            since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            started = time.monotonic()
            run = trigger(stack, PIPELINE, logical, run_id)
            FAULTS[name](stack, run_id, f"{logical:%Y%m%dT%H%M}", since)
            run = finished(stack, PIPELINE, run_id)
            seconds = time.monotonic() - started
            start = datetime.fromisoformat(run["data_interval_start"]).astimezone(UTC)
            where = f"ds = '{start:%Y-%m-%d}' AND hr = {start.hour} AND min = {start.minute}"
            [[signals, distinct]] = query_in_container(
                stack, f"SELECT count(*), count(DISTINCT job_id) FROM landing.signals WHERE {where}"
            )
            rows.append([name, run["state"], tries(stack, PIPELINE, run_id), seconds, signals, distinct, start])
            print(f"{name:<14} {run['state']:<8} tries {rows[-1][2]}  {seconds:6.1f} s  signals {signals}/{jobs}")
        # Typed once: each slot through the typed DAG, then its klines counted against their distinct keys.
        for name, *_, start in rows:
            typed_id = f"typed-{name}-{start:%H%M}"
            trigger(stack, TYPED, start + timedelta(minutes=SLOT_MINUTES), typed_id)
            typed = finished(stack, TYPED, typed_id)
            [[klines, distinct_klines]] = query_in_container(
                stack,
                f"SELECT count(*), count(DISTINCT (symbol, open_time)) FROM market.klines WHERE {slot_where(start)}",
            )
            row = next(r for r in rows if r[0] == name)
            row += [typed["state"], klines, distinct_klines]
    expected_klines = SLOT_MINUTES * sum(len(landing.param_sets) for landing in shipped_landings() if landing.typed)
    print(f"\nslot path with faults injected by container ({jobs} jobs a slot, {expected_klines} klines typed):")
    header = ("fault", "airflow", "tries", "seconds", "vs none", "signals", "typed", "klines")
    print("{:<14} {:<8} {:>5} {:>8} {:>8} {:>9} {:>8} {:>9}".format(*header))
    baseline = rows[0][3]
    for name, state, task_tries, seconds, signals, distinct, _, typed_state, klines, distinct_klines in rows:
        once = "" if signals == distinct == jobs else " !"
        typed_once = "" if klines == distinct_klines == expected_klines else " !"
        print(
            f"{name:<14} {state:<8} {task_tries:>5} {seconds:>8.1f} {seconds / baseline:>7.2f}x "
            f"{signals:>4}/{jobs:<3}{once} {typed_state:>8} {klines:>5}/{expected_klines}{typed_once}"
        )
    lost = [r[0] for r in rows if not (r[1] == "success" and r[4] == r[5] == jobs and r[8] == r[9] == expected_klines)]
    print("\nnothing lost, nothing twice" if not lost else f"\nFAILED: {', '.join(lost)}")
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
