"""Time units and kline intervals: where each interval's klines open, as Binance aligns them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


def month_start_ms(t_ms: int, months_ahead: int) -> int:
    """Open time of the calendar month containing t_ms, moved `months_ahead` months."""
    moment = datetime.fromtimestamp(t_ms // SECOND_MS, tz=UTC)
    index = moment.year * 12 + moment.month - 1 + months_ahead
    return int(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp()) * SECOND_MS


@dataclass(frozen=True)
class KlineInterval:
    name: str
    length_ms: int  # 0 for calendar months
    origin_ms: int = 0  # an open time; every other open time is a whole number of lengths away
    zone_offset_ms: int = 0  # klines open at whole intervals of this zone's local time (`timeZone`)

    def in_zone(self, offset_ms: int) -> KlineInterval:
        """The interval as klines with `timeZone` align it: rest-api.md says kline intervals are interpreted in
        that zone; only intervals of an hour or more move (a minute is a minute in every zone)."""
        if self.length_ms and self.length_ms < HOUR_MS:
            return self
        return replace(self, zone_offset_ms=offset_ms)

    def floor(self, t_ms: int) -> int:
        """Open time of the kline containing t_ms."""
        local = t_ms + self.zone_offset_ms
        if self.length_ms == 0:
            return month_start_ms(local, 0) - self.zone_offset_ms
        return t_ms - (local - self.origin_ms) % self.length_ms

    def ceil(self, t_ms: int) -> int:
        """Open time of the first kline opening at or after t_ms."""
        floor = self.floor(t_ms)
        return floor if floor == t_ms else self.next_open(floor)

    def next_open(self, open_ms: int) -> int:
        return self._month_step(open_ms, 1) if self.length_ms == 0 else open_ms + self.length_ms

    def previous_open(self, open_ms: int) -> int:
        return self._month_step(open_ms, -1) if self.length_ms == 0 else open_ms - self.length_ms

    def _month_step(self, open_ms: int, months: int) -> int:
        return month_start_ms(open_ms + self.zone_offset_ms, months) - self.zone_offset_ms


FIRST_MONDAY_MS = 4 * DAY_MS  # 1970-01-05; Binance's weekly klines open on Mondays
KLINE_INTERVALS = {
    interval.name: interval
    for interval in (
        KlineInterval("1s", SECOND_MS),
        KlineInterval("1m", MINUTE_MS),
        KlineInterval("3m", 3 * MINUTE_MS),
        KlineInterval("5m", 5 * MINUTE_MS),
        KlineInterval("15m", 15 * MINUTE_MS),
        KlineInterval("30m", 30 * MINUTE_MS),
        KlineInterval("1h", HOUR_MS),
        KlineInterval("2h", 2 * HOUR_MS),
        KlineInterval("4h", 4 * HOUR_MS),
        KlineInterval("6h", 6 * HOUR_MS),
        KlineInterval("8h", 8 * HOUR_MS),
        KlineInterval("12h", 12 * HOUR_MS),
        KlineInterval("1d", DAY_MS),
        KlineInterval("3d", 3 * DAY_MS),
        KlineInterval("1w", 7 * DAY_MS, FIRST_MONDAY_MS),
        KlineInterval("1M", 0),
    )
}
