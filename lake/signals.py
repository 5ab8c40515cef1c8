"""Signals: one row per complete landing in `landing.signals`, published with pyiceberg (no Spark).

Publishing reads the landing's manifest and never writes to the raw bucket, so a catalog failure
leaves the landing as it was and the publish can simply be retried. A run publishes all its signals in
one commit (`publish_batch`); re-publishing a job replaces its row in that same commit (delete + append,
scoped to the slots' partitions): one row per job, however runs repeat or overlap.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import And, BooleanExpression, EqualTo, In, Or
from pyiceberg.table import Table

from lake.storage import read_manifest
from lake.tables import SIGNALS, commit_retrying, ensure_table
from lake_contracts.manifest import Manifest
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


def landed_manifest(s3: S3Client, bucket: str, manifest_key: str) -> Manifest:
    """The landing's manifest; a landing without one is not complete, and nothing may be published for it."""
    manifest = read_manifest(s3, bucket, manifest_key)
    if manifest is None:
        raise LandingIncompleteError(f"no manifest at s3://{bucket}/{manifest_key}: the landing is not complete")
    return manifest


def signal_of(manifest: Manifest, bucket: str, manifest_key: str, slot: Slot, run_id: str | None) -> Signal:
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


def read_signal(s3: S3Client, bucket: str, manifest_key: str, slot: Slot, run_id: str | None) -> Signal:
    return signal_of(landed_manifest(s3, bucket, manifest_key), bucket, manifest_key, slot, run_id)


def publish(catalog: Catalog, signal: Signal, attempts: int = 8) -> None:
    """Write one signal row, replacing any earlier row of the same job."""
    publish_batch(catalog, [signal], attempts)


def publish_batch(catalog: Catalog, signals: list[Signal], attempts: int = 8) -> None:
    """Write a run's signal rows in ONE commit, each replacing any earlier row of its job.

    At minute cadence every commit counts (a commit per landing grew the table's history twice as fast).
    A commit conflict (a concurrent publish) is retried here, planning the delete again on the new head,
    so a job another run just published is replaced too (pyiceberg's own retry, off for this table, would
    keep its first plan and leave two rows).
    """
    latest = {signal.job_id: signal for signal in signals}  # a job twice in one batch: its last signal
    if not latest:
        return
    table = ensure_table(catalog, SIGNALS)
    rows = pa.Table.from_pylist(
        [
            {
                "run_id": signal.run_id,
                "endpoint": signal.endpoint,
                "s3_path": signal.s3_path,
                "ds": signal.slot.ds,
                "hr": signal.slot.hr,
                "min": signal.slot.min,
                "published_at": signal.published_at,
                "job_id": signal.job_id,
                "record_count": signal.record_count,
                "manifest_key": signal.manifest_key,
            }
            for signal in latest.values()
        ],
        schema=table.schema().as_arrow(),
    )
    replaced = _same_jobs(list(latest.values()))

    def write(current: Table) -> None:
        with warnings.catch_warnings():
            # A first publish has no earlier row to replace; pyiceberg warns about that.
            warnings.filterwarnings("ignore", message="Delete operation did not match any records")
            current.overwrite(rows, overwrite_filter=replaced)

    commit_retrying(table, write, attempts)


def _same_jobs(signals: list[Signal]) -> BooleanExpression:
    """The rows these signals replace: their jobs, within their slots' partitions (so files are pruned)."""
    by_slot: dict[tuple[str, int, int], list[str]] = {}
    for signal in signals:
        by_slot.setdefault(signal.slot.partition_values(), []).append(signal.job_id)
    equal: Any = EqualTo  # pydantic models whose positional constructors mypy's plugin does not see
    member: Any = In
    either: Any = Or
    parts = [
        And(equal("ds", ds), equal("hr", hr), equal("min", minute), member("job_id", set(job_ids)))
        for (ds, hr, minute), job_ids in by_slot.items()
    ]
    return parts[0] if len(parts) == 1 else either(*parts)
