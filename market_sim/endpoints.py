"""The endpoints: for each path, its request weight and the function that answers it from the market model."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from market_sim.config import SimulatorConfig
from market_sim.limiter import describe_window
from market_sim.market import TRADES_PER_AGG_TRADE, MarketData, split_symbol
from market_sim.validation import (
    BAD_PARAMETER_COMBINATION,
    SYMBOL_STATUS_MISMATCH,
    ApiError,
    QueryParams,
    RawQuery,
    invalid_value,
    parse_symbol_list,
    read_flag,
    read_interval,
    read_symbol,
    read_symbol_choice,
    read_symbol_status,
    read_time_zone,
)


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


TRADING = "TRADING"  # the status of every simulated symbol
# The exchange's other limits (enums.md, rateLimitType), stated as the exchange states them; nothing here places
# orders and the simulator enforces only REQUEST_WEIGHT.
OTHER_RATE_LIMITS = (
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
)
# exchangeInfo without `permissions` shows the symbols of these (rest-api.md).
DEFAULT_PERMISSIONS = frozenset({"SPOT", "MARGIN", "LEVERAGED"})


def read_permissions(text: str | None) -> frozenset[str]:
    """`permissions`: one permission (SPOT) or a JSON array of them (["MARGIN","LEVERAGED"])."""
    if text is None:
        return DEFAULT_PERMISSIONS
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise invalid_value("permissions") from None
        if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
            raise invalid_value("permissions")
        return frozenset(value)
    return frozenset({text})


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
        "otoAllowed": True,
        "opoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "pegInstructionsAllowed": True,
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
        status = read_symbol_status(params)
        permissions = params.text("permissions")
        show_permission_sets = read_flag(params, "showPermissionSets", default=True)
        params.finish()
        # rest-api.md: symbolStatus and permissions "cannot be used in combination with symbol or symbols".
        if choice is not None and (status is not None or permissions is not None):
            raise BAD_PARAMETER_COMBINATION
        symbols = market.symbols if choice is None else [choice] if isinstance(choice, str) else choice
        wanted = read_permissions(permissions)
        infos = [symbol_info(symbol) for symbol in symbols]
        infos = [
            info
            for info in infos
            if (status is None or info["status"] == status)
            and wanted & {permission for group in info["permissionSets"] for permission in group}  # type: ignore[attr-defined]
        ]
        if not show_permission_sets:
            infos = [info | {"permissionSets": []} for info in infos]
        body = {
            "timezone": "UTC",
            "serverTime": now_ms,
            "rateLimits": [{**rate_limit, "limit": config.weight_limit}, *OTHER_RATE_LIMITS],
            "exchangeFilters": [],
            "symbols": infos,
        }
        return Payload(body, len(infos))

    return answer


def answer_klines(market: MarketData, params: QueryParams, now_ms: int) -> Payload:
    symbol = read_symbol(params, market.symbols)
    interval = read_interval(params)
    start = params.optional_time("startTime", bound="start")
    end = params.optional_time("endTime", bound="end")
    interval = interval.in_zone(read_time_zone(params))  # startTime and endTime stay UTC
    limit = params.limit()
    params.finish()
    rows = [
        market.kline_row(symbol, interval, open_ms, now_ms)
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
    start = params.optional_time("startTime", bound="start")
    end = params.optional_time("endTime", bound="end")
    limit = params.limit()
    params.finish()
    if from_id is not None and (start is not None or end is not None):
        raise BAD_PARAMETER_COMBINATION
    # No limit on the span between startTime and endTime: the exchange removed its 1-hour rule (and -1127 with
    # it) on 2022-12-05 (CHANGELOG.md); either may be sent alone, the answer holding at most `limit` trades.
    trades = [market.agg_trade(symbol, agg_id) for agg_id in market.agg_trade_ids(from_id, start, end, limit, now_ms)]
    return Payload(trades, len(trades))


def answer_ticker_24hr(market: MarketData, params: QueryParams, now_ms: int) -> Payload:
    choice = read_symbol_choice(params, market.symbols)
    ticker_type = params.text("type")
    if ticker_type not in {None, "FULL", "MINI"}:
        raise ApiError(-1139, "Invalid ticker type.")
    status = read_symbol_status(params)
    params.finish()
    full = ticker_type != "MINI"
    # Every simulated symbol is TRADING. rest-api.md: "For a single symbol, a status mismatch returns error
    # -1220 ... For multiple or all symbols, non-matching ones are simply excluded from the response."
    if isinstance(choice, str):
        if status not in (None, TRADING):
            raise SYMBOL_STATUS_MISMATCH
        return Payload(market.ticker(choice, now_ms, full=full), 1)
    symbols = market.symbols if choice is None else choice
    symbols = symbols if status in (None, TRADING) else []
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
    # Each record's timestamp fields, for answers in microseconds; an end field (a kline's close time, the last
    # millisecond it covers) becomes the last microsecond it covers.
    times: tuple[int | str, ...] = ()
    end_times: tuple[int | str, ...] = ()

    def in_microseconds(self, body: object) -> object:
        """The answer with every timestamp in microseconds (X-MBX-TIME-UNIT: MICROSECOND)."""
        for record in body if isinstance(body, list) else [body]:
            for name in self.times:
                record[name] *= 1000  # type: ignore[index]
            for name in self.end_times:
                record[name] = record[name] * 1000 + 999  # type: ignore[index]
        return body


def build_endpoints(config: SimulatorConfig) -> dict[str, Endpoint]:
    return {
        "/api/v3/ping": Endpoint(fixed_weight(1), answer_ping),
        "/api/v3/time": Endpoint(fixed_weight(1), answer_time, times=("serverTime",)),
        "/api/v3/exchangeInfo": Endpoint(fixed_weight(20), exchange_info_answerer(config), times=("serverTime",)),
        "/api/v3/klines": Endpoint(fixed_weight(2), answer_klines, times=(0,), end_times=(6,)),
        "/api/v3/trades": Endpoint(fixed_weight(25), answer_trades, times=("time",)),
        "/api/v3/aggTrades": Endpoint(fixed_weight(4), answer_agg_trades, times=("T",)),
        "/api/v3/ticker/24hr": Endpoint(ticker_24hr_weight, answer_ticker_24hr, times=("openTime", "closeTime")),
    }
