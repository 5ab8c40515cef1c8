"""The market simulator speaks Binance Spot's market-data protocol over real HTTP: answers, errors, weights, bans
and injected faults. Each test starts its own simulator on a free loopback port."""

from __future__ import annotations

import itertools
import math
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from market_sim import MarketSimulator, SimulatorConfig
from market_sim.intervals import KLINE_INTERVALS
from market_sim.market import MarketData
from tests.support import wait_for_fresh_window

REPO_ROOT = Path(__file__).resolve().parents[2]
WEIGHT = "X-MBX-USED-WEIGHT-1M"
PING, TIME, INFO = "/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo"
KLINES, TRADES, AGG_TRADES, TICKER = "/api/v3/klines", "/api/v3/trades", "/api/v3/aggTrades", "/api/v3/ticker/24hr"
MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
HISTORY_START_MS = 1_502_942_400_000  # the default config's 2017-08-17T04:00Z
JAN_2024_MS = 1_704_067_200_000  # 2024-01-01T00:00Z, a Monday
LONG_WINDOW = 3600.0  # for tests that must not see the weight window roll over while they run
DECIMAL_8 = re.compile(r"\d+\.\d{8}")
KLINE_FIELD_TYPES = [int, str, str, str, str, str, int, str, int, str, str, str]
TICKER_FIELDS = {
    "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice", "lastPrice", "lastQty",
    "bidPrice", "bidQty", "askPrice", "askQty", "openPrice", "highPrice", "lowPrice", "volume", "quoteVolume",
    "openTime", "closeTime", "firstId", "lastId", "count",
}  # fmt: skip

StartSimulator = Callable[..., MarketSimulator]


@pytest.fixture
def start_simulator() -> Iterator[StartSimulator]:
    """Starts simulators with config overrides; stops them all after the test."""
    started: list[MarketSimulator] = []

    def start(**overrides: Any) -> MarketSimulator:
        simulator = MarketSimulator(SimulatorConfig(**overrides))
        simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture
def simulator(start_simulator: StartSimulator) -> MarketSimulator:
    return start_simulator()


def get(simulator: MarketSimulator, path: str, timeout: float = 5.0, **params: Any) -> requests.Response:
    return requests.get(simulator.base_url + path, params=params, timeout=timeout)


def used_weight(response: requests.Response) -> int:
    return int(response.headers[WEIGHT])


def klines(simulator: MarketSimulator, **params: Any) -> list[list[Any]]:
    response = get(simulator, KLINES, **{"symbol": "BTCUSDT", "interval": "1h", **params})
    assert response.status_code == 200, response.text
    rows: list[list[Any]] = response.json()
    return rows


# ----------------------------------------------------------------------------------------------------------------
# Answers
# ----------------------------------------------------------------------------------------------------------------


def test_ping_time_and_unknown_path(simulator: MarketSimulator) -> None:
    # A fresh simulator of this test's own; all three requests fall in one weight window.
    wait_for_fresh_window(simulator.config.window_seconds, needed=2.0)
    pinged = get(simulator, PING)
    assert pinged.json() == {} and used_weight(pinged) == 1
    before_ms = time.time() * 1000
    timed = get(simulator, TIME)
    assert before_ms - 1 <= timed.json()["serverTime"] <= time.time() * 1000 + 1
    assert used_weight(timed) == used_weight(pinged) + 1
    missing = get(simulator, "/api/v3/depth")
    assert missing.status_code == 404
    assert missing.json()["msg"] == "Not found: /api/v3/depth"
    assert used_weight(missing) == used_weight(timed)  # unknown paths cost nothing but still report the weight used


def test_exchange_info_states_the_weight_limit_and_the_symbols(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(weight_limit=1234, symbols=("BTCUSDT", "ETHBTC"))
    info = get(simulator, INFO).json()
    assert info["timezone"] == "UTC"
    assert info["exchangeFilters"] == []
    # The exchange's three rate limiters (enums.md, rateLimitType); the request weight is the configured one.
    assert info["rateLimits"] == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 1234},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
    ]
    # Every field of rest-api.md's exchangeInfo symbol, the newer ones among them.
    documented = {
        "symbol", "status", "baseAsset", "baseAssetPrecision", "quoteAsset", "quotePrecision", "quoteAssetPrecision",
        "baseCommissionPrecision", "quoteCommissionPrecision", "orderTypes", "icebergAllowed", "ocoAllowed",
        "otoAllowed", "opoAllowed", "quoteOrderQtyMarketAllowed", "allowTrailingStop", "cancelReplaceAllowed",
        "amendAllowed", "pegInstructionsAllowed", "isSpotTradingAllowed", "isMarginTradingAllowed", "filters",
        "permissions", "permissionSets", "defaultSelfTradePreventionMode", "allowedSelfTradePreventionModes",
    }  # fmt: skip
    assert all(set(symbol) == documented for symbol in info["symbols"])
    described = {
        (s["symbol"], s["status"], s["baseAsset"], s["quoteAsset"], s["baseAssetPrecision"], s["quotePrecision"])
        for s in info["symbols"]
    }
    assert described == {("BTCUSDT", "TRADING", "BTC", "USDT", 8, 8), ("ETHBTC", "TRADING", "ETH", "BTC", 8, 8)}
    only_eth = get(simulator, INFO, symbol="ETHBTC").json()
    assert [s["symbol"] for s in only_eth["symbols"]] == ["ETHBTC"]


def test_exchange_info_states_a_short_test_window_in_seconds(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(window_seconds=2.0)
    limit = get(simulator, INFO).json()["rateLimits"][0]
    assert (limit["interval"], limit["intervalNum"]) == ("SECOND", 2)


def test_kline_rows_have_binance_shape_and_types(simulator: MarketSimulator) -> None:
    rows = klines(simulator, interval="1h", startTime=JAN_2024_MS, limit=24)
    assert len(rows) == 24
    for row in rows:
        assert [type(value) for value in row] == KLINE_FIELD_TYPES
        (
            open_time,
            open_,
            high,
            low,
            close,
            volume,
            close_time,
            quote_volume,
            trades,
            taker_base,
            taker_quote,
            ignore,
        ) = row
        assert close_time == open_time + HOUR_MS - 1
        assert all(
            DECIMAL_8.fullmatch(text)
            for text in (open_, high, low, close, volume, quote_volume, taker_base, taker_quote)
        )
        assert float(low) <= min(float(open_), float(close)) <= max(float(open_), float(close)) <= float(high)
        assert float(taker_base) <= float(volume)
        assert trades > 0
        assert ignore == "0"


def test_kline_pages_are_contiguous_and_do_not_overlap(simulator: MarketSimulator) -> None:
    end = JAN_2024_MS + 250 * HOUR_MS - 1
    pages: list[list[list[Any]]] = []
    cursor = JAN_2024_MS
    for _ in range(10):  # the way a crawler pages: the next startTime is the last close time + 1
        page = klines(simulator, startTime=cursor, endTime=end, limit=100)
        if not page:
            break
        pages.append(page)
        cursor = page[-1][6] + 1
    assert [len(page) for page in pages] == [100, 100, 50]
    opens = [row[0] for page in pages for row in page]
    assert opens == [JAN_2024_MS + hour * HOUR_MS for hour in range(250)]


def test_start_time_is_rounded_up_to_the_next_open_time(simulator: MarketSimulator) -> None:
    assert klines(simulator, startTime=JAN_2024_MS + 1, limit=1)[0][0] == JAN_2024_MS + HOUR_MS
    assert klines(simulator, startTime=JAN_2024_MS, endTime=JAN_2024_MS, limit=5)[0][0] == JAN_2024_MS
    # Past the end, as a crawler's last page request is: Spot answers an empty list, not an error.
    assert klines(simulator, startTime=JAN_2024_MS + 1, endTime=JAN_2024_MS) == []


def test_end_time_alone_gives_the_klines_ending_there(simulator: MarketSimulator) -> None:
    end = JAN_2024_MS + 30 * MINUTE_MS  # inside the 00:00 kline, which is therefore the last one
    rows = klines(simulator, endTime=end, limit=10)
    assert [row[0] for row in rows] == [JAN_2024_MS - hour * HOUR_MS for hour in range(9, -1, -1)]


def test_no_klines_from_the_future_or_before_history(simulator: MarketSimulator) -> None:
    before_ms = int(time.time() * 1000)
    latest = klines(simulator, interval="1m", limit=3)
    after_ms = int(time.time() * 1000)
    assert len(latest) == 3
    assert latest[-1][0] in {before_ms - before_ms % MINUTE_MS, after_ms - after_ms % MINUTE_MS}
    assert klines(simulator, startTime=after_ms + DAY_MS) == []
    assert klines(simulator, endTime=HISTORY_START_MS - DAY_MS) == []
    first_days = klines(simulator, interval="1d", startTime=0, limit=2)
    assert [row[0] for row in first_days] == [HISTORY_START_MS - 4 * HOUR_MS, HISTORY_START_MS + 20 * HOUR_MS]


def test_monthly_klines_follow_the_calendar_and_weekly_ones_open_on_mondays(simulator: MarketSimulator) -> None:
    months = klines(simulator, interval="1M", startTime=JAN_2024_MS + DAY_MS, limit=2)
    march = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1000)
    assert [row[0] for row in months] == [int(datetime(2024, 2, 1, tzinfo=UTC).timestamp() * 1000), march]
    assert months[0][6] == march - 1  # February 2024 has 29 days
    weeks = klines(simulator, interval="1w", startTime=JAN_2024_MS + DAY_MS, limit=3)
    assert [datetime.fromtimestamp(row[0] / 1000, tz=UTC).weekday() for row in weeks] == [0, 0, 0]
    assert weeks[0][0] == JAN_2024_MS + 7 * DAY_MS


def test_the_same_request_gives_the_same_bytes(start_simulator: StartSimulator) -> None:
    first, second = start_simulator(), start_simulator()
    params: dict[str, Any] = {"symbol": "ETHUSDT", "interval": "5m", "startTime": JAN_2024_MS, "limit": 500}
    body = get(first, KLINES, **params).content
    assert get(first, KLINES, **params).content == body
    assert get(second, KLINES, **params).content == body
    assert (
        get(first, AGG_TRADES, symbol="BTCUSDT", fromId=12345).content
        == get(second, AGG_TRADES, symbol="BTCUSDT", fromId=12345).content
    )
    other_symbol = get(first, KLINES, **{**params, "symbol": "BNBUSDT"}).json()
    assert [row[1:6] for row in other_symbol] != [row[1:6] for row in get(first, KLINES, **params).json()]


@pytest.mark.parametrize("time_zone", ["0", "8", "+08:00", "-1:00", "05:45", "-12:00", "+14:00"])
def test_time_zone_takes_the_documented_values(simulator: MarketSimulator, time_zone: str) -> None:
    # rest-api.md, klines: "Hours and minutes (e.g. -1:00, 05:45) ... Only hours (e.g. 0, 8, 4) ... Accepted range
    # is strictly [-12:00 to +14:00] inclusive".
    assert get(simulator, KLINES, symbol="BTCUSDT", interval="1d", timeZone=time_zone, limit=1).status_code == 200


def test_time_zone_moves_the_intervals_but_not_start_and_end_time(simulator: MarketSimulator) -> None:
    # rest-api.md: "If timeZone provided, kline intervals are interpreted in that timezone instead of UTC. Note
    # that startTime and endTime are always interpreted in UTC, regardless of timeZone."
    days = klines(simulator, interval="1d", timeZone="8", startTime=JAN_2024_MS, limit=2)
    assert [row[0] for row in days] == [JAN_2024_MS + 16 * HOUR_MS, JAN_2024_MS + 40 * HOUR_MS]  # midnight in UTC+8
    assert days[0][6] == JAN_2024_MS + 40 * HOUR_MS - 1
    utc_day = klines(simulator, interval="1d", startTime=JAN_2024_MS, limit=1)[0]
    assert utc_day[0] == JAN_2024_MS and utc_day[1:6] != days[0][1:6]  # another day, another candle
    hours = klines(simulator, interval="1h", timeZone="05:45", startTime=JAN_2024_MS, limit=2)
    assert [row[0] for row in hours] == [JAN_2024_MS + 15 * MINUTE_MS, JAN_2024_MS + 75 * MINUTE_MS]
    months = klines(simulator, interval="1M", timeZone="-1:00", startTime=JAN_2024_MS, limit=1)
    assert months[0][0] == JAN_2024_MS + HOUR_MS  # 2024-01-01T00:00 at UTC-1
    # A minute is a minute in every zone: intervals below an hour do not move.
    minutes = {"interval": "1m", "startTime": JAN_2024_MS, "limit": 5}
    assert get(simulator, KLINES, symbol="BTCUSDT", timeZone="05:45", **minutes).content == (
        get(simulator, KLINES, symbol="BTCUSDT", **minutes).content
    )
    assert get(simulator, KLINES, symbol="BTCUSDT", interval="1d", timeZone="0", limit=3).content == (
        get(simulator, KLINES, symbol="BTCUSDT", interval="1d", limit=3).content
    )


def test_the_kline_in_progress_is_partial_and_changes_until_it_closes(simulator: MarketSimulator) -> None:
    # On the exchange the current kline holds the trades so far: its close is the last price, its volume and
    # trade count grow, its high and low only widen, and it is final only once its close time has passed.
    earlier = klines(simulator, interval="1m", limit=2)
    time.sleep(0.35)
    asked_ms = int(time.time() * 1000)
    later = klines(simulator, interval="1m", limit=2)
    if later[-1][0] != earlier[-1][0]:  # the minute turned between the two requests: compare within the new one
        earlier = later
        time.sleep(0.35)
        asked_ms = int(time.time() * 1000)
        later = klines(simulator, interval="1m", limit=2)
    closed, current, before = later[0], later[-1], earlier[-1]
    assert current[6] >= asked_ms - 1000  # its close time had not passed when it was asked for
    assert closed[8] == 1200 and 0 < before[8] < current[8] <= 1200  # two trades every 100 ms on the tape
    assert current[1] == before[1]  # the open stays
    assert float(current[2]) >= float(before[2]) and float(current[3]) <= float(before[3])
    assert float(current[5]) > float(before[5])
    tape = get(simulator, AGG_TRADES, symbol="BTCUSDT", startTime=current[0], endTime=asked_ms, limit=1000).json()
    assert tape[0]["p"] == current[1]  # the open is the minute's first trade
    assert (
        float(current[3]) <= min(float(t["p"]) for t in tape) <= max(float(t["p"]) for t in tape) <= float(current[2])
    )  # every trade before it was asked for lies within its high and low


def test_the_first_trade_of_a_kline_is_its_open_high_low_and_close() -> None:
    market = MarketData(SimulatorConfig())
    interval = KLINE_INTERVALS["1m"]
    row = market.kline_row("BTCUSDT", interval, JAN_2024_MS, now_ms=JAN_2024_MS + 50)
    assert row[1] == row[2] == row[3] == row[4] and row[8] == 2
    final = market.kline_row("BTCUSDT", interval, JAN_2024_MS, now_ms=JAN_2024_MS + MINUTE_MS)
    assert final[8] == 1200 and final[2] >= row[2] and final[3] <= row[3]
    settled = MarketData(SimulatorConfig(settled_klines=True))
    assert settled.kline_row("BTCUSDT", interval, JAN_2024_MS, now_ms=JAN_2024_MS + 50) == final


def test_settled_klines_answer_the_kline_in_progress_as_it_will_close(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(settled_klines=True)
    current = klines(simulator, interval="1m", limit=1)[0]
    assert current[8] == 1200 and current[6] >= int(time.time() * 1000) - 1000


def test_klines_are_not_continuous_and_agree_with_the_trade_tape(simulator: MarketSimulator) -> None:
    rows = klines(simulator, interval="1m", startTime=JAN_2024_MS, limit=20)
    assert sum(row[4] != following[1] for row, following in itertools.pairwise(rows)) >= 10
    for row in rows[:3]:
        tape = get(simulator, AGG_TRADES, symbol="BTCUSDT", startTime=row[0], endTime=row[6], limit=1000).json()
        prices = [float(trade["p"]) for trade in tape]
        assert (tape[0]["p"], tape[-1]["p"]) == (row[1], row[4])  # open and close are the first and last trades
        assert float(row[3]) <= min(prices) and max(prices) <= float(row[2])
        assert sum(trade["l"] - trade["f"] + 1 for trade in tape) == row[8]
    day = klines(simulator, interval="1d", startTime=JAN_2024_MS, limit=1)[0]
    assert day[8] == 1440 * rows[0][8]
    ticker = get(simulator, TICKER, symbol="BTCUSDT").json()
    assert abs(ticker["count"] - 1440 * rows[0][8]) <= 2 * 2  # the ticker's 24 hours hold as many, give or take


def test_time_unit_microsecond_answers_every_timestamp_in_microseconds(simulator: MarketSimulator) -> None:
    # rest-api.md: "add the header X-MBX-TIME-UNIT:MICROSECOND or X-MBX-TIME-UNIT:microsecond"; "Timestamp
    # parameters (e.g. startTime, endTime, timestamp) can be passed in milliseconds or microseconds".
    params: dict[str, Any] = {"symbol": "BTCUSDT", "interval": "1h", "startTime": JAN_2024_MS, "limit": 2}
    in_ms = get(simulator, KLINES, **params).json()
    for unit in ("MICROSECOND", "microsecond"):
        in_us = requests.get(
            simulator.base_url + KLINES,
            params={**params, "startTime": JAN_2024_MS * 1000},
            headers={"X-MBX-TIME-UNIT": unit},
            timeout=5,
        ).json()
        assert [row[0] for row in in_us] == [row[0] * 1000 for row in in_ms]
        assert [row[6] for row in in_us] == [row[6] * 1000 + 999 for row in in_ms]  # the last microsecond
        assert [row[1:6] for row in in_us] == [row[1:6] for row in in_ms]
    headers = {"X-MBX-TIME-UNIT": "MICROSECOND"}
    trade = requests.get(simulator.base_url + AGG_TRADES, params={"symbol": "BTCUSDT", "fromId": 7}, headers=headers,
                         timeout=5).json()[0]  # fmt: skip
    assert trade["T"] == (HISTORY_START_MS + 700) * 1000
    before_us = int(time.time() * 1_000_000)
    server_time = requests.get(simulator.base_url + TIME, headers=headers, timeout=5).json()["serverTime"]
    assert before_us - 1000 <= server_time <= time.time() * 1_000_000 + 1000  # microseconds, now
    assert get(simulator, KLINES, **{**params, "endTime": (JAN_2024_MS + HOUR_MS) * 1000}).json() == in_ms
    refused = requests.get(simulator.base_url + TIME, headers={"X-MBX-TIME-UNIT": "NANOSECOND"}, timeout=5)
    assert refused.status_code == 400
    assert refused.json() == {
        "code": -1194,
        "msg": "Invalid value for time unit; expected either MICROSECOND or MILLISECOND.",
    }


def test_agg_trades_page_by_from_id_without_gaps(simulator: MarketSimulator) -> None:
    ids: list[int] = []
    times: list[int] = []
    cursor = 0
    for _ in range(3):
        page = get(simulator, AGG_TRADES, symbol="BTCUSDT", fromId=cursor, limit=1000).json()
        ids += [trade["a"] for trade in page]
        times += [trade["T"] for trade in page]
        cursor = page[-1]["a"] + 1
    assert ids == list(range(3000))
    assert times[0] == HISTORY_START_MS
    assert all(earlier < later for earlier, later in itertools.pairwise(times))
    trade = page[0]
    assert set(trade) == {"a", "p", "q", "f", "l", "T", "m", "M"}
    assert DECIMAL_8.fullmatch(trade["p"]) and DECIMAL_8.fullmatch(trade["q"])
    assert trade["f"] <= trade["l"]


def test_agg_trades_by_time_range_and_most_recent(simulator: MarketSimulator) -> None:
    in_range = get(
        simulator, AGG_TRADES, symbol="BTCUSDT", startTime=HISTORY_START_MS + 1001, endTime=HISTORY_START_MS + 2000
    ).json()
    assert [trade["a"] for trade in in_range] == list(range(11, 21))
    assert all(HISTORY_START_MS + 1001 <= trade["T"] <= HISTORY_START_MS + 2000 for trade in in_range)
    before_ms = time.time() * 1000
    recent = get(simulator, AGG_TRADES, symbol="BTCUSDT", limit=5).json()
    assert len(recent) == 5
    assert before_ms - 200 <= recent[-1]["T"] <= time.time() * 1000
    assert [trade["a"] for trade in recent] == list(range(recent[0]["a"], recent[0]["a"] + 5))


def test_recent_trades_are_the_latest_in_ascending_order(simulator: MarketSimulator) -> None:
    before_ms = time.time() * 1000
    trades = get(simulator, TRADES, symbol="ETHUSDT", limit=7).json()
    assert len(trades) == 7
    assert [trade["id"] for trade in trades] == list(range(trades[0]["id"], trades[0]["id"] + 7))
    assert set(trades[0]) == {"id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"}
    assert before_ms - 200 <= trades[-1]["time"] <= time.time() * 1000
    assert len(get(simulator, TRADES, symbol="ETHUSDT").json()) == 500


def test_ticker_for_one_several_or_all_symbols(simulator: MarketSimulator) -> None:
    one = get(simulator, TICKER, symbol="BTCUSDT").json()
    assert set(one) == TICKER_FIELDS
    assert one["symbol"] == "BTCUSDT"
    assert one["closeTime"] - one["openTime"] == DAY_MS
    assert one["count"] == one["lastId"] - one["firstId"] + 1
    assert float(one["lowPrice"]) <= float(one["lastPrice"]) <= float(one["highPrice"])
    every = get(simulator, TICKER).json()
    assert [ticker["symbol"] for ticker in every] == ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"]
    several = get(simulator, TICKER, symbols='["BNBUSDT","BTCUSDT"]').json()
    assert [ticker["symbol"] for ticker in several] == ["BNBUSDT", "BTCUSDT"]
    mini = get(simulator, TICKER, symbol="ETHUSDT", type="MINI").json()
    assert "priceChange" not in mini and {"openPrice", "lastPrice", "volume", "count"} <= set(mini)


# ----------------------------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------------------------

# Binance's exact messages (errors.md), with the parameter names filled in per case.
ILLEGAL_INT = "Illegal characters found in parameter '{}'; legal range is '^[0-9]{{1,20}}$'."
ILLEGAL_SYMBOL = "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'."
ILLEGAL_SYMBOLS = (
    "Illegal characters found in parameter 'symbols'; legal range is "
    """'^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'."""
)
MANDATORY = "Mandatory parameter '{}' was not sent, was empty/null, or malformed."
NOT_VALID = "Data sent for parameter '{}' is not valid."
UNREAD = "Not all sent parameters were read; read '{}' parameter(s) but was sent '{}'."
BAD_COMBINATION = "Combination of optional parameters invalid."
BTC_1M: dict[str, Any] = {"symbol": "BTCUSDT", "interval": "1m"}
BTC: dict[str, Any] = {"symbol": "BTCUSDT"}


@pytest.mark.parametrize(
    ("path", "params", "code", "msg", "weight"),
    [
        (KLINES, {"interval": "1m"}, -1102, MANDATORY.format("symbol"), 2),
        (KLINES, {"symbol": "", "interval": "1m"}, -1102, MANDATORY.format("symbol"), 2),
        (KLINES, {"symbol": "DOGEUSDT", "interval": "1m"}, -1121, "Invalid symbol.", 2),
        (KLINES, {"symbol": "btcusdt", "interval": "1m"}, -1100, ILLEGAL_SYMBOL, 2),
        (KLINES, BTC, -1102, MANDATORY.format("interval"), 2),
        (KLINES, {**BTC_1M, "interval": "2m"}, -1120, "Invalid interval.", 2),
        (KLINES, {**BTC_1M, "limit": "ten"}, -1100, ILLEGAL_INT.format("limit"), 2),
        (KLINES, {**BTC_1M, "limit": "0"}, -1130, NOT_VALID.format("limit"), 2),
        (KLINES, {**BTC_1M, "limit": "1001"}, -1130, NOT_VALID.format("limit"), 2),
        (KLINES, {**BTC_1M, "startTime": "-1"}, -1100, ILLEGAL_INT.format("startTime"), 2),
        (KLINES, {**BTC_1M, "endTime": "1.5"}, -1100, ILLEGAL_INT.format("endTime"), 2),
        (KLINES, {**BTC_1M, "timeZone": "+15:00"}, -1130, NOT_VALID.format("timeZone"), 2),
        (KLINES, {**BTC_1M, "timeZone": "UTC"}, -1130, NOT_VALID.format("timeZone"), 2),
        (KLINES, {**BTC_1M, "foo": "1"}, -1104, UNREAD.format(2, 3), 2),
        (KLINES, {**BTC_1M, "symbol": ["BTCUSDT", "ETHUSDT"]}, -1101, "Duplicate values for a parameter detected.", 2),
        (PING, {"foo": "1"}, -1104, UNREAD.format(0, 1), 1),
        (TRADES, {"limit": "5"}, -1102, MANDATORY.format("symbol"), 25),
        (TRADES, {**BTC, "limit": "5000"}, -1130, NOT_VALID.format("limit"), 25),
        (AGG_TRADES, {**BTC, "fromId": "x"}, -1100, ILLEGAL_INT.format("fromId"), 4),
        (AGG_TRADES, {**BTC, "fromId": "1", "startTime": "1"}, -1128, BAD_COMBINATION, 4),
        (TICKER, {"symbols": "BTCUSDT"}, -1100, ILLEGAL_SYMBOLS, 2),
        # The legal range the -1100 message quotes has no room for a space after the comma.
        (TICKER, {"symbols": '["BTCUSDT", "ETHUSDT"]'}, -1100, ILLEGAL_SYMBOLS, 2),
        (TICKER, {"symbols": '["DOGEUSDT"]'}, -1121, "Invalid symbol.", 2),
        (TICKER, {"symbols": "[]"}, -1102, MANDATORY.format("symbols"), 2),
        (TICKER, {"symbols": '["BTCUSDT","BTCUSDT"]'}, -1151, "Symbol is present multiple times in the list.", 2),
        (TICKER, {**BTC, "symbols": '["ETHUSDT"]'}, -1128, BAD_COMBINATION, 2),
        (TICKER, {**BTC, "type": "HUGE"}, -1139, "Invalid ticker type.", 2),
        (INFO, {"symbol": "DOGEUSDT"}, -1121, "Invalid symbol.", 20),
        # rest-api.md, exchangeInfo: symbolStatus and permissions "cannot be used in combination with symbol or
        # symbols"; showPermissionSets is a BOOLEAN, symbolStatus one of TRADING, HALT, BREAK.
        (INFO, {**BTC, "symbolStatus": "TRADING"}, -1128, BAD_COMBINATION, 20),
        (INFO, {"symbols": '["BTCUSDT"]', "permissions": "SPOT"}, -1128, BAD_COMBINATION, 20),
        (INFO, {"showPermissionSets": "maybe"}, -1130, NOT_VALID.format("showPermissionSets"), 20),
        (INFO, {"symbolStatus": "OPEN"}, -1130, NOT_VALID.format("symbolStatus"), 20),
        # rest-api.md, ticker/24hr: "For a single symbol, a status mismatch returns error -1220".
        (TICKER, {**BTC, "symbolStatus": "HALT"}, -1220,
         "The symbol's status does not match the requested symbolStatus.", 2),
    ],
)  # fmt: skip
def test_validation_errors_match_binance_and_cost_their_weight(
    simulator: MarketSimulator, path: str, params: dict[str, Any], code: int, msg: str, weight: int
) -> None:
    response = get(simulator, path, **params)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"code": code, "msg": msg}
    assert used_weight(response) == weight


# ----------------------------------------------------------------------------------------------------------------
# Weights, 429 and 418
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "weight"),
    [
        (PING, {}, 1),
        (TIME, {}, 1),
        (INFO, {}, 20),
        (KLINES, {**BTC_1M, "limit": 1}, 2),
        (TRADES, {"symbol": "BTCUSDT", "limit": 1}, 25),
        (AGG_TRADES, {"symbol": "BTCUSDT", "limit": 1}, 4),
        (TICKER, {"symbol": "BTCUSDT"}, 2),
        (TICKER, {"symbols": '["BTCUSDT","ETHUSDT"]'}, 2),
        (TICKER, {}, 80),
    ],
)
def test_used_weight_header_grows_by_the_endpoint_weight(
    simulator: MarketSimulator, path: str, params: dict[str, Any], weight: int
) -> None:
    assert used_weight(get(simulator, path, **params)) == weight
    assert used_weight(get(simulator, path, **params)) == 2 * weight


def test_429_once_the_window_budget_is_spent(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(weight_limit=5, window_seconds=2.0)
    wait_for_fresh_window(2.0, needed=1.0)
    assert [used_weight(get(simulator, PING)) for _ in range(5)] == [1, 2, 3, 4, 5]
    before = time.time()
    refused = get(simulator, PING)
    after = time.time()
    assert refused.status_code == 429
    assert used_weight(refused) == 5  # the refused request's weight is not added
    window_end = (math.floor(before / 2.0) + 1) * 2.0
    assert int(refused.headers["Retry-After"]) in {math.ceil(window_end - before), math.ceil(window_end - after)}
    assert refused.json() == {
        "code": -1003,
        # errors.md, -1003 TOO_MANY_REQUESTS (the text CHANGELOG.md's 2022-12-13 entry set).
        "msg": "Too much request weight used; current limit is 5 request weight per 2 SECOND. "
        "Please use WebSocket Streams for live updates to avoid polling the API.",
    }
    # A heavier request is refused while a lighter one still fits.
    other = start_simulator(weight_limit=3, window_seconds=LONG_WINDOW)
    assert get(other, KLINES, **BTC_1M, limit=1).status_code == 200
    assert get(other, KLINES, **BTC_1M, limit=1).status_code == 429
    assert get(other, PING).status_code == 200


def test_the_budget_comes_back_with_the_next_window(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(weight_limit=2, window_seconds=1.0)
    wait_for_fresh_window(1.0, needed=0.5)
    assert [get(simulator, PING).status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(1.0 - time.time() % 1.0 + 0.02)
    fresh = get(simulator, PING)
    assert fresh.status_code == 200
    assert used_weight(fresh) == 1


def test_418_ban_after_repeated_violations_then_violations_count_again(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(weight_limit=1, window_seconds=LONG_WINDOW, ban_after_violations=2, ban_seconds=1.5)
    assert [get(simulator, PING).status_code for _ in range(3)] == [200, 429, 429]
    before_ms = time.time() * 1000
    banned = get(simulator, PING)
    assert banned.status_code == 418
    assert banned.headers["Retry-After"] == "2"  # 1.5 s of ban left, rounded up to whole seconds
    assert used_weight(banned) == 1
    match = re.fullmatch(
        # errors.md, -1003 TOO_MANY_REQUESTS (the text CHANGELOG.md's 2022-12-13 entry set).
        r"Way too much request weight used; IP banned until (\d+)\. "
        r"Please use WebSocket Streams for live updates to avoid bans\.",
        banned.json()["msg"],
    )
    assert match is not None and banned.json()["code"] == -1003
    banned_until_ms = int(match.group(1))
    assert before_ms - 100 <= banned_until_ms - 1500 <= before_ms
    assert get(simulator, TIME).status_code == 418  # every request, whatever it costs
    assert get(simulator, "/api/v3/nowhere").status_code == 404  # not an API path: nothing to ban
    time.sleep(max(0.0, banned_until_ms / 1000 - time.time()) + 0.02)
    # The window is still spent, so 429 again; but it takes two new violations to be banned again.
    assert [get(simulator, PING).status_code for _ in range(3)] == [429, 429, 418]


def test_clear_limits_forgets_weight_and_bans(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(weight_limit=1, window_seconds=LONG_WINDOW, ban_after_violations=1)
    assert [get(simulator, PING).status_code for _ in range(3)] == [200, 429, 418]
    simulator.clear_limits()
    cleared = get(simulator, PING)
    assert (cleared.status_code, used_weight(cleared)) == (200, 1)


def test_weight_accounting_is_exact_under_concurrency(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(weight_limit=150, window_seconds=LONG_WINDOW, ban_after_violations=1000)
    responses: list[requests.Response] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(10):
            response = get(simulator, PING)
            with lock:
                responses.append(response)

    threads = [threading.Thread(target=hammer) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    served = sorted(used_weight(response) for response in responses if response.status_code == 200)
    assert served == list(range(1, 151))  # every unit of weight granted exactly once
    assert sum(response.status_code == 429 for response in responses) == 50
    assert simulator.stats().weight_served == 150


# ----------------------------------------------------------------------------------------------------------------
# Faults
# ----------------------------------------------------------------------------------------------------------------

KLINES_PAGE: dict[str, Any] = {**BTC_1M, "startTime": JAN_2024_MS, "limit": 50}


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "code"),
    [
        ("html", 200, "text/html", None),
        ("500", 500, "application/json", -1001),
        ("502", 502, "text/plain", None),
        ("503", 503, "application/json", -1008),
    ],
)
def test_error_faults(simulator: MarketSimulator, kind: str, status: int, content_type: str, code: int | None) -> None:
    simulator.inject_fault(KLINES, kind)
    faulty = get(simulator, KLINES, **KLINES_PAGE)
    assert faulty.status_code == status
    assert faulty.headers["Content-Type"].startswith(content_type)
    if code is None:
        with pytest.raises(ValueError):
            faulty.json()
    else:
        assert faulty.json()["code"] == code
    assert get(simulator, KLINES, **KLINES_PAGE).status_code == 200  # one fault, then normal service


def test_truncated_fault_cuts_the_real_answer_in_half(simulator: MarketSimulator) -> None:
    whole = get(simulator, KLINES, **KLINES_PAGE).content
    simulator.inject_fault(KLINES, "truncated")
    cut = get(simulator, KLINES, **KLINES_PAGE)
    assert (cut.status_code, cut.headers["Content-Type"].startswith("application/json")) == (200, True)
    assert cut.content == whole[: len(whole) // 2]
    with pytest.raises(ValueError):
        cut.json()


def test_empty_fault_answers_200_with_no_body(simulator: MarketSimulator) -> None:
    simulator.inject_fault(KLINES, "empty")
    empty = get(simulator, KLINES, **KLINES_PAGE)
    assert (empty.status_code, empty.content) == (200, b"")


def test_faults_hit_only_their_path_the_given_number_of_times_and_cost_nothing(simulator: MarketSimulator) -> None:
    simulator.inject_fault(KLINES, "503", times=2)
    assert get(simulator, PING).status_code == 200
    statuses = [get(simulator, KLINES, **KLINES_PAGE).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert simulator.stats().weight_served == 1 + 2


def test_unknown_fault_kinds_are_refused(simulator: MarketSimulator) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        simulator.inject_fault(KLINES, "404")
    with pytest.raises(ValueError, match="times"):
        simulator.inject_fault(KLINES, "500", times=0)


def test_timeout_fault_never_answers_and_stop_does_not_hang(simulator: MarketSimulator) -> None:
    threads_before = set(threading.enumerate())
    simulator.inject_fault(PING, "timeout")
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(simulator, PING, timeout=0.3)
    assert get(simulator, PING).status_code == 200  # the parked request does not block others
    assert simulator.stats().count_by_status == {0: 1, 200: 1}  # 0: parked, never answered
    # stop() with a request still parked returns, and the parked handler ends with it instead of sleeping out
    # its fault (30 s). A hang or a leftover thread is the bug; the bounds are far from any 2-core hiccup.
    stopping = threading.Thread(target=simulator.stop, daemon=True)
    stopping.start()
    stopping.join(timeout=20)
    assert not stopping.is_alive(), "stop() hangs on the parked request"
    deadline = time.monotonic() + 10
    while (left := set(threading.enumerate()) - threads_before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"threads outlive the simulator: {sorted(thread.name for thread in left)}"


def test_latency_delays_every_answer(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(latency_seconds=0.2)
    started = time.monotonic()
    assert get(simulator, PING).status_code == 200
    assert time.monotonic() - started >= 0.2


# ----------------------------------------------------------------------------------------------------------------
# Statistics and lifecycle
# ----------------------------------------------------------------------------------------------------------------


def test_stats_count_statuses_weight_and_rows(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(weight_limit=5, window_seconds=LONG_WINDOW)
    before = time.time()
    get(simulator, KLINES, **{**KLINES_PAGE, "limit": 3})  # 200, weight 2, 3 rows
    get(simulator, KLINES, **{**KLINES_PAGE, "symbol": "DOGEUSDT"})  # 400, weight 2
    get(simulator, TICKER)  # 429: 80 does not fit in what is left
    get(simulator, "/nowhere")  # 404
    simulator.inject_fault(PING, "html")
    get(simulator, PING)  # 200 without rows or weight
    stats = simulator.stats()
    assert stats.count_by_status == {200: 2, 400: 1, 429: 1, 404: 1}
    assert stats.weight_served == 4
    assert stats.rows_served == 3
    first = stats.requests[0]
    assert (first.path, first.params["limit"], first.status, first.weight, first.rows) == (KLINES, "3", 200, 2, 3)
    assert first.client == "127.0.0.1"
    assert before <= first.at <= time.time()
    stats.requests.clear()  # a snapshot: the simulator's own record is untouched
    assert len(simulator.stats().requests) == 5
    simulator.reset_stats()
    assert simulator.stats().requests == []


def test_a_client_hanging_up_mid_request_is_not_an_error(
    simulator: MarketSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    host, port = simulator.base_url.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)))
    client.sendall(b"GET /api/v3/ping HTTP/1.1\r\nHost: x\r\n")  # half a request, then a reset
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    time.sleep(0.2)
    assert get(simulator, PING).status_code == 200
    assert "Traceback" not in capsys.readouterr().err


def test_base_url_and_restart() -> None:
    simulator = MarketSimulator()
    with pytest.raises(RuntimeError):
        _ = simulator.base_url
    with simulator:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", simulator.base_url)
        with pytest.raises(RuntimeError, match="already running"):
            simulator.start()
    simulator.stop()  # stopping twice is harmless
    with simulator:  # and it can serve again
        assert get(simulator, PING).status_code == 200


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        SimulatorConfig(weight_limit=0)
    with pytest.raises(ValueError):
        SimulatorConfig(symbols=("btc/usdt",))


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_command_line_serves_until_signalled(stop_signal: signal.Signals) -> None:
    options = ["--port", "0", "--weight-limit", "70", "--window-seconds", "30", "--latency", "0"]
    command = [sys.executable, "-m", "market_sim", *options]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 10)
        assert ready, "the simulator printed no URL"
        base_url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        limit = requests.get(base_url + INFO, timeout=5).json()["rateLimits"][0]
        assert (limit["limit"], limit["interval"], limit["intervalNum"]) == (70, "SECOND", 30)
        process.send_signal(stop_signal)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_agg_trades_take_any_span_and_either_bound_alone(simulator: MarketSimulator) -> None:
    """CHANGELOG.md, 2022-12-05: "startTime and endTime can be used individually and the 1 hour limit has been
    removed"; startTime alone returns trades from that time, endTime alone those before it, up to `limit`."""
    day = 24 * HOUR_MS
    start = simulator.config.history_start_ms + day
    both = get(simulator, AGG_TRADES, **BTC, startTime=start, endTime=start + 3 * day, limit=1000)
    assert both.status_code == 200, both.text
    trades = both.json()
    assert len(trades) == 1000 and trades[0]["T"] >= start and all(t["T"] <= start + 3 * day for t in trades)
    alone = get(simulator, AGG_TRADES, **BTC, startTime=start, limit=7).json()
    assert [t["a"] for t in alone] == [t["a"] for t in trades[:7]]
    before = get(simulator, AGG_TRADES, **BTC, endTime=start, limit=5).json()
    assert len(before) == 5 and all(t["T"] <= start for t in before)
    # The most recent ones up to endTime (inclusive): they end where startTime's begin.
    assert [t["a"] for t in before] == list(range(before[0]["a"], before[0]["a"] + 5))
    assert before[-1]["a"] in (trades[0]["a"], trades[0]["a"] - 1)


def test_exchange_info_takes_its_documented_filters(simulator: MarketSimulator) -> None:
    """rest-api.md, exchangeInfo: symbolStatus filters by trading status; permissions by permission (default
    SPOT, MARGIN, LEVERAGED); showPermissionSets=false leaves permissionSets empty (default true)."""
    everything = [s["symbol"] for s in get(simulator, INFO).json()["symbols"]]
    assert [s["symbol"] for s in get(simulator, INFO, symbolStatus="TRADING").json()["symbols"]] == everything
    assert get(simulator, INFO, symbolStatus="HALT").json()["symbols"] == []
    assert [s["symbol"] for s in get(simulator, INFO, permissions="SPOT").json()["symbols"]] == everything
    assert get(simulator, INFO, permissions='["MARGIN","LEVERAGED"]').json()["symbols"] == []
    assert get(simulator, INFO, symbol="BTCUSDT").json()["symbols"][0]["permissionSets"] == [["SPOT"]]
    hidden = get(simulator, INFO, symbol="BTCUSDT", showPermissionSets="false").json()["symbols"][0]
    assert hidden["permissionSets"] == []


def test_ticker_excludes_symbols_of_another_status_from_a_list(simulator: MarketSimulator) -> None:
    """rest-api.md, ticker/24hr: "For multiple or all symbols, non-matching ones are simply excluded"."""
    assert get(simulator, TICKER, symbols='["BTCUSDT","ETHUSDT"]', symbolStatus="BREAK").json() == []
    trading = get(simulator, TICKER, symbols='["BTCUSDT","ETHUSDT"]', symbolStatus="TRADING").json()
    assert [t["symbol"] for t in trading] == ["BTCUSDT", "ETHUSDT"]
    assert get(simulator, TICKER, symbol="BTCUSDT", symbolStatus="TRADING").json()["symbol"] == "BTCUSDT"
