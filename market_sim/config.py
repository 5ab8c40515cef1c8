"""The simulator's configuration and what it records of every request it served (the public data types)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from market_sim.protocol import SYMBOL_LEGAL_RANGE, SYMBOL_SHAPE


@dataclass(frozen=True)
class SimulatorConfig:
    weight_limit: int = 6000  # REQUEST_WEIGHT per window per client IP
    window_seconds: float = 60.0  # fixed windows aligned to multiples of this since the epoch, like Binance's minute
    ban_after_violations: int = 3  # this many 429s (over the server's life, or since the last ban ended) -> 418
    ban_seconds: float = 120.0
    latency_seconds: float = 0.0  # sleep before answering each request (lets tests kill a worker mid-job)
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")
    history_start_ms: int = 1_502_942_400_000  # 2017-08-17T04:00Z; no data before it
    # The exchange shows the kline in progress as it stands (partial, changing until it closes). True answers it
    # as it will close instead: fixed data, for tests that compare answers taken at different moments.
    settled_klines: bool = False

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
