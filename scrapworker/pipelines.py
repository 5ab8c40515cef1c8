"""The item pipeline: each page lands on S3 as it comes, and the manifest is written last.

A landing is complete when, and only when, its manifest exists (landing.py). So the manifest is written when
the spider closes, and only when the job's JobRun records no failure: a crawl that failed, or that the worker
stopped (lease lost, shutdown: it records that on the JobRun first), leaves its pages without a manifest, for
the next attempt to overwrite.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Self

from scrapy.exceptions import DropItem

from scrapworker.items import PageItem
from scrapworker.spider import job_run

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class LandingPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        # The spider requests page n+1 while page n may still be on its way to S3; LandingWriter numbers pages in the
        # order they are written, so they are written one at a time, in the order they came.
        self._in_order = asyncio.Lock()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_item(self, item: PageItem) -> PageItem:
        run = job_run(self.crawler)
        async with self._in_order:
            if run.failure is None and item.number != len(run.landing.pages) + 1:
                run.fail(f"page {item.number} came out of order", permanent=False)
            if run.failure is not None:
                raise DropItem(f"page {item.number} not landed: the attempt has failed", log_level="INFO")
            try:
                await asyncio.to_thread(run.landing.write_page, item.body, item.query, item.records)
            except Exception as exc:
                run.fail(f"writing page to s3://{run.landing.bucket}: {exc}", permanent=False)
                raise DropItem(f"page {item.number} not landed", log_level="INFO") from exc
        return item

    async def close_spider(self) -> None:
        run = job_run(self.crawler)
        if run.failure is not None:
            return  # no manifest: the landing stays incomplete
        try:
            run.manifest = await asyncio.to_thread(
                run.landing.write_manifest, worker=run.worker, attempt=run.attempt, started_at=run.started_at
            )
        except Exception as exc:
            run.fail(f"writing manifest: {exc}", permanent=False)
