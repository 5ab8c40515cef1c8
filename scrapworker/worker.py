"""The worker process: lease jobs from Redis, crawl each with Scrapy (which lands it on S3), tell the queue.

One asyncio event loop (under Twisted's asyncio reactor, which Scrapy needs) runs up to `concurrency`
crawls at once, a heartbeat that renews their leases, and a reaper that returns expired leases to the
queue. Blocking Redis and S3 calls run in threads so the loop never stalls.

On SIGTERM/SIGINT the worker takes no new job, lets running ones finish for the grace period, then
stops their crawls and releases their leases without counting the attempt.

No message makes the worker exit: what it cannot run is dead-lettered and the loop goes on; an
unexpected error is logged, the message dead-lettered, and the loop goes on; Redis down is waited out.
A worker that does stop on an error exits non-zero (`crashed`), and the messages it had taken go back
to the queue whichever way it stops. Before an attempt counts as lost (lease expired, or a retry), the
landing is looked for: a complete one, written by that attempt, makes the job succeeded.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import redis

from lake.storage import read_manifest
from lake_contracts.manifest import Manifest
from scrapworker.endpoints import EndpointFile, JobRejectedError
from scrapworker.landing import LandingWriter, landing_prefix, manifest_key_of
from scrapworker.protocol import JobSpec, clip
from scrapworker.queue import ExpiredLease, JobQueue, Lease, QueueAccessError, access_refused
from scrapworker.ratelimit import RateLimiter
from scrapworker.spider import JobFailure, JobRun, JobSpider

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from scrapy.crawler import AsyncCrawlerRunner, Crawler
    from scrapy.settings import Settings

log = logging.getLogger(__name__)

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
# How long a queue call waits out an unreachable Redis before giving up.
REDIS_PATIENCE = 120.0


@dataclass
class _Active:
    lease: Lease
    run: JobRun | None = None
    crawler: Crawler | None = None
    lost: bool = False


@dataclass
class Worker:
    queue: JobQueue
    endpoints: EndpointFile
    s3: S3Client
    bucket: str
    concurrency: int = 4
    request_timeout: float = 30.0
    retry_times: int = 3
    shutdown_grace: float = 30.0
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}")
    _active: dict[asyncio.Task[None], _Active] = field(default_factory=dict, init=False)
    _stopping: asyncio.Event | None = field(default=None, init=False)
    crashed: bool = field(default=False, init=False)

    # -- process entry point ------------------------------------------------------------------------
    def run(self) -> None:
        """Run until SIGTERM/SIGINT. Installs the asyncio reactor: call once per process."""
        from scrapy.utils.reactor import install_reactor

        install_reactor(ASYNCIO_REACTOR)
        from scrapy.utils.defer import deferred_from_coro
        from twisted.internet import reactor as installed

        reactor: Any = installed  # typed as a module by Twisted; it is the reactor object at run time

        def stop_reactor(result: Any) -> Any:
            reactor.stop()
            return result

        def crashed(failure: Any) -> None:
            self.crashed = True
            if failure.check(QueueAccessError):  # a setting to fix, said in one line
                log.error("worker cannot start: %s", failure.getErrorMessage())
                return
            log.error("worker crashed: %s", failure.getTraceback())

        deferred = deferred_from_coro(self.serve())
        deferred.addErrback(crashed)
        deferred.addBoth(stop_reactor)
        reactor.run(installSignalHandlers=False)  # our own handlers: drain, then release leases

    def request_stop(self) -> None:
        if self._stopping is not None and not self._stopping.is_set():
            log.info("stop requested: taking no new jobs", extra={"worker": self.worker_id})
            self._stopping.set()

    # -- the loop -----------------------------------------------------------------------------------
    async def serve(self) -> None:
        from scrapy.crawler import AsyncCrawlerRunner

        self._stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)
        runner = AsyncCrawlerRunner(self.crawl_settings())
        try:
            await self._with_redis(self.queue.register_worker, self.worker_id)
        except redis.RedisError as exc:
            refused = access_refused(exc, self.queue.username)
            if refused is None:
                raise
            raise refused from None
        log.info("worker started", extra={"worker": self.worker_id, "concurrency": self.concurrency})
        housekeeping = asyncio.create_task(self._housekeeping())
        try:
            await self._take_jobs(runner)
            await self._drain()
        finally:
            housekeeping.cancel()
            try:
                returned = await asyncio.to_thread(self.queue.unregister_worker, self.worker_id)
                log.info("worker stopped", extra={"worker": self.worker_id, "returned_messages": returned})
            except Exception:
                # Redis unreachable: the reaper returns this worker's messages once its heartbeat is stale.
                log.exception("worker stopped without unregistering", extra={"worker": self.worker_id})

    async def _take_jobs(self, runner: AsyncCrawlerRunner) -> None:
        assert self._stopping is not None
        while not self._stopping.is_set():
            if len(self._active) >= self.concurrency:
                await asyncio.wait(self._active.keys(), timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                message = await asyncio.to_thread(self.queue.take, self.worker_id, 1.0)
            except Exception as exc:
                log.warning("cannot take jobs (retrying in 1 s): %s", clip(exc, 300))
                await asyncio.sleep(1.0)
                continue
            if message is None:
                continue
            lease = await self._lease(message)
            if lease is None:
                continue  # dead-lettered, or a duplicate of a job that is finished or running elsewhere
            active = _Active(lease)
            task = asyncio.create_task(self._run_job(runner, active))
            self._active[task] = active
            task.add_done_callback(self._active.pop)

    async def _lease(self, message: bytes) -> Lease | None:
        try:
            # Redis unreachable is not the message's fault: it stays in our claim list and we try again.
            return await self._with_redis(self.queue.lease, self.worker_id, message)
        except Exception as exc:
            # An error no retry cures: the message must not come round forever either.
            reason = f"internal error leasing the message: {type(exc).__name__}: {clip(str(exc), 200)}"
            log.exception("could not lease a message; dead-lettering it")
            try:
                await self._with_redis(self.queue.reject, self.worker_id, message, reason)
            except Exception:
                log.exception("could not dead-letter it either; it returns to the queue when this worker stops")
            return None

    async def _with_redis[T](self, call: Callable[..., T], *args: Any) -> T:
        """Run a queue call, waiting out Redis being unreachable (a restart, a failover) for up to
        REDIS_PATIENCE seconds; other errors, and a longer outage, are raised."""
        delay, deadline = 0.2, time.monotonic() + REDIS_PATIENCE
        while True:
            try:
                return await asyncio.to_thread(call, *args)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("Redis unreachable, retrying in %.1f s: %s", delay, clip(str(exc), 200))
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)

    def crawl_settings(self) -> Settings:
        """Scrapy's settings module, and this deployment's timeout and retries on top."""
        from scrapy.settings import Settings

        from scrapworker import settings

        crawl = Settings()
        crawl.setmodule(settings, priority="project")
        crawl.setdict({"DOWNLOAD_TIMEOUT": self.request_timeout, "RETRY_TIMES": self.retry_times}, priority="cmdline")
        return crawl

    async def _drain(self) -> None:
        if not self._active:
            return
        log.info("waiting up to %.0f s for %d running job(s)", self.shutdown_grace, len(self._active))
        _, unfinished = await asyncio.wait(list(self._active), timeout=self.shutdown_grace)
        for task in unfinished:
            active = self._active.get(task)
            if active is None:
                continue
            await self._stop(active, "stopped: the worker is shutting down")
            state = await self._with_redis(self.queue.release, active.lease)
            log.info("released lease", extra={"job_id": active.lease.spec.job_id, "state": state})
        if unfinished:
            await asyncio.wait(unfinished, timeout=10)

    async def _housekeeping(self) -> None:
        """Renew leases (and our worker registration) and reap expired ones, every third of a lease."""
        interval = max(0.2, self.queue.lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.queue.register_worker, self.worker_id)
                for active in list(self._active.values()):
                    if active.lost:
                        continue
                    if not await asyncio.to_thread(self.queue.heartbeat, active.lease):
                        await self._lose(active)
                for lost in await asyncio.to_thread(self.queue.expired_leases):
                    await asyncio.to_thread(self._complete_if_landed, lost)
                reaped = await asyncio.to_thread(self.queue.reap)
                if reaped:
                    log.info("re-queued %d job(s) from expired leases or dead workers", reaped)
            except Exception:
                # Redis briefly down: keep going; leases survive a few missed beats.
                log.exception("housekeeping failed")

    def _complete_if_landed(self, lost: ExpiredLease) -> None:
        """A lease expired (its worker died or stalled): if that attempt's landing is complete, keep it."""
        manifest = self._landed_by(lost.spec, lost.worker, lost.attempts)
        if manifest is not None and self.queue.complete_lost(lost, self._outputs(lost.spec, manifest)):
            log.info("lease expired after a complete landing: job succeeded", extra={"job_id": lost.job_id})

    def _landed_by(self, spec: JobSpec, worker: str, attempt: int) -> Manifest | None:
        """The job's manifest if that worker's attempt wrote it; None otherwise (or when S3 cannot say)."""
        try:
            manifest = read_manifest(self.s3, self.bucket, manifest_key_of(spec))
        except Exception as exc:
            log.warning("cannot read the landing of %s: %s", spec.job_id, clip(str(exc), 200))
            return None
        if manifest is None or manifest.worker != worker or manifest.attempt != attempt:
            return None
        return manifest

    def _outputs(self, spec: JobSpec, manifest: Manifest, weight: int = 0, rate_limited: int = 0) -> dict[str, Any]:
        landing = LandingWriter(self.s3, self.bucket, spec)
        return {
            "bucket": self.bucket,
            "prefix": landing_prefix(spec),
            "manifest_key": landing.manifest_key,
            "pages": manifest.page_count,
            "records": manifest.records,
            "bytes": manifest.bytes,
            "weight": weight,
            "rate_limited": rate_limited,
        }

    async def _lose(self, active: _Active) -> None:
        log.warning(
            "lease lost (expired while running): stopping the crawl; another worker owns the job now",
            extra={"job_id": active.lease.spec.job_id},
        )
        await self._stop(active, "stopped: the lease was lost")

    async def _stop(self, active: _Active, reason: str) -> None:
        """From here on, the job is not ours to finish. Recorded on the JobRun first: a failed run gets no
        manifest (pipelines.py), so the pages of a stopped crawl never look like a complete landing."""
        active.lost = True
        if active.run is not None:
            active.run.fail(reason, permanent=False)
        if active.crawler is not None:
            await active.crawler.stop_async()

    # -- one job ------------------------------------------------------------------------------------
    async def _run_job(self, runner: AsyncCrawlerRunner, active: _Active) -> None:
        try:
            await self._run_job_unguarded(runner, active)
        except Exception:
            # Nothing is lost: the lease expires and the reaper re-queues the job (or finds its landing).
            log.exception(
                "job crashed; it is retried once its lease expires", extra={"job_id": active.lease.spec.job_id}
            )

    async def _run_job_unguarded(self, runner: AsyncCrawlerRunner, active: _Active) -> None:
        lease, spec = active.lease, active.lease.spec
        context = {"job_id": spec.job_id, "endpoint": spec.endpoint, "attempt": lease.attempt}
        started_at = datetime.now(UTC)
        log.info("job started", extra=context)
        try:
            self.endpoints.check_job(spec)
        except JobRejectedError as exc:
            state = await self._with_redis(self.queue.reject_lease, lease, f"rejected: {exc}")
            log.warning("job %s: rejected: %s", state, clip(str(exc), 300), extra=context)
            return
        if lease.previous_worker and lease.attempt > 1:
            # A retry: the attempt before may have landed everything and died before saying so.
            manifest = await asyncio.to_thread(self._landed_by, spec, lease.previous_worker, lease.attempt - 1)
            if manifest is not None:
                state = await self._with_redis(self.queue.succeed, lease, self._outputs(spec, manifest))
                log.info("job %s: the previous attempt's landing is complete", state, extra=context)
                return
        endpoint = self.endpoints.endpoint(spec.endpoint)
        group_name, group = self.endpoints.group_of(endpoint)
        active.run = run = JobRun(
            spec=spec,
            endpoint=endpoint,
            api=self.endpoints.api_of(endpoint),
            limiter=RateLimiter(self.queue.redis, self.queue.prefix, group_name, group),
            landing=LandingWriter(self.s3, self.bucket, spec),
            worker=self.worker_id,
            attempt=lease.attempt,
            started_at=started_at,
        )
        if active.lost:
            return  # stopped before its crawl began
        try:
            active.crawler = runner.create_crawler(JobSpider)
            await runner.crawl(active.crawler, run=run)
        except Exception as exc:
            run.fail(f"crawl crashed: {type(exc).__name__}: {exc}", permanent=False)
        if active.lost:
            return
        if run.failure is not None or run.manifest is None:
            # LandingPipeline writes the manifest unless the run failed: with neither, it never ran.
            failure = run.failure or JobFailure("the crawl ended without a manifest", permanent=False)
            await self._finish(active, error=failure.message, permanent=failure.permanent, context=context)
            return
        outputs = self._outputs(spec, run.manifest, run.weight_spent, sum(run.rate_limited.values()))
        state = await self._with_redis(self.queue.succeed, lease, outputs)
        log.info("job %s", state, extra=context | {k: outputs[k] for k in ("pages", "records", "bytes")})

    async def _finish(self, active: _Active, *, error: str, permanent: bool, context: dict[str, Any]) -> None:
        state = await self._with_redis(functools.partial(self.queue.fail, permanent=permanent), active.lease, error)
        log.warning("job %s: %s", state, error, extra=context)
