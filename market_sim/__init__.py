"""`market_sim`: a loopback simulator of the Binance Spot market-data REST API (v3), for tests and offline demos.

It is a real HTTP server (``http.server`` on 127.0.0.1) speaking the documented protocol of
https://data-api.binance.vision: the same paths, parameters, error codes and messages, request weights, the
``X-MBX-USED-WEIGHT-1M`` header, 429 with ``Retry-After`` once a client IP has spent its weight budget for the
current window, and a 418 ban for a client that keeps going. Tests can also make it misbehave on purpose
(``inject_fault``): HTML error pages, truncated or empty bodies, 5xx answers and requests that never get an answer.

Market data is synthetic and deterministic. A price is a smooth function of (symbol, time) plus a small jitter
hashed from the same two. Aggregate trades form a dense id sequence from 0, one every 100 ms from
``history_start_ms``, each made of two trades; so ids and times map onto each other and cursor pagination by
``fromId`` is exact. Klines are cut from that tape as the exchange cuts them: open and close are the first and
last trades' prices (so a close is not the next open), the trade count is the tape's, and the kline in progress
holds only the trades so far, changing until its close time has passed (``settled_klines`` answers it as it
will close, for tests that need fixed data). The same request about the past always returns the same bytes.
``timeZone`` moves klines of an hour or more to that zone's boundaries, and ``X-MBX-TIME-UNIT: MICROSECOND``
answers in microseconds.

Where the simulator knowingly differs from Binance (or the docs leave the behaviour open):

* A kline's high and low bound its trades without being one of them once the kline has closed: they come from
  the price model's bounds over each hour or minute, not from reading every trade of a month.
* ``timeZone`` moves only intervals of an hour or more (rest-api.md does not say what a 30m kline does at
  +05:45); microsecond ``startTime``/``endTime`` are told from milliseconds by size (past 10^14).
* Klines are aligned to whole intervals since the epoch, except ``1w`` (Mondays) and ``1M`` (calendar months);
  whether Binance's ``3d`` klines share the epoch as origin is not documented.
* ``startTime > endTime`` answers an empty list, as Spot klines do (only the futures API refuses it, with -1023);
  ``fromId`` together with ``startTime``/``endTime`` on aggTrades, or ``symbol`` together with ``symbols``,
  answers -1128 (the docs say nothing of either combination).
* The first kline is the one containing ``history_start_ms`` (Binance's first BTCUSDT 1d kline opens at 00:00 of
  the day trading began at 04:00); no trade is older than ``history_start_ms``.
* Injected faults and unknown paths cost no weight; the header then reports the weight already used.
* The -1003 texts are errors.md's ("Too much request weight used; current limit is ..."; "Way too much request
  weight used; IP banned until ..."), the window named as exchangeInfo names it.
* ``exchangeInfo`` states the simulator's real window (``MINUTE``/1 by default, ``SECOND``/N for short test
  windows) while the header keeps the name ``X-MBX-USED-WEIGHT-1M`` whatever the window.

The simulator is a fake of the external API, not part of the crawler: it imports nothing of the project, and
the crawler never imports it. Modules, by concern: ``config`` (SimulatorConfig, the served-request stats),
``protocol`` (Binance's constants and texts), ``validation`` (query parameters and API errors), ``intervals``
and ``market`` (the deterministic market model), ``endpoints`` (answers and weights), ``limiter`` (the weight
budget, 429 and 418), ``faults`` (injected misbehaviour), ``server`` (MarketSimulator, the HTTP server) and
``cli`` (``market-sim``, ``python -m market_sim``).
"""

from market_sim.config import SimulatorConfig, SimulatorStats
from market_sim.server import MarketSimulator

__all__ = ["MarketSimulator", "SimulatorConfig", "SimulatorStats"]
