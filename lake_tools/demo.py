"""`lake demo`: the scraper pipeline end to end on the embedded stack, for the last few slots.

stack up -> bootstrap -> a scrapworker worker (and, with --offline, the market-API simulator) ->
Dagster materialises raw landing -> signal -> typed klines per slot, with checks -> a summary of what
landed and what was catalogued. Runs are recorded in the embedded Dagster instance, so `lake dagster
dev` shows them afterwards. Everything the demo started is stopped at the end (the stack too, unless
it was already running or --keep-stack is given).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lake.settings import LakeSettings, load_settings

DAGSTER_QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def say(text: str) -> None:
    print(text, flush=True)


def last_complete_slots(settings: LakeSettings, count: int, now: datetime | None = None) -> list[Any]:
    from lake_contracts.slots import Slot

    minutes = settings.partitions.cadence_minutes
    now = now or datetime.now(UTC)
    end = now.replace(second=0, microsecond=0) - timedelta(minutes=(now.hour * 60 + now.minute) % minutes)
    return [Slot(end - timedelta(minutes=minutes * (count - i)), minutes) for i in range(count)]


def run_demo(settings: LakeSettings, args: argparse.Namespace) -> int:
    from lake_tools.bootstrap import bootstrap
    from lake_tools.stack import ProcessState, Stack

    if args.offline and importlib.util.find_spec("market_sim") is None:
        # The simulator is a test and demo tool, not part of a production install.
        print("lake demo: --offline needs the simulator: pip install 'lake-ingest[simulator]'", file=sys.stderr)
        return 2
    stack = Stack.for_settings(settings)
    was_running = all(status.state is ProcessState.RUNNING for status in stack.status())
    say("== stack")
    for line in stack.up():
        say(f"   {line}")
    simulator = worker = None
    try:
        settings = load_settings(env_file=stack.env_file)
        for line in bootstrap(settings):
            say(f"   {line}")
        simulator = _simulator() if args.offline else None
        # The worker crawls as the crawler, the assets run as Dagster's code does (lake.access).
        crawler_env = _demo_env_file(stack.identity_env_file("crawler"), simulator)
        dagster_env = _demo_env_file(stack.identity_env_file("dagster"), simulator)
        settings = load_settings(env_file=dagster_env)
        say(
            f"== market API: {'simulator at ' + simulator.base_url if simulator else 'https://data-api.binance.vision'}"
        )
        worker = _start_worker(crawler_env, settings.home / "demo-worker.log")
        say(f"== scrapworker pid {worker.pid} (log: {settings.home / 'demo-worker.log'})")
        return _materialise(settings, dagster_env, args.slots)
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        if simulator is not None:
            simulator.stop()
        if not was_running and not args.keep_stack:
            say("== stopping the stack the demo started (data stays; `lake stack up` brings it back)")
            stack.down()
        else:
            say("== stack left running: `lake stack down` stops it; `lake dagster dev` shows the runs")


def _simulator() -> Any:
    from market_sim import MarketSimulator

    simulator = MarketSimulator()
    simulator.start()
    return simulator


def _demo_env_file(base: Path, simulator: Any) -> Path:
    """`base` (an identity's settings), pointed at the simulator when there is one."""
    extra = f"LAKE_CRAWLER__BASE_URLS={json.dumps({'binance': simulator.base_url})}\n" if simulator else ""
    path = base.with_name(f"demo-{base.name}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base.read_text() + extra)
    return path


def _start_worker(env_file: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKE_")} | {"LAKE_ENV_FILE": str(env_file)}
    with log.open("ab") as handle:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "scrapworker"), "run", "--concurrency", "4"],
            env=env,
            stdout=handle,
            stderr=handle,
        )


def _materialise(settings: LakeSettings, env_file: Path, count: int) -> int:
    import dagster as dg

    from lake_assets.definitions import checks_for
    from lake_assets.defs.scraper.assets import ASSETS
    from lake_assets.resources import all_resources
    from lake_tools.dagster_home import environment

    os.environ.update({k: v for k, v in environment(settings).items() if k.startswith(("DAGSTER_", "LAKE_DAGSTER"))})
    instance = dg.DagsterInstance.get()
    assets = ASSETS.assets
    checks = checks_for(assets)
    slots = last_complete_slots(settings, count)
    say(
        f"== materialising {len(slots)} slot(s) of the scraper pipeline "
        f"({settings.partitions.cadence_minutes}-minute cadence)"
    )
    failed = 0
    for number, slot in enumerate(slots, 1):
        started = time.monotonic()
        say(f"   [{number}/{len(slots)}] slot {slot.key}: landing -> signal -> klines ...")
        result = dg.materialize(
            [*assets, *checks],
            partition_key=slot.key,
            resources=all_resources(env_file=str(env_file)),
            instance=instance,
            raise_on_error=False,
            run_config=DAGSTER_QUIET,
        )
        if not result.success:
            failed += 1
            say(f"       FAILED in {time.monotonic() - started:.1f} s: {_first_failure(result)}")
            continue
        meta = _metadata(result)
        landed = [meta.get(key.to_user_string(), {}) for key in ASSETS.raw.keys]
        records, pages, size = (sum(m.get(name, 0) for m in landed) for name in ("records", "pages", "bytes"))
        checks_passed = sum(1 for e in result.get_asset_check_evaluations() if e.passed)
        evaluations = len(result.get_asset_check_evaluations())
        say(
            f"       landed {records} records in {pages} pages ({size} bytes); "
            f"signals {meta.get('landing/signals', {}).get('rows')}; "
            f"klines {meta.get('market/klines', {}).get('rows')} rows; checks {checks_passed}/{evaluations} passed; "
            f"{time.monotonic() - started:.1f} s"
        )
    _summary(settings, slots)
    return 1 if failed else 0


def _metadata(result: Any) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        found[materialization.asset_key.to_user_string()] = {k: v.value for k, v in materialization.metadata.items()}
    return found


def _first_failure(result: Any) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            return str(event.step_failure_data.error.message).strip().splitlines()[0][:300]
    return "see `lake dagster dev`"


def _summary(settings: LakeSettings, slots: list[Any]) -> None:
    from lake.catalog import open_catalog
    from lake.storage import s3_client
    from lake_contracts import tables

    s3 = s3_client(settings)
    listed = s3.list_objects_v2(Bucket=settings.s3.raw_bucket, Prefix="binance/klines/")
    manifests = [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith("manifest.json")]
    catalog = open_catalog(settings)
    signal_rows = catalog.load_table(tables.SIGNALS).scan().to_arrow().num_rows
    kline_rows = catalog.load_table(tables.KLINES).scan().to_arrow().num_rows
    say("== what landed and what was catalogued")
    say(
        f"   s3://{settings.s3.raw_bucket}/binance/klines/: {len(manifests)} complete landing(s), "
        f"e.g. {manifests[-1] if manifests else '-'}"
    )
    say(f"   landing.signals: {signal_rows} row(s); market.klines: {kline_rows} row(s)")
    say(f"   slots: {slots[0].key} .. {slots[-1].key}")


def main(settings: LakeSettings, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="lake demo", description=__doc__)
    parser.add_argument("--offline", action="store_true", help="use the market-API simulator instead of Binance")
    parser.add_argument("--slots", type=int, default=3, help="how many of the last complete slots (default 3)")
    parser.add_argument("--keep-stack", action="store_true", help="leave the stack running afterwards")
    return run_demo(settings, parser.parse_args(argv))
