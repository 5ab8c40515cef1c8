"""The lake on day 30: thousands of minute-slot commits into `landing.signals` and `market.klines`, with the
daily maintenance running, scaled to the slots, while the commits go on.

    .venv/bin/python bench/day30.py [--commits 5000]

Starts its own embedded stack (Nessie's Iceberg REST catalog on PostgreSQL, SeaweedFS, Spark local). Then,
per minute slot: one signals run (`lake.signals.publish_batch`, two landings, one commit) and one klines
commit (two typed rows appended by pyiceberg; market.klines itself is created by the real Spark job,
jobs/klines_transform.py, from a landing). Each time a simulated day closes (every 1440 slots), the table
maintenance (jobs/maintenance.py: compaction of closed days, manifest rewrite) runs for both tables, as the
daily schedule would; the slots wait for it as the tables' pools make them wait in Dagster.

Prints the p50 commit latency of the first and the last 100 slots and their ratio (the target: signal
publish last-100 p50 within 1.2x of the first 100's and <= 100 ms, over >= 5000 commits), data files per
closed day partition of market.klines, the current metadata file's size as the commits go on, each
maintenance run, and row counts against what was committed.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lake.catalog import open_catalog  # noqa: E402
from lake.settings import LakeSettings, load_settings  # noqa: E402
from lake.signals import Signal, publish_batch  # noqa: E402
from lake.spark_submit import submit  # noqa: E402
from lake.storage import s3_client  # noqa: E402
from lake.tables import SIGNALS, commit_retrying, ensure_table  # noqa: E402
from lake_contracts import tables  # noqa: E402
from lake_contracts.slots import Slot  # noqa: E402
from lake_tools.bootstrap import bootstrap  # noqa: E402
from scrapworker.landing import LandingWriter  # noqa: E402
from scrapworker.protocol import JobSpec  # noqa: E402
from tests.support import throwaway_stack  # noqa: E402

START = datetime(2026, 10, 1, tzinfo=UTC)
SYMBOLS = ("BTCUSDT", "ETHUSDT")
SLOTS_PER_DAY = 1440
MAINTAINED = (tables.KLINES, tables.SIGNALS)
FEW_FILES = 3  # the target: closed day partitions hold at most a few files after compaction


def signals_of(slot: Slot) -> list[Signal]:
    return [
        Signal(
            job_id=f"binance.klines.{symbol}-1m.{slot.start:%Y%m%dT%H%M}",
            endpoint="klines",
            s3_path=f"s3://raw/binance/klines/{slot.key}/{symbol}/",
            manifest_key=f"binance/klines/{slot.key}/{symbol}/manifest.json",
            record_count=1,
            slot=slot,
            run_id=f"run-{slot.key}",
            published_at=datetime.now(UTC),
        )
        for symbol in SYMBOLS
    ]


def kline(at: datetime) -> list[Any]:
    """Binance's kline row for the minute at `at`."""
    ms = int(at.timestamp() * 1000)
    return [ms, "100.5", "101.0", "99.5", "100.0", "3.25", ms + 59_999, "325.0", 7, "1.5", "150.0", "0"]


def create_klines_table(settings: LakeSettings) -> None:
    """market.klines as the real transform makes it: one landing of one minute, typed by Spark."""
    spec = JobSpec.model_validate(
        {
            "job_id": "day30-seed",
            "endpoint": "klines",
            "params": {"symbol": "BTCUSDT", "interval": "1m"},
            "window": {"start": START - timedelta(minutes=1), "end": START},
            "landing_prefix": "bench/day30",
        }
    )
    landing = LandingWriter(s3_client(settings), settings.s3.raw_bucket, spec)
    landing.write_page(json.dumps([kline(START - timedelta(minutes=1))]).encode(), {"symbol": "BTCUSDT"}, 1)
    landing.write_manifest(worker="bench", attempt=1, started_at=datetime.now(UTC))
    submit(settings, "klines_transform", ["--manifest", landing.manifest_key])


def klines_rows(slot: Slot, schema: pa.Schema) -> pa.Table:
    rows = []
    for symbol in SYMBOLS:
        values = kline(slot.start)
        rows.append(
            {
                "symbol": symbol,
                "interval": "1m",
                "open_time": slot.start,
                "close_time": slot.start + timedelta(milliseconds=59_999),
                "open": values[1],
                "high": values[2],
                "low": values[3],
                "close": values[4],
                "volume": values[5],
                "quote_volume": values[7],
                "trades": values[8],
                "taker_buy_base_volume": values[9],
                "taker_buy_quote_volume": values[10],
                "landing_job_id": f"binance.klines.{symbol}-1m.{slot.start:%Y%m%dT%H%M}",
                "ingested_at": datetime.now(UTC),
            }
        )
    return pa.Table.from_pylist(rows).cast(schema)


def maintain(settings: LakeSettings, closed_before: datetime) -> list[tuple[str, bool]]:
    """The daily maintenance of both tables, as the schedule runs it once the day has closed.

    The slots wait meanwhile, as Dagster's table pools make a table's writers wait for its maintenance:
    the wait is queueing before a commit, not part of one, so it is reported here and not in the
    commit latencies. (Maintenance beside a committing writer is tests/jobs/test_maintenance.py's.)
    """
    runs = []
    for table in MAINTAINED:
        began = time.perf_counter()
        args = [
            "--table",
            table,
            "--closed-column",
            tables.DAY_COLUMN[table],
            "--closed-before",
            closed_before.isoformat(),
        ]
        try:
            run = submit(settings, "maintenance", args, timeout=1800)
        except Exception as exc:  # a failed run is a result to print, not the end of the benchmark
            runs.append((f"{closed_before:%Y-%m-%d} {table}: FAILED {str(exc)[:300]}", False))
            continue
        summary = next((line for line in run.log.splitlines() if line.startswith(f"{table}: ")), "?")
        runs.append((f"{closed_before:%Y-%m-%d} {time.perf_counter() - began:5.1f} s  {summary}", True))
    return runs


def metadata_bytes(settings: LakeSettings, location: str) -> int:
    bucket, _, key = location.removeprefix("s3://").partition("/")
    return int(s3_client(settings).head_object(Bucket=bucket, Key=key)["ContentLength"])


def p50_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=5000, help="minute slots (each: a signals and a klines commit)")
    parser.add_argument(
        "--no-maintenance", action="store_true", help="no daily maintenance: how the commits fare on their own"
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="profile the publishes of the first and last N slots"
    )
    args = parser.parse_args()
    if not 200 <= args.commits <= 100_000:
        parser.error("--commits must be within [200, 100000]")
    with throwaway_stack() as env_file:
        settings = load_settings(env_file=env_file)
        bootstrap(settings)
        create_klines_table(settings)
        catalog = open_catalog(settings)
        klines = catalog.load_table(tables.KLINES)
        schema = klines.schema().as_arrow()
        maintenance: list[tuple[str, bool]] = []
        publish, append, sizes = [], [], []
        profiles = {True: cProfile.Profile(), False: cProfile.Profile()}  # the first N slots' and the last N's
        ids = (tables.SIGNALS, tables.KLINES)
        for i in range(args.commits):
            slot = Slot(START + timedelta(minutes=i), 1)
            if i and i % SLOTS_PER_DAY == 0 and not args.no_maintenance:
                maintenance += maintain(settings, closed_before=slot.start)
            profiled = i < args.profile or i >= args.commits - args.profile
            profiler = profiles[i < args.profile]
            began = time.perf_counter()
            if profiled:
                profiler.enable()
            publish_batch(catalog, signals_of(slot))
            if profiled:
                profiler.disable()
            publish.append(time.perf_counter() - began)
            rows = klines_rows(slot, schema)
            began = time.perf_counter()
            commit_retrying(klines, lambda table: table.append(rows))  # noqa: B023 called at once, in this turn
            append.append(time.perf_counter() - began)
            if (i + 1) % 250 == 0:
                print(f"  {i + 1} slots, publish p50 of the last 100 {p50_ms(publish[-100:]):.1f} ms", flush=True)
            if (i + 1) % 1000 == 0 or i + 1 == args.commits:
                # Loaded afresh: a commit's answer from Nessie points at its own API, not at the S3 file.
                sizes.append((i + 1, *(metadata_bytes(settings, catalog.load_table(t).metadata_location) for t in ids)))
        signals_rows = ensure_table(catalog, SIGNALS).scan(selected_fields=("job_id",)).to_arrow().num_rows
        klines.refresh()
        klines_count = klines.scan(selected_fields=("symbol",)).to_arrow().num_rows
        per_day: dict[str, int] = {}
        for row in klines.inspect.data_files().to_pylist():
            day = str(row["partition"]["open_time_day"])
            per_day[day] = per_day.get(day, 0) + 1

    if args.profile:
        for label, first_slots in (("first", True), ("last", False)):
            print(f"== profile of the {label} {args.profile} publishes (cumulative time)")
            pstats.Stats(profiles[first_slots]).sort_stats("cumulative").print_stats(25)
    first, last = p50_ms(publish[:100]), p50_ms(publish[-100:])
    beside = "no maintenance" if args.no_maintenance else "daily maintenance beside them"
    print(f"== {args.commits} minute slots: a signals commit and a klines commit each; {beside}")
    print(f"signal publish p50, first 100    {first:7.1f} ms")
    print(f"signal publish p50, last 100     {last:7.1f} ms   ratio {last / first:.2f}x (target <= 1.2x and <= 100 ms)")
    first_k, last_k = p50_ms(append[:100]), p50_ms(append[-100:])
    print(f"klines append p50, first/last 100 {first_k:6.1f} / {last_k:.1f} ms   ratio {last_k / first_k:.2f}x")
    print("maintenance runs (day closed, duration, result):")
    for run, _ in maintenance:
        print(f"  {run}")
    print("market.klines data files per day partition (the last is the open day):")
    for day, files in sorted(per_day.items()):
        print(f"  {day}  {files}")
    print("current metadata file (after N slots): landing.signals / market.klines")
    for n, signals_size, klines_size in sizes:
        print(f"  {n:6d}  {signals_size / 1024:6.1f} KiB / {klines_size / 1024:6.1f} KiB")
    expected = args.commits * len(SYMBOLS)
    print(f"rows: landing.signals {signals_rows} (expected {expected})")
    print(f"      market.klines   {klines_count} (expected {expected + 1}, with the seed landing's row)")
    closed = sorted(per_day.items())[:-1]
    compacted = all(files <= FEW_FILES for _, files in closed)
    print(f"closed days with at most {FEW_FILES} files: {sum(f <= FEW_FILES for _, f in closed)} of {len(closed)}")
    ok = signals_rows == expected and klines_count == expected + 1 and compacted and all(ok for _, ok in maintenance)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
