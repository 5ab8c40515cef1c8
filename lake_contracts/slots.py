"""Slots: the one mapping from a Dagster partition key to the tables' partition values (ds, hr, min).

A slot is a UTC time window; its partition key is its start, `YYYY-MM-DD-HH:MM`. Dependency-free (the
standard library only), so the Spark jobs, the Dagster assets and the Airflow runtime all share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

KEY_FORMAT = "%Y-%m-%d-%H:%M"


@dataclass(frozen=True, order=True)
class Slot:
    start: datetime
    minutes: int

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() != timedelta(0):
            raise ValueError(f"slot start {self.start} must be in UTC")
        if self.start.second or self.start.microsecond:
            raise ValueError(f"slot start {self.start} must be a whole minute")
        if self.minutes < 1:
            raise ValueError("a slot lasts at least one minute")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    @property
    def key(self) -> str:
        return self.start.strftime(KEY_FORMAT)

    @property
    def ds(self) -> str:
        return self.start.strftime("%Y-%m-%d")

    @property
    def hr(self) -> int:
        return self.start.hour

    @property
    def min(self) -> int:
        return self.start.minute

    def partition_values(self) -> tuple[str, int, int]:
        return self.ds, self.hr, self.min


def partition_to_slot(key: str, minutes: int) -> Slot:
    """`2026-11-01-00:15` with a 15-minute cadence -> the slot [00:15, 00:30) of 2026-11-01."""
    try:
        start = datetime.strptime(key, KEY_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"partition key {key!r} is not of the form YYYY-MM-DD-HH:MM") from None
    return Slot(start, minutes)


def slots_between(first: datetime, end: datetime, minutes: int) -> list[Slot]:
    """Every slot starting in [first, end), `minutes` apart."""
    first = first.astimezone(UTC)
    count = max(0, -(-int((end - first).total_seconds()) // (minutes * 60)))
    return [Slot(first + timedelta(minutes=minutes * i), minutes) for i in range(count)]


def slot_containing(moment: datetime, minutes: int) -> Slot:
    """The slot a moment falls in; slots are aligned on the day's midnight (UTC)."""
    moment = moment.astimezone(UTC).replace(second=0, microsecond=0)
    return Slot(moment - timedelta(minutes=(moment.hour * 60 + moment.minute) % minutes), minutes)


def cron_for(minutes: int) -> str:
    """The cron schedule that starts a slot every `minutes` (a divisor of an hour, or whole hours)."""
    return f"*/{minutes} * * * *" if minutes < 60 else f"0 */{minutes // 60} * * *"


def parse_utc(text: str) -> datetime:
    """An ISO-8601 instant; a naive one is taken as UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
