"""Paging rules as pure functions: no page twice, none skipped, a clean stop."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scrapworker.endpoints import Endpoint, load_catalog
from scrapworker.pagination import MalformedPageError, extract_items, first_page, next_page
from scrapworker.protocol import TimeWindow

MINUTE = 60_000
WINDOW = TimeWindow(start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 1, 0, 30, tzinfo=UTC))


def endpoint(name: str) -> Endpoint:
    return load_catalog().endpoint(name)


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
        "startTime": str(WINDOW.start_ms),
        "endTime": str(WINDOW.end_ms - 1),  # the API's end is inclusive
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
        next_page(endpoint("klines"), first_page(endpoint("klines"), {}, WINDOW), [{}] * 1000)
