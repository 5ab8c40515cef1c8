"""Table maintenance: compact small files, then expire old snapshots (Iceberg's Spark procedures).

Minute slots leave many small files; compaction rewrites them into fewer large ones, and snapshot
expiry removes the metadata and files no snapshot still needs.

    spark-submit ... jobs/maintenance.py --table seed.partitioned_data [--older-than-hours 168] [--retain-last 5]
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from jobs.common import JobInputError, current_catalog, emit_result, run_main, spark_session, table_exists


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True)
    parser.add_argument("--older-than-hours", type=float, default=168.0)
    parser.add_argument("--retain-last", type=int, default=5)
    parser.add_argument("--min-input-files", type=int, default=2, help="compact a file group from this many files")
    args = parser.parse_args()
    spark = spark_session("maintenance")
    if not table_exists(spark, args.table):
        raise JobInputError(f"table {args.table} does not exist")
    catalog = current_catalog(spark)
    rewritten = spark.sql(
        f"CALL {catalog}.system.rewrite_data_files(table => '{args.table}', "
        f"options => map('min-input-files', '{args.min_input_files}'))"
    ).collect()[0]
    cutoff = datetime.now(UTC) - timedelta(hours=args.older_than_hours)
    expired = spark.sql(
        f"CALL {catalog}.system.expire_snapshots(table => '{args.table}', "
        f"older_than => TIMESTAMP '{cutoff:%Y-%m-%d %H:%M:%S}', retain_last => {args.retain_last})"
    ).collect()[0]
    emit_result(
        table=args.table,
        rewritten_data_files=rewritten["rewritten_data_files_count"],
        added_data_files=rewritten["added_data_files_count"],
        expired_data_files=expired["deleted_data_files_count"],
        expired_manifest_lists=expired["deleted_manifest_lists_count"],
    )


if __name__ == "__main__":
    run_main(main)
