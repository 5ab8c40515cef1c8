"""Fixtures for the Spark jobs: raw landings made from the market-API simulator's real answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests

from lake.settings import LakeSettings
from lake.storage import s3_client
from market_sim import MarketSimulator
from scrapworker.landing import LandingWriter
from scrapworker.protocol import JobSpec

Lander = Callable[[str, datetime, int], str]


@pytest.fixture
def land_klines(lake_settings: LakeSettings, simulator: MarketSimulator, unique_name: str) -> Lander:
    """Land `minutes` one-minute klines of `symbol` from `start` as scrapworker would; returns the manifest key."""

    def land(symbol: str, start: datetime, minutes: int) -> str:
        end = start + timedelta(minutes=minutes)
        spec = JobSpec.model_validate(
            {
                "job_id": f"{unique_name}-{symbol}-{start:%m%d%H%M}".replace("_", "-"),
                "endpoint": "klines",
                "params": {"symbol": symbol, "interval": "1m"},
                "window": {"start": start, "end": end},
                "landing_prefix": "tests/jobs",
            }
        )
        landing = LandingWriter(s3_client(lake_settings), lake_settings.s3.raw_bucket, spec)
        query = {
            "symbol": symbol,
            "interval": "1m",
            "startTime": str(int(start.timestamp() * 1000)),
            "endTime": str(int(end.timestamp() * 1000) - 1),
            "limit": "1000",
        }
        response = requests.get(f"{simulator.base_url}/api/v3/klines", params=query, timeout=10)
        response.raise_for_status()
        landing.write_page(response.content, query, len(response.json()))
        landing.write_manifest(worker="test", attempt=1, started_at=datetime.now(UTC))
        return landing.manifest_key

    return land
