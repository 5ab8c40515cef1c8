"""Request validation the way Binance does it: the documented error codes and messages, the parameters each
endpoint reads, and -1104 for whatever was sent but never read."""

from __future__ import annotations

import json
from collections.abc import Sequence

from market_sim.intervals import KLINE_INTERVALS, KlineInterval
from market_sim.protocol import (
    DEFAULT_LIMIT,
    INT64_MAX,
    INT_LEGAL_RANGE,
    INT_SHAPE,
    MAX_LIMIT,
    SYMBOL_LEGAL_RANGE,
    SYMBOL_SHAPE,
    SYMBOLS_LEGAL_RANGE,
    SYMBOLS_SHAPE,
    TIME_ZONE_SHAPE,
)


class ApiError(Exception):
    """A request Binance would refuse: answered with HTTP 400 and {"code": code, "msg": msg}."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def mandatory_missing(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal_characters(name: str, legal_range: str) -> ApiError:
    return ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal_range}'.")


def invalid_value(name: str) -> ApiError:
    return ApiError(-1130, f"Data sent for parameter '{name}' is not valid.")


INVALID_SYMBOL = ApiError(-1121, "Invalid symbol.")
INVALID_INTERVAL = ApiError(-1120, "Invalid interval.")
BAD_PARAMETER_COMBINATION = ApiError(-1128, "Combination of optional parameters invalid.")
INVALID_TIME_UNIT = ApiError(-1194, "Invalid value for time unit; expected either MICROSECOND or MILLISECOND.")

RawQuery = dict[str, list[str]]
MICROSECONDS_FROM = 10**14


class QueryParams:
    """One request's query string, read the way Binance reads it: each endpoint asks for the parameters it knows,
    and whatever was sent but never asked for is refused at the end with -1104."""

    def __init__(self, raw: RawQuery) -> None:
        if any(len(values) > 1 for values in raw.values()):
            raise ApiError(-1101, "Duplicate values for a parameter detected.")
        self._values = {name: values[0] for name, values in raw.items()}
        self._read: set[str] = set()

    def text(self, name: str) -> str | None:
        self._read.add(name)
        return self._values.get(name)

    def required_text(self, name: str) -> str:
        value = self.text(name)
        if not value:
            raise mandatory_missing(name)
        return value

    def optional_int(self, name: str) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        if not INT_SHAPE.fullmatch(value) or int(value) > INT64_MAX:
            raise illegal_characters(name, INT_LEGAL_RANGE)
        return int(value)

    def optional_time(self, name: str, *, bound: str) -> int | None:
        """A timestamp parameter in ms. rest-api.md: "Timestamp parameters (e.g. startTime, endTime, timestamp) can be
        passed in milliseconds or microseconds"; a value past MICROSECONDS_FROM (year 5138 in ms) is taken as
        microseconds, rounded inward: up for a window's start (`bound="start"`), down for its end."""
        value = self.optional_int(name)
        if value is None or value < MICROSECONDS_FROM:
            return value
        return -(-value // 1000) if bound == "start" else value // 1000

    def limit(self) -> int:
        value = self.optional_int("limit")
        if value is None:
            return DEFAULT_LIMIT
        if not 1 <= value <= MAX_LIMIT:
            raise invalid_value("limit")
        return value

    def finish(self) -> None:
        read = len(self._read & self._values.keys())
        if read < len(self._values):
            raise ApiError(
                -1104,
                f"Not all sent parameters were read; read '{read}' parameter(s) but was sent '{len(self._values)}'.",
            )


def check_symbol(value: str, known: Sequence[str]) -> str:
    if not SYMBOL_SHAPE.fullmatch(value):
        raise illegal_characters("symbol", SYMBOL_LEGAL_RANGE)
    if value not in known:
        raise INVALID_SYMBOL
    return value


def parse_symbol_list(text: str) -> list[str]:
    """The `symbols` parameter: a JSON array of symbol names, e.g. ["BTCUSDT","ETHUSDT"], written exactly as the
    legal range quoted in the -1100 message allows: no spaces (the exchange refuses `["BTCUSDT", "ETHUSDT"]`)."""
    if not SYMBOLS_SHAPE.fullmatch(text):
        raise illegal_characters("symbols", SYMBOLS_LEGAL_RANGE)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise illegal_characters("symbols", SYMBOLS_LEGAL_RANGE) from None
    if not isinstance(value, list) or not all(isinstance(item, str) and SYMBOL_SHAPE.fullmatch(item) for item in value):
        raise illegal_characters("symbols", SYMBOLS_LEGAL_RANGE)
    return [str(item) for item in value]


def read_symbol(params: QueryParams, known: Sequence[str]) -> str:
    return check_symbol(params.required_text("symbol"), known)


def read_symbol_choice(params: QueryParams, known: Sequence[str]) -> str | list[str] | None:
    """`symbol` (one symbol), `symbols` (a JSON array) or neither (meaning all symbols); not both."""
    single = params.text("symbol")
    listed = params.text("symbols")
    if single is not None and listed is not None:
        raise BAD_PARAMETER_COMBINATION
    if single is not None:
        return check_symbol(single, known)
    if listed is None:
        return None
    symbols = parse_symbol_list(listed)
    if not symbols:
        raise mandatory_missing("symbols")
    if len(set(symbols)) < len(symbols):
        raise ApiError(-1151, "Symbol is present multiple times in the list.")
    if any(symbol not in known for symbol in symbols):
        raise INVALID_SYMBOL
    return symbols


# What `symbolStatus` may ask for (rest-api.md, exchangeInfo and ticker/24hr): a symbol's trading status.
SYMBOL_STATUSES = ("TRADING", "HALT", "BREAK")
SYMBOL_STATUS_MISMATCH = ApiError(-1220, "The symbol's status does not match the requested symbolStatus.")


def read_symbol_status(params: QueryParams) -> str | None:
    status = params.text("symbolStatus")
    if status is not None and status not in SYMBOL_STATUSES:
        raise invalid_value("symbolStatus")
    return status


def read_flag(params: QueryParams, name: str, default: bool) -> bool:
    value = params.text(name)
    if value is None:
        return default
    if value not in ("true", "false"):
        raise invalid_value(name)
    return value == "true"


def read_time_zone(params: QueryParams) -> int:
    """Klines' `timeZone` as an offset in ms ("0", "8", "-1:00", "+08:00"; from -12:00 to +14:00 inclusive)."""
    value = params.text("timeZone")
    if value is None:
        return 0
    match = TIME_ZONE_SHAPE.fullmatch(value)
    if match is None:
        raise invalid_value("timeZone")
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    offset_minutes = (-1 if sign == "-" else 1) * (hours * 60 + minutes)
    if minutes >= 60 or not -12 * 60 <= offset_minutes <= 14 * 60:
        raise invalid_value("timeZone")
    return offset_minutes * 60_000


def read_interval(params: QueryParams) -> KlineInterval:
    interval = KLINE_INTERVALS.get(params.required_text("interval"))
    if interval is None:
        raise INVALID_INTERVAL
    return interval
