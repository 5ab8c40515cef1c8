"""The synthetic market: prices, klines, trades and tickers as pure, deterministic functions of (symbol, time)."""

from __future__ import annotations

import hashlib
import math

from market_sim.config import SimulatorConfig
from market_sim.intervals import DAY_MS, HOUR_MS, MINUTE_MS, KlineInterval

# The synthetic trade tape: one aggregate trade every 100 ms since history_start_ms, each of two trades.
AGG_TRADE_SPACING_MS = 100
TRADES_PER_AGG_TRADE = 2


# Plausible price levels for the default symbols; any other symbol gets one hashed from its name.
BASE_PRICES = {"BTCUSDT": 30_000.0, "ETHUSDT": 2_000.0, "BNBUSDT": 300.0, "SOLUSDT": 150.0, "XRPUSDT": 0.5}
QUOTE_TURNOVER_PER_MINUTE = 300_000.0  # quote-asset volume traded per minute, sets every volume
KNOWN_QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")

# The price model: log(price / base) is a sum of sines (SWING_*) plus a jitter of at most JITTER either way.
SWING_AMPLITUDES = (0.35, 0.08, 0.01)
SWING_PERIODS_DAYS = (365.25, 7.0, 1.0)
JITTER = 0.001
# The steepest the swing can change, per ms: what bounds the price between two instants where it is known.
SWING_SLOPE_PER_MS = (
    2 * math.pi * sum(a / p for a, p in zip(SWING_AMPLITUDES, SWING_PERIODS_DAYS, strict=True)) / DAY_MS
)
# A kline's high and low bound every trade of the tape inside it without reading each one: complete blocks of
# these lengths (from the kline's open) are bounded from the swing at their ends, the block in progress is read
# trade by trade. A block's margin covers whatever its sub-blocks' bounds say, so the high only ever rises
# while a kline is open, and its close never brings it below what was shown.
# (block, margin): a block's margin is half its length plus its sub-block's margin.
BOUND_BLOCKS_MS = ((HOUR_MS, HOUR_MS // 2 + MINUTE_MS // 2), (MINUTE_MS, MINUTE_MS // 2))


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
        self.settled = config.settled_klines

    def swing_at(self, symbol: str, t_ms: int) -> float:
        # Yearly, weekly and daily swings, so that every interval shows movement; price_at adds a jitter.
        days = t_ms / DAY_MS
        phase = self._phase[symbol]
        return (
            SWING_AMPLITUDES[0] * math.sin(2 * math.pi * days / SWING_PERIODS_DAYS[0] + phase)
            + SWING_AMPLITUDES[1] * math.sin(2 * math.pi * days / SWING_PERIODS_DAYS[1] + 2 * phase)
            + SWING_AMPLITUDES[2] * math.sin(2 * math.pi * days / SWING_PERIODS_DAYS[2] + 3 * phase)
        )

    def price_at(self, symbol: str, t_ms: int) -> float:
        jitter = 2 * JITTER * (unit_hash(symbol, t_ms) - 0.5)
        return self._base_price[symbol] * math.exp(self.swing_at(symbol, t_ms) + jitter)

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

    def kline_row(self, symbol: str, interval: KlineInterval, open_ms: int, now_ms: int) -> list[object]:
        """The kline as the exchange shows it at now_ms: the open one holds only the trades so far (its close
        is the last trade's price, its volume and count grow, its high and low only widen) until it closes.
        Open and close are the first and last trades' prices, so klines are not continuous; the trade count
        is the tape's own."""
        next_open = interval.next_open(open_ms)
        upto = next_open if self.settled else min(now_ms + 1, next_open)  # the trades shown are before `upto`
        first_agg = self.first_agg_at_or_after(open_ms)
        last_agg = self.last_agg_at_or_before(upto - 1)
        full_aggs = self.last_agg_at_or_before(next_open - 1) - first_agg + 1
        if last_agg < first_agg:  # no trade yet: the exchange repeats the price, with no volume
            price = price_text(self.price_at(symbol, open_ms))
            return [open_ms, price, price, price, price, amount_text(0), next_open - 1, amount_text(0), 0,
                    amount_text(0), amount_text(0), "0"]  # fmt: skip
        open_price, close_price = self._agg_price(symbol, first_agg), self._agg_price(symbol, last_agg)
        high, low = self._extremes(symbol, open_ms, next_open - open_ms, upto)
        high, low = max(high, open_price, close_price), min(low, open_price, close_price)
        share_shown = (last_agg - first_agg + 1) / full_aggs
        minutes = (next_open - open_ms) / MINUTE_MS
        volume = (
            self.base_volume_per_minute(symbol)
            * minutes
            * (0.5 + unit_hash(symbol, interval.name, open_ms, "v"))
            * share_shown
        )
        taker_share = 0.3 + 0.4 * unit_hash(symbol, interval.name, open_ms, "taker")
        average = (open_price + high + low + close_price) / 4
        return [
            open_ms,
            price_text(open_price),
            price_text(high),
            price_text(low),
            price_text(close_price),
            amount_text(volume),
            next_open - 1,
            amount_text(volume * average),
            (last_agg - first_agg + 1) * TRADES_PER_AGG_TRADE,
            amount_text(volume * taker_share),
            amount_text(volume * taker_share * average),
            "0",
        ]

    def _extremes(self, symbol: str, open_ms: int, length_ms: int, upto: int) -> tuple[float, float]:
        """(high, low) bounding every trade in [open_ms, upto), on the 0.01 tick: see BOUND_BLOCKS_MS."""
        high, low = -math.inf, math.inf
        cursor = open_ms
        for block, margin in BOUND_BLOCKS_MS:
            if block <= length_ms:
                while cursor + block <= upto:
                    if cursor + block > self.history_start_ms:  # a block before the first trade bounds nothing
                        block_high, block_low = self._bounds(symbol, cursor, cursor + block, margin)
                        high, low = max(high, block_high), min(low, block_low)
                    cursor += block
        for agg_id in range(self.first_agg_at_or_after(cursor), self.last_agg_at_or_before(upto - 1) + 1):
            price = self._agg_price(symbol, agg_id)
            high, low = max(high, price), min(low, price)
        return high, low

    def _bounds(self, symbol: str, start: int, end: int, margin_ms: int) -> tuple[float, float]:
        """Above and below every price in [start, end]: the swing moves at most SWING_SLOPE_PER_MS from the
        nearer end, and the jitter at most JITTER; rounded outward to the tick, as trade prices are rounded."""
        ends = (self.swing_at(symbol, start), self.swing_at(symbol, end))
        slack = SWING_SLOPE_PER_MS * margin_ms + JITTER
        base = self._base_price[symbol]
        return (
            math.ceil(base * math.exp(max(ends) + slack) * 100) / 100,
            math.floor(base * math.exp(min(ends) - slack) * 100) / 100,
        )

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
