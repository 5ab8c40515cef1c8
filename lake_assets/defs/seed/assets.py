"""The seed's Spark pipelines: the static table (`spark_static_data_v2_submit`) and the ds/hr/min table
(`spark_partitioned_data_v1`), each one spark-submit per run, a whole range for a backfill.

Both are written by write-audit-publish (lake_assets/wap.py): on the run's Nessie branch, checked there,
merged into main only when every blocking check passes."""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time.
from collections.abc import Iterator

import dagster as dg

from lake_assets.loaded_settings import SETTINGS, SLOTS
from lake_assets.partitions import slots_of
from lake_assets.resources import CatalogResource, SparkResource
from lake_assets.wap import audited_check_specs, table_pool, write_audit_publish
from lake_contracts import checks, tables

MINUTES = SETTINGS.partitions.cadence_minutes
STATIC_TABLE = tables.STATIC_DATA
PARTITIONED_TABLE = tables.PARTITIONED_DATA


@dg.asset(
    key=["seed", "static_data"],
    group_name="static",
    description="Reference rows, replaced whole on every run (jobs/static_data.py), published by WAP.",
    kinds={"iceberg", "spark"},
    pool=table_pool(STATIC_TABLE),
    check_specs=audited_check_specs(["seed", "static_data"], STATIC_TABLE, {}),
)
def static_data(
    context: dg.AssetExecutionContext, spark: SparkResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
    yield from write_audit_publish(context, spark, STATIC_TABLE, "static_data", ["--table", STATIC_TABLE])


@dg.asset(
    key=["seed", "partitioned_data"],
    group_name="partitioned",
    partitions_def=SLOTS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    description=(
        "Rows per slot in identity partitions ds/hr/min (jobs/partitioned_data.py); a range is one submit, "
        "published by WAP."
    ),
    kinds={"iceberg", "spark"},
    pool=table_pool(PARTITIONED_TABLE),
    check_specs=audited_check_specs(
        ["seed", "partitioned_data"],
        PARTITIONED_TABLE,
        # Run and reported by the Spark job itself, through Pipes, against the run's branch.
        {checks.ROWS_PER_SLOT: "Every slot written reads back with exactly its rows (checked inside the Spark job)."},
    ),
)
def partitioned_data(
    context: dg.AssetExecutionContext, spark: SparkResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
    window = context.partition_time_window
    args = ["--table", PARTITIONED_TABLE, "--cadence-minutes", str(MINUTES)]
    args += ["--start", window.start.isoformat(), "--end", window.end.isoformat()]
    yield from write_audit_publish(context, spark, PARTITIONED_TABLE, "partitioned_data", args)


@dg.asset(
    key=["seed", "partitioned_data_report"],
    group_name="partitioned",
    partitions_def=SLOTS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[partitioned_data],
    description="Rows per slot as read back by pyiceberg: the consumer the NULL-partition check protects.",
    kinds={"python"},
)
def partitioned_data_report(context: dg.AssetExecutionContext, catalog: CatalogResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
    table = catalog.catalog().load_table(PARTITIONED_TABLE)
    counts = {tuple(p["partition"].values()): p["record_count"] for p in table.inspect.partitions().to_pylist()}
    slots = slots_of(context, MINUTES)
    rows = {slot.key: counts.get(slot.partition_values(), 0) for slot in slots}
    return dg.MaterializeResult(metadata={"rows": sum(rows.values()), "rows_by_slot": dg.MetadataValue.json(rows)})
