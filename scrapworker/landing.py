"""Raw JSON landing on S3: pages under deterministic keys, then a manifest written last.

    {landing_prefix}/{endpoint}/{window}/{job_id}/page-00001.json   the response bodies, byte for byte
    {landing_prefix}/{endpoint}/{window}/{job_id}/manifest.json     written only after every page

Re-running a job writes the same keys, so a retry never duplicates a page; pages left over from an
earlier, longer attempt are deleted after the manifest (which lists exactly the pages that count).
A landing is complete when, and only when, its manifest exists.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lake_contracts.manifest import Manifest, Page, manifest_key, page_key
from scrapworker.protocol import JobSpec

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef


@dataclass
class LandingWriter:
    """Writes one job's landing: its pages as they come, then its manifest. (What is landed for each slot,
    the landings file's entries, is `scrapworker.landings.Landing`.)"""

    s3: S3Client
    bucket: str
    spec: JobSpec
    pages: list[Page] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return landing_prefix(self.spec)

    @property
    def manifest_key(self) -> str:
        return manifest_key_of(self.spec)

    def write_page(self, body: bytes, query: dict[str, str], records: int) -> Page:
        number = len(self.pages) + 1
        key = page_key(self.prefix, number)
        digest = hashlib.sha256(body).hexdigest()
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", Metadata={"sha256": digest}
        )
        page = Page(number=number, key=key, records=records, bytes=len(body), sha256=digest, query=query)
        self.pages.append(page)
        return page

    def write_manifest(self, *, worker: str, attempt: int, started_at: datetime) -> Manifest:
        manifest = Manifest(
            job_id=self.spec.job_id,
            endpoint=self.spec.endpoint,
            params=self.spec.params,
            window=self.spec.window.model_dump(mode="json") if self.spec.window else None,
            pages=tuple(self.pages),
            worker=worker,
            attempt=attempt,
            started_at=started_at.isoformat(),
            finished_at=datetime.now(UTC).isoformat(),
        )
        self.s3.put_object(
            Bucket=self.bucket, Key=self.manifest_key, Body=manifest.to_json(), ContentType="application/json"
        )
        self._delete_stale_pages()
        return manifest

    def _delete_stale_pages(self) -> None:
        current = {page.key for page in self.pages} | {self.manifest_key}
        paginator = self.s3.get_paginator("list_objects_v2")
        stale: list[ObjectIdentifierTypeDef] = [
            {"Key": obj["Key"]}
            for result in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/")
            for obj in result.get("Contents", [])
            if obj["Key"] not in current
        ]
        for start in range(0, len(stale), 1000):
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": stale[start : start + 1000]})


def landing_prefix(spec: JobSpec) -> str:
    window = spec.window.label() if spec.window else "no-window"
    return f"{spec.landing_prefix}/{spec.endpoint}/{window}/{spec.job_id}"


def manifest_key_of(spec: JobSpec) -> str:
    """Where the job's manifest lands: the key its landing is complete at."""
    return manifest_key(landing_prefix(spec))
