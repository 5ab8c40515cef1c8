"""The job queue on Redis: enqueue, lease, heartbeat, finish, reap, dead letters, and waiting on a job.

Keys, under a prefix (default `scrapworker`):

    {p}:pending            list   messages (job spec JSON) waiting; producers LPUSH, workers take from the right
    {p}:claim:{worker}     list   messages a worker has taken but not yet leased (recovered if it dies)
    {p}:workers            zset   worker -> last heartbeat (ms)
    {p}:leases             zset   job id -> lease deadline (ms)
    {p}:job:{id}           hash   spec, state, attempts, worker, lease token, error, outputs, timestamps
    {p}:history:{id}       list   one line per state change
    {p}:dead               list   dead letters (JSON: job id or raw message, reason)
    {p}:events:{id}        pubsub a message on every terminal state, so `wait` needs no polling

Every state change is one Lua script, so it is atomic against other workers and the reaper. A lease
carries a random token; heartbeat and finish check it, so a worker whose lease expired (and whose job
another worker took over) can no longer change the job: its late completion is refused, not counted.
Lease deadlines and worker heartbeats are Redis's own clock (TIME inside the scripts), so worker hosts
whose clocks disagree still agree on when a lease expires.

Every message a worker takes ends in one place: leased and run, skipped as a duplicate of a job that is
finished or running, or dead-lettered with a short reason (malformed, or in conflict with the job stored
under its id). A message never changes a job that exists: only the job's own lease does.
The reaper reaches keys by name inside its script: fine on one Redis, not on Redis Cluster.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis
from pydantic import ValidationError

from lake.settings import QueueSettings
from scrapworker.protocol import JobSpec, JobState, JobStatus, MessageError, clip, parse_message
from scrapworker.redis_clock import NOW_MS

DEFAULT_PREFIX = "scrapworker"
# A dead letter keeps this much of a message it could not read, and this much of a reason.
KEPT_RAW = 300
KEPT_REASON = 300


# ARGV: spec, now iso, rerun, attempts, fingerprint
_ENQUEUE = """
local state = redis.call('HGET', KEYS[1], 'state')
local rerunnable = state == 'succeeded' or state == 'failed' or state == 'dead'
if state and not (ARGV[3] == '1' and rerunnable) then return state end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'spec', ARGV[1], 'fingerprint', ARGV[5], 'state', 'queued', 'attempts', ARGV[4],
  'enqueued_at', ARGV[2])
redis.call('PERSIST', KEYS[2])
redis.call('RPUSH', KEYS[2], ARGV[2] .. ' queued' .. (state and (' (rerun after ' .. state .. ')') or ''))
redis.call('LPUSH', KEYS[3], ARGV[1])
return 'enqueued'
"""

# KEYS: claim, job, leases, history, dead. ARGV: message, job id, worker, token, lease ms, now iso, attempt,
# fingerprint, dead letter (for a conflict)
_LEASE = (
    NOW_MS
    + """
local state = redis.call('HGET', KEYS[2], 'state')
local stored = redis.call('HGET', KEYS[2], 'fingerprint')
if (stored and stored ~= ARGV[8]) or (state and not stored) then
  -- Another spec under this job's id: the message is dead-lettered; the job stays as it is. A record with
  -- no fingerprint is an unreadable message's (_REJECT): no job ran under that id, so a readable message
  -- is not its duplicate, and skipping it would leave no trace of it.
  redis.call('LREM', KEYS[1], 1, ARGV[1])
  redis.call('LPUSH', KEYS[5], ARGV[9])
  return {'conflict', state or ''}
end
redis.call('LREM', KEYS[1], 1, ARGV[1])
if state == 'succeeded' or state == 'failed' or state == 'dead' then return {'skip', state} end
if state == 'running' and redis.call('ZSCORE', KEYS[3], ARGV[2]) then return {'skip', 'running'} end
if not state then
  -- A message pushed straight onto the list, without enqueue(): adopt it.
  redis.call('HSET', KEYS[2], 'spec', ARGV[1], 'fingerprint', ARGV[8], 'attempts', ARGV[7], 'enqueued_at', ARGV[6])
end
local previous = redis.call('HGET', KEYS[2], 'worker') or ''
local attempts = redis.call('HINCRBY', KEYS[2], 'attempts', 1)
redis.call('HSET', KEYS[2], 'state', 'running', 'worker', ARGV[3], 'lease', ARGV[4], 'started_at', ARGV[6])
redis.call('HDEL', KEYS[2], 'finished_at')
redis.call('ZADD', KEYS[3], now_ms + tonumber(ARGV[5]), ARGV[2])
redis.call('RPUSH', KEYS[4], ARGV[6] .. ' running attempt ' .. attempts .. ' on ' .. ARGV[3])
return {'leased', tostring(attempts), previous}
"""
)

# ARGV: job id, token, lease ms
_HEARTBEAT = (
    NOW_MS
    + """
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[2], 'XX', now_ms + tonumber(ARGV[3]), ARGV[1])
return 1
"""
)

# KEYS: workers. ARGV: worker
_REGISTER = (
    NOW_MS
    + """
redis.call('ZADD', KEYS[1], now_ms, ARGV[1])
return now_ms
"""
)

# A worker leaving on purpose gives back what it took and has not leased. KEYS: workers, claim, pending
_UNREGISTER = """
local returned = 0
while redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT') do returned = returned + 1 end
redis.call('ZREM', KEYS[1], ARGV[1])
return returned
"""

# The landing of an expired lease turned out complete: the job succeeded after all.
# KEYS: job, leases, history, events. ARGV: job id, worker, attempts, outputs, now iso, ttl s
_COMPLETE_LOST = (
    NOW_MS
    + """
local deadline = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not deadline or tonumber(deadline) > now_ms then return 0 end
if redis.call('HGET', KEYS[1], 'worker') ~= ARGV[2] or redis.call('HGET', KEYS[1], 'attempts') ~= ARGV[3] then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'lease', 'error')
redis.call('HSET', KEYS[1], 'state', 'succeeded', 'outputs', ARGV[4], 'finished_at', ARGV[5])
redis.call('RPUSH', KEYS[3], ARGV[5] .. ' succeeded: the lease expired, the landing was complete')
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('PUBLISH', KEYS[4], 'succeeded')
return 1
"""
)

# KEYS: job, leases, history, pending, dead, events channel
# ARGV: job id, token, outcome, detail, now iso, max attempts, ttl seconds
_FINISH = """
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[2] then return 'lost' end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'lease')
local outcome, state = ARGV[3], nil
if outcome == 'succeeded' then
  state = 'succeeded'
  redis.call('HSET', KEYS[1], 'outputs', ARGV[4])
  redis.call('HDEL', KEYS[1], 'error')
elseif outcome == 'failed' then
  state = 'failed'
  redis.call('HSET', KEYS[1], 'error', ARGV[4])
elseif outcome == 'reject' then
  -- The endpoint file refuses the job (unknown endpoint, bad parameters): no attempt can help.
  state = 'dead'
  redis.call('HSET', KEYS[1], 'error', ARGV[4])
  redis.call('LPUSH', KEYS[5], cjson.encode({job_id = ARGV[1], reason = ARGV[4], at = ARGV[5]}))
elseif outcome == 'release' then
  -- The worker is shutting down: the attempt does not count.
  redis.call('HINCRBY', KEYS[1], 'attempts', -1)
  state = 'queued'
else
  redis.call('HSET', KEYS[1], 'error', ARGV[4])
  if tonumber(redis.call('HGET', KEYS[1], 'attempts')) >= tonumber(ARGV[6]) then
    state = 'dead'
    redis.call('LPUSH', KEYS[5], cjson.encode({job_id = ARGV[1], reason = ARGV[4], at = ARGV[5]}))
  else
    state = 'queued'
  end
end
redis.call('HSET', KEYS[1], 'state', state)
local line = ARGV[5] .. ' ' .. state
if outcome ~= 'succeeded' and ARGV[4] ~= '' then line = line .. ': ' .. ARGV[4] end
redis.call('RPUSH', KEYS[3], line)
if state == 'queued' then
  redis.call('RPUSH', KEYS[4], redis.call('HGET', KEYS[1], 'spec'))
else
  redis.call('HSET', KEYS[1], 'finished_at', ARGV[5])
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  redis.call('EXPIRE', KEYS[3], ARGV[7])
  redis.call('PUBLISH', KEYS[6], state)
end
return state
"""

# KEYS: leases, workers, pending, dead. ARGV: (unused), now iso, max attempts, prefix, worker ttl ms, ttl s
_REAP = (
    NOW_MS
    + """
local prefix, reaped = ARGV[4], 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms)) do
  local job, history = prefix .. ':job:' .. id, prefix .. ':history:' .. id
  redis.call('ZREM', KEYS[1], id)
  local worker = redis.call('HGET', job, 'worker') or '?'
  redis.call('HDEL', job, 'lease')
  local reason = 'lease expired on ' .. worker
  redis.call('HSET', job, 'error', reason)
  if tonumber(redis.call('HGET', job, 'attempts') or '0') >= tonumber(ARGV[3]) then
    redis.call('HSET', job, 'state', 'dead', 'finished_at', ARGV[2])
    redis.call('LPUSH', KEYS[4], cjson.encode({job_id = id, reason = reason, at = ARGV[2]}))
    redis.call('RPUSH', history, ARGV[2] .. ' dead: ' .. reason)
    redis.call('EXPIRE', job, ARGV[6])
    redis.call('EXPIRE', history, ARGV[6])
    redis.call('PUBLISH', prefix .. ':events:' .. id, 'dead')
  else
    redis.call('HSET', job, 'state', 'queued')
    redis.call('RPUSH', history, ARGV[2] .. ' queued: ' .. reason)
    redis.call('RPUSH', KEYS[3], redis.call('HGET', job, 'spec'))
  end
  reaped = reaped + 1
end
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms - tonumber(ARGV[5]))) do
  local claim = prefix .. ':claim:' .. worker
  while redis.call('LMOVE', claim, KEYS[3], 'LEFT', 'RIGHT') do reaped = reaped + 1 end
  redis.call('ZREM', KEYS[2], worker)
end
return reaped
"""
)

# A message no worker can run. It marks a job dead only when no job exists under its id (a producer that
# pushed it straight onto the list can then see why); an existing job is never touched by a message.
_REJECT = """
redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[2])
if ARGV[3] ~= '' and redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('HSET', KEYS[3], 'state', 'dead', 'error', ARGV[4], 'finished_at', ARGV[5])
  if not redis.call('HGET', KEYS[3], 'spec') then redis.call('HSET', KEYS[3], 'spec', ARGV[1]) end
  redis.call('RPUSH', KEYS[4], ARGV[5] .. ' dead: ' .. ARGV[4])
  redis.call('EXPIRE', KEYS[3], ARGV[6])
  redis.call('EXPIRE', KEYS[4], ARGV[6])
  redis.call('PUBLISH', KEYS[5], 'dead')
end
return 1
"""


@dataclass(frozen=True)
class Lease:
    """A job this worker holds until its deadline, renewed by heartbeats."""

    spec: JobSpec
    worker: str
    token: str
    attempt: int
    # The worker of the attempt before this one ("" for a first attempt): a landing it completed counts.
    previous_worker: str = ""


@dataclass(frozen=True)
class ExpiredLease:
    """A running job whose lease ran out: its worker died or stalled, perhaps after landing it whole."""

    job_id: str
    worker: str
    attempts: int
    spec: JobSpec


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    at: str
    job_id: str | None = None
    raw: str | None = None


class JobQueue:
    """Producer and worker operations on one queue. Thread-safe (redis-py pools its connections)."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = DEFAULT_PREFIX,
        *,
        lease_seconds: float = 30.0,
        max_attempts: int = 3,
        status_ttl_seconds: int = 7 * 24 * 3600,
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.status_ttl_seconds = status_ttl_seconds
        self._enqueue = client.register_script(_ENQUEUE)
        self._lease = client.register_script(_LEASE)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._finish = client.register_script(_FINISH)
        self._reap = client.register_script(_REAP)
        self._reject = client.register_script(_REJECT)
        self._register = client.register_script(_REGISTER)
        self._unregister = client.register_script(_UNREGISTER)
        self._complete_lost = client.register_script(_COMPLETE_LOST)
        # Messages are taken as bytes: a message that is not UTF-8 must reach the dead letters, not crash
        # the decoding client after Redis has already moved it.
        options = dict(client.connection_pool.connection_kwargs) | {"decode_responses": False}
        self._bytes = redis.Redis(connection_pool=redis.ConnectionPool(**options))

    @classmethod
    def from_settings(cls, settings: QueueSettings, **overrides: Any) -> JobQueue:
        """The queue as every component configures it (LAKE_QUEUE__*): workers and producers alike, each
        as its own ACL user (lake.access). `overrides` replace settings fields (a test's own prefix)."""
        settings = settings.model_copy(update=overrides) if overrides else settings
        return cls(
            redis_client(settings, decode_responses=True, health_check_interval=30),
            settings.prefix,
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
            status_ttl_seconds=settings.status_ttl_hours * 3600,
        )

    @property
    def username(self) -> str | None:
        """The ACL user this queue's client connects as."""
        return cast(str | None, self.redis.connection_pool.connection_kwargs.get("username"))

    # -- keys ---------------------------------------------------------------------------------------
    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # -- producers ----------------------------------------------------------------------------------
    def enqueue(self, spec: JobSpec, *, rerun: bool = False) -> JobStatus:
        """Queue a job unless one with this id exists; `rerun` re-queues a finished one (same keys)."""
        self._enqueue(
            keys=[self.key("job", spec.job_id), self.key("history", spec.job_id), self.key("pending")],
            args=[spec.model_dump_json(), _now_iso(), int(rerun), spec.attempt, fingerprint(spec)],
        )
        status = self.status(spec.job_id)
        assert status is not None
        return status

    def status(self, job_id: str) -> JobStatus | None:
        fields = cast(dict[str, str], self.redis.hgetall(self.key("job", job_id)))
        if not fields:
            return None
        history = cast(list[str], self.redis.lrange(self.key("history", job_id), 0, -1))
        try:
            spec: JobSpec | None = JobSpec.model_validate_json(fields["spec"]) if "spec" in fields else None
        except ValidationError:
            spec = None  # a malformed message that was dead-lettered under this id
        return JobStatus(
            job_id=job_id,
            state=JobState(fields.get("state", "queued")),
            attempts=int(fields.get("attempts", 0)),
            worker=fields.get("worker"),
            error=fields.get("error"),
            enqueued_at=fields.get("enqueued_at"),
            started_at=fields.get("started_at"),
            finished_at=fields.get("finished_at"),
            outputs=json.loads(fields["outputs"]) if "outputs" in fields else {},
            history=history,
            spec=spec,
        )

    def wait(self, job_id: str, timeout: float) -> JobStatus:
        """Block until the job reaches a terminal state; woken by Redis pub/sub, not by polling.

        Subscribes first and reads the state second, so a finish between the two is never missed.
        """
        # redis-py types pubsub() from 8.x on; earlier releases left it untyped.
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call, unused-ignore]
        try:
            pubsub.subscribe(self.key("events", job_id))
            deadline = time.monotonic() + timeout
            while True:
                status = self.status(job_id)
                if status is None:
                    raise KeyError(f"no job {job_id!r} in queue {self.prefix!r} (never enqueued, or expired)")
                if status.state.terminal:
                    return status
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"job {job_id} still {status.state.value} after {timeout:.0f} s")
                pubsub.get_message(timeout=remaining)
        finally:
            pubsub.close()

    def pending_count(self) -> int:
        return self.redis.llen(self.key("pending"))

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        raw = cast(list[str], self.redis.lrange(self.key("dead"), 0, limit - 1))
        return [DeadLetter(**json.loads(item)) for item in raw]

    def requeue_dead(self, job_id: str | None = None) -> list[str]:
        """Put dead jobs (one, or all that have a job id) back on the queue with a fresh attempt count."""
        requeued = []
        for letter in self.dead_letters(limit=10_000):
            if letter.job_id is None or (job_id is not None and letter.job_id != job_id):
                continue
            status = self.status(letter.job_id)
            if status is None or status.spec is None or status.state is not JobState.DEAD:
                continue
            self.enqueue(status.spec.model_copy(update={"attempt": 0}), rerun=True)
            requeued.append(letter.job_id)
        self._drop_requeued_letters(requeued)
        return requeued

    # -- workers ------------------------------------------------------------------------------------
    def register_worker(self, worker: str) -> None:
        self._register(keys=[self.key("workers")], args=[worker])

    def unregister_worker(self, worker: str) -> int:
        """Leave on purpose: messages taken and not leased go back to pending. Returns how many."""
        return cast(
            int,
            self._unregister(keys=[self.key("workers"), self.key("claim", worker), self.key("pending")], args=[worker]),
        )

    def take(self, worker: str, timeout: float) -> bytes | None:
        """Move the next message into this worker's claim list (blocking up to `timeout` seconds)."""
        return cast(
            bytes | None,
            self._bytes.blmove(self.key("pending"), self.key("claim", worker), timeout, "RIGHT", "LEFT"),  # type: ignore[arg-type]
        )

    def lease(self, worker: str, message: bytes | str) -> Lease | None:
        """Turn a taken message into a lease, or None: dead-lettered (malformed, or in conflict with the job
        stored under its id), or a duplicate of a job that is finished or running elsewhere."""
        try:
            spec = parse_message(message)
        except MessageError as exc:
            self.reject(worker, message, exc.reason, exc.job_id)
            return None
        token = secrets.token_hex(8)
        now = _now_iso()
        conflict = _letter(
            spec.job_id, f"conflict: the message's spec differs from the one queued under {spec.job_id}", message
        )
        result = cast(
            list[str],
            self._lease(
                keys=[
                    self.key("claim", worker),
                    self.key("job", spec.job_id),
                    self.key("leases"),
                    self.key("history", spec.job_id),
                    self.key("dead"),
                ],
                args=[
                    message,
                    spec.job_id,
                    worker,
                    token,
                    int(self.lease_seconds * 1000),
                    now,
                    spec.attempt,
                    fingerprint(spec),
                    conflict,
                ],
            ),
        )
        if result[0] != "leased":
            return None
        return Lease(spec=spec, worker=worker, token=token, attempt=int(result[1]), previous_worker=result[2])

    def reject(self, worker: str, message: bytes | str, reason: str, job_id: str | None = None) -> None:
        """Dead-letter a message no worker can run (malformed, too large, not UTF-8, too deep)."""
        job = job_id or "-"
        self._reject(
            keys=[
                self.key("claim", worker),
                self.key("dead"),
                self.key("job", job),
                self.key("history", job),
                self.key("events", job),
            ],
            args=[
                message,
                _letter(job_id, reason, message),
                job_id or "",
                reason[:KEPT_REASON],
                _now_iso(),
                self.status_ttl_seconds,
            ],
        )

    def heartbeat(self, lease: Lease) -> bool:
        """Extend the lease; False when it was lost (expired and reaped): the worker must stop the job."""
        kept = self._heartbeat(
            keys=[self.key("job", lease.spec.job_id), self.key("leases")],
            args=[lease.spec.job_id, lease.token, int(self.lease_seconds * 1000)],
        )
        return bool(kept)

    def succeed(self, lease: Lease, outputs: dict[str, Any]) -> str:
        return self._finish_with(lease, "succeeded", json.dumps(outputs))

    def fail(self, lease: Lease, error: str, *, permanent: bool) -> str:
        """Permanent: state failed at once. Otherwise retried until max attempts, then dead."""
        return self._finish_with(lease, "failed" if permanent else "retry", error)

    def reject_lease(self, lease: Lease, reason: str) -> str:
        """The job can never run as specified (unknown endpoint, bad parameters): dead-letter it at once."""
        return self._finish_with(lease, "reject", reason[:KEPT_REASON])

    def release(self, lease: Lease) -> str:
        """Give the job back without counting the attempt (graceful shutdown)."""
        return self._finish_with(lease, "release", "")

    def reap(self, worker_ttl_seconds: float | None = None) -> int:
        """Re-queue jobs whose lease expired and messages claimed by workers that stopped heartbeating."""
        ttl = worker_ttl_seconds if worker_ttl_seconds is not None else 3 * self.lease_seconds
        return cast(
            int,
            self._reap(
                keys=[self.key("leases"), self.key("workers"), self.key("pending"), self.key("dead")],
                args=[0, _now_iso(), self.max_attempts, self.prefix, int(ttl * 1000), self.status_ttl_seconds],
            ),
        )

    def expired_leases(self) -> list[ExpiredLease]:
        """Running jobs whose lease has run out by Redis's clock, before the reaper re-queues them."""
        seconds, micros = self.redis.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        expired = []
        for job_id in cast(list[str], self.redis.zrangebyscore(self.key("leases"), "-inf", now_ms)):
            fields = cast(dict[str, str], self.redis.hgetall(self.key("job", job_id)))
            try:
                spec = JobSpec.model_validate_json(fields["spec"])
                expired.append(ExpiredLease(job_id, fields["worker"], int(fields["attempts"]), spec))
            except (KeyError, ValueError):
                continue  # nothing to look for: the reaper re-queues it as usual
        return expired

    def complete_lost(self, lost: ExpiredLease, outputs: dict[str, Any]) -> bool:
        """Mark an expired lease's job succeeded: its landing is complete. False if the job moved on meanwhile."""
        return bool(
            self._complete_lost(
                keys=[
                    self.key("job", lost.job_id),
                    self.key("leases"),
                    self.key("history", lost.job_id),
                    self.key("events", lost.job_id),
                ],
                args=[
                    lost.job_id,
                    lost.worker,
                    lost.attempts,
                    json.dumps(outputs),
                    _now_iso(),
                    self.status_ttl_seconds,
                ],
            )
        )

    def _finish_with(self, lease: Lease, outcome: str, detail: str) -> str:
        job_id = lease.spec.job_id
        return cast(
            str,
            self._finish(
                keys=[
                    self.key("job", job_id),
                    self.key("leases"),
                    self.key("history", job_id),
                    self.key("pending"),
                    self.key("dead"),
                    self.key("events", job_id),
                ],
                args=[job_id, lease.token, outcome, detail, _now_iso(), self.max_attempts, self.status_ttl_seconds],
            ),
        )

    def _drop_requeued_letters(self, job_ids: list[str]) -> None:
        # Letters are JSON written by Lua (cjson) or Python: compare by job id, not by exact bytes.
        if not job_ids:
            return
        for raw in cast(list[str], self.redis.lrange(self.key("dead"), 0, -1)):
            if json.loads(raw).get("job_id") in job_ids:
                self.redis.lrem(self.key("dead"), 1, raw)


class QueueAccessError(RuntimeError):
    """Redis refused this component's identity: one line naming the user and the settings to check."""


def access_refused(exc: BaseException, username: str | None) -> QueueAccessError | None:
    """The error to report when `exc` is Redis refusing who we are (a wrong password, a user without a
    command its ACL lacks), else None."""
    text = str(exc)
    refused = isinstance(exc, redis.AuthenticationError | redis.exceptions.NoPermissionError) or (
        isinstance(exc, redis.ResponseError) and ("NOPERM" in text or "can't run this command" in text)
    )
    if not refused:
        return None
    user = username or "(none: the default user is off)"
    return QueueAccessError(
        f"the job queue's Redis refused user {user}: {clip(text, 160)} "
        "(check LAKE_QUEUE__USERNAME / LAKE_QUEUE__PASSWORD)"
    )


def redis_client(settings: QueueSettings, **options: Any) -> redis.Redis:
    """A client of the queue's Redis as the configured ACL user; the password never enters the URL."""
    password = settings.password.get_secret_value() if settings.password is not None else None
    return redis.Redis.from_url(settings.url, username=settings.username, password=password, **options)


def fingerprint(spec: JobSpec) -> str:
    """What makes two messages the same job: the spec without its attempt count, canonically serialised."""
    return spec.model_dump_json(exclude={"attempt"})


def _letter(job_id: str | None, reason: str, message: bytes | str) -> str:
    """A dead letter: the job id when the message names one, else the start of the raw message."""
    letter: dict[str, Any] = {"job_id": job_id, "reason": reason[:KEPT_REASON], "at": _now_iso()}
    if job_id is None:
        raw = message if isinstance(message, str) else message.decode("utf-8", errors="backslashreplace")
        letter["raw"] = raw[:KEPT_RAW]
    return json.dumps(letter)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
