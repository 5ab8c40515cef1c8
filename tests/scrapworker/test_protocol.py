"""The job spec refuses what a worker must never act on."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from scrapworker.protocol import (
    MAX_ATTEMPT,
    MAX_JSON_DEPTH,
    MAX_MESSAGE_BYTES,
    MAX_PARAM_INT,
    MAX_PARAM_TEXT,
    MAX_PARAMS,
    MAX_PREFIX_LENGTH,
    SHOWN,
    JobSpec,
    MessageError,
    first_errors,
    json_depth,
    parse_message,
)
from scrapworker.queue import KEPT_REASON

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
    assert named in refused.value.reason and len(refused.value.reason) <= KEPT_REASON  # a dead letter keeps it whole


@pytest.mark.parametrize(
    ("limit", "shown"),
    [
        ("9" * 5000, "an integer of 5000 digits"),
        ("9" * 30, "an integer of 30 digits"),
        ("-" + "9" * 17, "an integer of 17 digits"),
    ],
)
def test_an_integer_parameter_out_of_range_is_named_with_its_bound_at_the_command_line(
    limit: str, shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from scrapworker.cli import main

    argv = ["enqueue", "--job-id", "j1", "--endpoint", "trades", "--prefix", "binance", "--param", f"limit={limit}"]
    with pytest.raises(SystemExit) as refused:
        main(argv)
    message = str(refused.value.code)
    assert message == f"scrapworker: --param limit: {shown} is out of range (at most ±9007199254740992)"
    assert "4300" not in message and "float" not in message


def test_an_integer_parameter_out_of_range_in_a_job_message_is_named_not_taken_as_a_float() -> None:
    with pytest.raises(ValidationError) as refused:
        make(params={"limit": 10**30})
    assert (
        first_errors(refused.value)
        == "params: limit: an integer of 31 digits is out of range (at most ±9007199254740992)"
    )
    with pytest.raises(ValidationError) as huge:
        make(params={"limit": 10**20000})
    assert "an integer of about 20001 digits" in first_errors(huge.value)
    assert make(params={"limit": 2**53}).params["limit"] == 2**53


def test_a_url_as_landing_prefix_is_named_with_what_is_expected() -> None:
    with pytest.raises(ValidationError) as refused:
        make(landing_prefix="file:///tmp/x")
    assert first_errors(refused.value) == (
        "landing_prefix: landing prefix 'file:///tmp/x' is a URL; expected a relative key prefix in the raw "
        "bucket, such as 'binance/klines' (letters, digits and . _ = - /, at most 256 characters)"
    )


def padded(fields: dict[str, object], size: int) -> bytes:
    """A valid message of exactly `size` bytes: JSON whitespace after the object."""
    body = json.dumps(GOOD | fields).encode()
    return body + b" " * (size - len(body))


@pytest.mark.parametrize(
    ("at_limit", "past_limit", "named"),
    [
        (padded({}, MAX_MESSAGE_BYTES), padded({}, MAX_MESSAGE_BYTES + 1), f"larger than {MAX_MESSAGE_BYTES}"),
        ({"attempt": MAX_ATTEMPT}, {"attempt": MAX_ATTEMPT + 1}, "attempt"),
        (
            {"landing_prefix": "p" * MAX_PREFIX_LENGTH},
            {"landing_prefix": "p" * (MAX_PREFIX_LENGTH + 1)},
            "landing_prefix",
        ),
        ({"params": {"symbol": "s" * MAX_PARAM_TEXT}}, {"params": {"symbol": "s" * (MAX_PARAM_TEXT + 1)}}, "symbol"),
        (
            {"params": {f"p{i}": i for i in range(MAX_PARAMS)}},
            {"params": {f"p{i}": i for i in range(MAX_PARAMS + 1)}},
            "params",
        ),
        ({"params": {"n": MAX_PARAM_INT}}, {"params": {"n": MAX_PARAM_INT + 1}}, "params: n: an integer"),
        ({"params": {"n": -MAX_PARAM_INT}}, {"params": {"n": -MAX_PARAM_INT - 1}}, "params: n: an integer"),
    ],
)
def test_each_bound_takes_its_limit_and_refuses_one_more(
    at_limit: dict[str, object] | bytes, past_limit: dict[str, object] | bytes, named: str
) -> None:
    def message(value: dict[str, object] | bytes) -> bytes:
        return value if isinstance(value, bytes) else json.dumps(GOOD | value).encode()

    parse_message(message(at_limit))
    with pytest.raises(MessageError) as refused:
        parse_message(message(past_limit))
    assert named in refused.value.reason


def test_nesting_takes_its_limit_and_refuses_one_more_before_parsing() -> None:
    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_depth(nested, MAX_JSON_DEPTH) == MAX_JSON_DEPTH
    with pytest.raises(MessageError) as at_limit:
        parse_message(nested)  # refused, but by the validation of its content: the depth was allowed
    assert "deeper" not in at_limit.value.reason
    with pytest.raises(MessageError, match=f"deeper than {MAX_JSON_DEPTH}"):
        parse_message("[" + nested + "]")


@pytest.mark.parametrize(
    "fields",
    [
        {"params": {"n" * 5000: 1}},  # a key of the message is part of an error's location
        {"n" * 5000: 1},  # an unknown field
        {"job_id": "n" * 5000},
        {"params": {"symbol": "n" * 5000}},
    ],
)
def test_a_refusal_quotes_at_most_shown_characters_of_anything_in_the_message(fields: dict[str, object]) -> None:
    """The README: errors name the field and quote at most 120 characters of what was refused."""
    assert SHOWN == 120
    with pytest.raises(MessageError) as refused:
        parse_message(json.dumps(GOOD | fields).encode())
    reason = refused.value.reason
    assert max(len(run) for run in re.findall("n+", reason)) <= SHOWN, reason
    assert len(reason) < 1000, reason
