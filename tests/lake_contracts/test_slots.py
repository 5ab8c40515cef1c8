"""The one slot mapping: partition key <-> (ds, hr, min)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lake_contracts.slots import Slot, partition_to_slot, slots_between


def test_partition_key_maps_to_ds_hr_min() -> None:
    slot = partition_to_slot("2026-11-01-23:45", 15)
    assert slot.start == datetime(2026, 11, 1, 23, 45, tzinfo=UTC)
    assert slot.end == datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    assert slot.partition_values() == ("2026-11-01", 23, 45)
    assert slot.key == "2026-11-01-23:45"


@pytest.mark.parametrize("key", ["2026-11-01T00:15", "2026-11-01-24:00", "2026-11-01", "", "2026-13-01-00:00"])
def test_malformed_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="is not of the form YYYY-MM-DD-HH:MM"):
        partition_to_slot(key, 15)


def test_slots_between_is_half_open() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    slots = slots_between(start, datetime(2026, 11, 1, 1, tzinfo=UTC), 15)
    assert [s.key for s in slots] == ["2026-11-01-00:00", "2026-11-01-00:15", "2026-11-01-00:30", "2026-11-01-00:45"]
    assert len(slots_between(start, datetime(2026, 11, 2, tzinfo=UTC), 1)) == 1440
    assert slots_between(start, start, 1) == []


def test_a_slot_must_be_utc_and_whole_minutes() -> None:
    with pytest.raises(ValueError, match="must be in UTC"):
        Slot(datetime(2026, 11, 1), 15)
    with pytest.raises(ValueError, match="whole minute"):
        Slot(datetime(2026, 11, 1, 0, 0, 30, tzinfo=UTC), 15)
