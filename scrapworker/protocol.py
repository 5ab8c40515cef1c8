"""The job protocol: what producers put on the queue and what they can read back.

Owned by scrapworker and imported by producers (the Dagster landing asset). Versioned: a message
carries `v`, and a worker refuses a version it does not know rather than guessing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PROTOCOL_VERSION = 1
JOB_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:=-]{0,199}"

ParamValue = str | int | float | bool


class TimeWindow(BaseModel):
    """A half-open UTC window [start, end), the range a time-window endpoint is crawled over."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("expected a timezone-aware timestamp, e.g. 2026-11-01T00:00:00Z")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end:%Y-%m-%dT%H:%M:%SZ} is not after its start")
        return self

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)

    def label(self) -> str:
        """The window as it appears in object keys: sortable, no characters S3 treats specially."""
        return f"{self.start:%Y%m%dT%H%M%SZ}_{self.end:%Y%m%dT%H%M%SZ}"


class JobSpec(BaseModel):
    """One crawl: an endpoint (by name, never a URL), its parameters, an optional window, and where to land."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = PROTOCOL_VERSION
    # The idempotency key: the same id is the same job, and lands under the same keys.
    job_id: str = Field(pattern=f"^{JOB_ID_PATTERN}$")
    endpoint: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    params: dict[str, ParamValue] = Field(default_factory=dict)
    window: TimeWindow | None = None
    # Relative to the raw bucket.
    landing_prefix: str
    # Attempts already made when this message was written (0 for a new job).
    attempt: int = Field(default=0, ge=0)

    @field_validator("v")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != PROTOCOL_VERSION:
            raise ValueError(f"unsupported job protocol version {value}; this worker speaks {PROTOCOL_VERSION}")
        return value

    @field_validator("landing_prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        return safe_landing_prefix(value)


def safe_landing_prefix(value: str) -> str:
    """A relative key prefix that cannot climb out of the raw bucket or hide in odd characters."""
    if not value or value.startswith("/") or "\\" in value:
        raise ValueError(f"landing prefix {value!r} must be a relative path such as 'binance/klines'")
    # Split by hand: PurePosixPath would quietly drop the '.' segments we mean to refuse.
    if any(part in ("..", ".", "") for part in value.rstrip("/").split("/")):
        raise ValueError(f"landing prefix {value!r} must not contain '.', '..' or empty segments")
    if not re.fullmatch(r"[A-Za-z0-9._=/-]+", value):
        raise ValueError(f"landing prefix {value!r} may hold only letters, digits and . _ = - /")
    return value.strip("/")


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # a permanent error (the API refused the request): retrying cannot help
    DEAD = "dead"  # transient errors on every allowed attempt, or a malformed message

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.DEAD)


class JobStatus(BaseModel):
    """What the queue knows of a job: readable by any producer, kept for the status TTL."""

    job_id: str
    state: JobState
    attempts: int = 0
    worker: str | None = None
    error: str | None = None
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    history: list[str] = Field(default_factory=list)
    spec: JobSpec | None = None
