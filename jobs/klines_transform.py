"""Typed klines: complete raw landings (by manifest) -> `market.klines` with decimals and timestamps.

Partitioned by day of open_time. A slot is minutes long, so minute (or hour) partitions would leave a
file or more per slot and symbol: ~100k tiny files a year per symbol at one-minute cadence, which
slows every query plan. Day partitions bound that to one partition per day; each slot's write touches
one partition (two across midnight), and the maintenance job compacts the small files slots leave.

Idempotent per window: rows of a day the table already holds for their (symbol, interval) are MERGEd on
(symbol, interval, open_time), so re-running a window updates the same rows instead of adding copies.
Rows of days the table holds none of (a first load, history) are appended: there is nothing to match, and
MERGE would still join every incoming row against the table to find that out.

    spark-submit ... jobs/klines_transform.py --manifest binance/klines/<window>/<job>/manifest.json [...]
"""

from __future__ import annotations

import argparse

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, LongType, StringType, StructField, StructType, TimestampType

from jobs.common import JobInputError, ensure_table, run_main, spark_session
from jobs.raw_landing import raw_bucket, read_manifests, read_pages
from jobs.reporting import Laps, Reporter
from lake_contracts import checks, tables
from lake_contracts.manifest import Manifest

TABLE = tables.KLINES
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
# Binance's kline row: [open_time, open, high, low, close, volume, close_time, quote_volume, trades,
# taker_buy_base_volume, taker_buy_quote_volume, ignore]; prices arrive as strings, decimals keep every digit.
KLINE_FIELDS = 11
DAY = "open_day"  # a working column: the UTC day of open_time, the table's partition
LANDINGS = StructType([StructField(name, StringType()) for name in ("manifest", "symbol", "interval", "job_id")])


def typed_columns(row: Column) -> list[Column]:
    def millis(index: int) -> Column:
        return F.timestamp_millis(row[index].cast("long"))

    return [
        F.col("symbol"),
        F.col("interval"),
        millis(0).alias("open_time"),
        millis(6).alias("close_time"),
        *(row[index].cast(PRICE).alias(name) for index, name in enumerate(("open", "high", "low", "close"), start=1)),
        row[5].cast(AMOUNT).alias("volume"),
        row[7].cast(AMOUNT).alias("quote_volume"),
        row[8].cast("long").alias("trades"),
        row[9].cast(AMOUNT).alias("taker_buy_base_volume"),
        row[10].cast(AMOUNT).alias("taker_buy_quote_volume"),
        F.col("job_id").alias("landing_job_id"),
        F.current_timestamp().alias("ingested_at"),
    ]


def held_days(spark: SparkSession, table: str, frame: DataFrame, span: Column) -> DataFrame:
    """(symbol, interval, day) of the incoming rows that the table already holds rows of; small (a row per
    symbol and day), read from the days the incoming rows span only (the table is partitioned by day)."""
    held = spark.table(table).where(span).select("symbol", "interval", F.to_date("open_time").alias(DAY)).distinct()
    return frame.select("symbol", "interval", DAY).distinct().join(held, ["symbol", "interval", DAY], "left_semi")


def transform(
    spark: SparkSession,
    manifest_keys: list[str],
    table: str,
    report: Reporter,
    manifests: dict[str, Manifest] | None = None,
) -> None:
    """Type the landings of `manifest_keys` into `table` (catalog-qualified when not the session's default),
    and report the job's check and what it wrote. `manifests`: the manifests the caller has read already, by
    key, those of `manifest_keys` among them (the history step reads a month's for its signals); else they
    are read here.

    spark-submit runs it once per run (main below); the history step runs it once per month in a session it
    holds for the whole range (dagster-pyspark), so the months after the first pay no JVM start.
    """
    lap = Laps()
    # A value that does not cast is an error, never a silent NULL (NULLs in open_time are NULL partitions).
    spark.conf.set("spark.sql.ansi.enabled", "true")
    bucket = raw_bucket(spark)

    if manifests is None:
        manifests = read_manifests(spark, bucket, manifest_keys)
    else:
        manifests = {key: manifests[key] for key in manifest_keys}
    for key, manifest in manifests.items():
        if manifest.endpoint != "klines":
            raise JobInputError(f"{key} is a {manifest.endpoint!r} landing, not klines")
    landings = spark.createDataFrame(
        [(key, m.params["symbol"], m.params["interval"], m.job_id) for key, m in manifests.items()], LANDINGS
    )
    records = read_pages(spark, bucket, manifests, min_fields=KLINE_FIELDS)  # a short row: not a kline
    lap("read")  # the manifests, and every page read, checksummed, parsed and counted

    ensure_table(spark, table, SCHEMA, partitioned_by=["days(open_time)"])
    frame = (
        records.join(F.broadcast(landings), "manifest")
        .select(*typed_columns(F.col("row")))
        .dropDuplicates(["symbol", "interval", "open_time"])
        .withColumn(DAY, F.to_date("open_time"))  # the session is UTC: the table's days(open_time)
        .cache()  # counted, split and written: the pages are parsed once
    )
    incoming, first, last = frame.agg(F.count("*"), F.min("open_time"), F.max("open_time")).first() or (0, None, None)
    # The days the incoming rows span: what the split and the check read of the table (its partitions), so a
    # piece costs the same whatever the table holds already. A row without an open time is in the NULL
    # partition: it is read back too, and the blocking no_null_partitions check names it.
    span = F.col("open_time").between(F.lit(first), F.lit(last)) | F.col("open_time").isNull()
    lap("type")
    held = held_days(spark, table, frame, span)
    fresh = frame.join(F.broadcast(held), ["symbol", "interval", DAY], "left_anti").drop(DAY)
    overlapping = frame.join(F.broadcast(held), ["symbol", "interval", DAY], "left_semi").drop(DAY)
    appended = fresh.count()
    lap("split")  # the days the table holds already
    if appended:
        fresh.writeTo(table).append()
    if appended < incoming:
        overlapping.createOrReplaceTempView("incoming_klines")
        spark.sql(
            f"""
            MERGE INTO {table} AS t
            USING incoming_klines AS s
            ON t.symbol = s.symbol AND t.interval = s.interval AND t.open_time = s.open_time
            WHEN MATCHED THEN UPDATE SET *
            WHEN NOT MATCHED THEN INSERT *
            """
        )
    lap("write")
    report.log(
        f"{table}: {incoming} kline(s) from {len(manifests)} landing(s): "
        f"{appended} appended to days it held none of, {incoming - appended} merged"
    )

    # The job's own check: every row it merged reads back, stamped with its landing's job id.
    job_ids = [manifest.job_id for manifest in manifests.values()]
    committed = spark.table(table).where(span & F.col("landing_job_id").isin(job_ids)).count()
    lap("check")
    report.check(
        checks.TYPED_ROWS_COMMITTED,
        passed=committed == incoming,
        metadata={"merged": incoming, "read_back": committed, "landings": len(job_ids)},
    )
    report.materialized(
        {
            "table": table,
            "rows": incoming,
            "appended": appended,
            "merged": incoming - appended,
            "landings": len(manifests),
            "records_landed": sum(m.records for m in manifests.values()),
            "seconds": lap.seconds,
        }
    )


def main(report: Reporter) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", action="append", required=True, help="manifest key in the raw bucket")
    parser.add_argument("--table", default=TABLE)
    args = parser.parse_args()
    transform(spark_session("klines_transform"), args.manifest, args.table, report)


if __name__ == "__main__":
    run_main(main)
