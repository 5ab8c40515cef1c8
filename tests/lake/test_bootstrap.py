"""`lake bootstrap` is idempotent, and a write into a missing namespace fails before any data file exists."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pytest
from pyiceberg.exceptions import NoSuchNamespaceError

from lake.bootstrap import bootstrap
from lake.catalog import NamespaceMissingError, open_catalog, require_namespace
from lake.namespaces import NAMESPACES
from lake.settings import LakeSettings
from lake.storage import s3_client


@pytest.mark.parametrize("kind", ["sql", "rest"])
def test_bootstrap_twice_creates_nothing_new(kind: str, request: pytest.FixtureRequest) -> None:
    settings: LakeSettings = request.getfixturevalue(f"{kind}_settings")  # already bootstrapped once
    report = bootstrap(settings)
    assert all(line.endswith("exists") for line in report), report
    listed = {ns[0] for ns in open_catalog(settings).list_namespaces()}
    assert set(NAMESPACES) <= listed
    s3_client(settings).head_bucket(Bucket=settings.s3.raw_bucket)


def test_write_into_missing_namespace_fails_before_any_data_file(sql_settings: LakeSettings) -> None:
    catalog = open_catalog(sql_settings)
    with pytest.raises(NamespaceMissingError, match=r"namespace 'nowhere' does not exist.*lake bootstrap"):
        require_namespace(catalog, "nowhere.events")
    with pytest.raises(NoSuchNamespaceError):
        catalog.create_table("nowhere.events", schema=pa.schema([("v", pa.int64())]))
    warehouse = Path(urlsplit(sql_settings.catalog.warehouse).path)
    assert not list(warehouse.glob("nowhere*")), "files were written for a table that was never created"


def test_require_namespace_accepts_a_bootstrapped_namespace(sql_settings: LakeSettings) -> None:
    require_namespace(open_catalog(sql_settings), "seed.anything")
