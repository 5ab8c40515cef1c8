"""Table maintenance with Iceberg's own Spark procedures: compact closed days, rewrite manifests, expire
snapshots. Reports the table's data files, bytes and manifests before and after.

    spark-submit ... jobs/maintenance.py --table market.klines --closed-column open_time \
        --closed-before 2026-11-25T00:00:00+00:00

- Compaction (`rewrite_data_files`) touches only rows of closed days (`closed-column` < `closed-before`),
  so it never rewrites the files a minute writer is still adding to. A table without a day column (the
  static table) is compacted whole.
- Writers and maintenance: in Dagster they take turns (the table's pool). Beside a writer anyway, no
  commit is lost, whichever side is refused. On Nessie a table's metadata holds only its current
  snapshot, so a rewrite overtaken by a commit cannot be validated ("Cannot determine history
  between ...") and is refused: the step is planned again on the new head, after a pause, up to
  --conflict-retries times. A writer overtaken by a maintenance commit is refused in turn and writes
  again on the new head (lake.tables.commit_retrying).
- `rewrite_manifests` clusters manifest entries by partition, so a writer's delete scan prunes whole
  manifests by their partition ranges (the table's `commit.manifest.target-size-bytes` sets how many).
- Snapshot expiry runs only where the table allows garbage collection. Nessie creates tables with
  `gc.enabled=false` and keeps one snapshot in a table's metadata (the history is Nessie's commits), so
  on Nessie there is nothing to expire per table; files no branch needs are removed by the orphan-file
  step on the Dagster side (lake.orphans), which sees every branch.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common import JobError, JobInputError, current_catalog, run_main, spark_session, table_exists
from jobs.reporting import Reporter
from lake_contracts.slots import parse_utc, slot_containing

TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*")


def main(report: Reporter) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True)
    parser.add_argument("--closed-column", help="the day column (a timestamp, or a 'YYYY-MM-DD' string)")
    parser.add_argument("--closed-before", help="days before this instant (ISO-8601, UTC) are closed")
    parser.add_argument("--min-input-files", type=int, default=2, help="compact a file group from this many files")
    parser.add_argument("--expire-older-than-hours", type=float, default=72.0)
    parser.add_argument("--conflict-retries", type=int, default=8, help="re-plans of a step a writer overtook")
    args = parser.parse_args()
    if args.min_input_files < 2:
        raise JobInputError("--min-input-files must be at least 2: one file has nothing to be compacted with")
    if bool(args.closed_column) != bool(args.closed_before):
        raise JobInputError("give --closed-column and --closed-before together, or neither")
    if not 0 <= args.conflict_retries <= 100:
        raise JobInputError("--conflict-retries must be within [0, 100]")
    if not 0 < args.expire_older_than_hours <= 24 * 365:
        raise JobInputError("--expire-older-than-hours must be within (0, 8760]")
    if not TABLE_NAME.fullmatch(args.table):
        raise JobInputError(f"--table {args.table[:80]!r} is not a table identifier like 'market.klines'")
    spark = spark_session("maintenance")
    if not table_exists(spark, args.table):
        raise JobInputError(f"table {args.table} does not exist")
    catalog = current_catalog(spark)
    before = _stats(spark, args.table)

    compaction = {"table": f"'{args.table}'", "options": f"map('min-input-files', '{args.min_input_files}')"}
    if args.closed_column:
        compaction["where"] = _quoted(_closed_rows(spark, args.table, args.closed_column, args.closed_before))
    retries = args.conflict_retries
    rewritten = _call(spark, catalog, "rewrite_data_files", compaction, report, retries)
    manifests = _call(spark, catalog, "rewrite_manifests", {"table": f"'{args.table}'"}, report, retries)
    expired, expiry = _expire(spark, catalog, args.table, args.expire_older_than_hours)
    after = _stats(spark, args.table)

    report.log(
        f"{args.table}: {rewritten['rewritten_data_files_count']} data files compacted into "
        f"{rewritten['added_data_files_count']}; {manifests['rewritten_manifests_count']} manifests rewritten "
        f"into {manifests['added_manifests_count']}; snapshots expired: {expired} ({expiry}); "
        f"data files {before['data_files']} -> {after['data_files']}"
    )
    report.materialized(
        {
            "table": args.table,
            "closed_before": args.closed_before or "(whole table)",
            **{f"{name}_before": value for name, value in before.items()},
            **{f"{name}_after": value for name, value in after.items()},
            "data_files_rewritten": rewritten["rewritten_data_files_count"],
            "data_files_added": rewritten["added_data_files_count"],
            "manifests_rewritten": manifests["rewritten_manifests_count"],
            "snapshots_expired": expired,
            "snapshot_expiry": expiry,
        }
    )


def _stats(spark: SparkSession, table: str) -> dict[str, int]:
    files = spark.table(f"{table}.data_files").agg(F.count("*").alias("n"), F.sum("file_size_in_bytes").alias("b"))
    row = files.collect()[0]
    return {
        "data_files": int(row["n"]),
        "data_bytes": int(row["b"] or 0),
        "manifests": spark.table(f"{table}.manifests").count(),
        "snapshots": spark.table(f"{table}.snapshots").count(),
    }


def _closed_rows(spark: SparkSession, table: str, column: str, closed_before: str) -> str:
    """The SQL condition for rows of closed days, typed after the column."""
    try:
        cutoff = parse_utc(closed_before)
    except ValueError as exc:
        raise JobInputError(f"--closed-before: {exc}") from None
    if slot_containing(cutoff, 24 * 60).start != cutoff:  # a day is the slot of 1440 minutes
        raise JobInputError(f"--closed-before {closed_before} is not a midnight (UTC): days close at midnight")
    kinds = {field.name: field.dataType.simpleString() for field in spark.table(table).schema.fields}
    if column not in kinds:
        raise JobInputError(f"--closed-column {column!r} is not a column of {table}")
    if kinds[column].startswith("timestamp"):
        return f"{column} < TIMESTAMP '{cutoff:%Y-%m-%d %H:%M:%S}'"
    if kinds[column] == "string":
        return f"{column} < '{cutoff:%Y-%m-%d}'"
    raise JobInputError(f"--closed-column {column!r} is {kinds[column]}: give a timestamp or a YYYY-MM-DD string")


def _expire(spark: SparkSession, catalog: str, table: str, older_than_hours: float) -> tuple[int, str]:
    properties = {row["key"]: row["value"] for row in spark.sql(f"SHOW TBLPROPERTIES {table}").collect()}
    if properties.get("gc.enabled", "true").lower() == "false":
        return 0, "skipped: gc.enabled=false (Nessie keeps history as its commits; see lake.orphans)"
    cutoff = datetime.now(UTC) - timedelta(hours=older_than_hours)  # the session's time zone is UTC
    arguments = {"table": f"'{table}'", "older_than": f"TIMESTAMP '{cutoff:%Y-%m-%d %H:%M:%S}'", "retain_last": "1"}
    expired = _call(spark, catalog, "expire_snapshots", arguments)
    return int(expired["deleted_manifest_lists_count"]), "ran"  # one manifest list per expired snapshot


def _call(
    spark: SparkSession,
    catalog: str,
    procedure: str,
    arguments: dict[str, str],
    report: Reporter | None = None,
    conflict_retries: int = 0,
) -> Any:
    named = ", ".join(f"{name} => {value}" for name, value in arguments.items())
    for attempt in range(conflict_retries + 1):
        spark.sql(f"REFRESH TABLE {arguments['table'].strip(chr(39))}")  # plan on the head, not a cached one
        try:
            return spark.sql(f"CALL {catalog}.system.{procedure}({named})").collect()[0]
        except Exception as exc:  # py4j's error classes are not public; the Java class name says what it was
            if not any(name in str(exc) for name in CONFLICTS):
                raise
            if attempt == conflict_retries:
                raise JobError(
                    f"{procedure} on {arguments['table']} was overtaken by other commits on all "
                    f"{attempt + 1} attempts: its writers commit faster than it rewrites; run it while they "
                    "pause (in Dagster the table's pool makes them take turns)"
                ) from None
            if report is not None:
                report.log(f"{procedure}: a writer committed first ({_first_line(exc)}); planning again")
            time.sleep(min(30.0, 1.0 + attempt) + random.uniform(0, 1))  # noqa: S311 jitter, not security
    raise AssertionError("unreachable")


# What Iceberg raises when another commit overtook a maintenance step's commit.
CONFLICTS = ("Cannot determine history between", "CommitFailedException", "ValidationException")


def _first_line(exc: Exception) -> str:
    return next((line for line in str(exc).splitlines() if "Exception" in line), str(exc)[:200])[:200]


def _quoted(sql: str) -> str:
    return "'" + sql.replace("\\", "\\\\").replace("'", "\\'") + "'"


if __name__ == "__main__":
    run_main(main)
