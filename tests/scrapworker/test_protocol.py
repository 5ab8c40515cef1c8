"""The job spec refuses what a worker must never act on."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scrapworker.protocol import JobSpec


def make(**fields: object) -> JobSpec:
    return JobSpec.model_validate({"job_id": "j1", "endpoint": "klines", "landing_prefix": "binance"} | fields)


@pytest.mark.parametrize("prefix", ["../up", "a/../../b", "/abs/path", "a//b", "a/./b", "back\\slash", "sp ace", ""])
def test_unsafe_landing_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValidationError, match="landing prefix"):
        make(landing_prefix=prefix)


@pytest.mark.parametrize("endpoint", ["https://evil.example/api", "KLINES", "../klines", ""])
def test_endpoint_is_a_name_never_a_url(endpoint: str) -> None:
    with pytest.raises(ValidationError, match="endpoint"):
        make(endpoint=endpoint)


def test_window_must_be_ordered_and_timezone_aware() -> None:
    with pytest.raises(ValidationError, match="is not after its start"):
        make(window={"start": "2026-11-01T00:15:00Z", "end": "2026-11-01T00:00:00Z"})
    with pytest.raises(ValidationError, match="timezone-aware"):
        make(window={"start": "2026-11-01T00:00:00", "end": "2026-11-01T00:15:00"})


def test_window_label_is_stable() -> None:
    job = make(window={"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T00:15:00Z"})
    assert job.window is not None
    assert job.window.label() == "20261101T000000Z_20261101T001500Z"
    assert (job.window.start_ms, job.window.end_ms) == (1_793_491_200_000, 1_793_491_200_000 + 15 * 60_000)
