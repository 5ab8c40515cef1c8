"""The Nessie branch client (lake.branches) against the session's real Nessie: branch, write, merge, conflict,
delete, retention. Tables are written with pyiceberg on the branches, as the Spark jobs write them."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from pyiceberg.exceptions import NoSuchTableError

from lake.branches import (
    BranchExistsError,
    MergeConflictError,
    NessieBranches,
    NessieNotFoundError,
    branch_created_at,
    on_branch,
    prune_wap_branches,
    wap_branch_name,
)
from lake.catalog import open_catalog
from lake.settings import LakeSettings

SCHEMA = pa.schema([pa.field("n", pa.int64())])


@pytest.fixture
def nessie(lake_settings: LakeSettings) -> NessieBranches:
    return NessieBranches.from_settings(lake_settings)


@pytest.fixture
def table(lake_settings: LakeSettings, unique_name: str) -> Iterator[str]:
    """An empty table on main, unique to the test."""
    identifier = f"seed.{unique_name}"
    open_catalog(lake_settings).create_table(identifier, SCHEMA)
    yield identifier
    open_catalog(lake_settings).drop_table(identifier)


def append(settings: LakeSettings, branch: str, table: str, *values: int) -> None:
    open_catalog(on_branch(settings, branch)).load_table(table).append(pa.table({"n": list(values)}, schema=SCHEMA))


def rows(settings: LakeSettings, table: str, branch: str | None = None) -> list[int]:
    catalog = open_catalog(on_branch(settings, branch) if branch else settings)
    return sorted(catalog.load_table(table).scan().to_arrow().column("n").to_pylist())


def new_branch(nessie: NessieBranches, base: str) -> str:
    name = wap_branch_name("tests/branches", secrets.token_hex(4))
    nessie.create_branch(name, "main", base)
    return name


def test_a_branch_is_written_merged_into_main_and_deleted(
    nessie: NessieBranches, lake_settings: LakeSettings, table: str
) -> None:
    assert nessie.default_branch() == "main"
    base = nessie.hash_of("main")
    branch = new_branch(nessie, base)
    assert nessie.hash_of(branch) == base
    append(lake_settings, branch, table, 1, 2)
    assert rows(lake_settings, table, branch) == [1, 2]
    assert rows(lake_settings, table) == []  # main's readers see nothing of the branch
    assert nessie.hash_of("main") == base

    merged = nessie.merge(branch, into="main", expected_hash=base, message=f"test merge of {branch}")
    assert merged == nessie.hash_of("main") != base
    assert rows(lake_settings, table) == [1, 2]

    nessie.delete_branch(branch)
    assert branch not in {b.name for b in nessie.branches("wap-")}
    with pytest.raises(NessieNotFoundError, match=branch):
        nessie.hash_of(branch)


def test_a_table_made_on_a_branch_reaches_main_only_by_the_merge(
    nessie: NessieBranches, lake_settings: LakeSettings, unique_name: str
) -> None:
    base = nessie.hash_of("main")
    branch = new_branch(nessie, base)
    identifier = f"seed.{unique_name}"
    open_catalog(on_branch(lake_settings, branch)).create_table(identifier, SCHEMA)
    append(lake_settings, branch, identifier, 7)
    with pytest.raises(NoSuchTableError):
        open_catalog(lake_settings).load_table(identifier)
    nessie.merge(branch, into="main", expected_hash=base)
    try:
        assert rows(lake_settings, identifier) == [7]
    finally:
        open_catalog(lake_settings).drop_table(identifier)
        nessie.delete_branch(branch)


def test_a_conflicting_merge_names_branch_and_table_and_merges_nothing(
    nessie: NessieBranches, lake_settings: LakeSettings, table: str, unique_name: str
) -> None:
    base = nessie.hash_of("main")
    first, second = new_branch(nessie, base), new_branch(nessie, base)
    append(lake_settings, first, table, 1)
    append(lake_settings, second, table, 2)
    nessie.merge(first, into="main", expected_hash=base)
    main = nessie.hash_of("main")

    with pytest.raises(MergeConflictError) as raised:
        nessie.merge(second, into="main", expected_hash=base)
    assert raised.value.branch == second and raised.value.tables == [table]
    assert second in str(raised.value) and table in str(raised.value)
    assert nessie.hash_of("main") == main  # nothing of the second branch was merged
    assert rows(lake_settings, table) == [1]
    assert rows(lake_settings, table, second) == [2]  # and it keeps what it wrote

    # A branch made at the same base that wrote another table merges: only shared tables conflict.
    other = new_branch(nessie, base)
    identifier = f"seed.{unique_name}_other"
    open_catalog(on_branch(lake_settings, other)).create_table(identifier, SCHEMA)
    nessie.merge(other, into="main", expected_hash=base)
    open_catalog(lake_settings).drop_table(identifier)
    for branch in (first, second, other):
        nessie.delete_branch(branch)


def test_a_tables_metadata_location_now_and_at_an_earlier_time(
    nessie: NessieBranches, lake_settings: LakeSettings, table: str
) -> None:
    before = datetime.now(UTC)
    first = nessie.metadata_location("main", table)
    assert first is not None and first == open_catalog(lake_settings).load_table(table).metadata_location
    time.sleep(0.01)
    append(lake_settings, "main", table, 1)
    now = nessie.hash_of("main")
    assert nessie.metadata_location("main", table) not in (None, first)
    earlier = nessie.hash_at("main", before)
    assert earlier is not None and earlier != now
    assert nessie.metadata_location("main", table, earlier) == first
    assert nessie.hash_at("main", datetime(2000, 1, 1, tzinfo=UTC)) is None  # before the repository began
    assert nessie.metadata_location("main", table + "_missing") is None
    with pytest.raises(NessieNotFoundError):
        nessie.metadata_location("no-such-branch", table)


def test_creating_an_existing_branch_is_refused(nessie: NessieBranches) -> None:
    branch = new_branch(nessie, nessie.hash_of("main"))
    with pytest.raises(BranchExistsError, match="already exists"):
        nessie.create_branch(branch, "main")
    nessie.delete_branch(branch)


def test_retention_deletes_old_wap_branches_and_keeps_young_ones(nessie: NessieBranches) -> None:
    now = datetime.now(UTC)
    base = nessie.hash_of("main")
    old = wap_branch_name("tests/retention", secrets.token_hex(4), now=now - timedelta(hours=49))
    young = wap_branch_name("tests/retention", secrets.token_hex(4), now=now - timedelta(hours=47))
    unparsed = f"wap-manual-{secrets.token_hex(4)}"  # not made by wap_branch_name: its age is unknown
    for name in (old, young, unparsed):
        nessie.create_branch(name, "main", base)

    assert prune_wap_branches(nessie, max_age=timedelta(hours=48), now=now) == [old]
    left = {branch.name for branch in nessie.branches("wap-")}
    assert old not in left and {young, unparsed} <= left
    for name in (young, unparsed):
        nessie.delete_branch(name)


def test_wap_branch_names_suit_nessie_and_the_settings(lake_settings: LakeSettings) -> None:
    made = datetime(2026, 11, 1, 0, 15, 7, tzinfo=UTC)
    run_id = "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
    name = wap_branch_name("seed/partitioned_data", run_id, now=made)
    assert name == "wap-20261101T001507-seed.partitioned_data-1a2b3c4d"
    long_name = wap_branch_name("market/" + "x" * 80 + "/klines", run_id, now=made)
    assert len(long_name) == 64 and long_name.endswith("-1a2b3c4d")
    assert branch_created_at(long_name) == made
    assert branch_created_at("wap-manual") is None and branch_created_at("main") is None
    # Valid for LAKE_CATALOG__BRANCH too: every engine's catalog can be pointed at it.
    assert on_branch(lake_settings, long_name).catalog.branch == long_name
    with pytest.raises(ValueError, match="branch"):
        on_branch(lake_settings, "wap/with/slashes")
