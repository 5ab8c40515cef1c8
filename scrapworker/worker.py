"""The worker process: lease jobs from Redis, crawl each with Scrapy (which lands it on S3), tell the queue.

One asyncio event loop (under Twisted's asyncio reactor, which Scrapy needs) runs up to `concurrency`
crawls at once, a heartbeat that renews their leases, and a reaper that returns expired leases to the
queue. Blocking Redis and S3 calls run in threads so the loop never stalls.

On SIGTERM/SIGINT the worker takes no new job, lets running ones finish for the grace period, then
stops their crawls and releases their leases without counting the attempt.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrapworker.endpoints import EndpointCatalog, JobRejectedError
from scrapworker.landing import Landing
from scrapworker.queue import JobQueue, Lease
from scrapworker.ratelimit import RateLimiter
from scrapworker.spider import JobFailure, JobRun, JobSpider

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from scrapy.crawler import AsyncCrawlerRunner, Crawler
    from scrapy.settings import Settings

log = logging.getLogger(__name__)

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"


@dataclass
class _Active:
    lease: Lease
    run: JobRun | None = None
    crawler: Crawler | None = None
    lost: bool = False


@dataclass
class Worker:
    queue: JobQueue
    catalog: EndpointCatalog
    s3: S3Client
    bucket: str
    concurrency: int = 4
    request_timeout: float = 30.0
    retry_times: int = 3
    shutdown_grace: float = 30.0
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}")
    _active: dict[asyncio.Task[None], _Active] = field(default_factory=dict, init=False)
    _stopping: asyncio.Event | None = field(default=None, init=False)

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

        deferred = deferred_from_coro(self.serve())
        deferred.addErrback(lambda failure: log.error("worker crashed: %s", failure.getTraceback()))
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
        await asyncio.to_thread(self.queue.register_worker, self.worker_id)
        log.info("worker started", extra={"worker": self.worker_id, "concurrency": self.concurrency})
        housekeeping = asyncio.create_task(self._housekeeping())
        try:
            await self._take_jobs(runner)
            await self._drain()
        finally:
            housekeeping.cancel()
            await asyncio.to_thread(self.queue.unregister_worker, self.worker_id)
            log.info("worker stopped", extra={"worker": self.worker_id})

    async def _take_jobs(self, runner: AsyncCrawlerRunner) -> None:
        assert self._stopping is not None
        while not self._stopping.is_set():
            if len(self._active) >= self.concurrency:
                await asyncio.wait(self._active.keys(), timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                continue
            message = await asyncio.to_thread(self.queue.take, self.worker_id, 1.0)
            if message is None:
                continue
            lease = await asyncio.to_thread(self.queue.lease, self.worker_id, message)
            if lease is None:
                continue  # dead-lettered as malformed, or a duplicate of a finished job
            active = _Active(lease)
            task = asyncio.create_task(self._run_job(runner, active))
            self._active[task] = active
            task.add_done_callback(self._active.pop)

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
            state = await asyncio.to_thread(self.queue.release, active.lease)
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
                reaped = await asyncio.to_thread(self.queue.reap)
                if reaped:
                    log.info("re-queued %d job(s) from expired leases or dead workers", reaped)
            except Exception:
                # Redis briefly down: keep going; leases survive a few missed beats.
                log.exception("housekeeping failed")

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
        lease, spec = active.lease, active.lease.spec
        context = {"job_id": spec.job_id, "endpoint": spec.endpoint, "attempt": lease.attempt}
        started_at = datetime.now(UTC)
        log.info("job started", extra=context)
        try:
            endpoint = self.catalog.endpoint(spec.endpoint)
            endpoint.checked_params(spec.params, spec.window)
        except JobRejectedError as exc:
            await self._finish(active, error=f"rejected: {exc}", permanent=True, context=context)
            return
        group_name, group = self.catalog.group_of(endpoint)
        active.run = run = JobRun(
            spec=spec,
            endpoint=endpoint,
            api=self.catalog.api_of(endpoint),
            limiter=RateLimiter(self.queue.redis, self.queue.prefix, group_name, group),
            landing=Landing(self.s3, self.bucket, spec),
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
        manifest = run.manifest
        outputs = {
            "bucket": self.bucket,
            "prefix": run.landing.prefix,
            "manifest_key": run.landing.manifest_key,
            "pages": manifest.page_count,
            "records": manifest.records,
            "bytes": manifest.bytes,
            "weight": run.weight_spent,
            "rate_limited": sum(run.rate_limited.values()),
        }
        state = await asyncio.to_thread(self.queue.succeed, lease, outputs)
        log.info("job %s", state, extra=context | {k: outputs[k] for k in ("pages", "records", "bytes")})

    async def _finish(self, active: _Active, *, error: str, permanent: bool, context: dict[str, Any]) -> None:
        state = await asyncio.to_thread(self.queue.fail, active.lease, error, permanent=permanent)
        log.warning("job %s: %s", state, error, extra=context)
