"""What the spider yields: one page of a job's answer, for the item pipeline to land."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PageItem:
    """A page as the API sent it. Scrapy takes dataclasses as items (itemadapter): no scrapy.Item needed."""

    number: int  # 1, 2, ... in the order the pages were requested: each is requested from the page before it
    query: dict[str, str]  # the request's query string, recorded in the manifest
    records: int  # records in the page, as the endpoint's `items` path counts them
    body: bytes = field(repr=False)  # landed byte for byte; left out of log lines (a page can be megabytes)
