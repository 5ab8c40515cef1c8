"""The Dagster partitions (slots) of an Airflow run: the slots its data interval covers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NamedTuple

from lake_contracts.slots import slot_containing


def partition_key(context: dict[str, Any], cadence_minutes: int) -> str:
    """The slot of an Airflow run: the one starting at its data interval's start.

    Scheduled runs carry a data interval. Manual and API runs may not (or carry logical_date == the
    interval's end, or nothing): then the slot is the last complete one before the logical date, or
    before the run's `run_after`. Both are fixed when the run is created, so every task and every try of
    one run maps to the same slot (the try's own clock would not: a retry after a slot boundary would
    launch a second Dagster run for another slot).
    """
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    if start is not None and end is not None and end > start:
        return slot_containing(start, cadence_minutes).key
    anchor = context.get("logical_date") or getattr(context.get("dag_run"), "run_after", None)
    if anchor is None:
        raise ValueError("the run has no data interval, logical date or run_after: no slot to materialise")
    return slot_containing(anchor - timedelta(minutes=cadence_minutes), cadence_minutes).key


class SlotRange(NamedTuple):
    first: str
    last: str


def partition_range(context: dict[str, Any], cadence_minutes: int) -> SlotRange:
    """Every slot of the run's data interval, first and last: a DAG scheduled less often than the
    partition cadence (the typed tables) covers several slots in one run."""
    first = partition_key(context, cadence_minutes)
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None or end - start <= timedelta(minutes=cadence_minutes):
        return SlotRange(first, first)
    return SlotRange(first, slot_containing(end - timedelta(minutes=cadence_minutes), cadence_minutes).key)
