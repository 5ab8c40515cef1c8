"""`lake bootstrap` is idempotent, and a write into a missing namespace fails before any data file exists."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyiceberg.exceptions import NoSuchNamespaceError

from lake.catalog import NamespaceMissingError, open_catalog, require_namespace
from lake.settings import LakeSettings
from lake.storage import s3_client
from lake_contracts.tables import NAMESPACES
from lake_tools.bootstrap import bootstrap


def test_bootstrap_twice_creates_nothing_new(lake_settings: LakeSettings) -> None:
    settings = lake_settings  # already bootstrapped once
    report = bootstrap(settings)
    assert all(line.endswith("exists") for line in report), report
    listed = {ns[0] for ns in open_catalog(settings).list_namespaces()}
    assert set(NAMESPACES) <= listed
    s3_client(settings).head_bucket(Bucket=settings.s3.raw_bucket)


def warehouse_objects(settings: LakeSettings) -> int:
    """How many objects Nessie's warehouse bucket holds (every table's data and metadata files)."""
    pages = s3_client(settings).get_paginator("list_objects_v2").paginate(Bucket=settings.nessie.warehouse_bucket)
    return sum(page.get("KeyCount", 0) for page in pages)


def test_write_into_missing_namespace_fails_before_any_data_file(lake_settings: LakeSettings) -> None:
    catalog = open_catalog(lake_settings)
    before = warehouse_objects(lake_settings)
    with pytest.raises(NamespaceMissingError, match=r"namespace 'nowhere' does not exist.*lake bootstrap"):
        require_namespace(catalog, "nowhere.events")
    with pytest.raises(NoSuchNamespaceError):
        catalog.create_table("nowhere.events", schema=pa.schema([("v", pa.int64())]))
    assert warehouse_objects(lake_settings) == before, "files reached S3 for a table that was never created"


def test_require_namespace_accepts_a_bootstrapped_namespace(lake_settings: LakeSettings) -> None:
    require_namespace(open_catalog(lake_settings), "seed.anything")
