"""The lake on day 30, first part: the cost of a signal publish as `landing.signals` takes thousands of
minute-slot commits.

    .venv/bin/python bench/day30.py [--commits 1000]

Starts its own embedded stack (Nessie's Iceberg REST catalog on PostgreSQL, SeaweedFS), then publishes
one run's signals per minute slot (two landings a slot, one commit per run) and prints the p50 commit
latency of the first 100 and the last 100 commits, their ratio, the snapshots the table keeps and the
size of its current metadata file. Issue 13's target: the last 100's p50 within 1.5x of the first 100's,
and <= 100 ms. (Maintenance of market.klines and its files per day partition are not measured yet.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lake.catalog import open_catalog  # noqa: E402
from lake.settings import load_settings  # noqa: E402
from lake.signals import Signal, publish_batch  # noqa: E402
from lake.storage import s3_client  # noqa: E402
from lake.tables import SIGNALS, ensure_table  # noqa: E402
from lake_contracts.slots import Slot  # noqa: E402
from lake_tools.bootstrap import bootstrap  # noqa: E402
from tests.support import throwaway_stack  # noqa: E402

START = datetime(2026, 10, 1, tzinfo=UTC)
LANDINGS = ("BTCUSDT", "ETHUSDT")


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
        for symbol in LANDINGS
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=1000)
    args = parser.parse_args()
    with throwaway_stack() as env_file:
        settings = load_settings(env_file=env_file)
        bootstrap(settings)
        catalog = open_catalog(settings)
        latencies = []
        for i in range(args.commits):
            batch = signals_of(Slot(START + timedelta(minutes=i), 1))
            began = time.perf_counter()
            publish_batch(catalog, batch)
            latencies.append(time.perf_counter() - began)
        table = ensure_table(catalog, SIGNALS)
        location = table.metadata_location.removeprefix("s3://").split("/", 1)
        size = s3_client(settings).head_object(Bucket=location[0], Key=location[1])["ContentLength"]
        rows = table.scan(selected_fields=("job_id",)).to_arrow().num_rows

    first, last = statistics.median(latencies[:100]) * 1000, statistics.median(latencies[-100:]) * 1000
    print(f"== landing.signals: {args.commits} commits (one per minute slot, {len(LANDINGS)} signals each)")
    print(f"publish p50, first 100 commits   {first:7.1f} ms")
    print(f"publish p50, last 100 commits    {last:7.1f} ms   ratio {last / first:.2f}x (target <= 1.5x, <= 100 ms)")
    print(f"rows                             {rows} (expected {args.commits * len(LANDINGS)})")
    print(f"snapshots kept                   {len(table.snapshots())}")
    print(f"current metadata file            {size / 1024:.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
