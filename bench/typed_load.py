"""Typing benchmark: a year of already-landed 1-minute klines (2 symbols, 1,051,200 rows, 1064 pages) typed
into market.klines by jobs/klines_transform.py, without the crawl in front of it.

    .venv/bin/python bench/typed_load.py [--months 12] [--pieces 1]

Starts its own embedded stack (PostgreSQL, SeaweedFS, Nessie; Spark local), lands the year as the crawler
would (pages of 1000 rows, a manifest per month and symbol, the simulator's settled klines), then times:
  - the append path: one spark-submit typing every landing into a table holding none of their days
    (target <= 30 s);
  - the MERGE path: the same submit again, every day now held (the baseline the append path replaced);
and checks the table holds exactly the landed rows. Each submit's seconds are split into the job's own
phases (read, type, split, write, check: the `seconds` it reports) and the JVM's start and exit. With
--pieces N the append path is timed as N submits of consecutive months instead, and beside it as the same
N pieces typed in ONE Spark session held through dagster-pyspark (SparkResource.session, what the history
step does while the crawl runs), into a table of its own: a JVM per piece against one for all.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lake.catalog import open_catalog  # noqa: E402
from lake.settings import LakeSettings, load_settings  # noqa: E402
from lake.spark_submit import submit  # noqa: E402
from lake.storage import s3_client  # noqa: E402
from lake_tools.bootstrap import bootstrap  # noqa: E402
from market_sim import SimulatorConfig  # noqa: E402
from market_sim.intervals import KLINE_INTERVALS  # noqa: E402
from market_sim.market import MarketData  # noqa: E402
from scrapworker.landing import LandingWriter  # noqa: E402
from scrapworker.protocol import JobSpec, TimeWindow  # noqa: E402
from tests.support import throwaway_stack  # noqa: E402

SYMBOLS = ("BTCUSDT", "ETHUSDT")
PAGE = 1000
MINUTE_MS = 60_000
TABLE = "market.bench_klines_typing"
HELD_TABLE = "market.bench_klines_typing_held"
TARGET_APPEND_S = 30.0


def month_starts(first: datetime, months: int) -> list[datetime]:
    starts = [first]
    for _ in range(months):
        starts.append((starts[-1] + timedelta(days=32)).replace(day=1))
    return starts


def land(settings: LakeSettings, first: datetime, months: int) -> list[list[str]]:
    """Lands every month of every symbol as the crawler would; the manifest keys, a list per month."""
    client, market = s3_client(settings), MarketData(SimulatorConfig(settled_klines=True))
    minute = KLINE_INTERVALS["1m"]
    starts, keys = month_starts(first, months), []
    for start, end in itertools.pairwise(starts):
        month = []
        for symbol in SYMBOLS:
            spec = JobSpec(
                job_id=f"binance.klines.{symbol}-1m.{start:%Y%m}",
                endpoint="klines",
                params={"symbol": symbol, "interval": "1m"},
                window=TimeWindow(start=start, end=end),
                landing_prefix="binance",
            )
            landing = LandingWriter(client, settings.s3.raw_bucket, spec)
            opens = range(int(start.timestamp() * 1000), int(end.timestamp() * 1000), MINUTE_MS)
            for at in range(0, len(opens), PAGE):
                rows = [market.kline_row(symbol, minute, open_ms, open_ms) for open_ms in opens[at : at + PAGE]]
                landing.write_page(json.dumps(rows, separators=(",", ":")).encode(), {}, len(rows))
            landing.write_manifest(worker="bench", attempt=1, started_at=datetime.now(UTC))
            month.append(landing.manifest_key)
        keys.append(month)
    return keys


def typed(settings: LakeSettings, manifest_keys: list[str]) -> tuple[float, dict[str, float]]:
    """The submit's seconds, and the job's own seconds per phase (from the metadata it materialized)."""
    args = ["--table", TABLE] + [arg for key in manifest_keys for arg in ("--manifest", key)]
    started = time.monotonic()
    run = submit(settings, "klines_transform", args)
    seconds = time.monotonic() - started
    [line] = [line for line in run.log.splitlines() if line.startswith("materialized: ")]
    return seconds, json.loads(line.removeprefix("materialized: "))["seconds"]


class _Kept:
    """jobs.reporting.Reporter keeping what each piece materialized."""

    def __init__(self) -> None:
        self.written: list[dict[str, Any]] = []

    def log(self, message: str, error: bool = False) -> None:
        pass

    def materialized(self, metadata: Mapping[str, Any]) -> None:
        self.written.append(dict(metadata))

    def check(self, name: str, passed: bool, metadata: Mapping[str, Any]) -> None:
        if not passed:
            raise SystemExit(f"check {name} failed: {dict(metadata)}")


def held(env_file: Path, pieces: list[list[str]]) -> tuple[float, list[tuple[float, dict[str, float]]]]:
    """The session's start, then each piece's seconds and phases, typed in one session held for all."""
    from jobs.klines_transform import transform
    from lake_assets.resources import SparkResource

    started = time.monotonic()
    resource = SparkResource(env_file=str(env_file))
    session = resource.session()
    start = time.monotonic() - started
    kept, timed = _Kept(), []
    try:
        for piece in pieces:
            began = time.monotonic()
            transform(session, piece, HELD_TABLE, kept)
            session.catalog.clearCache()
            timed.append((time.monotonic() - began, kept.written[-1]["seconds"]))
    finally:
        session.stop()
    return start, timed


def phases(seconds: float, laps: dict[str, float]) -> str:
    inside = sum(laps.values())
    shown = ", ".join(f"{phase} {value:.1f}" for phase, value in laps.items())
    return f"{shown}; JVM start and exit {seconds - inside:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=datetime.fromisoformat, default=datetime(2025, 1, 1, tzinfo=UTC))
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--pieces", type=int, default=1, help="append submits the months are split into")
    args = parser.parse_args()
    if not 1 <= args.months <= 36 or not 1 <= args.pieces <= args.months:
        parser.error("--months must be within [1, 36] and --pieces within [1, months]")
    first = args.start if args.start.tzinfo else args.start.replace(tzinfo=UTC)
    with throwaway_stack("lake-typing-") as env_file:
        settings = load_settings(env_file=env_file)
        bootstrap(settings)
        started = time.monotonic()
        by_month = land(settings, first, args.months)
        landed = time.monotonic() - started
        every = [key for month in by_month for key in month]
        size = -(-args.months // args.pieces)
        pieces = [[key for month in by_month[i : i + size] for key in month] for i in range(0, args.months, size)]
        appends = [typed(settings, piece) for piece in pieces]
        session_start, in_session = held(env_file, pieces) if len(pieces) > 1 else (0.0, [])
        merge, merge_laps = typed(settings, every)
        rows = open_catalog(settings).load_table(TABLE).scan(selected_fields=("symbol",)).to_arrow().num_rows
    expected = sum(
        int((end - start).total_seconds() // 60) * len(SYMBOLS)
        for start, end in itertools.pairwise(month_starts(first, args.months))
    )
    append = sum(seconds for seconds, _ in appends)
    print(f"== typing {args.months} month(s) of 1m klines x {len(SYMBOLS)} symbols ({expected:,} rows)")
    print(f"landed by the bench        {landed:.1f} s ({len(every)} landings)")
    print(
        f"append path                {append:.1f} s in {len(appends)} submit(s); "
        f"{append / TARGET_APPEND_S:.2f}x the {TARGET_APPEND_S:.0f} s target"
    )
    for seconds, laps in appends:
        print(f"  {seconds:5.1f} s: {phases(seconds, laps)}")
    if in_session:
        whole = session_start + sum(seconds for seconds, _ in in_session)
        print(
            f"append path, held session  {whole:.1f} s: the session's start {session_start:.1f} s, then "
            f"{len(in_session)} piece(s); submits / held = {append / whole:.2f}x"
        )
        for seconds, laps in in_session:
            print(f"  {seconds:5.1f} s: {', '.join(f'{phase} {value:.1f}' for phase, value in laps.items())}")
    print(f"MERGE path (baseline)      {merge:.1f} s in one submit; append/MERGE = {append / merge:.2f}x")
    print(f"  {merge:5.1f} s: {phases(merge, merge_laps)}")
    print(f"rows in the table          {rows:,} ({'exact' if rows == expected else 'MISMATCH'})")
    return 0 if rows == expected else 1


if __name__ == "__main__":
    sys.exit(main())
