"""The static table (the seed's `spark_static_data_v2_submit`): a small reference table, rewritten whole.

Idempotent: every run replaces the table's rows with the same reference data in one commit, so a
reader sees either the old rows or the new ones, never a mix or a duplicate.

    spark-submit --properties-file lake.conf jobs/static_data.py [--table seed.static_data]
"""

from __future__ import annotations

import argparse
from datetime import date
from decimal import Decimal

from pyspark.sql import functions as F
from pyspark.sql.types import DateType, DecimalType, StringType, StructField, StructType

from jobs.common import ensure_table, run_main, spark_session
from jobs.reporting import Reporter
from lake_contracts import tables

TABLE = tables.STATIC_DATA
SCHEMA = StructType(
    [
        StructField("symbol", StringType(), nullable=False),
        StructField("base_asset", StringType(), nullable=False),
        StructField("quote_asset", StringType(), nullable=False),
        StructField("tick_size", DecimalType(20, 8), nullable=False),
        StructField("listed_on", DateType(), nullable=False),
    ]
)
# The reference data itself: the spot markets the lake follows.
ROWS = [
    ("BTCUSDT", "BTC", "USDT", Decimal("0.01"), date(2017, 8, 17)),
    ("ETHUSDT", "ETH", "USDT", Decimal("0.01"), date(2017, 8, 17)),
    ("BNBUSDT", "BNB", "USDT", Decimal("0.01"), date(2017, 11, 6)),
]


def main(report: Reporter) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--table", default=TABLE)
    args = parser.parse_args()
    spark = spark_session("static_data")
    created = ensure_table(spark, args.table, SCHEMA, partitioned_by=[])
    frame = spark.createDataFrame(ROWS, SCHEMA)
    # overwrite(true): replace every row atomically (DataFrameWriterV2), keeping schema and properties.
    frame.writeTo(args.table).overwrite(F.lit(True))
    rows = spark.table(args.table).count()
    report.log(f"{args.table}: {'created and ' if created else ''}replaced with {rows} reference rows")
    report.materialized({"table": args.table, "rows": rows, "created": created})


if __name__ == "__main__":
    run_main(main)
