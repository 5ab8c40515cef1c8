"""Endpoint files: the shipped Binance file is valid; a broken one reports every error with path and line."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scrapworker.endpoints import BUILTIN_CONFIG, ConfigError, JobRejectedError, load_endpoints, parse_endpoints
from scrapworker.protocol import TimeWindow

SCRAPWORKER = str(Path(sys.executable).parent / "scrapworker")


def test_shipped_binance_endpoints_load() -> None:
    endpoints = load_endpoints()
    assert set(endpoints.endpoints) >= {"klines", "trades", "ticker_24hr", "exchange_info"}
    ticker = endpoints.endpoint("ticker_24hr")
    assert ticker.request_weight({"symbol": "BTCUSDT"}) == 2
    assert ticker.request_weight({}) == 80
    assert endpoints.api_of(endpoints.endpoint("klines")).base_url == "https://data-api.binance.vision"


def test_validate_config_cli_accepts_the_shipped_file() -> None:
    result = subprocess.run([SCRAPWORKER, "validate-config", str(BUILTIN_CONFIG)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "ok (5 endpoints" in result.stdout


BROKEN = """\
version: 1
rate_limits:
  binance:
    weight_per_window: 6000
    window_seconds: 60
    burst: 6000
apis:
  binance:
    base_url: ftp://data-api.binance.vision
    rate_limit_group: binance
endpoints:
  klines:
    api: binance
    path: /api/v3/klines
    weight: 2
    params:
      symbol: {type: text, required: true}
    pagination:
      kind: time_window
      start_param: startTime
      end_param: endTime
      limit_param: limit
      limit: 5000
      row_time: 0
  trades:
    api: binance
    path: /api/v3/trades
    wieght: 25
    pagination: {kind: one_shot}
"""


def test_every_error_is_reported_with_its_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    with pytest.raises(ConfigError) as raised:
        load_endpoints(path)
    problems = raised.value.problems
    expected = [
        "rate_limits.binance.burst (line 6): must be below weight_per_window",
        "apis.binance.base_url (line 9): expected an http(s):// base URL",
        "endpoints.klines.params.symbol.type (line 17): Input should be 'string', 'integer', 'number' or 'boolean'",
        "endpoints.klines.pagination.limit (line 23): Input should be less than or equal to 1000",
        "endpoints.trades.weight (line 26): Field required",
        "endpoints.trades.wieght (line 28): unknown key",
    ]
    for line in expected:
        assert any(problem.startswith(line) for problem in problems), (line, problems)
    assert len(problems) == len(expected)

    cli = subprocess.run([SCRAPWORKER, "validate-config", str(path)], capture_output=True, text=True)
    assert cli.returncode == 2
    assert "6 problem(s)" in cli.stderr and "(line 28): unknown key" in cli.stderr


def test_cross_references_are_checked() -> None:
    text = BUILTIN_CONFIG.read_text().replace("rate_limit_group: binance", "rate_limit_group: nowhere")
    with pytest.raises(ConfigError, match=r"apis.binance.rate_limit_group \(line \d+\): no rate limit group"):
        parse_endpoints(text, "x.yaml")


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"\(line 4\): not valid YAML: expected .,. or .\]."):
        parse_endpoints("version: 1\napis:\n  - [unclosed\n", "bad.yaml")


def test_job_parameters_are_checked_against_the_endpoint() -> None:
    klines = load_endpoints().endpoint("klines")
    window = TimeWindow(start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 2, tzinfo=UTC))
    klines.checked_params({"symbol": "BTCUSDT", "interval": "1m"}, window)  # fine
    with pytest.raises(JobRejectedError) as raised:
        klines.checked_params({"symbol": "btc usdt", "interval": "7m", "limit": 5, "extra": 1}, None)
    message = str(raised.value)
    for fragment in (
        "extra: not a parameter of this endpoint",
        "limit: not a parameter of this endpoint",  # set by the paginator, not the job
        "symbol: 'btc usdt' does not match",
        "interval: '7m' is not one of",
        "window: required by this time-window endpoint",
    ):
        assert fragment in message
    with pytest.raises(JobRejectedError, match="symbol: expected string, got int"):
        klines.checked_params({"symbol": 5, "interval": "1m"}, window)
    with pytest.raises(JobRejectedError, match="unknown endpoint 'candles'; known: agg_trades, exchange_info"):
        load_endpoints().endpoint("candles")


def test_base_urls_can_be_overridden_per_api() -> None:
    endpoints = load_endpoints(base_urls={"binance": "http://127.0.0.1:9999/"})
    assert endpoints.api_of(endpoints.endpoint("klines")).base_url == "http://127.0.0.1:9999"
    with pytest.raises(ConfigError, match="nope: no such api"):
        load_endpoints(base_urls={"nope": "http://127.0.0.1:1"})
