"""The Dagster partition (slot) of an Airflow run: the slot that starts at the run's data interval start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lake_contracts.slots import slot_containing


def partition_key(context: dict[str, Any], cadence_minutes: int, now: datetime | None = None) -> str:
    """The slot of an Airflow run: the one starting at its data interval's start.

    Scheduled runs carry a data interval. Manual and API runs may not (or carry logical_date == the
    interval's end, or nothing): then the slot is the last complete one before the logical date, or
    before now.
    """
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    if start is not None and end is not None and end > start:
        return slot_containing(start, cadence_minutes).key
    anchor = context.get("logical_date") or now or datetime.now(UTC)
    return slot_containing(anchor - timedelta(minutes=cadence_minutes), cadence_minutes).key
