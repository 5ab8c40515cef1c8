"""Slot latency: launch -> raw landed -> signal committed, p50 and p95 over 20 slots, against the seed's way.

    .venv/bin/python bench/slot_latency.py [--slots 20]

Starts its own embedded stack, the market-API simulator and one scrapworker. For each slot:
  - this project: Dagster materialises the raw landing then the signal in one in-process run; the
    landing wakes on job completion (Redis pub/sub) and the signal is a pyiceberg append;
  - seed-style (the baseline): the same crawl jobs (fresh ids), job status polled every 10 s, then the
    signal row written by a spark-submit of a one-row Spark application (bench/seed_style_signal.py).
Prints both distributions and the ratio of their medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402

from lake.settings import load_settings  # noqa: E402
from lake.spark_submit import submit  # noqa: E402
from lake_assets.defs.scraper.assets import RAW_LANDINGS, signals  # noqa: E402
from lake_assets.defs.scraper.landings import BINANCE_KLINES, manifest_key  # noqa: E402
from lake_assets.resources import all_resources  # noqa: E402
from lake_contracts.slots import Slot  # noqa: E402
from lake_tools.bootstrap import bootstrap  # noqa: E402
from lake_tools.stack import Stack  # noqa: E402
from market_sim import MarketSimulator  # noqa: E402
from scrapworker.protocol import JobState  # noqa: E402
from scrapworker.queue import JobQueue  # noqa: E402
from tests.support import clean_environ, free_port_base, make_lake_home  # noqa: E402

FIRST_SLOT = datetime(2026, 11, 10, tzinfo=UTC)
POLL_SECONDS = 10.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ours(slot: Slot, env_file: Path, instance: dg.DagsterInstance) -> tuple[float, float]:
    launched = time.time()
    result = dg.materialize(
        [*RAW_LANDINGS, signals],
        partition_key=slot.key,
        resources=all_resources(env_file=str(env_file)),
        instance=instance,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    records = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    stamps = {
        r.dagster_event.asset_key.to_user_string(): r.timestamp
        for r in records
        if r.dagster_event and r.dagster_event.asset_key
    }
    return stamps["raw_binance_klines"] - launched, stamps["landing/signals"] - launched


def seed_style(slot: Slot, queue: JobQueue, settings_env: Path, endpoints: object) -> tuple[float, float]:
    settings = load_settings(env_file=settings_env)
    launched = time.time()
    specs = [
        spec.model_copy(update={"job_id": spec.job_id + ".seed"})
        for spec in BINANCE_KLINES.jobs(slot.start, slot.end, endpoints)  # type: ignore[arg-type]
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
                manifest_key(spec),
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
    parser.add_argument("--slots", type=int, default=20)
    args = parser.parse_args()
    home = make_lake_home("lake-bench-")
    stack = Stack(home, free_port_base())
    simulator = MarketSimulator()
    worker = None
    try:
        stack.up()
        bootstrap(load_settings(env_file=stack.env_file))
        simulator.start()
        env_file = home / "bench.env"
        env_file.write_text(
            stack.env_file.read_text() + f"LAKE_CRAWLER__BASE_URLS={json.dumps({'binance': simulator.base_url})}\n"
        )
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "scrapworker"), "run", "--concurrency", "4"],
            env=clean_environ(LAKE_ENV_FILE=str(env_file)),
            stderr=subprocess.DEVNULL,
        )
        resources = all_resources(env_file=str(env_file))
        queue, endpoints = resources["queue"].queue(), resources["queue"].endpoints()  # type: ignore[attr-defined]
        os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
        instance = dg.DagsterInstance.ephemeral()
        slots = [Slot(FIRST_SLOT + timedelta(minutes=15 * i), 15) for i in range(args.slots)]
        ours(slots[0], env_file, instance)  # warm-up: first imports, table creation
        mine = [ours(slot, env_file, instance) for slot in slots]
        baseline = [seed_style(slot, queue, env_file, endpoints) for slot in slots]
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        simulator.stop()
        stack.down()
        shutil.rmtree(home, ignore_errors=True)

    def line(name: str, values: list[tuple[float, float]]) -> str:
        landed, committed = [v[0] for v in values], [v[1] for v in values]
        return (
            f"{name:<34} landed p50 {percentile(landed, 0.5):6.2f} s  p95 {percentile(landed, 0.95):6.2f} s   "
            f"signal p50 {percentile(committed, 0.5):6.2f} s  p95 {percentile(committed, 0.95):6.2f} s"
        )

    print(f"== slot latency over {args.slots} slots (2 klines jobs per slot, simulator, embedded stack)")
    print(line("this project (Dagster, pub/sub)", mine))
    print(line("seed-style (10 s polls, Spark)", baseline))
    ratio = statistics.median(v[1] for v in baseline) / statistics.median(v[1] for v in mine)
    print(f"ratio (seed-style / this project), median launch -> signal committed: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
