"""Paging rules as pure functions: no page twice, none skipped, a clean stop."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scrapworker.endpoints import Endpoint, JobRejectedError, load_endpoints
from scrapworker.pagination import MalformedPageError, extract_items, first_page, next_page, open_until
from scrapworker.protocol import TimeWindow

MINUTE = 60_000
WINDOW = TimeWindow(start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 1, 0, 30, tzinfo=UTC))


def endpoint(name: str) -> Endpoint:
    return load_endpoints().endpoint(name)


def kline(open_ms: int) -> list[object]:
    return [open_ms, "1", "1", "1", "1", "1", open_ms + MINUTE - 1, "1", 1, "1", "1", "0"]


def test_time_window_pages_advance_past_the_last_row() -> None:
    klines = endpoint("klines").model_copy(
        update={"pagination": endpoint("klines").pagination.model_copy(update={"limit": 10})}
    )
    query = first_page(klines, {"symbol": "BTCUSDT", "interval": "1m"}, WINDOW)
    assert query == {
        "symbol": "BTCUSDT",
        "interval": "1m",
        # The klines closing in the window: those opening in it, bounded by open time as the API pages.
        "startTime": str(WINDOW.start_ms - MINUTE + 1),
        "endTime": str(WINDOW.end_ms - MINUTE),  # the API's end is inclusive
        "limit": "10",
    }
    seen: list[int] = []
    pages = 0
    current: dict[str, str] | None = query
    while current is not None:
        start, end = int(current["startTime"]), int(current["endTime"])
        rows = [kline(t) for t in range(start - start % MINUTE, end + 1, MINUTE) if t >= start][:10]
        seen += [int(row[0]) for row in rows]  # type: ignore[call-overload]
        pages += 1
        current = next_page(klines, current, rows)
    assert seen == list(range(WINDOW.start_ms, WINDOW.end_ms, MINUTE))  # 30 rows, each once
    # The third page is full and ends at the last open time the window lands: no fourth, empty, request.
    assert pages == 3


def test_time_window_without_a_span_asks_until_a_page_is_short_or_past_the_end() -> None:
    paging = endpoint("klines").pagination.model_copy(
        update={"limit": 10, "span_param": None, "zone_param": None, "row_close_time": None}
    )
    klines = endpoint("klines").model_copy(update={"pagination": paging})
    query = first_page(klines, {"symbol": "BTCUSDT", "interval": "1m"}, WINDOW)
    assert (query["startTime"], query["endTime"]) == (str(WINDOW.start_ms), str(WINDOW.end_ms - 1))
    pages, current = 0, query
    while current is not None:
        start = int(current["startTime"])
        rows = [kline(t) for t in range(start - start % MINUTE, WINDOW.end_ms, MINUTE) if t >= start][:10]
        pages += 1
        current = next_page(klines, current, rows)  # type: ignore[assignment]
    # The third page is full, so only a fourth (empty) request can tell it was the last: rows need not be
    # evenly spaced (trades are not), so the paginator never guesses where the next row would start.
    assert pages == 4


def test_time_window_stops_on_a_short_page() -> None:
    klines = endpoint("klines")
    query = first_page(klines, {"symbol": "BTCUSDT", "interval": "1m"}, WINDOW)
    assert next_page(klines, query, [kline(WINDOW.start_ms)]) is None


def test_cursor_pages_continue_from_the_last_id() -> None:
    agg = endpoint("agg_trades")
    query = first_page(agg, {"symbol": "BTCUSDT"}, None)
    assert query == {"symbol": "BTCUSDT", "limit": "1000"}
    full = [{"a": i} for i in range(1000)]
    assert next_page(agg, query, full) == {"symbol": "BTCUSDT", "limit": "1000", "fromId": "1000"}
    assert next_page(agg, query, full[:3]) is None


def test_offset_pages() -> None:
    paged = Endpoint.model_validate(
        {
            "api": "x",
            "path": "/items",
            "weight": 1,
            "pagination": {"kind": "offset", "offset_param": "offset", "limit_param": "limit", "limit": 2},
        }
    )
    query = first_page(paged, {}, None)
    assert query == {"offset": "0", "limit": "2"}
    query = next_page(paged, query, [1, 2])  # type: ignore[assignment]
    assert query == {"offset": "2", "limit": "2"}
    assert next_page(paged, query, [3]) is None


def test_one_shot_has_no_next_page() -> None:
    assert next_page(endpoint("trades"), {"symbol": "BTCUSDT"}, [{"id": 1}] * 1000) is None


def test_items_are_found_at_their_path() -> None:
    assert extract_items(endpoint("exchange_info"), {"symbols": [{"symbol": "A"}, {"symbol": "B"}]}) == [
        {"symbol": "A"},
        {"symbol": "B"},
    ]
    assert extract_items(endpoint("ticker_24hr"), {"symbol": "A"}) == [{"symbol": "A"}]  # one object, one record
    with pytest.raises(MalformedPageError, match="response has no 'symbols'"):
        extract_items(endpoint("exchange_info"), {"timezone": "UTC"})
    with pytest.raises(MalformedPageError, match="expected a list or object"):
        extract_items(endpoint("klines"), "<html>")
    with pytest.raises(MalformedPageError, match="record has no field 0"):
        next_page(endpoint("klines"), first_page(endpoint("klines"), {"interval": "1m"}, WINDOW), [{}] * 1000)


def ms(*fields: int) -> int:
    return int(datetime(*fields, tzinfo=UTC).timestamp() * 1000)  # type: ignore[arg-type]


def open_bounds(params: dict[str, str], start: int, end: int) -> tuple[int, int]:
    window = TimeWindow(
        start=datetime.fromtimestamp(start / 1000, tz=UTC), end=datetime.fromtimestamp(end / 1000, tz=UTC)
    )
    query = first_page(endpoint("klines"), {"symbol": "BTCUSDT", **params}, window)
    return int(query["startTime"]), int(query["endTime"])


def test_a_window_lands_the_klines_that_close_in_it() -> None:
    utc8 = {"interval": "1d", "timeZone": "8"}
    # A daily kline at UTC+8 opens at 16:00 UTC and closes a day later: the window ending then lands it...
    first, last = open_bounds(utc8, ms(2024, 1, 2, 15, 45), ms(2024, 1, 2, 16))
    assert first <= ms(2024, 1, 1, 16) <= last and last - first < 86_400_000  # that day's kline, no other
    # ...and the window it opens in does not: it is not final until the next day.
    first, last = open_bounds(utc8, ms(2024, 1, 2, 16), ms(2024, 1, 2, 16, 15))
    assert not first <= ms(2024, 1, 2, 16) <= last and last - first < 86_400_000
    # Calendar months at UTC-1 open at 01:00 UTC on the 1st; January and February close in this window.
    months = {"interval": "1M", "timeZone": "-1:00"}
    assert open_bounds(months, ms(2024, 1, 15), ms(2024, 3, 15)) == (ms(2024, 1, 1, 1), ms(2024, 2, 1, 1))
    assert open_bounds({"interval": "1M"}, ms(2024, 1, 1), ms(2024, 2, 1)) == (ms(2024, 1, 1), ms(2024, 1, 1))


def test_a_span_the_crawler_cannot_read_rejects_the_job() -> None:
    klines = endpoint("klines")
    window = TimeWindow(start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 1, 2, tzinfo=UTC))
    with pytest.raises(JobRejectedError, match="timeZone: '15' is not a UTC offset from -12:00 to \\+14:00"):
        klines.checked_params({"symbol": "BTCUSDT", "interval": "1d", "timeZone": "15"}, window)


def test_rows_whose_close_time_has_not_passed_are_open() -> None:
    klines = endpoint("klines")
    rows = [kline(0), kline(MINUTE), kline(2 * MINUTE)]
    assert open_until(klines, rows, server_ms=3 * MINUTE) is None  # every close is past
    assert open_until(klines, rows, server_ms=3 * MINUTE - 1) == 3 * MINUTE - 1  # the last one closes then
    assert open_until(klines, rows, server_ms=MINUTE + 5) == 3 * MINUTE - 1
    assert open_until(endpoint("agg_trades"), [{"a": 1}], server_ms=0) is None  # trades do not last
