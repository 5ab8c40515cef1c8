"""The seed's Spark pipelines: the static table (`spark_static_data_v2_submit`) and the ds/hr/min table
(`spark_partitioned_data_v1`), each one spark-submit per run, a whole range for a backfill."""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time.
import dagster as dg

from lake_assets.context import SETTINGS, SLOTS
from lake_assets.partitions import slots_of
from lake_assets.resources import CatalogResource, SparkResource
from lake_contracts import tables

MINUTES = SETTINGS.partitions.cadence_minutes
STATIC_TABLE = tables.STATIC_DATA
PARTITIONED_TABLE = tables.PARTITIONED_DATA


@dg.asset(
    key=["seed", "static_data"],
    group_name="static",
    description="Reference rows, replaced whole on every run (jobs/static_data.py).",
    kinds={"iceberg", "spark"},
)
def static_data(spark: SparkResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
    result = spark.submit("static_data", ["--table", STATIC_TABLE])
    return dg.MaterializeResult(metadata={"rows": result.result.get("rows", 0), "duration_s": round(result.seconds, 2)})


@dg.asset(
    key=["seed", "partitioned_data"],
    group_name="partitioned",
    partitions_def=SLOTS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="Rows per slot in identity partitions ds/hr/min (jobs/partitioned_data.py); a range is one submit.",
    kinds={"iceberg", "spark"},
)
def partitioned_data(context: dg.AssetExecutionContext, spark: SparkResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
    window = context.partition_time_window
    args = ["--table", PARTITIONED_TABLE, "--cadence-minutes", str(MINUTES)]
    args += ["--start", window.start.isoformat(), "--end", window.end.isoformat()]
    result = spark.submit("partitioned_data", args)
    return dg.MaterializeResult(
        metadata={
            "rows": result.result.get("rows", 0),
            "slots": result.result.get("slots", 0),
            "duration_s": round(result.seconds, 2),
        }
    )


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
