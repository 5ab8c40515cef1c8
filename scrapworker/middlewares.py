"""Scrapy downloader middlewares: the shared rate-limit budget, and retries with exponential backoff.

Order (DOWNLOADER_MIDDLEWARES in settings.py): BudgetMiddleware sits next to the downloader, so budget is
taken at the last moment before a request leaves and a 429/418 is seen before anything else.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING, Any, Self

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Response

from scrapworker.spider import job_run

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

log = logging.getLogger(__name__)

RATE_LIMITED = (429, 418)
DEFAULT_RETRY_AFTER = 60.0


class BudgetExhaustedError(RuntimeError):
    """The group is paused (429/418) for longer than a job may wait: the attempt fails, the job retries later."""


class BudgetMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        run = job_run(self.crawler)
        limiter, weight = run.limiter, int(request.meta["weight"])
        # A page asked again once its rows have closed (spider.py) waits here, before it takes any budget.
        hold = float(request.meta.get("not_before", 0.0)) - time.time()
        if hold > 0:
            await asyncio.sleep(hold)
        while True:
            wait = await asyncio.to_thread(limiter.reserve, weight)
            if wait <= 0:
                run.weight_spent += weight
                request.meta["sent_at"] = time.time()
                return
            if wait > limiter.group.max_pause_seconds:
                raise BudgetExhaustedError(
                    f"rate-limit group {limiter.name!r} paused for {wait:.0f} s "
                    f"(more than max_pause_seconds {limiter.group.max_pause_seconds:.0f})"
                )
            # Wake at least every second: a 429 seen by another worker may extend the pause.
            await asyncio.sleep(min(wait, 1.0))

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        run = job_run(self.crawler)
        header = run.limiter.group.used_weight_header
        used = response.headers.get(header) if header else None
        if used is not None and used.isdigit():
            await asyncio.to_thread(run.limiter.sync_used_weight, int(used), request.meta["sent_at"])
        if response.status not in RATE_LIMITED:
            return response
        retry_after = _retry_after(response)
        run.rate_limited[response.status] = run.rate_limited.get(response.status, 0) + 1
        log.warning(
            "HTTP %s from %s: pausing group %s for %.0f s",
            response.status,
            request.url.split("?")[0],
            run.limiter.name,
            retry_after,
            extra={"job_id": run.spec.job_id, "status": response.status, "retry_after": retry_after},
        )
        await asyncio.to_thread(run.limiter.pause, retry_after)
        if retry_after > run.limiter.group.max_pause_seconds:
            return response  # the spider fails the attempt with the API's message
        # The same request again; BudgetMiddleware.process_request holds it until the pause ends.
        return request.replace(dont_filter=True)


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retry (timeouts, connection errors, 5xx) with exponential backoff and jitter between tries."""

    base_delay = 0.5
    max_delay = 30.0

    async def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        result: Request | Response = await self._after_backoff(super().process_response(request, response))
        return result

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        result: Request | Response | None = await self._after_backoff(super().process_exception(request, exception))
        return result

    async def _after_backoff(self, result: Any) -> Any:
        if isinstance(result, Request):
            tries = int(result.meta.get("retry_times", 1))
            delay = min(self.max_delay, self.base_delay * 2 ** (tries - 1)) * (0.5 + random.random() / 2)  # noqa: S311
            await asyncio.sleep(delay)
        return result


def _retry_after(response: Response) -> float:
    raw = response.headers.get("Retry-After")
    try:
        return max(1.0, float(raw.decode())) if raw else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
