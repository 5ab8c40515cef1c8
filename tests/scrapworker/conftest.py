"""Fixtures for scrapworker: a queue on the session's real Redis under a prefix of its own per test."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from lake.settings import LakeSettings
from scrapworker.queue import JobQueue


@pytest.fixture
def queue(lake_settings: LakeSettings) -> Iterator[JobQueue]:
    prefix = f"scrapworker-t{secrets.token_hex(4)}"
    job_queue = JobQueue.from_settings(lake_settings.queue, prefix=prefix, lease_seconds=2, max_attempts=3)
    yield job_queue
    for key in job_queue.redis.scan_iter(f"{prefix}:*"):
        job_queue.redis.delete(key)
    job_queue.redis.close()
