"""hello (the seed's `spark_static_data_v1_skeleton`): the slot mapping, end to end, without Spark."""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time.
import dagster as dg

from lake_assets.loaded_settings import SETTINGS, SLOTS
from lake_assets.partitions import slots_of


@dg.asset(
    group_name="hello",
    partitions_def=SLOTS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="Says which slots it ran for and their ds/hr/min: the smallest proof the pipeline is wired.",
    kinds={"python"},
)
def hello(context: dg.AssetExecutionContext) -> dg.MaterializeResult:  # type: ignore[type-arg]
    slots = slots_of(context, SETTINGS.partitions.cadence_minutes)
    for slot in slots:
        context.log.info(f"hello from slot {slot.key}: ds={slot.ds} hr={slot.hr} min={slot.min}")
    return dg.MaterializeResult(
        metadata={"slots": len(slots), "first_slot": slots[0].key, "partition_values": str(slots[0].partition_values())}
    )
