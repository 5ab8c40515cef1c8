"""Orphan-file removal across Nessie branches (lake.orphans), against the real Nessie and SeaweedFS.

Objects cannot be made old on S3, so the tests move the clock instead: `now` in the future puts every
object written here before the window's start.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from pyiceberg.table import Table

from lake.branches import NessieBranches, on_branch
from lake.catalog import open_catalog
from lake.orphans import OrphanSweepRefusedError, remove_orphan_files
from lake.settings import LakeSettings
from lake.storage import s3_client

HOUR = timedelta(hours=1)


def one_row_table(settings: LakeSettings, name: str) -> Table:
    table = open_catalog(settings).create_table(name, schema=pa.schema([("v", pa.int64())]))
    table.append(pa.table({"v": pa.array([1], pa.int64())}))
    return table


def values(settings: LakeSettings, table: str) -> list[int]:
    return sorted(open_catalog(settings).load_table(table).scan().to_arrow().column("v").to_pylist())


def stray_object(settings: LakeSettings, table: str) -> str:
    """A data file some writer uploaded and never committed: what the sweep exists for."""
    location = open_catalog(settings).load_table(table).location()
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    key = f"{prefix}/data/never-committed.parquet"
    s3_client(settings).put_object(Bucket=bucket, Key=key, Body=b"uncommitted")
    return f"{bucket}/{key}"


def exists(settings: LakeSettings, path: str) -> bool:
    bucket, _, key = path.partition("/")
    return s3_client(settings).list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"] == 1


def test_only_files_no_branch_needs_are_swept_and_only_once_older_than_the_window(
    lake_settings: LakeSettings, unique_name: str
) -> None:
    table_name = f"seed.{unique_name}"
    one_row_table(lake_settings, table_name)
    branch = f"dev-{unique_name[-20:]}".replace("_", "-")
    nessie = NessieBranches.from_settings(lake_settings)
    nessie.create_branch(branch, "main")
    on_dev = on_branch(lake_settings, branch)
    open_catalog(on_dev).load_table(table_name).append(pa.table({"v": pa.array([2], pa.int64())}))
    stray = stray_object(lake_settings, table_name)

    # Unreferenced: the stray upload, and the metadata file of the table's creation (no later version
    # lists it; a commit inside the window that needed it would have made it young).
    young = remove_orphan_files(lake_settings, table_name, HOUR)  # now: everything is inside the window
    assert (young.orphans_removed, young.too_young) == (0, 2) and exists(lake_settings, stray)

    dry = remove_orphan_files(lake_settings, table_name, HOUR, now=datetime.now(UTC) + 2 * HOUR, dry_run=True)
    assert dry.orphans_removed == 2 and exists(lake_settings, stray)

    swept = remove_orphan_files(lake_settings, table_name, HOUR, now=datetime.now(UTC) + 2 * HOUR)
    assert swept.orphans_removed == 2 and not exists(lake_settings, stray)
    # Main and the branch (whose data file main never saw) still read every row.
    assert values(lake_settings, table_name) == [1]
    assert values(on_dev, table_name) == [1, 2]


def test_a_file_replaced_inside_the_window_is_kept_for_the_history_that_still_needs_it(
    lake_settings: LakeSettings, unique_name: str
) -> None:
    table_name = f"seed.{unique_name}"
    table = one_row_table(lake_settings, table_name)
    first_files = {row["file_path"] for row in table.inspect.data_files().to_pylist()}
    time.sleep(1.5)
    between = datetime.now(UTC)
    time.sleep(1.5)
    table.overwrite(pa.table({"v": pa.array([10], pa.int64())}))  # the first file leaves main's HEAD

    # The window began between the two commits: main's state then still needs the first file.
    remove_orphan_files(lake_settings, table_name, HOUR, now=between + HOUR)
    assert first_files <= {f"s3://{path}" for path in _all_objects(lake_settings, table.location())}
    # The window began after the overwrite: nothing needs the first file any more.
    swept = remove_orphan_files(lake_settings, table_name, HOUR, now=datetime.now(UTC) + 2 * HOUR)
    assert swept.orphans_removed >= 1
    remaining = {f"s3://{path}" for path in _all_objects(lake_settings, table.location())}
    assert not first_files & remaining
    assert values(lake_settings, table_name) == [10]


def test_a_sweep_that_cannot_find_mains_own_files_in_the_listing_deletes_nothing(
    lake_settings: LakeSettings, unique_name: str
) -> None:
    """Paths spelled otherwise than the listing would make every live file look orphaned: refused."""
    table_name = f"seed.{unique_name}"
    table = one_row_table(lake_settings, table_name)
    [data_file] = [row["file_path"] for row in table.inspect.data_files().to_pylist()]
    bucket, _, key = data_file.removeprefix("s3://").partition("/")
    s3_client(lake_settings).delete_object(Bucket=bucket, Key=key)  # main now needs a file the listing lacks
    before = _all_objects(lake_settings, table.location())
    with pytest.raises(OrphanSweepRefusedError, match=r"files its main branch needs are not among the objects"):
        remove_orphan_files(lake_settings, table_name, HOUR, now=datetime.now(UTC) + 2 * HOUR)
    assert _all_objects(lake_settings, table.location()) == before


def test_a_window_shorter_than_an_hour_is_refused(lake_settings: LakeSettings) -> None:
    with pytest.raises(ValueError, match="at least 1:00:00"):
        remove_orphan_files(lake_settings, "seed.anything", timedelta(minutes=5))


def _all_objects(settings: LakeSettings, location: str) -> list[str]:
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    pages = s3_client(settings).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [f"{bucket}/{item['Key']}" for page in pages for item in page.get("Contents", [])]
