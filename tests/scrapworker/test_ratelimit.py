"""The shared token bucket on real Redis: no fixed window ever sees more than its limit."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from scrapworker.endpoints import RateLimitGroup
from scrapworker.queue import JobQueue
from scrapworker.ratelimit import RateLimiter

GROUP = RateLimitGroup(weight_per_window=100, window_seconds=1.0, burst=10)


def limiter(queue: JobQueue, group: RateLimitGroup = GROUP) -> RateLimiter:
    return RateLimiter(queue.redis, queue.prefix, "test", group)


def test_burst_is_granted_then_the_wait_matches_the_refill(queue: JobQueue) -> None:
    bucket = limiter(queue)
    assert [bucket.reserve(5), bucket.reserve(5)] == [0.0, 0.0]
    wait = bucket.reserve(9)
    # 9 tokens at (100 - 10) / 1 s = 90 per second: 0.1 s, less what refilled while we called.
    assert 0 < wait <= 0.1


def test_concurrent_callers_never_overrun_a_fixed_window(queue: JobQueue) -> None:
    """Eight threads (standing in for workers) spend as fast as they are allowed for 2.5 windows."""
    bucket = limiter(queue)
    granted: dict[int, int] = defaultdict(int)
    lock = threading.Lock()
    deadline = time.time() + 2.5

    def redis_window() -> int:
        seconds, micros = queue.redis.time()  # the limiter's clock (its scripts read Redis TIME), not ours
        return int((seconds + micros / 1e6) // GROUP.window_seconds)

    def spend() -> None:
        while time.time() < deadline:
            before = redis_window()
            wait = bucket.reserve(3)
            after = redis_window()
            if wait:
                time.sleep(min(wait, 0.05))
                continue
            if before == after:  # a grant whose call straddled a window boundary is in an unknown window
                with lock:
                    granted[after] += 3

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted, "nothing was granted"
    assert max(granted.values()) <= GROUP.weight_per_window, dict(granted)
    full_windows = [w for w in granted if w not in (min(granted), max(granted))]
    # Not starved either (efficiency proper is measured by bench/crawler.py, not here).
    assert all(granted[w] >= 0.5 * GROUP.weight_per_window for w in full_windows), dict(granted)


def test_used_weight_header_lowers_the_bucket_but_never_raises_it(queue: JobQueue) -> None:
    bucket = limiter(queue)
    sent_at = time.time()
    left_in_window = GROUP.window_seconds - sent_at % GROUP.window_seconds
    # The API says 95 of 100 were used: what may still be held is 100 - 95 - refill(time left).
    ceiling = 100 - 95 - GROUP.refill_per_second * left_in_window
    tokens = bucket.sync_used_weight(95, sent_at=sent_at)
    assert tokens == pytest.approx(ceiling, abs=1)
    expected_wait = max(0.0, (1 - tokens) / GROUP.refill_per_second)
    assert bucket.reserve(1) == pytest.approx(expected_wait, abs=0.05)
    # An API that reports less use than we counted does not give us more than the burst.
    assert bucket.sync_used_weight(0, sent_at=time.time()) <= GROUP.burst


def test_a_reply_from_across_a_window_boundary_does_not_stall_the_bucket(queue: JobQueue) -> None:
    """Sent just before a boundary, answered just after: the header counts the window it was sent in."""
    bucket = limiter(queue)
    boundary = (time.time() // 1) * 1.0 + 1.0
    # 95 of 100 used in the old window, which had 50 ms left: at most about 5 - refill(50 ms) tokens then,
    # not a whole window's debt. (50 ms, not 1: the bucket's clock is Redis's, a round trip later than ours.)
    tokens = bucket.sync_used_weight(95, sent_at=boundary - 0.05)
    assert 5 - GROUP.refill_per_second * 0.05 - 1 <= tokens <= GROUP.burst


def test_a_pause_holds_every_caller(queue: JobQueue) -> None:
    bucket = limiter(queue)
    bucket.pause(2.0)
    other_worker = limiter(queue)  # another process sharing the group
    assert 1.5 < other_worker.reserve(1) <= 2.0
    assert 1.5 < other_worker.paused_for() <= 2.0
    bucket.pause(0.5)  # a shorter pause never shortens a longer one
    assert other_worker.paused_for() > 1.5
