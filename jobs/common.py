"""What every Spark job shares: the session, slot arguments, namespace and schema checks, and its main.

A job takes its catalog from Spark conf (spark-submit --properties-file, or the conf of a session held by
Dagster, both rendered by lake.catalog_config) and never from this code, so the same job runs on the
embedded stack, on the compose stack and on a Nessie branch of either.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pyspark.sql import SparkSession
from pyspark.sql.types import StructType

from jobs.reporting import Reporter, reporter
from lake_contracts.slots import Slot, parse_utc, partition_to_slot, slots_between


class JobError(Exception):
    """A job that cannot finish for a reason its message states in one line (no Java stack trace)."""


class JobInputError(JobError, ValueError):
    """Arguments or inputs a job cannot work with; the message says which."""


class NamespaceMissingError(JobInputError):
    pass


class SchemaMismatchError(JobInputError):
    pass


def spark_session(app_name: str) -> SparkSession:
    spark = SparkSession.builder.appName(app_name).getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def add_slot_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("slots (one partition key, or a range for backfills)")
    group.add_argument("--partition-key", help="one slot, e.g. 2026-11-01-00:15")
    group.add_argument("--start", help="first slot start (ISO-8601, UTC) of a range")
    group.add_argument("--end", help="end of the range (exclusive)")
    group.add_argument("--cadence-minutes", type=int, required=True, help="slot length in minutes")


def slots_from(args: argparse.Namespace) -> list[Slot]:
    if args.partition_key and (args.start or args.end):
        raise JobInputError("give --partition-key or --start/--end, not both")
    if args.partition_key:
        return [partition_to_slot(args.partition_key, args.cadence_minutes)]
    if not (args.start and args.end):
        raise JobInputError("give --partition-key, or --start and --end")
    slots = slots_between(parse_utc(args.start), parse_utc(args.end), args.cadence_minutes)
    if not slots:
        raise JobInputError(f"no slot starts in [{args.start}, {args.end})")
    return slots


def current_catalog(spark: SparkSession) -> str:
    return str(spark.conf.get("spark.sql.defaultCatalog"))


def catalog_and_namespace(spark: SparkSession, table: str) -> tuple[str, str]:
    """`catalog.namespace.table` names its catalog (a branch catalog registered at runtime); `namespace.table`
    is in the session's default catalog. The lake's namespaces are one level deep."""
    parts = table.split(".")
    if len(parts) == 3:
        return parts[0], parts[1]
    return current_catalog(spark), table.rpartition(".")[0]


def require_namespace(spark: SparkSession, table: str) -> None:
    """Fail before any data file is written when the table's namespace does not exist.

    Nessie's REST catalog fails only at commit, after the files were uploaded; checking first refuses the
    write before anything is written, with a message that says what to run.
    """
    catalog, namespace = catalog_and_namespace(spark, table)
    names = {row[0] for row in spark.sql(f"SHOW NAMESPACES IN {catalog}").collect()}
    if namespace not in names:
        raise NamespaceMissingError(
            f"namespace {namespace!r} does not exist in catalog {catalog!r}: run `lake bootstrap` first"
        )


def table_exists(spark: SparkSession, table: str) -> bool:
    return bool(spark.catalog.tableExists(table))


def check_schema(table: str, declared: StructType, actual: StructType) -> None:
    """The table's columns must be the declared ones, with the same types: else name the column."""
    have = {field.name: field.dataType for field in actual.fields}
    want = {field.name: field.dataType for field in declared.fields}
    problems = [f"column {name!r} is missing from {table}" for name in want if name not in have]
    problems += [f"column {name!r} of {table} is not declared by the job" for name in have if name not in want]
    problems += [
        f"column {name!r} of {table} is {have[name].simpleString()}, the job writes {kind.simpleString()}"
        for name, kind in want.items()
        if name in have and have[name] != kind
    ]
    if problems:
        raise SchemaMismatchError("; ".join(problems))


def ensure_table(
    spark: SparkSession,
    table: str,
    schema: StructType,
    partitioned_by: Sequence[str],
    properties: dict[str, str] | None = None,
) -> bool:
    """Create the table with its declared schema and spec, or check the existing one. True when created."""
    require_namespace(spark, table)
    if table_exists(spark, table):
        check_schema(table, schema, spark.table(table).schema)
        return False
    columns = ", ".join(f"`{field.name}` {field.dataType.simpleString()}" for field in schema.fields)
    props = {"format-version": "2"} | (properties or {})
    tblproperties = ", ".join(f"'{key}'='{value}'" for key, value in props.items())
    partitioning = f"PARTITIONED BY ({', '.join(partitioned_by)})" if partitioned_by else ""
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS {table} ({columns}) USING iceberg {partitioning} TBLPROPERTIES ({tblproperties})"
    )
    return True


def run_main(main: Callable[[Reporter], None]) -> None:
    """Run a job's main with its reporter; a JobError becomes one clear `error:` line and exit 2.

    The line goes to stderr (spark-submit's callers show it) and, under Dagster, into the run as an error
    log event. The exit happens after the Pipes session closed, so Dagster sees a clean close and a code.
    """
    code = 0
    with reporter() as report:
        try:
            main(report)
        except JobError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            report.log(f"error: {exc}", error=True)
            code = 2
    if code:
        sys.exit(code)
