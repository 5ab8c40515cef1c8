"""Slot latency on the real scheduled path, against the seed's way, on the running platform.

    .venv/bin/python bench/slot_latency.py [--slots 12] [--seed-slots 10]

Brings the platform up with `lake up --offline` in a throwaway LAKE_HOME (one-minute slots, the typed
table every 5 minutes, so its Spark submits run beside the slots as they would), then:
  - this project: `scraper_pipeline_v1` is unpaused through Airflow's REST API and left alone. For each
    scheduled slot, from the END of its data interval to (a) the raw landing materialised and (b) the
    signal committed (the materialisation that follows the pyiceberg commit), read from Dagster's event
    log: Airflow scheduler -> bridge task -> Dagster webserver -> one run -> scrapworker -> signal.
    The first slot (warm-up: the run launcher's forkserver imports Dagster once) is printed, not counted.
  - seed-style (the baseline), beside it on the same platform with the DAG paused: at a slot's end the
    same crawl jobs are enqueued (fresh ids), their status is polled every 10 s, then each signal row is
    written by a spark-submit of a one-row Spark application (bench/seed_style_signal.py).
Prints p50/p95 of both, the ratio of the medians (interval end -> signal committed), and where our
seconds go, stage by stage (p50 and p95 of each, from Airflow's and Dagster's own timestamps):
  scheduler   interval end -> the Airflow DAG run queued
  queue       DAG run queued -> the bridge task started
  bridge      bridge task started -> the Dagster run created (its request through the webserver)
  launch      Dagster run created -> run started (the run launcher's process)
  crawl       run started -> the run's last raw landing materialised (the step start, the queue, scrapworker,
              S3; the slot's landings crawl side by side, in one step)
  handoff     last landing -> the signals step started (Dagster ends one step and starts the next)
  signals     the signals step: its phases (`seconds` in its metadata) are printed below the stages:
              start (its jobs and S3 client), catalog (opened), read (the manifests), commit (pyiceberg)
  report      signal materialised -> the bridge task ended (its polling; not in the latency above)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from lake.settings import load_settings  # noqa: E402
from lake.spark_submit import submit  # noqa: E402
from lake_assets.resources import all_resources  # noqa: E402
from lake_contracts.slots import Slot  # noqa: E402
from lake_tools.platform import airflow  # noqa: E402
from scrapworker.landing import manifest_key_of  # noqa: E402
from scrapworker.landings import load_landings  # noqa: E402
from scrapworker.protocol import JobState  # noqa: E402
from scrapworker.queue import JobQueue  # noqa: E402
from tests.support import LAKE, clean_environ, free_port_base, make_lake_home  # noqa: E402

POLL_SECONDS = 10.0
DAG, TYPED = "scraper_pipeline_v1", "scraper_typed_v1"
TYPED_EVERY = 5  # minutes: the typed table's Spark submit every fifth slot
EVENTS = """query($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events {
  __typename ... on MessageEvent { timestamp message stepKey eventType }
  ... on MaterializationEvent { assetKey { path } metadataEntries { label ... on JsonMetadataEntry { jsonString } } }
  } } } }"""
RUNS = """query($tags: [ExecutionTag!]) { runsOrError(filter: {tags: $tags}) { ... on Runs { results {
  runId creationTime startTime } } } }"""
STAGES = ("scheduler", "queue", "bridge", "launch", "crawl", "handoff", "signals", "report")
SIGNALS_STEP = "landing__signals"


def stamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Platform:
    def __init__(self, home: Path, env: dict[str, str], timeline: bool = False) -> None:
        self.home, self.env = home, env
        self.settings = load_settings(env_file=home / "lake.env")
        password = json.loads((home / "airflow" / "simple_auth_manager_passwords.json").read_text())["admin"]
        self.headers = {"Authorization": f"Bearer {airflow.token(self.settings.airflow.url, password)}"}
        self.timeline = timeline

    def airflow(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.settings.airflow.url}/api/v2{path}"
        response = requests.request(method, url, headers=self.headers, timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def dagster(self, query: str, variables: dict[str, Any]) -> Any:
        dagster = self.settings.dagster
        response = requests.post(
            f"{dagster.url}/graphql", json={"query": query, "variables": variables}, auth=dagster.login(), timeout=30
        )
        response.raise_for_status()
        return response.json()["data"]

    def scheduled_runs(self) -> list[dict[str, Any]]:
        runs = self.airflow("GET", f"/dags/{DAG}/dagRuns", params={"limit": 100})["dag_runs"]
        return sorted((r for r in runs if r["run_type"] == "scheduled"), key=lambda r: r["data_interval_start"])

    def latency(self, airflow_run: dict[str, Any]) -> tuple[float, float, dict[str, float]]:
        """Interval end -> raw landing materialised, and -> signal committed, from Dagster's event log; and
        the seconds of each stage between (STAGES), from Airflow's and Dagster's timestamps."""
        end = stamp(airflow_run["data_interval_end"])
        tags = [{"key": "airflow/dag_id", "value": DAG}, {"key": "airflow/run_id", "value": airflow_run["dag_run_id"]}]
        [run] = self.dagster(RUNS, {"tags": tags})["runsOrError"]["results"]
        events = self.dagster(EVENTS, {"runId": run["runId"]})["logsForRun"]["events"]
        stamps = {
            "/".join(e["assetKey"]["path"]): int(e["timestamp"]) / 1000
            for e in events
            if e["__typename"] == "MaterializationEvent"
        }
        landed, signal = stamps["raw_binance_klines"], stamps["landing/signals"]
        all_landed = max(at for key, at in stamps.items() if key.startswith("raw_"))
        [step_start] = [
            int(e["timestamp"]) / 1000
            for e in events
            if e.get("eventType") == "STEP_START" and e.get("stepKey") == SIGNALS_STEP
        ]
        [phases] = [
            json.loads(entry["jsonString"])
            for e in events
            if e["__typename"] == "MaterializationEvent" and e["assetKey"]["path"] == ["landing", "signals"]
            for entry in e["metadataEntries"]
            if entry["label"] == "seconds"
        ]
        if self.timeline:
            print(f"   the events of run {run['runId']}, seconds after the interval end:")
            for e in events:
                message = (e.get("message") or "")[:80]
                print(f"   {int(e['timestamp']) / 1000 - end:7.3f} {e.get('eventType')} {e.get('stepKey')} {message}")
        path = f"/dags/{DAG}/dagRuns/{airflow_run['dag_run_id']}/taskInstances"
        [task] = self.airflow("GET", path)["task_instances"]
        marks = [
            end,
            stamp(airflow_run["queued_at"]),
            stamp(task["start_date"]),
            run["creationTime"],
            run["startTime"],
            all_landed,
            step_start,
            signal,
            stamp(task["end_date"]),
        ]
        stages = {name: after - before for name, before, after in zip(STAGES, marks[:-1], marks[1:], strict=True)}
        stages |= {f"signals: {phase}": seconds for phase, seconds in phases.items()}
        return landed - end, signal - end, stages


Measured = tuple[float, float, dict[str, float]]


def ours(platform: Platform, slots: int) -> tuple[list[Measured], Measured]:
    platform.airflow("PATCH", f"/dags/{DAG}", json={"is_paused": False})
    deadline = time.monotonic() + 60 * (slots + 6)
    typed = False
    while time.monotonic() < deadline:
        done = [r for r in platform.scheduled_runs() if r["state"] in ("success", "failed")]
        print(f"   scheduled slots done: {len(done)} of {slots + 1}", flush=True)
        if len(done) >= slots + 1:
            break
        if len(done) > TYPED_EVERY and not typed:
            # The typed table's Spark submits join once its first interval has landed, as in production.
            platform.airflow("PATCH", f"/dags/{TYPED}", json={"is_paused": False})
            typed = True
        time.sleep(30)
    for dag in (DAG, TYPED):
        platform.airflow("PATCH", f"/dags/{dag}", json={"is_paused": True})
    runs = [r for r in platform.scheduled_runs() if r["state"] == "success"]
    failed = [r["dag_run_id"] for r in platform.scheduled_runs() if r["state"] == "failed"]
    if failed or len(runs) < slots + 1:
        raise SystemExit(f"scheduled runs failed or missing: failed {failed}, succeeded {len(runs)}")
    measured = [platform.latency(run) for run in runs]
    return measured[1 : slots + 1], measured[0]


def seed_style(slot: Slot, queue: JobQueue, settings_env: Path, endpoints: object) -> tuple[float, float]:
    """From the slot's end (the bench waits for it) to landed and to the last signal row committed."""
    settings = load_settings(env_file=settings_env)
    time.sleep(max(0.0, slot.end.timestamp() - time.time()))
    launched = slot.end.timestamp()
    specs = [
        spec.model_copy(update={"job_id": spec.job_id + ".seed"})
        for landing in load_landings(endpoints)  # type: ignore[arg-type]
        if landing.typed == "klines"
        for spec in landing.jobs(slot.start, slot.end, endpoints)  # type: ignore[arg-type]
    ]
    for spec in specs:
        queue.enqueue(spec)
    while True:  # the seed's sensor: look every 10 s
        time.sleep(POLL_SECONDS)
        states = [queue.status(spec.job_id) for spec in specs]
        if all(s is not None and s.state is JobState.SUCCEEDED for s in states):
            break
    landed = time.time() - launched
    for spec, status in zip(specs, states, strict=True):
        assert status is not None
        submit(
            settings,
            ROOT / "bench" / "seed_style_signal.py",
            [
                "--table",
                "landing.signals_seed_style",
                "--job-id",
                spec.job_id,
                "--endpoint",
                spec.endpoint,
                "--s3-path",
                manifest_key_of(spec),
                "--ds",
                slot.ds,
                "--hr",
                str(slot.hr),
                "--min",
                str(slot.min),
                "--records",
                str(status.outputs["records"]),
            ],
        )
    return landed, time.time() - launched


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slots", type=int, default=12, help="scheduled slots measured (after one warm-up)")
    parser.add_argument("--seed-slots", type=int, default=10, help="seed-style slots measured")
    parser.add_argument("--timeline", action="store_true", help="print each run's Dagster events")
    args = parser.parse_args()
    home = make_lake_home("lake-bench-")
    env = clean_environ(
        LAKE_HOME=str(home),
        LAKE_STACK__PORT_BASE=str(free_port_base()),
        LAKE_PARTITIONS__CADENCE_MINUTES="1",
        LAKE_PARTITIONS__TYPED_EVERY_MINUTES=str(TYPED_EVERY),
    )
    try:
        print("== lake up --offline (one-minute slots)", flush=True)
        up = subprocess.run([LAKE, "up", "--offline"], env=env, capture_output=True, text=True, check=False)
        if up.returncode != 0:
            raise SystemExit(up.stdout + up.stderr)
        platform = Platform(home, env, args.timeline)
        print(f"== this project: {args.slots} scheduled slots through Airflow", flush=True)
        mine, warmup = ours(platform, args.slots)
        print(f"== seed-style: {args.seed_slots} slots, 10 s polling and a Spark-written signal", flush=True)
        env_file = home / "bench.env"
        simulator = f"http://127.0.0.1:{platform.settings.stack.port_base + 90}"
        env_file.write_text(
            (home / "lake.env").read_text() + f"LAKE_CRAWLER__BASE_URLS={json.dumps({'binance': simulator})}\n"
        )
        resources = all_resources(env_file=str(env_file))
        queue, endpoints = resources["queue"].queue(), resources["queue"].endpoints()  # type: ignore[attr-defined]
        baseline = []
        for _ in range(args.seed_slots):  # each from the next slot boundary, never from one already past
            baseline.append(
                seed_style(Slot(datetime.now(UTC).replace(second=0, microsecond=0), 1), queue, env_file, endpoints)
            )
    finally:
        subprocess.run([LAKE, "down"], env=env, capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)

    def line(name: str, values: list[tuple[float, float]] | list[Measured]) -> str:
        landed, committed = [v[0] for v in values], [v[1] for v in values]
        return (
            f"{name:<36} landed p50 {percentile(landed, 0.5):6.2f} s  p95 {percentile(landed, 0.95):6.2f} s   "
            f"signal p50 {percentile(committed, 0.5):6.2f} s  p95 {percentile(committed, 0.95):6.2f} s"
        )

    print("== interval end -> klines landed / signal committed (the shipped landings, simulator, `lake up`)")
    print(line(f"this project, Airflow-scheduled ({len(mine)})", mine))
    print(line(f"seed-style, 10 s polls + Spark ({len(baseline)})", baseline))
    print(f"   (warm-up slot, not counted: landed {warmup[0]:.2f} s, signal {warmup[1]:.2f} s)")
    ratio = statistics.median(v[1] for v in baseline) / statistics.median(v[1] for v in mine)
    print(f"ratio (seed-style / this project), median interval end -> signal committed: {ratio:.1f}x")
    print("== where this project's seconds go, per stage (p50 / p95; `report` comes after the signal)")
    for stage in [*STAGES, *(name for name in mine[0][2] if name not in STAGES)]:
        values = [measured[2][stage] for measured in mine]
        print(f"   {stage:<18} {percentile(values, 0.5):6.2f} s / {percentile(values, 0.95):6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
