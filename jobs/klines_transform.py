"""Typed klines: complete raw landings (by manifest) -> `market.klines` with decimals and timestamps.

Partitioned by day of open_time. A slot is minutes long, so minute (or hour) partitions would leave a
file or more per slot and symbol: ~100k tiny files a year per symbol at one-minute cadence, which
slows every query plan. Day partitions bound that to one partition per day; each slot's write touches
one partition (two across midnight), and the maintenance job compacts the small files slots leave.

Idempotent per window: rows are MERGEd on (symbol, interval, open_time), so re-running a window
updates the same rows instead of adding copies.

    spark-submit ... jobs/klines_transform.py --manifest binance/klines/<window>/<job>/manifest.json [...]
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pyspark.sql.types import DecimalType, LongType, StringType, StructField, StructType, TimestampType

from jobs.common import JobInputError, emit_result, ensure_table, run_main, spark_session
from jobs.raw_landing import read_landing, s3_from_conf

TABLE = "market.klines"
PRICE = DecimalType(24, 8)
AMOUNT = DecimalType(28, 8)
SCHEMA = StructType(
    [
        StructField("symbol", StringType()),
        StructField("interval", StringType()),
        StructField("open_time", TimestampType()),
        StructField("close_time", TimestampType()),
        StructField("open", PRICE),
        StructField("high", PRICE),
        StructField("low", PRICE),
        StructField("close", PRICE),
        StructField("volume", AMOUNT),
        StructField("quote_volume", AMOUNT),
        StructField("trades", LongType()),
        StructField("taker_buy_base_volume", AMOUNT),
        StructField("taker_buy_quote_volume", AMOUNT),
        StructField("landing_job_id", StringType()),
        StructField("ingested_at", TimestampType()),
    ]
)


def typed_row(symbol: str, interval: str, raw: list[Any], job_id: str, now: datetime) -> tuple[Any, ...]:
    """One Binance kline row -> typed values. Prices arrive as strings: Decimal keeps every digit."""
    if not isinstance(raw, list) or len(raw) < 11:
        raise JobInputError(f"{job_id}: not a kline row: {str(raw)[:80]}")
    return (
        symbol,
        interval,
        datetime.fromtimestamp(raw[0] / 1000, UTC),
        datetime.fromtimestamp(raw[6] / 1000, UTC),
        *(Decimal(value) for value in raw[1:6]),
        Decimal(raw[7]),
        int(raw[8]),
        Decimal(raw[9]),
        Decimal(raw[10]),
        job_id,
        now,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", action="append", required=True, help="manifest key in the raw bucket")
    parser.add_argument("--table", default=TABLE)
    args = parser.parse_args()
    spark = spark_session("klines_transform")
    s3, bucket = s3_from_conf(spark)
    now = datetime.now(UTC)

    rows: list[tuple[Any, ...]] = []
    for key in args.manifest:
        manifest, records = read_landing(s3, bucket, key)
        if manifest["endpoint"] != "klines":
            raise JobInputError(f"{key} is a {manifest['endpoint']!r} landing, not klines")
        symbol, interval = manifest["params"]["symbol"], manifest["params"]["interval"]
        rows += [typed_row(symbol, interval, record, manifest["job_id"], now) for record in records]

    ensure_table(spark, args.table, SCHEMA, partitioned_by=["days(open_time)"])
    if not rows:
        emit_result(table=args.table, rows=0, landings=len(args.manifest))
        return
    frame = spark.createDataFrame(rows, SCHEMA).dropDuplicates(["symbol", "interval", "open_time"])
    frame.createOrReplaceTempView("incoming_klines")
    spark.sql(
        f"""
        MERGE INTO {args.table} AS t
        USING incoming_klines AS s
        ON t.symbol = s.symbol AND t.interval = s.interval AND t.open_time = s.open_time
        WHEN MATCHED THEN UPDATE SET *
        WHEN NOT MATCHED THEN INSERT *
        """
    )
    emit_result(table=args.table, rows=frame.count(), landings=len(args.manifest))


if __name__ == "__main__":
    run_main(main)
