"""Table maintenance: compact the small files minute slots leave (Iceberg's rewrite_data_files).

No per-table snapshot expiry: Nessie keeps a table's history as its own commits, so the metadata of a
Nessie table holds only the current snapshot, and Nessie creates tables with `gc.enabled=false` because a
data file may be referenced from several branches. Files no branch needs any more are reclaimed by
Nessie's GC across all branches, not by one table's expire_snapshots.

    spark-submit ... jobs/maintenance.py --table seed.partitioned_data [--min-input-files 2]
"""

from __future__ import annotations

import argparse

from jobs.common import JobInputError, current_catalog, run_main, spark_session, table_exists
from jobs.reporting import Reporter


def main(report: Reporter) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True)
    parser.add_argument("--min-input-files", type=int, default=2, help="compact a file group from this many files")
    args = parser.parse_args()
    if args.min_input_files < 2:
        raise JobInputError("--min-input-files must be at least 2: one file has nothing to be compacted with")
    spark = spark_session("maintenance")
    if not table_exists(spark, args.table):
        raise JobInputError(f"table {args.table} does not exist")
    rewritten = spark.sql(
        f"CALL {current_catalog(spark)}.system.rewrite_data_files(table => '{args.table}', "
        f"options => map('min-input-files', '{args.min_input_files}'))"
    ).collect()[0]
    report.log(
        f"{args.table}: {rewritten['rewritten_data_files_count']} data files rewritten into "
        f"{rewritten['added_data_files_count']}"
    )
    report.materialized(
        {
            "table": args.table,
            "rewritten_data_files": rewritten["rewritten_data_files_count"],
            "added_data_files": rewritten["added_data_files_count"],
        }
    )


if __name__ == "__main__":
    run_main(main)
