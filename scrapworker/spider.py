"""One Scrapy spider per job: it follows every page of the job's request and yields each one as a PageItem.

The LandingWriter is the item pipeline's (pipelines.py); the settings are Scrapy's settings module (settings.py).
The spider never decides the job's fate itself: it records a failure on its JobRun (permanent when the
API refused the request, transient otherwise) and stops requesting. The worker reads the JobRun when
the crawl ends and tells the queue.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from lake_contracts.manifest import Manifest
from scrapworker.endpoints import Api, Endpoint, TimeWindowPaging
from scrapworker.items import PageItem
from scrapworker.landing import LandingWriter
from scrapworker.pagination import MalformedPageError, extract_items, first_page, next_page, open_until
from scrapworker.protocol import JobSpec
from scrapworker.ratelimit import RateLimiter

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

log = logging.getLogger(__name__)
DATE_RESOLUTION_SECONDS = 1.0


@dataclass
class JobFailure:
    message: str
    permanent: bool


@dataclass
class JobRun:
    """Everything one crawl needs, and what it found out."""

    spec: JobSpec
    endpoint: Endpoint
    api: Api
    limiter: RateLimiter
    landing: LandingWriter
    worker: str  # who and which attempt, for the manifest
    attempt: int
    started_at: datetime
    failure: JobFailure | None = None
    manifest: Manifest | None = None  # written by LandingPipeline when the crawl closes without a failure
    weight_spent: int = 0
    rate_limited: dict[int, int] = field(default_factory=dict)

    def fail(self, message: str, *, permanent: bool) -> None:
        if self.failure is None:  # the first cause is the one worth reporting
            self.failure = JobFailure(message, permanent)


def job_run(crawler: Crawler) -> JobRun:
    """The JobRun of the crawler's spider: how middlewares and pipelines reach the job they serve."""
    run: JobRun = crawler.spider.run  # type: ignore[union-attr]
    return run


class JobSpider(scrapy.Spider):
    name = "scrapworker-job"

    def __init__(self, run: JobRun, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run = run

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield self._request(first_page(self.run.endpoint, self.run.spec.params, self.run.spec.window), page=1)

    def _request(
        self, query: dict[str, str], *, page: int, not_before: float = 0.0, close_waited: float = 0.0
    ) -> scrapy.Request:
        return scrapy.Request(
            f"{self.run.api.base_url}{self.run.endpoint.path}?{urlencode(query)}",
            callback=self.parse,
            errback=self.on_error,
            dont_filter=True,
            meta={
                "query": query,
                "page": page,
                "weight": self.run.endpoint.request_weight(self.run.spec.params),
                "handle_httpstatus_all": True,  # API errors reach parse(), to report the API's own message
                "not_before": not_before,  # BudgetMiddleware holds the request until then (time.time())
                "close_waited": close_waited,
            },
        )

    def parse(self, response: Response) -> Iterator[PageItem | scrapy.Request]:
        if self.run.failure is not None:
            return  # an earlier page failed to land while this one was on its way: the attempt is over
        if response.status != 200:
            self._fail_on_status(response)
            return
        query: dict[str, str] = response.meta["query"]
        page: int = response.meta["page"]
        try:
            records = extract_items(self.run.endpoint, json.loads(response.body))
            following = next_page(self.run.endpoint, query, records)
            server_ms = _server_ms(response)
            still_open = open_until(self.run.endpoint, records, server_ms)
        except (ValueError, MalformedPageError) as exc:
            self.run.fail(f"{self._where(response)}: {_describe_bad_body(response, exc)}", permanent=False)
            return
        if still_open is not None:
            yield from self._ask_again_once_closed(response, still_open, server_ms)
            return
        yield PageItem(number=page, query=query, records=len(records), body=response.body)
        if following is not None:
            yield self._request(following, page=page + 1)

    def _ask_again_once_closed(self, response: Response, close_ms: int, server_ms: int) -> Iterator[scrapy.Request]:
        """A page holding a row that is not final yet (a kline still open at the API) never lands: the same page
        is asked again once that row has closed, or the attempt fails when that is further off than the
        endpoint allows."""
        paging = self.run.endpoint.pagination
        assert isinstance(paging, TimeWindowPaging)  # only time-window paging has closing rows
        # The API's clock is the Date header, whole seconds rounded down: a second more makes the row's close past.
        wait = (close_ms + 1 - server_ms) / 1000 + DATE_RESOLUTION_SECONDS
        waited = float(response.meta["close_waited"]) + wait
        if waited > paging.close_wait_seconds:
            self.run.fail(
                f"{self._where(response)}: a row closes at {_iso(close_ms)}, after the API's time {_iso(server_ms)}: "
                f"it is not final, and waiting for it would take {waited:.0f} s "
                f"(close_wait_seconds {paging.close_wait_seconds:g})",
                permanent=False,
            )
            return
        log.info(
            "page %d holds a row closing at %s: asking again in %.1f s",
            response.meta["page"],
            _iso(close_ms),
            wait,
            extra={"job_id": self.run.spec.job_id},
        )
        yield self._request(
            response.meta["query"], page=response.meta["page"], not_before=time.time() + wait, close_waited=waited
        )

    def on_error(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        where = request.url.split("?")[0] if request is not None else self.run.endpoint.path
        self.run.fail(f"{where}: {failure.getErrorMessage() or repr(failure.value)}", permanent=False)

    def _fail_on_status(self, response: Response) -> None:
        message = f"{self._where(response)}: HTTP {response.status}{_api_error(response, self.run.api)}"
        # 4xx: the API refused this request and will refuse it again. 5xx (retries spent), 429/418
        # (pause too long): the API may answer later.
        permanent = 400 <= response.status < 500 and response.status not in (429, 418)
        self.run.fail(message, permanent=permanent)

    def _where(self, response: Response) -> str:
        return f"{self.run.spec.endpoint} {response.url.split('?')[0]}"


def _server_ms(response: Response) -> int:
    """The API's time when it answered: its Date header (whole seconds), else this machine's clock."""
    header = response.headers.get("Date")
    try:
        return int(parsedate_to_datetime(header.decode()).timestamp() * 1000) if header else _local_ms()
    except (TypeError, ValueError, IndexError):
        return _local_ms()


def _local_ms() -> int:
    return int(time.time() * 1000)


def _iso(t_ms: int) -> str:
    return datetime.fromtimestamp(t_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _api_error(response: Response, api: Api) -> str:
    try:
        body = json.loads(response.body)
        return f" {body[api.error_code_field]}: {body[api.error_message_field]}"
    except (ValueError, KeyError, TypeError):
        return f" {response.text[:200]!r}" if response.body else ""


def _describe_bad_body(response: Response, exc: Exception) -> str:
    content_type = (response.headers.get("Content-Type") or b"").decode(errors="replace") or "no content type"
    if isinstance(exc, MalformedPageError):
        return str(exc)
    head = response.body[:80].decode(errors="replace")
    if not response.body:
        return f"empty response body ({content_type})"
    return f"response is not valid JSON ({content_type}, {len(response.body)} bytes, starts {head!r}): {exc}"
