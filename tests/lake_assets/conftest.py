"""The env file the Dagster tests run with: the session stack, a queue of their own, the market simulator."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from lake.settings import LakeSettings
from lake_tools.stack import Stack
from market_sim import MarketSimulator


@pytest.fixture(scope="module")
def dagster_env(stack: Stack, lake_settings: LakeSettings, simulator: MarketSimulator) -> Iterator[Path]:
    """An env file for Dagster and a worker: the session stack, a queue of its own, the simulator."""
    path = stack.layout.home / f"dagster-{secrets.token_hex(3)}.env"
    prefix = f"scrapworker-dagster-{secrets.token_hex(3)}"
    path.write_text(
        stack.env_file.read_text()
        + f"LAKE_QUEUE__PREFIX={prefix}\nLAKE_CRAWLER__BASE_URLS={json.dumps({'binance': simulator.base_url})}\n"
    )
    yield path
    path.unlink(missing_ok=True)
