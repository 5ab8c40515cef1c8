"""History benchmark: a year of 1-minute klines for 2 symbols (~1.05M rows) from the simulator into
market.klines, end to end, against dlt's rest_api source loading the same rows into Iceberg.

    .venv/bin/python bench/history.py [--months 12] [--limit 120 --window 10 --burst 2] [--workers 3] [--no-dlt]

Starts its own embedded stack (PostgreSQL, Redis, SeaweedFS, Nessie) on free ports, a market simulator
enforcing the budget (--limit weight per --window seconds, as Binance counts it), and --workers
`scrapworker run` processes sharing that budget. Materialises the history assets for the whole range in
ONE Dagster run and one step (history/raw_binance_klines, history/landing/signals and
history/market/klines: each month catalogued and typed as it lands), with their checks, and prints:
  - each stage's time, rows/s, the weight used against the budget over the crawl, and the 429/418s;
  - the budget-bound minimum: the weight the rows need (one request per 1000 klines) at the budget's
    sustained rate; the crawl (target <= 1.07x) and the whole load (target <= 1.10x) against it;
  - the rows in market.klines against the simulator's (every minute of the range, per symbol);
  - the landed year typed again by one spark-submit into a table of its own, twice: into empty days (the
    append path, target <= 30 s) and over the days it now holds (the MERGE path).
Then dlt (installed in the benchmark's own venv, $LAKE_BENCH_DLT_VENV or .cache/dlt-venv, never a
project dependency) loads the same rows from a fresh simulator with the same budget into an Iceberg
table (its filesystem destination, table_format="iceberg", on the same SeaweedFS), and the ratio is
printed. The budget is scaled down from Binance's 6000/60 s so that it binds: on two cores the rig
serves ~30 requests/s (bench/crawler.py), while 6000/60 s of klines is 50.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.budget import full_window_weights, scaled_endpoints  # noqa: E402
from lake.catalog import open_catalog  # noqa: E402
from lake.settings import load_settings  # noqa: E402
from lake_tools.bootstrap import bootstrap  # noqa: E402
from lake_tools.stack import Stack  # noqa: E402
from market_sim import MarketSimulator, SimulatorConfig  # noqa: E402
from tests.support import free_port_base, make_lake_home  # noqa: E402

SCRAPWORKER = str(Path(sys.executable).parent / "scrapworker")
DLT_VENV = Path(os.environ.get("LAKE_BENCH_DLT_VENV", ROOT.parent / ".cache" / "dlt-venv"))
SYMBOLS = ("BTCUSDT", "ETHUSDT")
PAGE, WEIGHT = 1000, 2  # klines: 1000 rows a page, weight 2 a request


def scaled_files(tmp: Path, limit: int, window: float, burst: int) -> tuple[Path, Path]:
    landings = {
        "version": 1,
        "landings": {
            "binance_klines": {
                "endpoint": "klines",
                "prefix": "binance",
                "params": {"interval": "1m"},
                "for_each": {"symbol": list(SYMBOLS)},
                "typed": "klines",
                "history": True,
            }
        },
    }
    (tmp / "landings.yaml").write_text(yaml.safe_dump(landings))
    return scaled_endpoints(tmp / "endpoints.yaml", limit, window, burst), tmp / "landings.yaml"


def ours(args: argparse.Namespace, home: Path, first: datetime, end: datetime) -> dict[str, Any]:
    env_file = home / "lake.env"
    settings = load_settings(env_file=env_file)
    bootstrap(settings)
    endpoints_file, landings_file = scaled_files(home, args.limit, args.window, args.burst)
    config = SimulatorConfig(weight_limit=args.limit, window_seconds=args.window)
    with MarketSimulator(config) as simulator:
        with env_file.open("a") as handle:
            handle.write(
                f"LAKE_CRAWLER__BASE_URLS={json.dumps({'binance': simulator.base_url})}\n"
                f"LAKE_CRAWLER__ENDPOINTS_FILE={endpoints_file}\nLAKE_CRAWLER__LANDINGS_FILE={landings_file}\n"
                f"LAKE_QUEUE__PREFIX=scrapworker-history\nLAKE_HISTORY__START={first:%Y-%m-%dT00:00:00Z}\n"
            )
        os.environ["LAKE_ENV_FILE"] = str(env_file)  # read by the definitions when imported below
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAKE_")} | {"LAKE_ENV_FILE": str(env_file)}
        logs = (home / "workers.log").open("wb")
        workers = [
            subprocess.Popen([SCRAPWORKER, "run", "--concurrency", "4"], env=env, stdout=logs, stderr=logs)
            for _ in range(args.workers)
        ]
        try:
            import dagster as dg

            from lake_assets.defs.history import ASSETS
            from lake_assets.partitions import RANGE_END_TAG, RANGE_START_TAG
            from lake_assets.resources import all_resources

            last = (end - timedelta(days=1)).replace(day=1)
            started = time.monotonic()
            instance = dg.DagsterInstance.ephemeral()
            result = dg.materialize(
                [*ASSETS.assets, *ASSETS.checks],
                tags={RANGE_START_TAG: f"{first:%Y-%m}", RANGE_END_TAG: f"{last:%Y-%m}"},
                resources=all_resources(env_file=str(env_file)),
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            whole = time.monotonic() - started
            steps = step_seconds(instance, result.run_id)
            keys = len(ASSETS.load.partitions_def.get_partition_keys())  # type: ignore[union-attr]
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(timeout=60)
        requests = simulator.stats().requests
    if not result.success:
        failures = [
            e.step_failure_data.error.message for e in result.get_step_failure_events() if e.step_failure_data.error
        ]
        raise SystemExit(f"the history run failed: {failures[:1]}")
    meta = {
        e.materialization.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
        if e.materialization
    }
    checks = {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()}
    ok = [r for r in requests if r.status == 200]
    crawl_start, crawl_end = min(r.at for r in ok), max(r.at for r in ok)
    weights = full_window_weights(requests, crawl_start, crawl_end, args.window)
    used, allowed = sum(weights), args.limit * len(weights)
    share = used / max(1, allowed)
    rows = open_catalog(settings).load_table("market.klines").scan(selected_fields=("symbol",)).to_arrow().num_rows
    retype = typing_paths(settings, meta["history/raw_binance_klines"]["manifest_keys"])
    return {
        "retype": retype,
        "steps": steps,
        "whole": whole,
        "crawl_step": meta["history/raw_binance_klines"]["duration_s"],
        "crawl_span": crawl_end - crawl_start,
        "signals_step": meta["history/landing/signals"]["duration_s"],
        "signal_commits": meta["history/landing/signals"]["commits"],
        "typed_rows": meta["history/market/klines"]["rows"],
        "typed_pieces": meta["history/market/klines"]["pieces"],
        "typed_seconds": meta["history/market/klines"]["seconds"],
        "typed_after": meta["history/market/klines"]["typed_after_last_landing_s"],
        "pages": meta["history/raw_binance_klines"]["pages"],
        "jobs": meta["history/raw_binance_klines"]["jobs"],
        "requests": len(requests),
        "statuses": Counter(r.status for r in requests),
        "used": used,
        "allowed": allowed,
        "share": share,
        "table_rows": rows,
        "checks": checks,
        "keys": keys,
    }


def step_seconds(instance: Any, run_id: str) -> dict[str, float]:
    """Each step's seconds, start to end, from the run's event log (the load step, then the signals' checks)."""
    begun: dict[str, float] = {}
    spent: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or entry.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            begun[entry.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key in begun:
            spent[entry.step_key] = round(entry.timestamp - begun[entry.step_key], 1)
    return spent


def typing_paths(settings: Any, manifest_keys: list[str]) -> dict[str, float]:
    """The landed year typed again in one spark-submit each, outside Dagster, into a table of its own: first
    into days it holds none of (the append path), then the same landings again (every day held: MERGE)."""
    from bench.typed_load import TABLE, typed

    timings = {path: typed(settings, manifest_keys)[0] for path in ("append", "merge")}  # in this order
    open_catalog(settings).drop_table(TABLE)
    return timings


def theirs(args: argparse.Namespace, home: Path, first: datetime, end: datetime) -> dict[str, Any]:
    python = DLT_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DLT_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "dlt[filesystem,pyiceberg]", "sqlalchemy>=2.0.18"]
        subprocess.run(pip, check=True)
    settings = load_settings(env_file=home / "lake.env")
    # dlt has no client-side budget: it meets the limit as 429s and waits their Retry-After. Binance bans an
    # IP (418) after repeated 429s; the simulator's ban is lifted here so dlt can finish, and its 429s counted.
    config = SimulatorConfig(weight_limit=args.limit, window_seconds=args.window, ban_after_violations=10**6)
    with MarketSimulator(config) as simulator:
        assert settings.s3.secret_access_key is not None and settings.s3.endpoint is not None
        env = os.environ | {
            "DLT_S3_ENDPOINT": settings.s3.endpoint,
            "DLT_S3_KEY": str(settings.s3.access_key_id),
            "DLT_S3_SECRET": settings.s3.secret_access_key.get_secret_value(),
            "DLT_DATA_DIR": str(home / "dlt"),
            "RUNTIME__LOG_LEVEL": "WARNING",
        }
        command = [
            str(python), str(ROOT / "bench" / "history_dlt.py"),
            "--base-url", simulator.base_url, "--bucket", f"s3://{settings.s3.raw_bucket}/dlt",
            "--start-ms", str(int(first.timestamp() * 1000)), "--end-ms", str(int(end.timestamp() * 1000)),
            *(arg for symbol in SYMBOLS for arg in ("--symbol", symbol)),
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=home)
        whole = time.monotonic() - started
        requests = simulator.stats().requests
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["no output"], "whole": whole}
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report | {"whole": whole, "statuses": Counter(r.status for r in requests)}


def report(
    args: argparse.Namespace,
    us: dict[str, Any],
    them: dict[str, Any] | None,
    first: datetime,
    expected_rows: int,
    weight_needed: int,
    minimum: float,
) -> None:
    def line(label: str, text: str) -> None:
        print(f"{label:<22}{text}")

    rate = args.limit / args.window
    print(f"== history: {args.months} months of 1m klines x {len(SYMBOLS)} symbols from {first:%Y-%m-%d}")
    line("budget", f"{args.limit} weight / {args.window:g} s = {rate:g}/s (burst {args.burst}); Binance: 6000/60 s")
    line("rows expected", f"{expected_rows:,} (every minute, per symbol)")
    line("budget-bound minimum", f"{minimum:.1f} s ({weight_needed} weight: one request of {WEIGHT} per {PAGE} rows)")
    print(f"-- this project: {args.workers} scrapworkers x 4, one Dagster run, {us['jobs']} jobs")
    line(
        "history keys",
        f"{us['keys']} monthly partitions in Dagster (the whole history), not {expected_rows // 2:,} slots",
    )
    crawl = us["crawl_step"]
    line("crawl", f"{crawl:.1f} s to the last landing = {crawl / minimum:.2f}x the minimum (<= 1.07x)")
    line("", f"first to last request {us['crawl_span']:.1f} s")
    line("signals", f"{us['signals_step']:.1f} s in {us['signal_commits']} commit(s), month by month as they landed")
    phases = ", ".join(f"{phase} {spent:g}" for phase, spent in us["typed_seconds"].items())
    line("typed", f"{us['typed_pieces']} pieces in one held Spark session, during the crawl; seconds: {phases}")
    line(
        "after the last landing",
        f"{us['whole'] - crawl:.1f} s: the last month typed in {us['typed_after']:.1f} s, then the checks, one merge "
        "and Dagster's own steps",
    )
    retype = us["retype"]
    line(
        "typing the year again",
        f"one submit each: {retype['append']:.1f} s into empty days (append; <= 30 s), "
        f"{retype['merge']:.1f} s over held days (MERGE)",
    )
    line("steps", ", ".join(f"{step} {spent:g} s" for step, spent in us["steps"].items()))
    line("whole load", f"{us['whole']:.1f} s = {us['whole'] / minimum:.2f}x the minimum (<= 1.10x)")
    line("rows/s", f"{us['typed_rows'] / us['whole']:,.0f} (whole load)")
    line("budget use", f"{us['used']}/{us['allowed']} weight in full windows = {us['share']:.1%} (>= 90 %)")
    statuses = us["statuses"]
    line(
        "requests", f"{us['requests']} ({us['pages']} pages); 429: {statuses.get(429, 0)}, 418: {statuses.get(418, 0)}"
    )
    verdict = "exact" if us["table_rows"] == expected_rows else "MISMATCH"
    line("market.klines rows", f"{us['table_rows']:,} (simulator: {expected_rows:,}: {verdict})")
    line("checks", f"{sum(us['checks'].values())}/{len(us['checks'])} passed: {', '.join(sorted(us['checks']))}")
    if them is None:
        return
    print("-- dlt rest_api -> Iceberg (filesystem destination, pyiceberg SQL catalog), same simulator and budget")
    if "error" in them:
        line("dlt failed", f"after {them['whole']:.1f} s: {them['error'][0][:300]}")
        return
    line("whole load", f"{them['whole']:.1f} s = {them['whole'] / minimum:.2f}x the minimum; rows {them['rows']:,}")
    line("steps", json.dumps({k: round(v, 1) for k, v in them["steps"].items()}))
    line("429 / 418", f"{them['statuses'].get(429, 0)} / {them['statuses'].get(418, 0)} (ban lifted for dlt)")
    line("ratio", f"dlt / this project = {them['whole'] / us['whole']:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=datetime.fromisoformat, default=datetime(2025, 1, 1, tzinfo=UTC))
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--limit", type=int, default=120, help="weight per window (Binance: 6000)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds (Binance: 60)")
    parser.add_argument(
        "--burst", type=int, default=2, help="our limiter's burst, one request (Binance config: 100 of 6000)"
    )
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--no-dlt", action="store_true")
    args = parser.parse_args()
    first = args.start.replace(tzinfo=UTC) if args.start.tzinfo is None else args.start
    end = first
    for _ in range(args.months):
        end = (end + timedelta(days=32)).replace(day=1)
    minutes = int((end - first).total_seconds() // 60)
    expected_rows = minutes * len(SYMBOLS)
    weight_needed = math.ceil(minutes / PAGE) * len(SYMBOLS) * WEIGHT
    minimum = weight_needed / (args.limit / args.window)

    home = make_lake_home("lake-history-")
    stack = Stack(home, free_port_base())
    try:
        stack.up()
        us = ours(args, home, first, end)
        them = None if args.no_dlt else theirs(args, home, first, end)
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)

    report(args, us, them, first, expected_rows, weight_needed, minimum)
    return 0 if us["table_rows"] == expected_rows and all(us["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
