"""Which request comes next: the paging rules of each endpoint kind, as pure functions of the last page."""

from __future__ import annotations

from typing import Any

from scrapworker.endpoints import CursorPaging, Endpoint, OffsetPaging, OneShot, TimeWindowPaging
from scrapworker.protocol import ParamValue, TimeWindow


class MalformedPageError(ValueError):
    """A JSON body that is not shaped as the endpoint config says."""


def first_page(endpoint: Endpoint, params: dict[str, ParamValue], window: TimeWindow | None) -> dict[str, str]:
    query = {name: _as_query(value) for name, value in params.items()}
    match endpoint.pagination:
        case TimeWindowPaging(start_param=start, end_param=end, limit_param=limit_param, limit=limit):
            assert window is not None  # checked_params guarantees it
            span = endpoint.row_span(params)
            # The API's endTime is inclusive; the job's window end is not. Rows that last a span land in the
            # window they close in (row_spans.py).
            first, last = (
                (window.start_ms, window.end_ms - 1)
                if span is None
                else span.open_bounds(window.start_ms, window.end_ms)
            )
            query |= {start: str(first), end: str(last), limit_param: str(limit)}
        case OffsetPaging(offset_param=offset, limit_param=limit_param, limit=limit):
            query |= {offset: "0", limit_param: str(limit)}
        case CursorPaging(limit_param=limit_param, limit=limit):
            query |= {limit_param: str(limit)}
        case OneShot():
            pass
    return query


def next_page(endpoint: Endpoint, query: dict[str, str], items: list[Any]) -> dict[str, str] | None:
    """The query of the page after the one `query` fetched, or None when that was the last."""
    match endpoint.pagination:
        case TimeWindowPaging(start_param=start, end_param=end, limit=limit, row_time=row_time):
            if len(items) < limit:
                return None
            next_start = int(_field(items[-1], row_time)) + 1  # past the last row: no row twice
            return None if next_start > int(query[end]) else query | {start: str(next_start)}
        case OffsetPaging(offset_param=offset, limit=limit):
            return None if len(items) < limit else query | {offset: str(int(query[offset]) + len(items))}
        case CursorPaging(cursor_param=cursor, cursor_field=field, limit=limit):
            return None if len(items) < limit else query | {cursor: str(int(_field(items[-1], field)) + 1)}
        case _:
            return None


def open_until(endpoint: Endpoint, items: list[Any], server_ms: int) -> int | None:
    """The latest close time among rows not yet final at server_ms (their close time has not passed), or None
    when every row is final or the endpoint's rows do not last a span."""
    paging = endpoint.pagination
    if not isinstance(paging, TimeWindowPaging) or paging.row_close_time is None:
        return None
    closes = [int(_field(item, paging.row_close_time)) for item in items]
    still_open = [close for close in closes if close >= server_ms]
    return max(still_open) if still_open else None


def extract_items(endpoint: Endpoint, body: Any) -> list[Any]:
    """The records of a page: the list at the endpoint's `items` path (a lone object counts as one)."""
    node = body
    for part in filter(None, endpoint.items.split(".")):
        if not isinstance(node, dict) or part not in node:
            raise MalformedPageError(f"response has no '{endpoint.items}' (missing '{part}')")
        node = node[part]
    if isinstance(node, list):
        return node
    if isinstance(node, dict):
        return [node]
    raise MalformedPageError(f"expected a list or object of records, got {type(node).__name__}")


def _field(item: Any, field: int | str) -> Any:
    try:
        return item[field]
    except (KeyError, IndexError, TypeError):
        raise MalformedPageError(f"record has no field {field!r}: {str(item)[:100]}") from None


def _as_query(value: ParamValue) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
