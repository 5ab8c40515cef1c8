"""Slot partitions: minute-resolution time windows keyed `YYYY-MM-DD-HH:MM` (UTC, window start).

The cadence and first slot come from the settings (LAKE_PARTITIONS__*). Every asset maps its
partition(s) to slots with lake_contracts.slots, the one mapping the Spark jobs and the Airflow side share.
"""

from __future__ import annotations

import dagster as dg

from lake.settings import PartitionSettings
from lake_contracts import tags
from lake_contracts.slots import KEY_FORMAT, Slot, cron_for, slots_between

RANGE_START_TAG = tags.RANGE_START
RANGE_END_TAG = tags.RANGE_END
PARTITION_TAG = tags.PARTITION
# An asset tag: Airflow runs this slot-partitioned asset every LAKE_PARTITIONS__TYPED_EVERY_MINUTES over
# the slots landed since, in one run (a Spark table typed from the landings), not once per slot.
BATCHED_TAG = "lake/batched"


def slot_partitions(settings: PartitionSettings) -> dg.TimeWindowPartitionsDefinition:
    minutes = settings.cadence_minutes
    return dg.TimeWindowPartitionsDefinition(
        start=settings.start, fmt=KEY_FORMAT, cron_schedule=cron_for(minutes), timezone="UTC", end_offset=0
    )


def slots_of(context: dg.AssetExecutionContext, minutes: int) -> list[Slot]:
    """The slots of this run: one partition, or a whole range (single-run backfill)."""
    window = context.partition_time_window
    return slots_between(window.start, window.end, minutes)
