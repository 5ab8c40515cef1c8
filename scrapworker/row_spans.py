"""Rows that last a span (klines): which rows a window lands, and when a row is final.

A kline covers [open time, close time] and is final only once its close time has passed at the exchange;
until then the exchange shows it partial and changing. So a window [start, end) lands the rows that *close*
in it: their close time + 1 (the next row's open) falls in (start, end]. For one-minute klines that is every
kline opening in the window, as before; for a daily kline it is the one window whose end meets its close,
wherever the day begins in the `timeZone` the job asks for. The API pages by open time, so the request's
bounds are the open times of those rows.

Spans are written the way Binance writes kline intervals: a count and a unit, s m h d w, or M for a calendar
month (whose length depends on the month and on the zone's midnight).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from scrapworker.protocol import clip

SECOND_MS = 1000
UNIT_MS = {"s": SECOND_MS, "m": 60 * SECOND_MS, "h": 3600 * SECOND_MS, "d": 86400 * SECOND_MS, "w": 604800 * SECOND_MS}
SPAN_SHAPE = re.compile(r"([1-9][0-9]{0,3})([smhdwM])")
# Binance's timeZone: "Hours and minutes (e.g. -1:00, 05:45)", "Only hours (e.g. 0, 8, 4)", [-12:00, +14:00].
ZONE_SHAPE = re.compile(r"([+-]?)([0-9]{1,2})(?::([0-9]{2}))?")


class SpanError(ValueError):
    """A span or zone parameter the crawler cannot read; the message names the parameter and the value."""


@dataclass(frozen=True)
class Span:
    length_ms: int  # 0 for calendar months
    zone_offset_ms: int = 0

    def open_bounds(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """Inclusive open-time bounds of the rows closing in (start_ms, end_ms]."""
        if self.length_ms:
            return start_ms - self.length_ms + 1, end_ms - self.length_ms
        # A month opens at the zone's midnight on the 1st: the first to close after start is the one holding
        # start, the last to close by end is the one before the month holding end.
        return self._month_start(start_ms, 0), self._month_start(end_ms, -1)

    def _month_start(self, t_ms: int, months_ahead: int) -> int:
        moment = datetime.fromtimestamp((t_ms + self.zone_offset_ms) / 1000, tz=UTC)
        index = moment.year * 12 + moment.month - 1 + months_ahead
        local = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)
        return int(local.timestamp() * 1000) - self.zone_offset_ms


def parse_span(name: str, value: object) -> int:
    """A span's length in ms (0 for `1M`)."""
    match = SPAN_SHAPE.fullmatch(str(value))
    if match is None or (match.group(2) == "M" and match.group(1) != "1"):
        raise SpanError(f"{name}: {clip(value)} is not a span like 1m, 4h, 1d, 1w or 1M")
    count, unit = int(match.group(1)), match.group(2)
    return 0 if unit == "M" else count * UNIT_MS[unit]


def parse_zone(name: str, value: object) -> int:
    """A timeZone's offset in ms."""
    match = ZONE_SHAPE.fullmatch(str(value))
    if match is not None:
        minutes = int(match.group(3) or 0)
        offset = (-1 if match.group(1) == "-" else 1) * (int(match.group(2)) * 60 + minutes)
        if minutes < 60 and -12 * 60 <= offset <= 14 * 60:
            return offset * 60_000
    raise SpanError(f"{name}: {clip(value)} is not a UTC offset from -12:00 to +14:00 (8, -1:00, 05:45)")
