"""Hostile messages against the real queue (property-based): whatever a producer pushes, every message ends
in exactly one place, nothing a message carries changes a job that exists, and nothing raises.

Hypothesis drives the generator in hostile.py with its own random source, so a failing example shrinks and
replays. Each example gets its own queue prefix on the session's Redis.
"""

from __future__ import annotations

import random
import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lake.settings import LakeSettings
from scrapworker.protocol import MessageError, parse_message
from scrapworker.queue import KEPT_RAW, KEPT_REASON, JobQueue, fingerprint
from tests.scrapworker.hostile import MESSAGE_REASONS, account, hostile_message, valid_spec

WORKER = "prop-worker"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rng=st.randoms(use_true_random=False), count=st.integers(min_value=1, max_value=30))
def test_every_hostile_message_ends_in_exactly_one_place(
    lake_settings: LakeSettings, rng: random.Random, count: int
) -> None:
    queue = JobQueue.from_settings(lake_settings.queue, prefix=f"scrapworker-p{secrets.token_hex(4)}", lease_seconds=30)
    try:
        # A finished job and a queued one, whose ids the hostile messages reuse.
        finished, waiting = valid_spec("finished-job"), valid_spec("queued-job", minute=1)
        queue.enqueue(finished)
        first = queue.lease(WORKER, _take(queue))
        assert first is not None
        queue.succeed(first, {"records": 7})
        before = queue.status(finished.job_id)
        queue.enqueue(waiting)
        messages = [hostile_message(rng, [finished.job_id, waiting.job_id]) for _ in range(count)]
        for message in messages:
            queue.redis.lpush(queue.key("pending"), message)

        leased = []
        while queue.pending_count():
            message = _take(queue)
            letters = len(queue.dead_letters(limit=100_000))
            lease = queue.lease(WORKER, message)  # never raises, whatever the message
            new_letters = len(queue.dead_letters(limit=100_000)) - letters
            assert queue.redis.llen(queue.key("claim", WORKER)) == 0  # nothing stuck in the claim list
            try:
                spec = parse_message(message)
            except MessageError:
                assert lease is None and new_letters == 1  # unreadable: one dead letter
                continue
            stored = queue.redis.hget(queue.key("job", spec.job_id), "fingerprint")
            if stored != fingerprint(spec):
                assert lease is None and new_letters == 1  # a conflict: one dead letter, the job untouched
            elif lease is not None:
                assert new_letters == 0 and lease.spec == spec
                leased.append(lease)
            else:
                assert new_letters == 0  # a duplicate of a job that is finished or running: skipped

        # A message never changes a job that exists: the finished one is exactly as it was.
        after = queue.status(finished.job_id)
        assert after is not None and before is not None
        assert (after.state, after.outputs, after.spec, after.attempts) == (
            before.state,
            before.outputs,
            before.spec,
            before.attempts,
        )
        # The queued job ran as enqueued, whatever else claimed its id.
        mine = [lease for lease in leased if lease.spec.job_id == waiting.job_id]
        assert len(mine) == 1 and fingerprint(mine[0].spec) == fingerprint(waiting)
        for lease in leased:
            queue.succeed(lease, {})
        accounting = account(queue, [*messages])
        assert accounting.lost == accounting.unfinished == accounting.unexplained == 0, accounting.line()
        for letter in queue.dead_letters(limit=100_000):
            assert len(letter.reason) <= KEPT_REASON and len(letter.raw or "") <= KEPT_RAW
            assert letter.reason.startswith(MESSAGE_REASONS), letter.reason
    finally:
        for key in queue.redis.scan_iter(f"{queue.prefix}:*"):
            queue.redis.delete(key)
        queue.redis.close()


def _take(queue: JobQueue) -> bytes:
    message = queue.take(WORKER, timeout=1)
    assert message is not None
    return message
