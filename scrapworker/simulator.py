"""A loopback simulator of the Binance Spot market-data REST API (v3), for tests and offline demos of the crawler.

It is a real HTTP server (``http.server`` on 127.0.0.1) speaking the documented protocol of
https://data-api.binance.vision: the same paths, parameters, error codes and messages, request weights, the
``X-MBX-USED-WEIGHT-1M`` header, 429 with ``Retry-After`` once a client IP has spent its weight budget for the
current window, and a 418 ban for a client that keeps going. Tests can also make it misbehave on purpose
(``inject_fault``): HTML error pages, truncated or empty bodies, 5xx answers and requests that never get an answer.

Market data is synthetic and deterministic. A price is a smooth function of (symbol, time) plus a small jitter
hashed from the same two, so a kline's close equals the next kline's open, and the same request always returns
the same bytes. Aggregate trades form a dense id sequence from 0, one every 100 ms from ``history_start_ms``,
each made of two trades; so ids and times map onto each other and cursor pagination by ``fromId`` is exact.

Where the simulator knowingly differs from Binance (or the docs leave the behaviour open):

* ``timeZone`` on klines is validated and then ignored: klines stay aligned to UTC.
* Klines are aligned to whole intervals since the epoch, except ``1w`` (Mondays) and ``1M`` (calendar months);
  whether Binance's ``3d`` klines share the epoch as origin is not documented.
* ``startTime > endTime`` answers an empty list, as Spot klines do (only the futures API refuses it, with -1023);
  ``fromId`` together with ``startTime``/``endTime`` on aggTrades, or ``symbol`` together with ``symbols``,
  answers -1128 (the docs say nothing of either combination).
* The first kline is the one containing ``history_start_ms`` (Binance's first BTCUSDT 1d kline opens at 00:00 of
  the day trading began at 04:00); no trade is older than ``history_start_ms``.
* Injected faults and unknown paths cost no weight; the header then reports the weight already used.
* The -1003 texts are the ones the live API sends ("Too many requests; current limit of IP(...) request weight
  is ..."), which word errors.md's templates ("Too much request weight used; ...") differently.
* ``exchangeInfo`` states the simulator's real window (``MINUTE``/1 by default, ``SECOND``/N for short test
  windows) while the header keeps the name ``X-MBX-USED-WEIGHT-1M`` whatever the window.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import re
import signal
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self, override
from urllib.parse import parse_qs, urlsplit

# --------------------------------------------------------------------------------------------------------------
# Protocol constants
# --------------------------------------------------------------------------------------------------------------

USED_WEIGHT_HEADERS = ("X-MBX-USED-WEIGHT-1M", "X-MBX-USED-WEIGHT")  # Binance sends both, with the same value
JSON_CONTENT_TYPE = "application/json;charset=UTF-8"
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
INT64_MAX = 2**63 - 1

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

# Binance's own regular expressions, quoted back in -1100 messages.
INT_LEGAL_RANGE = "^[0-9]{1,20}$"
SYMBOL_LEGAL_RANGE = "^[A-Z0-9-_.]{1,20}$"
SYMBOLS_LEGAL_RANGE = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
INT_SHAPE = re.compile(r"[0-9]{1,20}")
SYMBOL_SHAPE = re.compile(r"[A-Z0-9_.\-]{1,20}")
TIME_ZONE_SHAPE = re.compile(r"([+-]?)([0-9]{1,2})(?::([0-9]{2}))?")

# The synthetic trade tape: one aggregate trade every 100 ms since history_start_ms, each of two trades.
AGG_TRADE_SPACING_MS = 100
TRADES_PER_AGG_TRADE = 2

FAULT_KINDS = frozenset({"html", "truncated", "500", "502", "503", "empty", "timeout"})
TIMEOUT_FAULT_SECONDS = 30.0  # far longer than any sane client timeout; stop() cuts it short

WINDOW_BUDGET_MESSAGE = (
    "Too many requests; current limit of IP({ip}) request weight is {limit} per {window}. "
    "Please use WebSocket Streams for live updates to avoid polling the API."
)
BAN_MESSAGE = (
    "Way too many requests; IP({ip}) banned until {until_ms}. "
    "Please use WebSocket Streams for live updates to avoid bans."
)

# Plausible price levels for the default symbols; any other symbol gets one hashed from its name.
BASE_PRICES = {"BTCUSDT": 30_000.0, "ETHUSDT": 2_000.0, "BNBUSDT": 300.0}
QUOTE_TURNOVER_PER_MINUTE = 300_000.0  # quote-asset volume traded per minute, sets every volume
KNOWN_QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


# --------------------------------------------------------------------------------------------------------------
# Configuration and statistics (the public data types)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatorConfig:
    weight_limit: int = 6000  # REQUEST_WEIGHT per window per client IP
    window_seconds: float = 60.0  # fixed windows aligned to multiples of this since the epoch, like Binance's minute
    ban_after_violations: int = 3  # this many 429s (over the server's life, or since the last ban ended) -> 418
    ban_seconds: float = 120.0
    latency_seconds: float = 0.0  # sleep before answering each request (lets tests kill a worker mid-job)
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "BNBUSDT")
    history_start_ms: int = 1_502_942_400_000  # 2017-08-17T04:00Z; no data before it

    def __post_init__(self) -> None:
        if self.weight_limit < 1 or self.window_seconds <= 0 or self.ban_after_violations < 1:
            raise ValueError("weight_limit, window_seconds and ban_after_violations must be positive")
        if self.ban_seconds < 0 or self.latency_seconds < 0 or self.history_start_ms < 0:
            raise ValueError("ban_seconds, latency_seconds and history_start_ms may not be negative")
        if not self.symbols or not all(SYMBOL_SHAPE.fullmatch(symbol) for symbol in self.symbols):
            raise ValueError(f"symbols must be non-empty and match {SYMBOL_LEGAL_RANGE}: {self.symbols}")


DEFAULT_CONFIG = SimulatorConfig()


@dataclass
class ServedRequest:
    path: str
    params: dict[str, str]
    status: int  # 0: the connection was closed without an answer (the "timeout" fault)
    weight: int  # the weight counted against the client's budget (0 for 429, 418, faults and unknown paths)
    rows: int  # records in the answer: list length, 1 for a single ticker, symbols for exchangeInfo
    client: str
    at: float  # time.time() when the request arrived


@dataclass
class SimulatorStats:
    requests: list[ServedRequest] = field(default_factory=list)

    @property
    def count_by_status(self) -> dict[int, int]:
        return dict(Counter(request.status for request in self.requests))

    @property
    def weight_served(self) -> int:
        return sum(request.weight for request in self.requests)

    @property
    def rows_served(self) -> int:
        return sum(request.rows for request in self.requests if request.status == 200)


# --------------------------------------------------------------------------------------------------------------
# Errors and query parameters
# --------------------------------------------------------------------------------------------------------------


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

RawQuery = dict[str, list[str]]


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
    """The `symbols` parameter: a JSON array of symbol names, e.g. ["BTCUSDT","ETHUSDT"]."""
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


def read_time_zone(params: QueryParams) -> None:
    """Validates klines' `timeZone` ("0", "8", "-1:00", "+08:00"; from -12:00 to +14:00). The value is then
    ignored: the simulator's klines stay aligned to UTC."""
    value = params.text("timeZone")
    if value is None:
        return
    match = TIME_ZONE_SHAPE.fullmatch(value)
    if match is None:
        raise invalid_value("timeZone")
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    offset_minutes = (-1 if sign == "-" else 1) * (hours * 60 + minutes)
    if minutes >= 60 or not -12 * 60 <= offset_minutes <= 14 * 60:
        raise invalid_value("timeZone")


# --------------------------------------------------------------------------------------------------------------
# Kline intervals
# --------------------------------------------------------------------------------------------------------------


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

    def floor(self, t_ms: int) -> int:
        """Open time of the kline containing t_ms."""
        if self.length_ms == 0:
            return month_start_ms(t_ms, 0)
        return t_ms - (t_ms - self.origin_ms) % self.length_ms

    def ceil(self, t_ms: int) -> int:
        """Open time of the first kline opening at or after t_ms."""
        floor = self.floor(t_ms)
        return floor if floor == t_ms else self.next_open(floor)

    def next_open(self, open_ms: int) -> int:
        return month_start_ms(open_ms, 1) if self.length_ms == 0 else open_ms + self.length_ms

    def previous_open(self, open_ms: int) -> int:
        return month_start_ms(open_ms, -1) if self.length_ms == 0 else open_ms - self.length_ms


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


def read_interval(params: QueryParams) -> KlineInterval:
    interval = KLINE_INTERVALS.get(params.required_text("interval"))
    if interval is None:
        raise INVALID_INTERVAL
    return interval


# --------------------------------------------------------------------------------------------------------------
# Synthetic market data
# --------------------------------------------------------------------------------------------------------------


def unit_hash(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) for the given parts (Python's hash() changes between runs)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def price_text(value: float) -> str:
    return f"{round(value, 2):.8f}"  # a 0.01 tick, written with 8 decimals as Binance does


def amount_text(value: float) -> str:
    return f"{value:.8f}"


def split_symbol(symbol: str) -> tuple[str, str]:
    """(baseAsset, quoteAsset) for exchangeInfo."""
    for quote in KNOWN_QUOTE_ASSETS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    middle = len(symbol) // 2
    return symbol[:middle], symbol[middle:]


class MarketData:
    """Everything the endpoints answer, as pure functions of (config, request, now)."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.symbols = config.symbols
        self.history_start_ms = config.history_start_ms
        self._base_price = {s: BASE_PRICES.get(s, 1 + 999 * unit_hash(s, "base")) for s in config.symbols}
        self._phase = {s: 2 * math.pi * unit_hash(s, "phase") for s in config.symbols}

    def price_at(self, symbol: str, t_ms: int) -> float:
        # Yearly, weekly and daily swings, so that every interval shows movement, plus a jitter per millisecond.
        days = t_ms / DAY_MS
        phase = self._phase[symbol]
        swing = (
            0.35 * math.sin(2 * math.pi * days / 365.25 + phase)
            + 0.08 * math.sin(2 * math.pi * days / 7 + 2 * phase)
            + 0.01 * math.sin(2 * math.pi * days + 3 * phase)
        )
        jitter = 0.002 * (unit_hash(symbol, t_ms) - 0.5)
        return self._base_price[symbol] * math.exp(swing + jitter)

    def base_volume_per_minute(self, symbol: str) -> float:
        return QUOTE_TURNOVER_PER_MINUTE / self._base_price[symbol]

    # -- klines --

    def kline_opens(
        self, interval: KlineInterval, start: int | None, end: int | None, limit: int, now_ms: int
    ) -> list[int]:
        """Open times Binance would return: from startTime forward, else the `limit` klines ending at endTime
        (or now); never opening after now or endTime, never before the kline containing history_start_ms."""
        first = interval.floor(self.history_start_ms)
        last = interval.floor(now_ms if end is None else min(now_ms, end))
        opens: list[int] = []
        if start is not None:
            open_ms = max(first, interval.ceil(start))
            while open_ms <= last and len(opens) < limit:
                opens.append(open_ms)
                open_ms = interval.next_open(open_ms)
            return opens
        open_ms = last
        while open_ms >= first and len(opens) < limit:
            opens.append(open_ms)
            open_ms = interval.previous_open(open_ms)
        return opens[::-1]

    def kline_row(self, symbol: str, interval: KlineInterval, open_ms: int) -> list[object]:
        next_open = interval.next_open(open_ms)
        minutes = (next_open - open_ms) / MINUTE_MS
        open_price = self.price_at(symbol, open_ms)
        close_price = self.price_at(symbol, next_open)  # = the next kline's open
        wick = 0.001 * math.sqrt(minutes)  # longer klines swing wider
        high = max(open_price, close_price) * (1 + wick * unit_hash(symbol, interval.name, open_ms, "high"))
        low = min(open_price, close_price) * (1 - min(0.5, wick) * unit_hash(symbol, interval.name, open_ms, "low"))
        volume = self.base_volume_per_minute(symbol) * minutes * (0.5 + unit_hash(symbol, interval.name, open_ms, "v"))
        taker_share = 0.3 + 0.4 * unit_hash(symbol, interval.name, open_ms, "taker")
        average = (open_price + high + low + close_price) / 4
        trades = max(1, round(minutes * (20 + 80 * unit_hash(symbol, interval.name, open_ms, "n"))))
        return [
            open_ms,
            price_text(open_price),
            price_text(high),
            price_text(low),
            price_text(close_price),
            amount_text(volume),
            next_open - 1,
            amount_text(volume * average),
            trades,
            amount_text(volume * taker_share),
            amount_text(volume * taker_share * average),
            "0",
        ]

    # -- the trade tape --

    def latest_agg_id(self, now_ms: int) -> int:
        """The newest aggregate trade id at now_ms; -1 before history starts."""
        return (now_ms - self.history_start_ms) // AGG_TRADE_SPACING_MS if now_ms >= self.history_start_ms else -1

    def agg_time(self, agg_id: int) -> int:
        return self.history_start_ms + agg_id * AGG_TRADE_SPACING_MS

    def first_agg_at_or_after(self, t_ms: int) -> int:
        return max(0, -((self.history_start_ms - t_ms) // AGG_TRADE_SPACING_MS))

    def last_agg_at_or_before(self, t_ms: int) -> int:
        return (t_ms - self.history_start_ms) // AGG_TRADE_SPACING_MS

    def agg_trade_ids(self, from_id: int | None, start: int | None, end: int | None, limit: int, now_ms: int) -> range:
        latest = self.latest_agg_id(now_ms)
        last = latest if end is None else min(latest, self.last_agg_at_or_before(end))
        if from_id is not None:
            first = from_id
        elif start is not None:
            first = self.first_agg_at_or_after(start)
        else:
            first = max(0, last - limit + 1)  # the most recent ones (up to endTime when given)
        return range(first, min(last, first + limit - 1) + 1)

    def _agg_price(self, symbol: str, agg_id: int) -> float:
        return round(self.price_at(symbol, self.agg_time(agg_id)), 2)

    def _trade_qty(self, symbol: str, trade_id: int) -> float:
        mean_qty = self.base_volume_per_minute(symbol) / (MINUTE_MS / AGG_TRADE_SPACING_MS * TRADES_PER_AGG_TRADE)
        return round(mean_qty * (0.2 + 1.6 * unit_hash(symbol, "qty", trade_id)), 5)

    def _buyer_is_maker(self, symbol: str, agg_id: int) -> bool:
        return unit_hash(symbol, "side", agg_id) < 0.5

    def agg_trade(self, symbol: str, agg_id: int) -> dict[str, object]:
        first_trade = agg_id * TRADES_PER_AGG_TRADE
        last_trade = first_trade + TRADES_PER_AGG_TRADE - 1
        qty = sum(self._trade_qty(symbol, trade_id) for trade_id in range(first_trade, last_trade + 1))
        return {
            "a": agg_id,
            "p": price_text(self._agg_price(symbol, agg_id)),
            "q": amount_text(qty),
            "f": first_trade,
            "l": last_trade,
            "T": self.agg_time(agg_id),
            "m": self._buyer_is_maker(symbol, agg_id),
            "M": True,
        }

    def trade(self, symbol: str, trade_id: int) -> dict[str, object]:
        agg_id = trade_id // TRADES_PER_AGG_TRADE
        price = self._agg_price(symbol, agg_id)
        qty = self._trade_qty(symbol, trade_id)
        return {
            "id": trade_id,
            "price": price_text(price),
            "qty": amount_text(qty),
            "quoteQty": amount_text(price * qty),
            "time": self.agg_time(agg_id),
            "isBuyerMaker": self._buyer_is_maker(symbol, agg_id),
            "isBestMatch": True,
        }

    # -- 24 hour ticker --

    def ticker(self, symbol: str, now_ms: int, *, full: bool) -> dict[str, object]:
        open_time = now_ms - DAY_MS
        open_price = round(self.price_at(symbol, open_time), 2)
        last_price = round(self.price_at(symbol, now_ms), 2)
        hourly = [self.price_at(symbol, open_time + hour * HOUR_MS) for hour in range(25)]
        samples = [*hourly, open_price, last_price]
        average = sum(samples) / len(samples)
        volume = self.base_volume_per_minute(symbol) * 24 * 60 * (0.8 + 0.4 * unit_hash(symbol, now_ms // MINUTE_MS))
        first_agg, last_agg = self.first_agg_at_or_after(open_time), self.latest_agg_id(now_ms)
        if last_agg < first_agg:
            first_id = last_id = -1  # Binance's answer for a window without trades
        else:
            first_id = first_agg * TRADES_PER_AGG_TRADE
            last_id = last_agg * TRADES_PER_AGG_TRADE + TRADES_PER_AGG_TRADE - 1
        statistics: dict[str, object] = {
            "symbol": symbol,
            "openPrice": price_text(open_price),
            "highPrice": price_text(max(samples)),
            "lowPrice": price_text(min(samples)),
            "lastPrice": price_text(last_price),
            "volume": amount_text(volume),
            "quoteVolume": amount_text(volume * average),
            "openTime": open_time,
            "closeTime": now_ms,
            "firstId": first_id,
            "lastId": last_id,
            "count": 0 if first_id < 0 else last_id - first_id + 1,
        }
        if not full:
            return statistics
        change = last_price - open_price
        return {
            "symbol": symbol,
            "priceChange": price_text(change),
            "priceChangePercent": f"{100 * change / open_price:.3f}",
            "weightedAvgPrice": amount_text(average),
            "prevClosePrice": price_text(self.price_at(symbol, open_time - 1)),
            "lastPrice": statistics["lastPrice"],
            "lastQty": amount_text(self._trade_qty(symbol, max(last_id, 0))),
            "bidPrice": price_text(last_price - 0.01),
            "bidQty": amount_text(round(10 * unit_hash(symbol, "bid", now_ms), 5)),
            "askPrice": price_text(last_price),
            "askQty": amount_text(round(10 * unit_hash(symbol, "ask", now_ms), 5)),
            **{key: value for key, value in statistics.items() if key not in {"symbol", "lastPrice"}},
        }


# --------------------------------------------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    body: object  # JSON-serialisable
    rows: int


def answer_ping(market: MarketData, params: QueryParams, now_ms: int) -> Payload:
    params.finish()
    return Payload({}, 0)


def answer_time(market: MarketData, params: QueryParams, now_ms: int) -> Payload:
    params.finish()
    return Payload({"serverTime": now_ms}, 0)


def describe_window(window_seconds: float) -> tuple[str, int]:
    """(interval, intervalNum) of the weight window, as exchangeInfo's rateLimits state it."""
    if window_seconds >= 60 and window_seconds % 60 == 0:
        return "MINUTE", int(window_seconds // 60)
    return "SECOND", max(1, round(window_seconds))


def window_label(window_seconds: float) -> str:
    interval, count = describe_window(window_seconds)
    return interval if count == 1 else f"{count} {interval}"


def symbol_info(symbol: str) -> dict[str, object]:
    base, quote = split_symbol(symbol)
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01000000",
                "maxPrice": "1000000.00000000",
                "tickSize": "0.01000000",
            },
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info_answerer(config: SimulatorConfig) -> Callable[[MarketData, QueryParams, int], Payload]:
    """exchangeInfo states the configured weight limit, so it is built per simulator."""
    interval, interval_num = describe_window(config.window_seconds)
    rate_limit = {"rateLimitType": "REQUEST_WEIGHT", "interval": interval, "intervalNum": interval_num}

    def answer(market: MarketData, params: QueryParams, now_ms: int) -> Payload:
        choice = read_symbol_choice(params, market.symbols)
        params.finish()
        symbols = market.symbols if choice is None else [choice] if isinstance(choice, str) else choice
        body = {
            "timezone": "UTC",
            "serverTime": now_ms,
            "rateLimits": [{**rate_limit, "limit": config.weight_limit}],
            "exchangeFilters": [],
            "symbols": [symbol_info(symbol) for symbol in symbols],
        }
        return Payload(body, len(symbols))

    return answer


def answer_klines(market: MarketData, params: QueryParams, now_ms: int) -> Payload:
    symbol = read_symbol(params, market.symbols)
    interval = read_interval(params)
    start = params.optional_int("startTime")
    end = params.optional_int("endTime")
    read_time_zone(params)
    limit = params.limit()
    params.finish()
    rows = [
        market.kline_row(symbol, interval, open_ms)
        for open_ms in market.kline_opens(interval, start, end, limit, now_ms)
    ]
    return Payload(rows, len(rows))


def answer_trades(market: MarketData, params: QueryParams, now_ms: int) -> Payload:
    symbol = read_symbol(params, market.symbols)
    limit = params.limit()
    params.finish()
    last_id = (market.latest_agg_id(now_ms) + 1) * TRADES_PER_AGG_TRADE - 1
    trades = [market.trade(symbol, trade_id) for trade_id in range(max(0, last_id - limit + 1), last_id + 1)]
    return Payload(trades, len(trades))


def answer_agg_trades(market: MarketData, params: QueryParams, now_ms: int) -> Payload:
    symbol = read_symbol(params, market.symbols)
    from_id = params.optional_int("fromId")
    start = params.optional_int("startTime")
    end = params.optional_int("endTime")
    limit = params.limit()
    params.finish()
    if from_id is not None and (start is not None or end is not None):
        raise BAD_PARAMETER_COMBINATION
    # Documented: "If both startTime and endTime are sent, time between startTime and endTime must be less than 1 hour."
    if start is not None and end is not None and end - start >= HOUR_MS:
        raise ApiError(-1127, "More than 1 hours between startTime and endTime.")
    trades = [market.agg_trade(symbol, agg_id) for agg_id in market.agg_trade_ids(from_id, start, end, limit, now_ms)]
    return Payload(trades, len(trades))


def answer_ticker_24hr(market: MarketData, params: QueryParams, now_ms: int) -> Payload:
    choice = read_symbol_choice(params, market.symbols)
    ticker_type = params.text("type")
    if ticker_type not in {None, "FULL", "MINI"}:
        raise ApiError(-1139, "Invalid ticker type.")
    params.finish()
    full = ticker_type != "MINI"
    if isinstance(choice, str):
        return Payload(market.ticker(choice, now_ms, full=full), 1)
    symbols = market.symbols if choice is None else choice
    return Payload([market.ticker(symbol, now_ms, full=full) for symbol in symbols], len(symbols))


def fixed_weight(weight: int) -> Callable[[RawQuery], int]:
    return lambda raw: weight


def symbols_weight(count: int) -> int:
    """Binance's tiers for `symbols` lists on ticker/24hr."""
    return 2 if count <= 20 else 40 if count <= 100 else 80


def ticker_24hr_weight(raw: RawQuery) -> int:
    if "symbol" in raw:
        return 2
    if "symbols" not in raw:
        return 80  # every symbol
    try:
        return symbols_weight(len(parse_symbol_list(raw["symbols"][0])))
    except ApiError:
        return symbols_weight(1)  # a malformed list still costs the smallest tier


@dataclass(frozen=True)
class Endpoint:
    weight: Callable[[RawQuery], int]  # known before the parameters are validated: errors cost weight too
    answer: Callable[[MarketData, QueryParams, int], Payload]


def build_endpoints(config: SimulatorConfig) -> dict[str, Endpoint]:
    return {
        "/api/v3/ping": Endpoint(fixed_weight(1), answer_ping),
        "/api/v3/time": Endpoint(fixed_weight(1), answer_time),
        "/api/v3/exchangeInfo": Endpoint(fixed_weight(20), exchange_info_answerer(config)),
        "/api/v3/klines": Endpoint(fixed_weight(2), answer_klines),
        "/api/v3/trades": Endpoint(fixed_weight(25), answer_trades),
        "/api/v3/aggTrades": Endpoint(fixed_weight(4), answer_agg_trades),
        "/api/v3/ticker/24hr": Endpoint(ticker_24hr_weight, answer_ticker_24hr),
    }


# --------------------------------------------------------------------------------------------------------------
# Weight accounting
# --------------------------------------------------------------------------------------------------------------


@dataclass
class ClientBudget:
    window: int = -1  # index of the window `used` belongs to
    used: int = 0
    violations: int = 0
    banned_until: float = 0.0  # epoch seconds; 0 when not banned


@dataclass(frozen=True)
class Admission:
    outcome: Literal["served", "limited", "banned"]
    used_weight: int
    retry_after: int = 0
    banned_until_ms: int = 0


class WeightLimiter:
    """REQUEST_WEIGHT per client IP per fixed window, 429 past the limit, 418 for clients that ignore the 429s."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._lock = threading.Lock()  # handler threads race on the same client's budget
        self._clients: dict[str, ClientBudget] = {}

    def admit(self, client: str, weight: int, now: float) -> Admission:
        with self._lock:
            budget = self._current_budget(client, now)
            if budget.banned_until > now:
                return self._banned(budget, now)
            if budget.banned_until:  # the ban is over: violations count from zero again
                budget.banned_until = 0.0
                budget.violations = 0
            if budget.used + weight > self._config.weight_limit:
                budget.violations += 1
                if budget.violations >= self._config.ban_after_violations:
                    budget.banned_until = now + self._config.ban_seconds
                window_end = (budget.window + 1) * self._config.window_seconds
                return Admission("limited", budget.used, retry_after=max(1, math.ceil(window_end - now)))
            budget.used += weight
            return Admission("served", budget.used)

    def used_weight(self, client: str, now: float) -> int:
        with self._lock:
            return self._current_budget(client, now).used

    def clear(self) -> None:
        with self._lock:
            self._clients.clear()

    def _current_budget(self, client: str, now: float) -> ClientBudget:
        budget = self._clients.setdefault(client, ClientBudget())
        window = math.floor(now / self._config.window_seconds)
        if budget.window != window:
            budget.window = window
            budget.used = 0
        return budget

    def _banned(self, budget: ClientBudget, now: float) -> Admission:
        return Admission(
            "banned",
            budget.used,
            retry_after=max(1, math.ceil(budget.banned_until - now)),
            banned_until_ms=int(budget.banned_until * 1000),
        )


# --------------------------------------------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------------------------------------------


class FaultQueue:
    """Faults waiting for the next requests to a path, served first come first served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, deque[str]] = {}

    def add(self, path: str, kind: str, times: int) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times}")
        with self._lock:
            self._pending.setdefault(path, deque()).extend([kind] * times)

    def take(self, path: str) -> str | None:
        with self._lock:
            pending = self._pending.get(path)
            return pending.popleft() if pending else None


HTML_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service temporarily unavailable</title></head>"
    b"<body><h1>Service temporarily unavailable</h1><p>Please try again later.</p></body></html>"
)


# --------------------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    weight: int = 0
    rows: int = 0


def json_bytes(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def error_body(code: int, msg: str) -> bytes:
    return json_bytes({"code": code, "msg": msg})


def used_weight_headers(used: int) -> dict[str, str]:
    return dict.fromkeys(USED_WEIGHT_HEADERS, str(used))


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    server: _SimulatorServer

    def do_GET(self) -> None:  # http.server dispatches GET requests by this name
        self.server.simulator._serve(self)

    @override
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the stats record every request; per-request stderr lines would only clutter test output

    def send_reply(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            # The client gave up (its timeout fired) or stop() cut the connection: nobody is left to answer.
            self.close_connection = True


class _SimulatorServer(ThreadingHTTPServer):
    """Tracks open connections so that stop() can cut them, including ones parked by the "timeout" fault or
    idling in keep-alive: otherwise their threads would outlive the simulator."""

    daemon_threads = True
    request_queue_size = 128  # socketserver's default backlog of 5 drops bursts of connects into 1 s SYN retries

    def __init__(self, address: tuple[str, int], simulator: MarketSimulator) -> None:
        super().__init__(address, _RequestHandler)
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    @override
    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    @override
    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its own thread
                connection.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------------------------------------------
# The simulator
# --------------------------------------------------------------------------------------------------------------


class MarketSimulator:
    """The Binance Spot market-data API on loopback. Use as a context manager, or call start() and stop()."""

    def __init__(self, config: SimulatorConfig = DEFAULT_CONFIG, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self._address = (host, port)
        self._market = MarketData(config)
        self._endpoints = build_endpoints(config)
        self._limiter = WeightLimiter(config)
        self._faults = FaultQueue()
        self._served: list[ServedRequest] = []
        self._served_lock = threading.Lock()
        self._stopping = threading.Event()  # wakes handlers sleeping for latency or a "timeout" fault
        self._server: _SimulatorServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._stopping.clear()
        self._server = _SimulatorServer(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="market-simulator", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        server.cut_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- test controls --

    def inject_fault(self, path: str, kind: str, times: int = 1) -> None:
        """The next `times` requests to `path` get fault `kind` instead of their answer (see FAULT_KINDS)."""
        self._faults.add(path, kind, times)

    def stats(self) -> SimulatorStats:
        with self._served_lock:
            return SimulatorStats([replace(request, params=dict(request.params)) for request in self._served])

    def reset_stats(self) -> None:
        with self._served_lock:
            self._served.clear()

    def clear_limits(self) -> None:
        self._limiter.clear()

    # -- serving --

    def _serve(self, handler: _RequestHandler) -> None:
        received_at = time.time()
        url = urlsplit(handler.path)
        raw = parse_qs(url.query, keep_blank_values=True)
        client = str(handler.client_address[0])
        if self.config.latency_seconds:
            self._stopping.wait(self.config.latency_seconds)
        fault = self._faults.take(url.path)
        if fault == "timeout":
            self._record(url.path, raw, client, received_at, Reply(0, b""))
            self._stopping.wait(TIMEOUT_FAULT_SECONDS)
            handler.close_connection = True  # then hang up without a word
            return
        now = time.time()
        reply = (
            self._fault_reply(fault, url.path, raw, client, now) if fault else self._answer(url.path, raw, client, now)
        )
        self._record(url.path, raw, client, received_at, reply)
        handler.send_reply(reply)

    def _answer(self, path: str, raw: RawQuery, client: str, now: float) -> Reply:
        endpoint = self._endpoints.get(path)
        if endpoint is None:
            return self._unmetered(404, error_body(404, f"Not found: {path}"), client, now)
        weight = endpoint.weight(raw)
        admission = self._limiter.admit(client, weight, now)
        if admission.outcome != "served":
            return self._refusal(admission, client)
        status, body, rows = self._run(endpoint, raw, now)
        return Reply(status, body, headers=used_weight_headers(admission.used_weight), weight=weight, rows=rows)

    def _refusal(self, admission: Admission, client: str) -> Reply:
        """429 for a request over the window's budget, 418 while banned; both say when to come back."""
        if admission.outcome == "banned":
            status, message = 418, BAN_MESSAGE.format(ip=client, until_ms=admission.banned_until_ms)
        else:
            window = window_label(self.config.window_seconds)
            status, message = (
                429,
                WINDOW_BUDGET_MESSAGE.format(ip=client, limit=self.config.weight_limit, window=window),
            )
        headers = {**used_weight_headers(admission.used_weight), "Retry-After": str(admission.retry_after)}
        return Reply(status, error_body(-1003, message), headers=headers)

    def _run(self, endpoint: Endpoint, raw: RawQuery, now: float) -> tuple[int, bytes, int]:
        try:
            payload = endpoint.answer(self._market, QueryParams(raw), int(now * 1000))
        except ApiError as error:
            return 400, error_body(error.code, error.msg), 0
        return 200, json_bytes(payload.body), payload.rows

    def _unmetered(
        self, status: int, body: bytes, client: str, now: float, content_type: str = JSON_CONTENT_TYPE
    ) -> Reply:
        """A reply that costs no weight but still reports the weight used, as every answer does."""
        used = self._limiter.used_weight(client, now)
        return Reply(status, body, content_type, headers=used_weight_headers(used))

    def _fault_reply(self, fault: str, path: str, raw: RawQuery, client: str, now: float) -> Reply:
        match fault:
            case "html":
                return self._unmetered(200, HTML_ERROR_PAGE, client, now, "text/html; charset=utf-8")
            case "truncated":
                body = self._genuine_body(path, raw, now)
                return self._unmetered(200, body[: len(body) // 2], client, now)
            case "500":
                message = "Internal error; unable to process your request. Please try again."
                return self._unmetered(500, error_body(-1001, message), client, now)
            case "502":
                return self._unmetered(502, b"502 Bad Gateway", client, now, "text/plain; charset=utf-8")
            case "503":
                message = "Server is currently overloaded with other requests. Please try again in a few minutes."
                return self._unmetered(503, error_body(-1008, message), client, now)
            case _:  # "empty"
                return self._unmetered(200, b"", client, now)

    def _genuine_body(self, path: str, raw: RawQuery, now: float) -> bytes:
        """What the request would have been answered, so that a truncated body starts like the real one."""
        endpoint = self._endpoints.get(path)
        if endpoint is None:
            return error_body(404, f"Not found: {path}")
        return self._run(endpoint, raw, now)[1]

    def _record(self, path: str, raw: RawQuery, client: str, received_at: float, reply: Reply) -> None:
        params = {name: values[0] for name, values in raw.items()}
        served = ServedRequest(path, params, reply.status, reply.weight, reply.rows, client, received_at)
        with self._served_lock:
            self._served.append(served)


# --------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve a simulated Binance Spot market-data API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--weight-limit", type=int, default=DEFAULT_CONFIG.weight_limit)
    parser.add_argument("--window-seconds", type=float, default=DEFAULT_CONFIG.window_seconds)
    parser.add_argument("--latency", type=float, default=DEFAULT_CONFIG.latency_seconds)
    parser.add_argument("--ban-after-violations", type=int, default=DEFAULT_CONFIG.ban_after_violations)
    parser.add_argument("--ban-seconds", type=float, default=DEFAULT_CONFIG.ban_seconds)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve in the foreground, print the base URL on one line, and stop cleanly on SIGINT or SIGTERM."""
    args = parse_arguments(argv)
    config = SimulatorConfig(
        weight_limit=args.weight_limit,
        window_seconds=args.window_seconds,
        latency_seconds=args.latency,
        ban_after_violations=args.ban_after_violations,
        ban_seconds=args.ban_seconds,
    )
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    # Blocked before any thread starts, so every server thread inherits the mask and the signals wait for sigwait.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    with MarketSimulator(config, host=args.host, port=args.port) as simulator:
        print(simulator.base_url, flush=True)
        signal.sigwait(stop_signals)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
