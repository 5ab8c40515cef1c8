"""The job protocol: what producers put on the queue and what they can read back.

Owned by scrapworker and imported by producers (the Dagster landing asset). Versioned: a message
carries `v`, and a worker refuses a version it does not know rather than guessing.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

PROTOCOL_VERSION = 1
JOB_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:=-]{0,199}"

# Bounds on what a message may carry: a spec is a few hundred bytes and three levels deep. Larger or deeper
# input is refused before it is parsed, so no message can exhaust a worker's memory or its recursion limit.
MAX_MESSAGE_BYTES = 64 * 1024
MAX_JSON_DEPTH = 8
MAX_PARAMS = 32
MAX_PARAM_TEXT = 512
MAX_PREFIX_LENGTH = 256  # keeps every landing key (prefix/endpoint/window/job id/page) far below S3's 1024 bytes
MAX_ATTEMPT = 1000
MIN_WINDOW = timedelta(milliseconds=1)  # the protocol's time resolution: APIs count time in milliseconds
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# How much of a refused value an error message repeats.
SHOWN = 120

# Integers a JSON number carries exactly (JavaScript's safe range): larger ones would round.
MAX_PARAM_INT = 2**53
ParamValue = (
    Annotated[str, StringConstraints(max_length=MAX_PARAM_TEXT)]
    | Annotated[int, Field(ge=-MAX_PARAM_INT, le=MAX_PARAM_INT)]
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
)
ParamName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]


def clip(value: object, limit: int = SHOWN) -> str:
    """A value as an error message may quote it: repr, cut to `limit` characters."""
    return cut(repr(value), limit)


def cut(text: str, limit: int = SHOWN) -> str:
    """Text as an error message may repeat it: at most `limit` characters, and how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


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
        if self.end - self.start < MIN_WINDOW:
            raise ValueError("window: shorter than a millisecond, the APIs' time resolution")
        if self.start < EARLIEST or self.end > LATEST:
            raise ValueError(f"window: must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
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
    params: dict[ParamName, ParamValue] = Field(default_factory=dict, max_length=MAX_PARAMS)
    window: TimeWindow | None = None
    # Relative to the raw bucket.
    landing_prefix: str = Field(max_length=MAX_PREFIX_LENGTH)
    # Attempts already made when this message was written (0 for a new job).
    attempt: int = Field(default=0, ge=0, le=MAX_ATTEMPT)

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

    @field_validator("params", mode="before")
    @classmethod
    def _integers_in_range(cls, value: object) -> object:
        # Checked before the union of value types: an integer out of range would otherwise be taken as a
        # float (and reported as one), or be too long for Python to print.
        if isinstance(value, dict):
            for name, item in value.items():
                if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_PARAM_INT:
                    raise ValueError(out_of_range(str(name), item))
        return value


def out_of_range(name: str, value: int) -> str:
    """An integer parameter beyond ±2**53, described by its size (printing it may exceed Python's limit)."""
    if value.bit_length() < 10_000:
        size = f"{len(str(abs(value)))} digits"
    else:
        size = f"about {int(value.bit_length() * 0.30103) + 1} digits"
    return f"{name}: an integer of {size} is out of range (at most ±{MAX_PARAM_INT})"


def safe_landing_prefix(value: str) -> str:
    """A relative key prefix that cannot climb out of the raw bucket or hide in odd characters."""
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", value):
        raise ValueError(
            f"landing prefix {clip(value)} is a URL; expected a relative key prefix in the raw bucket, "
            f"such as 'binance/klines' (letters, digits and . _ = - /, at most {MAX_PREFIX_LENGTH} characters)"
        )
    if not value or value.startswith("/") or "\\" in value:
        raise ValueError(f"landing prefix {clip(value)} must be a relative path such as 'binance/klines'")
    # Split by hand: PurePosixPath would quietly drop the '.' segments we mean to refuse.
    if any(part in ("..", ".", "") for part in value.rstrip("/").split("/")):
        raise ValueError(f"landing prefix {clip(value)} must not contain '.', '..' or empty segments")
    if not re.fullmatch(r"[A-Za-z0-9._=/-]+", value):
        raise ValueError(f"landing prefix {clip(value)} may hold only letters, digits and . _ = - /")
    return value.strip("/")


class MessageError(ValueError):
    """A message no worker can run; `job_id` is set when the message names a usable one."""

    def __init__(self, reason: str, job_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.job_id = job_id


def parse_message(raw: bytes | str) -> JobSpec:
    """The job a queue message carries, or MessageError with a short reason naming the problem.

    Size, encoding and nesting are checked before parsing, so no message can exhaust memory or recursion.
    """
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {size} bytes is larger than {MAX_MESSAGE_BYTES}")
    try:
        text = raw if isinstance(raw, str) else raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageError(f"message is not UTF-8 (invalid byte at offset {exc.start})") from None
    depth = json_depth(text, MAX_JSON_DEPTH)
    if depth > MAX_JSON_DEPTH:
        raise MessageError(f"message nests JSON deeper than {MAX_JSON_DEPTH} levels")
    # A number too long for any field fails JSON parsing before a field is known: name the field here.
    long_number = re.search(r'"([^"\\]{1,64})"\s*:\s*-?\d{19,}', text)
    if long_number:
        raise MessageError(f"malformed job message: {clip(long_number[1])}: a number of more than 18 digits")
    try:
        return JobSpec.model_validate_json(text)
    except ValidationError as exc:
        raise MessageError(f"malformed job message: {first_errors(exc)}", _job_id_of(text)) from None


def json_depth(text: str, stop_above: int) -> int:
    """How deep brackets nest in JSON text (outside strings); stops counting once past `stop_above`."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def first_errors(exc: ValidationError, limit: int = 3) -> str:
    """Pydantic's errors as `field: message`, the first few, each cut short."""
    parts = []
    for error in exc.errors(include_input=False)[:limit]:
        # A location names fields, but also the keys of the message (a params key, an unknown field): cut each.
        where = ".".join(cut(str(p)) for p in error["loc"]) or "message"
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message[: SHOWN * 2]}")
    return "; ".join(parts)


def _job_id_of(text: str) -> str | None:
    """The job id of an invalid message when it has a usable one, so its producer can see the failure."""
    try:
        job_id = json.loads(text).get("job_id")
    except (ValueError, AttributeError):
        return None
    return job_id if isinstance(job_id, str) and re.fullmatch(JOB_ID_PATTERN, job_id) else None


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
