"""The job spec refuses what a worker must never act on."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from scrapworker.protocol import JobSpec, MessageError, parse_message

GOOD = {"job_id": "j1", "endpoint": "klines", "landing_prefix": "binance", "params": {"symbol": "BTCUSDT"}}


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


@pytest.mark.parametrize(
    ("message", "named"),
    [
        (b"\xff" + b"{}", "not UTF-8"),
        (b"[" * 100 + b"]" * 100, "deeper than 8"),
        (b"x" * (65 * 1024), "larger than 65536"),
        (b'{"job_id": "j", "endpoint": "klines", "landing_prefix": "p", "params": {"n": ' + b"9" * 5000 + b"}}", "'n'"),
        (json.dumps(GOOD | {"attempt": 2**40}).encode(), "attempt"),
        (json.dumps(GOOD | {"landing_prefix": "p" * 300}).encode(), "landing_prefix"),
        (json.dumps(GOOD | {"params": {"symbol": "s" * 600}}).encode(), "params.symbol"),
        (json.dumps(GOOD | {"params": {f"p{i}": i for i in range(40)}}).encode(), "params"),
        (
            json.dumps(GOOD | {"window": {"start": "1969-12-31T00:00:00Z", "end": "1970-01-02T00:00:00Z"}}).encode(),
            "between 1970-01-01",
        ),
        (
            json.dumps(
                GOOD | {"window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:00.0002Z"}}
            ).encode(),
            "shorter than a millisecond",
        ),
    ],
)
def test_messages_out_of_bounds_are_refused_naming_the_problem(message: bytes, named: str) -> None:
    with pytest.raises(MessageError) as refused:
        parse_message(message)
    assert named in refused.value.reason and len(refused.value.reason) < 400
