"""Queue semantics on real Redis: idempotent enqueue, leases, heartbeats, reaping, retries, dead letters."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest

from scrapworker.protocol import JobSpec, JobState
from scrapworker.queue import JobQueue, Lease


def spec(job_id: str = "job-1", **changes: object) -> JobSpec:
    base = {
        "job_id": job_id,
        "endpoint": "klines",
        "params": {"symbol": "BTCUSDT", "interval": "1m"},
        "window": {"start": datetime(2026, 11, 1, tzinfo=UTC), "end": datetime(2026, 11, 1, 0, 15, tzinfo=UTC)},
        "landing_prefix": "binance",
    }
    return JobSpec.model_validate(base | changes)


def take_lease(queue: JobQueue, worker: str = "w1") -> Lease | None:
    message = queue.take(worker, timeout=1)
    assert message is not None, "nothing pending"
    return queue.lease(worker, message)


def test_enqueue_is_idempotent_by_job_id(queue: JobQueue) -> None:
    first = queue.enqueue(spec())
    second = queue.enqueue(spec())
    assert first.state is second.state is JobState.QUEUED
    assert queue.pending_count() == 1
    assert len(second.history) == 1


def test_lease_marks_running_and_success_is_terminal(queue: JobQueue) -> None:
    queue.enqueue(spec())
    lease = take_lease(queue)
    assert lease is not None and lease.attempt == 1
    running = queue.status("job-1")
    assert running is not None and running.state is JobState.RUNNING and running.worker == "w1"

    assert queue.succeed(lease, {"pages": 2}) == "succeeded"
    done = queue.status("job-1")
    assert done is not None and done.state is JobState.SUCCEEDED
    assert done.outputs == {"pages": 2}
    assert queue.redis.ttl(queue.key("job", "job-1")) > 0  # finished statuses expire
    # A second enqueue of a finished job does not run it again; rerun does.
    assert queue.enqueue(spec()).state is JobState.SUCCEEDED and queue.pending_count() == 0
    assert queue.enqueue(spec(), rerun=True).state is JobState.QUEUED and queue.pending_count() == 1


def test_expired_lease_is_reaped_and_the_old_holder_cannot_finish(queue: JobQueue) -> None:
    queue.enqueue(spec())
    stale = take_lease(queue, "w1")
    assert stale is not None
    time.sleep(queue.lease_seconds + 0.2)  # w1 stops heartbeating (killed)
    assert queue.reap() == 1
    assert queue.status("job-1").state is JobState.QUEUED  # type: ignore[union-attr]

    fresh = take_lease(queue, "w2")
    assert fresh is not None and fresh.attempt == 2
    assert not queue.heartbeat(stale)
    assert queue.succeed(stale, {"pages": 1}) == "lost"  # fencing: the killed worker's late result
    assert queue.succeed(fresh, {"pages": 3}) == "succeeded"
    status = queue.status("job-1")
    assert status is not None and status.outputs == {"pages": 3}
    assert sum(" succeeded" in line for line in status.history) == 1
    assert any("lease expired on w1" in line for line in status.history)


def test_heartbeat_keeps_a_lease_alive(queue: JobQueue) -> None:
    queue.enqueue(spec())
    lease = take_lease(queue)
    assert lease is not None
    for _ in range(4):
        time.sleep(queue.lease_seconds / 2)
        assert queue.heartbeat(lease)
        assert queue.reap() == 0
    assert queue.status("job-1").state is JobState.RUNNING  # type: ignore[union-attr]


def test_transient_failures_retry_then_dead_letter(queue: JobQueue) -> None:
    queue.enqueue(spec())
    for attempt in range(1, queue.max_attempts + 1):
        lease = take_lease(queue)
        assert lease is not None and lease.attempt == attempt
        state = queue.fail(lease, f"HTTP 503 (try {attempt})", permanent=False)
        assert state == ("dead" if attempt == queue.max_attempts else "queued")
    assert queue.pending_count() == 0
    status = queue.status("job-1")
    assert status is not None and status.state is JobState.DEAD and status.error == "HTTP 503 (try 3)"
    [letter] = queue.dead_letters()
    assert letter.job_id == "job-1" and letter.reason == "HTTP 503 (try 3)"

    assert queue.requeue_dead("job-1") == ["job-1"]
    assert queue.dead_letters() == []
    again = queue.status("job-1")
    assert again is not None and again.state is JobState.QUEUED and again.attempts == 0


def test_permanent_failure_is_not_retried(queue: JobQueue) -> None:
    queue.enqueue(spec())
    lease = take_lease(queue)
    assert lease is not None
    assert queue.fail(lease, "HTTP 400 -1121: Invalid symbol.", permanent=True) == "failed"
    assert queue.pending_count() == 0
    assert queue.status("job-1").error == "HTTP 400 -1121: Invalid symbol."  # type: ignore[union-attr]


def test_release_gives_the_job_back_without_counting_the_attempt(queue: JobQueue) -> None:
    queue.enqueue(spec())
    lease = take_lease(queue)
    assert lease is not None
    assert queue.release(lease) == "queued"
    again = take_lease(queue)
    assert again is not None and again.attempt == 1


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("{not json", "malformed job message"),
        (json.dumps({"job_id": "x1", "endpoint": "klines"}), "landing_prefix: Field required"),
        (json.dumps(spec("x2").model_dump(mode="json") | {"landing_prefix": "../etc"}), "must not contain"),
        (json.dumps(spec("x3").model_dump(mode="json") | {"v": 9}), "unsupported job protocol version 9"),
    ],
)
def test_malformed_messages_are_dead_lettered_with_the_reason(queue: JobQueue, message: str, reason: str) -> None:
    queue.redis.lpush(queue.key("pending"), message)
    taken = queue.take("w1", timeout=1)
    assert taken == message.encode()
    assert queue.lease("w1", taken) is None
    [letter] = queue.dead_letters()
    assert reason in letter.reason
    assert queue.redis.llen(queue.key("claim", "w1")) == 0
    if letter.job_id:  # a producer watching that id sees the failure
        assert queue.status(letter.job_id).state is JobState.DEAD  # type: ignore[union-attr]


def test_a_readable_message_under_the_id_of_an_unreadable_one_is_a_conflict_not_skipped(queue: JobQueue) -> None:
    # The unreadable message leaves a dead record under its id (for a producer watching that id). A later
    # readable message with that id is no duplicate of a job that ran: it must end as a dead letter naming
    # the conflict, not be skipped without a trace.
    queue.redis.lpush(queue.key("pending"), json.dumps(spec("x4").model_dump(mode="json") | {"landing_prefix": "../e"}))
    assert take_lease(queue) is None
    queue.redis.lpush(queue.key("pending"), spec("x4").model_dump_json())
    assert take_lease(queue) is None
    latest, first = queue.dead_letters()
    assert "must not contain" in first.reason and latest.reason.startswith("conflict:"), latest.reason
    assert latest.job_id == "x4" and queue.status("x4").state is JobState.DEAD  # type: ignore[union-attr]


def test_a_message_pushed_without_enqueue_is_adopted(queue: JobQueue) -> None:
    queue.redis.lpush(queue.key("pending"), spec("raw-1").model_dump_json())
    lease = take_lease(queue)
    assert lease is not None and lease.spec.job_id == "raw-1"
    assert queue.status("raw-1").state is JobState.RUNNING  # type: ignore[union-attr]


def test_a_duplicate_message_of_a_finished_job_is_skipped(queue: JobQueue) -> None:
    queue.enqueue(spec())
    lease = take_lease(queue)
    assert lease is not None
    queue.succeed(lease, {})
    queue.redis.lpush(queue.key("pending"), spec().model_dump_json())  # e.g. a producer retried its push
    assert take_lease(queue) is None
    assert queue.status("job-1").attempts == 1  # type: ignore[union-attr]


def test_messages_claimed_by_a_dead_worker_go_back_to_pending(queue: JobQueue) -> None:
    queue.enqueue(spec())
    queue.redis.zadd(queue.key("workers"), {"gone": 0})  # last heartbeat long ago
    assert queue.redis.blmove(queue.key("pending"), queue.key("claim", "gone"), 1, "RIGHT", "LEFT")
    assert queue.pending_count() == 0
    assert queue.reap() == 1
    assert queue.pending_count() == 1
    assert take_lease(queue, "w2") is not None


def test_wait_wakes_on_completion_and_times_out_otherwise(queue: JobQueue) -> None:
    queue.enqueue(spec())
    lease = take_lease(queue)
    assert lease is not None
    with pytest.raises(TimeoutError, match="still running"):
        queue.wait("job-1", timeout=0.3)

    finisher = threading.Timer(0.3, lambda: queue.succeed(lease, {"pages": 1}))
    finisher.start()
    try:
        status = queue.wait("job-1", timeout=30)
    finally:
        finisher.join()
    assert status.state is JobState.SUCCEEDED
    with pytest.raises(KeyError, match="no job 'nope'"):
        queue.wait("nope", timeout=1)


def test_a_worker_that_leaves_gives_back_what_it_took(queue: JobQueue) -> None:
    queue.enqueue(spec("a"))
    queue.enqueue(spec("b"))
    queue.register_worker("w1")
    assert queue.take("w1", timeout=1) is not None and queue.take("w1", timeout=1) is not None
    assert queue.pending_count() == 0
    assert queue.unregister_worker("w1") == 2  # taken, never leased: back on the queue
    assert queue.pending_count() == 2 and queue.redis.llen(queue.key("claim", "w1")) == 0


def test_a_message_cannot_hijack_a_queued_job(queue: JobQueue) -> None:
    queue.enqueue(spec("job-1"))
    impostor = spec("job-1", landing_prefix="elsewhere")
    queue.redis.rpush(queue.key("pending"), impostor.model_dump_json())  # taken before the real message
    assert take_lease(queue) is None
    [letter] = queue.dead_letters()
    assert letter.job_id == "job-1" and letter.reason.startswith("conflict:")
    lease = take_lease(queue)
    assert lease is not None and lease.spec.landing_prefix == "binance"  # the job as enqueued
