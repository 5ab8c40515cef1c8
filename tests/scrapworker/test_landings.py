"""The landings file: what the shipped one lands, how a new symbol is added, and how a broken one is refused."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scrapworker.endpoints import BUILTIN_CONFIG, load_endpoints
from scrapworker.landings import BUILTIN_LANDINGS, load_landings, parse_landings
from scrapworker.yaml_config import ConfigError

BIN = Path(sys.executable).parent
ENDPOINTS = load_endpoints(BUILTIN_CONFIG)
SLOT = datetime(2026, 11, 1, 10, 15, tzinfo=UTC)


def test_the_shipped_landings_are_klines_for_a_handful_of_symbols_and_a_raw_ticker() -> None:
    klines, ticker = load_landings(ENDPOINTS)
    assert (klines.asset_name, klines.typed, klines.history) == ("raw_binance_klines", "klines", True)
    assert [p["symbol"] for p in klines.param_sets] == ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]
    assert all(p["interval"] == "1m" for p in klines.param_sets)
    assert (ticker.asset_name, ticker.typed, ticker.history) == ("raw_binance_ticker_24hr", None, False)
    jobs = ticker.jobs(SLOT, SLOT + timedelta(minutes=15), ENDPOINTS)
    # A ticker is a snapshot: no window to crawl, but one job per slot and symbol, accepted by the worker's checks.
    assert [job.window for job in jobs] == [None, None]
    assert [job.job_id for job in jobs] == [
        "binance.ticker_24hr.BTCUSDT.20261101T1015-20261101T1030",
        "binance.ticker_24hr.ETHUSDT.20261101T1015-20261101T1030",
    ]
    for job in jobs + klines.jobs(SLOT, SLOT + timedelta(minutes=15), ENDPOINTS):
        ENDPOINTS.check_job(job)


def test_a_new_symbol_is_one_line_of_config_and_lake_validate(tmp_path: Path) -> None:
    shipped = BUILTIN_LANDINGS.read_text()
    added = shipped.replace("        - SOLUSDT\n", "        - SOLUSDT\n        - XRPUSDT\n", 1)
    assert len(added.splitlines()) == len(shipped.splitlines()) + 1
    path = tmp_path / "landings.yaml"
    path.write_text(added)
    env = {**os.environ, "LAKE_ENV_FILE": "/nonexistent", "LAKE_CRAWLER__LANDINGS_FILE": str(path)}
    result = subprocess.run([BIN / "lake", "validate"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "raw_binance_klines: klines x 5 (" in result.stdout and "XRPUSDT/1m" in result.stdout
    klines = load_landings(ENDPOINTS, path)[0]
    jobs = klines.jobs(SLOT, SLOT + timedelta(minutes=15), ENDPOINTS)
    assert [job.params["symbol"] for job in jobs][-1] == "XRPUSDT"


BROKEN = """\
version: 1
landings:
  binance_klines:
    endpoint: klines
    prefix: binance
    params: {interval: 1m}
    for_each:
      symbol: [BTCUSDT, btc usdt]
    typed: klinez
  Bad-Name:
    endpoint: klines
    prefix: binance
    params: {interval: 1m, symbol: BTCUSDT}
  ticker:
    endpoint: ticker_24hr
    prefix: binance
    history: true
    typed: klines
  trades:
    endpoint: trades
    prefix: binance
    colour: red
  candles:
    endpoint: candles
    prefix: binance
"""


def test_a_broken_landings_file_is_refused_with_the_path_and_line_of_each_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_landings(BROKEN, "broken.yaml", ENDPOINTS)
    assert raised.value.problems == [
        "landings.Bad-Name (line 10): not a valid name: String should match pattern '^[a-z][a-z0-9_]{0,59}$'",
        "landings.binance_klines.for_each.symbol.1 (line 8): 'btc usdt' does not match [A-Z0-9-_.]{1,20}",
        "landings.binance_klines.typed (line 9): no typed transform 'klinez'; known: klines",
        "landings.ticker.typed (line 18): klines types klines landings, not ticker_24hr",
        "landings.ticker.history (line 17): ticker_24hr is not crawled by time window: it has no history to load",
        "landings.trades.colour (line 22): unknown key",
        "landings.candles.endpoint (line 24): no endpoint 'candles' in the endpoint file; known: "
        "klines, trades, agg_trades, ticker_24hr, exchange_info",
    ]
    # The same through both command lines: one short message per problem, exit status non-zero.
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    env = {**os.environ, "LAKE_ENV_FILE": "/nonexistent", "LAKE_CRAWLER__LANDINGS_FILE": str(path)}
    lake = subprocess.run([BIN / "lake", "validate"], capture_output=True, text=True, env=env)
    assert lake.returncode != 0 and "Traceback" not in lake.stderr
    assert f"lake: {path}: 7 problem(s)" in lake.stderr and "(line 22): unknown key" in lake.stderr
    worker = subprocess.run(
        [BIN / "scrapworker", "validate-config", "--landings", str(path)], capture_output=True, text=True
    )
    assert worker.returncode == 2 and "landings.binance_klines.typed (line 9)" in worker.stderr


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("version: 1\nlandings: {}\n", "landings (line 2): Dictionary should have at least 1 item after validation"),
        ("version: 2\nlandings: {x: {endpoint: klines, prefix: p}}\n", "version (line 1): Input should be 1"),
        ("- a list\n", "(line 1): expected a mapping with version, landings"),
        (
            "version: 1\nlandings:\n  k:\n    endpoint: klines\n    prefix: p\n    params: {interval: 1m}\n"
            "    for_each: {symbol: [" + ", ".join(f"S{i}" for i in range(201)) + "]}\n",
            "landings.k.for_each.symbol (line 7): List should have at most 200 items after validation",
        ),
    ],
)
def test_bounds_and_shapes_are_checked(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_landings(text, "x.yaml", ENDPOINTS)
    assert problem in raised.value.problems[0], raised.value.problems


def test_a_long_range_is_cut_into_whole_pages_within_one_window_of_budget() -> None:
    """A month of 1m klines is 45 requests whether crawled whole or cut: the cuts fall on page boundaries."""
    klines = load_landings(ENDPOINTS)[0]
    month = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
    assert len(klines.jobs(*month, ENDPOINTS)) == 4  # one per symbol: 45 requests of weight 2 fit 6000
    small = ENDPOINTS.model_copy(
        update={
            "rate_limits": {"binance": ENDPOINTS.rate_limits["binance"].model_copy(update={"weight_per_window": 20})}
        }
    )
    jobs = [job for job in klines.jobs(*month, small) if job.params["symbol"] == "BTCUSDT"]
    assert jobs[0].window is not None and jobs[-1].window is not None
    assert (jobs[0].window.start, jobs[-1].window.end) == month
    # 20 per window at weight 2: 9 full pages and the empty one that ends the job.
    assert all(job.window and job.window.end - job.window.start == timedelta(minutes=9000) for job in jobs[:-1])
    assert all(a.window and b.window and a.window.end == b.window.start for a, b in itertools.pairwise(jobs))
    assert len(jobs) == 5  # 44,640 minutes = 4 x 9,000 + 8,640
