"""Orphan-file removal for a table on Nessie: delete the files under the table's location that no branch
needs, once they are older than a safety window.

Iceberg's `remove_orphan_files` cannot do this on Nessie: it sees one branch's metadata only, and Nessie
creates tables with `gc.enabled=false` for exactly that reason (a file may belong to another branch). Nessie's
own GC tool is not on Maven Central. So this module marks what every branch needs and sweeps the rest:

- marked: every file reachable from the table's metadata at the HEAD of every branch (main, WAP branches
  kept for inspection, anyone's dev branch) and at each branch's state when the window began. A file a
  commit inside the window refers to is either in that earlier state or was written inside the window;
- swept: objects under the table's location that are not marked AND were last modified before the window,
  so an upload a writer has not committed yet (or a reader of a recent commit) is never touched.

History older than the window is given up: that is what the window means (Iceberg's expire_snapshots
plus remove_orphan_files, applied across branches).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import batched
from typing import TYPE_CHECKING, Any

from pyiceberg.io import load_file_io
from pyiceberg.serializers import FromInputFile
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Snapshot

from lake.branches import NessieBranches, NessieNotFoundError
from lake.catalog_config import pyiceberg_properties
from lake.settings import LakeSettings
from lake.storage import s3_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# A writer's uploads are unreferenced until its commit: the window must outlast any write (one Dagster step
# writing a table at a time, typically seconds to minutes). Never below an hour.
MIN_WINDOW = timedelta(hours=1)


class OrphanSweepRefusedError(RuntimeError):
    """The table's own files do not match the storage listing: nothing was deleted."""


@dataclass(frozen=True)
class OrphanSweep:
    table: str
    objects_seen: int
    orphans_removed: int
    bytes_removed: int
    too_young: int  # unreferenced, but inside the window: kept

    def metadata(self) -> dict[str, int | str | bool]:
        return {
            "orphan_files_removed": self.orphans_removed,
            "orphan_bytes_removed": self.bytes_removed,
            "orphan_candidates_too_young": self.too_young,
            "objects_under_location": self.objects_seen,
        }


def remove_orphan_files(
    settings: LakeSettings,
    table: str,
    older_than: timedelta,
    now: datetime | None = None,
    dry_run: bool = False,
) -> OrphanSweep:
    if older_than < MIN_WINDOW:
        raise ValueError(f"the safety window must be at least {MIN_WINDOW}: got {older_than}")
    now = now or datetime.now(UTC)
    cutoff = now - older_than
    nessie = NessieBranches.from_settings(settings)
    default_branch = nessie.default_branch()
    locations: set[str] = set()
    head_location = None  # the table as readers of the default branch see it: what the guard below compares
    for ref in nessie.references():  # branches and tags: a tag pins a release's files too
        try:
            now_and_then = [nessie.metadata_location(ref.name, table, ref.hash)]
            earlier = nessie.hash_at(ref.name, cutoff)
            if earlier is not None:
                now_and_then.append(nessie.metadata_location(ref.name, table, earlier))
        except NessieNotFoundError:
            # Deleted since it was listed (a merged WAP branch): what it held is on main, or abandoned.
            continue
        if ref.name == default_branch:
            head_location = now_and_then[0]
        locations.update(location for location in now_and_then if location is not None)
    if not locations:
        raise LookupError(f"table {table} exists on no branch: nothing to sweep")

    io = load_file_io(pyiceberg_properties(settings))
    versions = {location: FromInputFile.table_metadata(io.new_input(location)) for location in sorted(locations)}
    referenced = set(versions)
    for metadata in versions.values():
        referenced.update(_reachable(metadata, io))
    head_location = head_location or min(versions)
    head = versions[head_location]
    table_location = head.location

    s3 = s3_client(settings)
    bucket, _, prefix = table_location.removeprefix("s3://").removeprefix("s3a://").partition("/")
    listed = {
        f"s3://{bucket}/{key}": (size, modified)
        for key, size, modified in _objects(s3, bucket, prefix.rstrip("/") + "/")
    }
    wanted = {_s3(path) for path in referenced}
    head_files = {_s3(path) for path in _live_files(head, io)} | {_s3(head_location)}
    unlisted = sorted(head_files - listed.keys())
    if unlisted:
        # Paths spelled otherwise than the listing (another scheme, endpoint or encoding) would make every
        # live file look orphaned: refuse, as Iceberg's DeleteOrphanFiles does on a prefix mismatch.
        raise OrphanSweepRefusedError(
            f"refusing to sweep {table}: {len(unlisted)} files its main branch needs are not among the objects "
            f"listed under {table_location} (first: {unlisted[0]})"
        )
    too_young = 0
    orphans: list[tuple[str, int]] = []
    for path, (size, modified) in listed.items():
        if path in wanted:
            continue
        if modified >= cutoff:
            too_young += 1
            continue
        orphans.append((path.removeprefix(f"s3://{bucket}/"), size))
    if not dry_run:
        _delete(s3, bucket, [key for key, _ in orphans])
    return OrphanSweep(
        table=table,
        objects_seen=len(listed),
        orphans_removed=len(orphans),
        bytes_removed=sum(size for _, size in orphans),
        too_young=too_young,
    )


def _s3(path: str) -> str:
    return "s3://" + path.removeprefix("s3a://").removeprefix("s3://")


def _reachable(metadata: TableMetadata, io: Any) -> Iterator[str]:
    """Every file one metadata version refers to: earlier metadata files, statistics, and for each
    snapshot its manifest list, manifests and data and delete files (removed entries included)."""
    yield from (entry.metadata_file for entry in metadata.metadata_log)
    yield from (stats.statistics_path for stats in metadata.statistics)
    for snapshot in metadata.snapshots:
        yield from _snapshot_files(snapshot, io, live_only=False)


def _live_files(metadata: TableMetadata, io: Any) -> Iterator[str]:
    """The files a reader of this version opens: its snapshot's manifest list, manifests and live data."""
    snapshot = metadata.current_snapshot()
    if snapshot is not None:
        yield from _snapshot_files(snapshot, io, live_only=True)


def _snapshot_files(snapshot: Snapshot, io: Any, live_only: bool) -> Iterator[str]:
    yield snapshot.manifest_list
    for manifest in snapshot.manifests(io):
        yield manifest.manifest_path
        yield from (entry.data_file.file_path for entry in manifest.fetch_manifest_entry(io, discard_deleted=live_only))


def _objects(s3: S3Client, bucket: str, prefix: str) -> Iterator[tuple[str, int, datetime]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"], item["Size"], item["LastModified"]


def _delete(s3: S3Client, bucket: str, keys: Iterable[str]) -> None:
    for batch in batched(keys, 1000):  # the S3 API's limit per DeleteObjects
        _delete_batch(s3, bucket, list(batch))


def _delete_batch(s3: S3Client, bucket: str, keys: list[str]) -> None:
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True})
    errors = answer.get("Errors", [])
    if errors:
        first = errors[0]
        raise OSError(
            f"{len(errors)} deletes under s3://{bucket} failed, first {first.get('Key')}: {first.get('Message')}"
        )
