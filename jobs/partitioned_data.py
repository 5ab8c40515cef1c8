"""The ds/hr/min table (the seed's `spark_partitioned_data_v1`): rows for each slot in identity partitions.

ds (string), hr (int) and min (int) come from the slot start through lake_contracts.slots, the one mapping every
asset uses. Writes use DataFrameWriterV2 `overwritePartitions()`: re-running a slot replaces exactly
that slot's partition, so the table ends with the same rows however often a slot runs. One submit
takes a whole range of slots (a backfill) and commits them together.

    spark-submit ... jobs/partitioned_data.py --cadence-minutes 15 --partition-key 2026-11-01-00:15
    spark-submit ... jobs/partitioned_data.py --cadence-minutes 1 --start 2026-11-01T00:00Z --end 2026-11-02T00:00Z
"""

from __future__ import annotations

import argparse

from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType, TimestampType

from jobs.common import JobInputError, add_slot_arguments, ensure_table, run_main, slots_from, spark_session
from jobs.reporting import Reporter
from lake_contracts import checks, tables

TABLE = tables.PARTITIONED_DATA
MAX_ROWS_PER_SLOT = 100_000
SCHEMA = StructType(
    [
        StructField("event_id", StringType()),
        StructField("slot_start", TimestampType()),
        StructField("value", DoubleType()),
        StructField("ds", StringType()),
        StructField("hr", IntegerType()),
        StructField("min", IntegerType()),
    ]
)
SLOTS_SCHEMA = StructType(
    [
        StructField("slot_key", StringType()),
        StructField("slot_start", TimestampType()),
        StructField("ds", StringType()),
        StructField("hr", IntegerType()),
        StructField("min", IntegerType()),
    ]
)


def main(report: Reporter) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_slot_arguments(parser)
    parser.add_argument("--table", default=TABLE)
    parser.add_argument("--rows-per-slot", type=int, default=10)
    args = parser.parse_args()
    if not 1 <= args.rows_per_slot <= MAX_ROWS_PER_SLOT:
        raise JobInputError(f"--rows-per-slot must be 1 to {MAX_ROWS_PER_SLOT}, got {args.rows_per_slot}")
    slots = slots_from(args)
    spark = spark_session("partitioned_data")
    ensure_table(spark, args.table, SCHEMA, partitioned_by=["ds", "hr", "min"])

    # The partition values are computed in Python by the shared mapping, not re-derived in SQL.
    slot_rows = [(s.key, s.start, *s.partition_values()) for s in slots]
    slot_frame = spark.createDataFrame(slot_rows, SLOTS_SCHEMA)
    rows = slot_frame.crossJoin(spark.range(args.rows_per_slot).withColumnRenamed("id", "n")).select(
        F.concat_ws("/", "slot_key", F.col("n").cast("string")).alias("event_id"),
        "slot_start",
        # Deterministic per (slot, n): a re-run writes the same values.
        (F.abs(F.hash("slot_key", "n")) % 10_000 / 100.0).alias("value"),
        "ds",
        "hr",
        "min",
    )
    # Cluster rows by partition and write with Iceberg's clustered writer, one open file per task.
    # Iceberg otherwise picks its fanout writer here: a 1440-slot backfill then held 1440 Parquet
    # writers (each with its own compressor buffers) in one task and ran out of a 2 GB heap.
    partition_columns = ["ds", "hr", "min"]
    rows = rows.repartition(*partition_columns).sortWithinPartitions(*partition_columns)
    rows.writeTo(args.table).option("fanout-enabled", "false").overwritePartitions()
    report.log(f"{args.table}: {len(slots)} slot(s) from {slots[0].key} overwritten, {args.rows_per_slot} rows each")

    # The job's own check: each slot it wrote reads back with exactly its rows, under its partition values.
    written = spark.table(args.table).join(slot_frame.select("ds", "hr", "min"), ["ds", "hr", "min"])
    counts = {(r["ds"], r["hr"], r["min"]): r["count"] for r in written.groupBy("ds", "hr", "min").count().collect()}
    wrong = {
        s.key: counts.get(s.partition_values(), 0)
        for s in slots
        if counts.get(s.partition_values()) != args.rows_per_slot
    }
    report.check(
        checks.ROWS_PER_SLOT,
        passed=not wrong,
        metadata={
            "expected_per_slot": args.rows_per_slot,
            "slots": len(slots),
            "wrong_slots": dict(list(wrong.items())[:20]),
        },
    )
    report.materialized(
        {
            "table": args.table,
            "rows": sum(counts.values()),
            "slots": len(slots),
            "partitions": [list(s.partition_values()) for s in slots[:5]] + (["..."] if len(slots) > 5 else []),
        }
    )


if __name__ == "__main__":
    run_main(main)
