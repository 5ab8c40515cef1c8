"""Signals: one row per complete landing in `landing.signals`, published with pyiceberg (no Spark).

Publishing reads the landing's manifest and never writes to the raw bucket, so a catalog failure
leaves the landing as it was and the publish can simply be retried. Re-publishing the same job
replaces its row in one commit (delete + append, scoped to the slot's partition): one row per job.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import And, EqualTo

from lake.storage import read_manifest
from lake.tables import SIGNALS, ensure_table
from lake_contracts.slots import Slot

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class LandingIncompleteError(LookupError):
    """The landing has no manifest: nothing may be published for it."""


@dataclass(frozen=True)
class Signal:
    job_id: str
    endpoint: str
    s3_path: str
    manifest_key: str
    record_count: int
    slot: Slot
    run_id: str | None
    published_at: datetime


def read_signal(s3: S3Client, bucket: str, manifest_key: str, slot: Slot, run_id: str | None) -> Signal:
    manifest = read_manifest(s3, bucket, manifest_key)
    if manifest is None:
        raise LandingIncompleteError(f"no manifest at s3://{bucket}/{manifest_key}: the landing is not complete")
    prefix = manifest_key.rpartition("/")[0]
    return Signal(
        job_id=manifest.job_id,
        endpoint=manifest.endpoint,
        s3_path=f"s3://{bucket}/{prefix}/",
        manifest_key=manifest_key,
        record_count=manifest.records,
        slot=slot,
        run_id=run_id,
        published_at=datetime.now(UTC),
    )


def publish(catalog: Catalog, signal: Signal, attempts: int = 5) -> None:
    """Write the signal row, replacing any earlier row of the same job. Retries commit conflicts."""
    table = ensure_table(catalog, SIGNALS)
    ds, hr, minute = signal.slot.partition_values()
    row = pa.Table.from_pylist(
        [
            {
                "run_id": signal.run_id,
                "endpoint": signal.endpoint,
                "s3_path": signal.s3_path,
                "ds": ds,
                "hr": hr,
                "min": minute,
                "published_at": signal.published_at,
                "job_id": signal.job_id,
                "record_count": signal.record_count,
                "manifest_key": signal.manifest_key,
            }
        ],
        schema=table.schema().as_arrow(),
    )
    equal: Any = EqualTo  # a pydantic model whose positional constructor mypy's plugin does not see
    same_job = And(equal("ds", ds), equal("hr", hr), equal("min", minute), equal("job_id", signal.job_id))
    for attempt in range(1, attempts + 1):
        try:
            with warnings.catch_warnings():
                # A first publish has no earlier row to replace; pyiceberg warns about that.
                warnings.filterwarnings("ignore", message="Delete operation did not match any records")
                table.overwrite(row, overwrite_filter=same_job)
            return
        except CommitFailedException:
            # Another writer committed first (a concurrent publish): reload and apply ours on top.
            if attempt == attempts:
                raise
            time.sleep(0.05 * attempt)
            table.refresh()
