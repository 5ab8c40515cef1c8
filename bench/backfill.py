"""Backfill benchmark: 1440 one-minute slots into the ds/hr/min table, one submit against one per slot.

    .venv/bin/python bench/backfill.py [--sample 5]

Starts its own embedded stack (Nessie's REST catalog, tables on SeaweedFS through S3FileIO).
Runs jobs/partitioned_data.py through spark-submit for the whole day of
1440 slots in ONE submit, then times a SAMPLE of single-slot submits and extrapolates to 1440 (running
all 1440 would take hours: that is the point). Prints both, the ratio, and the rows each wrote.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lake.catalog import open_catalog  # noqa: E402
from lake.settings import load_settings  # noqa: E402
from lake.spark_submit import submit  # noqa: E402
from lake_contracts.slots import slots_between  # noqa: E402
from lake_tools.bootstrap import bootstrap  # noqa: E402
from lake_tools.stack import Stack  # noqa: E402
from tests.support import free_port_base, make_lake_home  # noqa: E402

DAY = datetime(2026, 11, 1, tzinfo=UTC)
# The same one-submit day measured on the JDBC catalog over file://, before the catalog moved to Nessie.
JDBC_FILE_BASELINE_SECONDS = 27.5
TARGET_SECONDS = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=5, help="single-slot submits to time")
    parser.add_argument("--rows-per-slot", type=int, default=10)
    args = parser.parse_args()
    home = make_lake_home("lake-bench-")
    stack = Stack(home, free_port_base())
    try:
        stack.up()
        settings = load_settings(env_file=home / "lake.env")
        bootstrap(settings)
        common = ["--cadence-minutes", "1", "--rows-per-slot", str(args.rows_per_slot)]

        one = submit(
            settings,
            "partitioned_data",
            [
                *common,
                "--table",
                "seed.backfill_one_submit",
                "--start",
                DAY.isoformat(),
                "--end",
                (DAY + timedelta(days=1)).isoformat(),
            ],
        )
        table = open_catalog(settings).load_table("seed.backfill_one_submit")
        rows_one = table.scan().to_arrow().num_rows
        partitions_one = len(table.inspect.partitions())

        sample = slots_between(DAY, DAY + timedelta(days=1), 1)[:: 1440 // args.sample][: args.sample]
        single: list[float] = []
        for slot in sample:
            result = submit(
                settings,
                "partitioned_data",
                [*common, "--table", "seed.backfill_per_slot", "--partition-key", slot.key],
            )
            single.append(result.seconds)
        per_slot = statistics.median(single)
        extrapolated = per_slot * 1440
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)

    print("== 1440 one-minute slots into seed.partitioned_data (ds/hr/min), spark-submit, local[*], Nessie + S3")
    print(f"one submit, 1440 slots   {one.seconds:8.1f} s   ({rows_one} rows in {partitions_one} partitions)")
    ratio = one.seconds / JDBC_FILE_BASELINE_SECONDS
    verdict = "met" if one.seconds <= TARGET_SECONDS else "MISSED"
    print(
        f"  vs jdbc + file:// day  {JDBC_FILE_BASELINE_SECONDS:8.1f} s   (ratio {ratio:.2f}; "
        f"target <= {TARGET_SECONDS:.0f} s: {verdict})"
    )
    print(
        f"one submit per slot      {per_slot:8.1f} s median of {len(single)} sampled submits "
        f"{[round(s, 1) for s in single]}"
    )
    print(f"  extrapolated x 1440    {extrapolated:8.1f} s   (= {extrapolated / 3600:.1f} h; sampled, not run)")
    print(f"ratio                    {extrapolated / one.seconds:8.1f} x faster as one submit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
