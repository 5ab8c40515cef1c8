"""The landing manifest: written last by the crawler, it is what makes a landing complete.

    {landing_prefix}/{endpoint}/{window}/{job_id}/page-00001.json ...   the raw pages
    {landing_prefix}/{endpoint}/{window}/{job_id}/manifest.json        this model, written last

One typed model for the writer (scrapworker) and every reader (signals, the Spark jobs, the worker's
outputs), so no module re-parses the JSON by hand. Standard library only: it travels to Spark executors.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import asdict, dataclass, field
from typing import Any

VERSION = 1
NAME = "manifest.json"
# A manifest lists its pages; a landing with more is refused rather than loaded whole into a driver.
MAX_PAGES = 100_000


class ManifestError(ValueError):
    """A manifest that is not one this version understands; the message names the field."""


@dataclass(frozen=True)
class Page:
    number: int
    key: str
    records: int
    bytes: int
    sha256: str
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    job_id: str
    endpoint: str
    params: dict[str, Any]
    window: dict[str, str] | None
    pages: tuple[Page, ...]
    worker: str
    attempt: int
    started_at: str
    finished_at: str
    version: int = VERSION

    @property
    def page_count(self) -> int:
        return len(self.pages)

    @property
    def records(self) -> int:
        return sum(page.records for page in self.pages)

    @property
    def bytes(self) -> int:
        return sum(page.bytes for page in self.pages)

    def to_json(self) -> builtins.bytes:  # `bytes` here would be the property below
        body = asdict(self) | {"page_count": self.page_count, "records": self.records, "bytes": self.bytes}
        body["pages"] = [asdict(page) for page in self.pages]
        return json.dumps(body, indent=1).encode()

    @classmethod
    def from_json(cls, body: builtins.bytes | str) -> Manifest:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise ManifestError(f"manifest is not JSON: {str(exc)[:200]}") from None
        if not isinstance(data, dict):
            raise ManifestError("manifest is not a JSON object")
        if data.get("version") != VERSION:
            raise ManifestError(f"manifest version {data.get('version')!r} is not {VERSION}")
        try:
            raw_pages = data["pages"]
            if not isinstance(raw_pages, list) or len(raw_pages) > MAX_PAGES:
                raise ManifestError(f"pages: expected a list of at most {MAX_PAGES}")
            pages = tuple(Page(**page) for page in raw_pages)
            manifest = cls(
                job_id=str(data["job_id"]),
                endpoint=str(data["endpoint"]),
                params=dict(data["params"]),
                window=data["window"],
                pages=pages,
                worker=str(data["worker"]),
                attempt=int(data["attempt"]),
                started_at=str(data["started_at"]),
                finished_at=str(data["finished_at"]),
            )
        except KeyError as exc:
            raise ManifestError(f"manifest has no {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ManifestError(f"manifest field of the wrong kind: {str(exc)[:200]}") from None
        # The totals are derived; a manifest whose stated totals disagree with its pages is corrupt.
        for name in ("page_count", "records", "bytes"):
            if name in data and data[name] != getattr(manifest, name):
                raise ManifestError(f"{name}: says {data[name]!r}, its pages add up to {getattr(manifest, name)}")
        return manifest


def manifest_key(prefix: str) -> str:
    return f"{prefix}/{NAME}"


def page_key(prefix: str, number: int) -> str:
    return f"{prefix}/page-{number:05d}.json"


PAGE_GLOB = "page-*.json"  # every page_key under a prefix, and nothing else there (the manifest)
