"""Hostile queue messages, as a producer who means harm (or has a bug) would push them straight onto the
pending list. One generator, driven by a `random.Random`, for the property test (Hypothesis feeds it
`st.randoms()`) and for `bench/hostile.py` (a seeded Random), so both try the same kinds of input.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from scrapworker.protocol import JobSpec, MessageError, parse_message
from scrapworker.queue import KEPT_RAW, KEPT_REASON, DeadLetter, JobQueue, fingerprint


def valid_spec(job_id: str, minute: int = 0, prefix: str = "hostile") -> JobSpec:
    start = datetime(2026, 11, 2, tzinfo=UTC) + timedelta(minutes=minute)
    return JobSpec(
        job_id=job_id,
        endpoint="klines",
        params={"symbol": "BTCUSDT", "interval": "1m"},
        window={"start": start, "end": start + timedelta(minutes=1)},  # type: ignore[arg-type]
        landing_prefix=prefix,
    )


def _spec_dict(rng: random.Random, job_ids: list[str]) -> dict[str, Any]:
    job_id = rng.choice(job_ids) if job_ids and rng.random() < 0.5 else f"h-{rng.getrandbits(32):08x}"
    return valid_spec(job_id, rng.randrange(0, 600)).model_dump(mode="json")


def _kinds(job_ids: list[str]) -> list[Callable[[random.Random], bytes]]:
    def dumps(value: Any) -> bytes:
        return json.dumps(value).encode()

    def mutated(rng: random.Random, **changes: Any) -> bytes:
        return dumps(_spec_dict(rng, job_ids) | changes)

    return [
        lambda rng: rng.randbytes(rng.randrange(0, 64)),  # binary noise, mostly not UTF-8
        lambda rng: b"\xff\xfe" + dumps(_spec_dict(rng, job_ids)),  # a valid spec behind a broken byte
        lambda rng: ("[" * rng.randrange(100, 3000) + "]" * rng.randrange(0, 3000)).encode(),  # deep nesting
        lambda rng: dumps(_spec_dict(rng, job_ids) | {"deep": json.loads("[" * 50 + "]" * 50)}),
        lambda rng: mutated(rng, attempt=rng.choice([-1, 2**63 - 1, 10**20, 1001, "1", None])),
        lambda rng: mutated(rng, landing_prefix=rng.choice(["../etc", "/abs", "a//b", "x" * 5000, "", "a\\b"])),
        lambda rng: mutated(rng, endpoint=rng.choice(["http://evil/", "KLINES", "", "x" * 100, 5])),
        lambda rng: mutated(rng, params={"symbol": "9" * rng.randrange(19, 6000)}),  # a str, too long
        lambda rng: (
            b'{"job_id": "h-big", "endpoint": "klines", "landing_prefix": "p", "params": {"n": '
            + b"9" * rng.randrange(19, 6000)
            + b"}}"
        ),
        lambda rng: mutated(rng, params={f"p{i}": i for i in range(rng.randrange(33, 200))}),
        lambda rng: mutated(rng, params={"symbol": rng.choice([float("nan"), float("inf"), [], {}, None])}),
        lambda rng: mutated(
            rng,
            window=rng.choice(
                [
                    {"start": "1960-01-01T00:00:00Z", "end": "1960-01-02T00:00:00Z"},
                    {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:00.0004Z"},
                    {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
                    {"start": "2026-01-01T00:00:00", "end": "2026-01-01T00:01:00"},
                    {"start": "not a time", "end": 5},
                ]
            ),
        ),
        lambda rng: mutated(rng, v=rng.choice([0, 2, "1", None])),
        lambda rng: mutated(rng, extra=rng.randbytes(8).hex()),
        lambda rng: mutated(rng, job_id=rng.choice(["", "../x", "x" * 300, "a b", "é", None])),
        # Well-formed, but reusing the id of a real job with a different spec: a hijack attempt.
        lambda rng: mutated(rng, landing_prefix=f"hijack/{rng.getrandbits(16)}"),
        lambda rng: dumps(rng.choice([None, 1, "text", [], {}, [1, 2], {"job_id": 5}])),
        lambda rng: b"x" * rng.randrange(65 * 1024, 200 * 1024),  # larger than any message may be
    ]


def hostile_message(rng: random.Random, job_ids: list[str]) -> bytes:
    """One hostile message; `job_ids` are real jobs' ids, which some messages reuse."""
    kinds = _kinds(job_ids)
    return kinds[rng.randrange(len(kinds))](rng)


# How the queue words the dead letters of messages (protocol.parse_message, the conflict, the worker's last resort).
MESSAGE_REASONS = ("malformed job message", "message ", "conflict:", "internal error")


@dataclass
class Accounting:
    """Where the messages pushed onto a queue ended up, once the queue has drained."""

    messages: int
    dead_lettered: int  # messages no worker could run, each matched to its own dead letter
    ran: int  # messages that are (or duplicate) a job that reached a terminal state
    unfinished: int  # messages whose job is still queued or running
    lost: int  # messages that should be a dead letter and are not: no letter names them
    unexplained: int  # dead letters about messages that match no message that should be one

    def line(self) -> str:
        return (
            f"{self.messages} messages: {self.dead_lettered} dead-lettered, {self.ran} ran (or duplicated a job that"
            f" ran), {self.unfinished} unfinished, {self.lost} lost; {self.unexplained} unexplained dead letters"
        )


# A dead letter as the accounting matches it: the job id it names, the start of the raw message when it names
# none, and its reason (a conflict's by its kind: its wording repeats the job id).
LetterKey = tuple[str | None, str | None, str]


def _letter_key(letter: DeadLetter) -> LetterKey:
    reason = "conflict:" if letter.reason.startswith("conflict:") else letter.reason
    return letter.job_id, letter.raw, reason


def account(queue: JobQueue, messages: list[bytes]) -> Accounting:
    """Every message must be a dead letter of its own (matched by what the letter says) or a job (its own,
    or the identical one it duplicates)."""
    expected: Counter[LetterKey] = Counter()
    ran = unfinished = 0
    for message in messages:
        try:
            spec = parse_message(message)
        except MessageError as exc:  # unreadable: its letter names its job, or quotes its start
            raw = None if exc.job_id else message.decode("utf-8", errors="backslashreplace")[:KEPT_RAW]
            expected[(exc.job_id, raw, exc.reason[:KEPT_REASON])] += 1
            continue
        stored, state = cast(list[str | None], queue.redis.hmget(queue.key("job", spec.job_id), "fingerprint", "state"))
        if stored != fingerprint(spec):
            expected[(spec.job_id, None, "conflict:")] += 1  # the job under its id is another one, left untouched
        elif state in ("succeeded", "failed", "dead"):
            ran += 1
        else:
            unfinished += 1
    # Only letters about messages (not jobs that ran out of attempts, or that the endpoint file refused).
    found = Counter(
        _letter_key(letter) for letter in queue.dead_letters(limit=100_000) if letter.reason.startswith(MESSAGE_REASONS)
    )
    return Accounting(
        messages=len(messages),
        dead_lettered=(expected & found).total(),
        ran=ran,
        unfinished=unfinished,
        lost=(expected - found).total(),
        unexplained=(found - expected).total(),
    )


def drained(queue: JobQueue) -> bool:
    """Nothing pending, claimed or leased, and every job finished."""
    if queue.pending_count() or queue.redis.zcard(queue.key("leases")):
        return False
    claims = [key for key in queue.redis.scan_iter(f"{queue.prefix}:claim:*") if queue.redis.llen(key)]
    states = [queue.redis.hget(key, "state") for key in queue.redis.scan_iter(f"{queue.prefix}:job:*")]
    return not claims and all(state in ("succeeded", "failed", "dead") for state in states)
