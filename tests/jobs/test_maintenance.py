"""jobs/maintenance.py through spark-submit on Nessie: closed days compacted beside a live writer, nothing lost."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform
from pyiceberg.types import LongType, NestedField, TimestamptzType

from lake.catalog import open_catalog
from lake.settings import LakeSettings
from lake.spark_submit import SparkJobError, submit
from lake.tables import commit_retrying

pytestmark = pytest.mark.spark

DAY_1 = datetime(2026, 11, 1, tzinfo=UTC)
DAY_2 = DAY_1 + timedelta(days=1)
SCHEMA = Schema(
    NestedField(1, "v", LongType(), required=False), NestedField(2, "at", TimestamptzType(), required=False)
)
# On Nessie a rewrite commits only if no other commit came between its plan and its commit, so a writer
# must leave it gaps: at 2 s, on a loaded 2-core CI machine, every one of the 9 re-plans was overtaken
# (a livelock the job now names). 8 s is still minutes scaled to seconds, and several commits per run.
WRITER_INTERVAL_S = 8.0
ARROW = pa.schema([("v", pa.int64()), ("at", pa.timestamp("us", tz="UTC"))])


def day_table(settings: LakeSettings, name: str) -> Table:
    spec = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=DayTransform(), name="at_day"))
    return open_catalog(settings).create_table(name, schema=SCHEMA, partition_spec=spec)


def append(table: Table, value: int, at: datetime) -> None:
    table.append(pa.table({"v": [value], "at": [at]}, schema=ARROW))  # one commit, one small file


def files_by_day(table: Table) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in table.refresh().inspect.data_files().to_pylist():
        day = str(row["partition"]["at_day"])
        counts[day] = counts.get(day, 0) + 1
    return counts


def test_closed_days_are_compacted_while_a_writer_commits_to_the_open_day(
    lake_settings: LakeSettings, unique_name: str
) -> None:
    table = day_table(lake_settings, f"market.{unique_name}")
    for minute in range(6):  # day 1, closed: six one-row files
        append(table, minute, DAY_1 + timedelta(minutes=minute))
    append(table, 100, DAY_2)

    stop, written, failures = threading.Event(), [100], []

    def writer() -> None:  # a minute writer on the open day, its minutes scaled to seconds
        live = open_catalog(lake_settings).load_table(f"market.{unique_name}")
        value = 101
        while not stop.wait(WRITER_INTERVAL_S):
            try:  # a commit the maintenance got in before is written again on the new head
                commit_retrying(live, lambda t, v=value: append(t, v, DAY_2 + timedelta(minutes=v - 100)))
            except Exception as exc:  # any failure is this test's finding
                failures.append(repr(exc))
                return
            written.append(value)
            value += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        args = ["--table", f"market.{unique_name}", "--closed-column", "at", "--closed-before", DAY_2.isoformat()]
        run = submit(lake_settings, "maintenance", args)
    finally:
        stop.set()
        thread.join(timeout=60)

    assert not failures, f"the writer failed beside the maintenance run: {failures}"
    assert "6 data files compacted into 1" in run.log
    values = sorted(table.refresh().scan().to_arrow().column("v").to_pylist())
    assert values == list(range(6)) + written, "a commit was lost beside the maintenance run"
    assert len(written) > 1, "the writer committed nothing while maintenance ran: the test proves nothing"
    # The closed day is one file; the open day is untouched, a file per commit.
    assert sorted(files_by_day(table).values()) == [1, len(written)]


def test_a_whole_table_without_a_day_column_is_compacted(lake_settings: LakeSettings, unique_name: str) -> None:
    table = open_catalog(lake_settings).create_table(f"seed.{unique_name}", schema=pa.schema([("v", pa.int64())]))
    for value in range(6):
        table.append(pa.table({"v": pa.array([value], pa.int64())}))
    run = submit(lake_settings, "maintenance", ["--table", f"seed.{unique_name}"])
    assert "6 data files compacted into 1" in run.log
    table.refresh()
    assert sorted(table.scan().to_arrow().column("v").to_pylist()) == list(range(6))
    assert len(table.inspect.data_files()) == 1
    # Nessie keeps history as its commits: one snapshot in the metadata, and gc.enabled=false, so the
    # job expires nothing itself (lake.orphans sweeps across branches instead).
    assert len(table.snapshots()) == 1 and table.properties.get("gc.enabled") == "false"
    assert "snapshots expired: 0 (skipped: gc.enabled=false" in run.log


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--closed-column", "at", "--closed-before", "2026-11-02T06:00:00Z"], "is not a midnight"),
        (["--closed-column", "nope", "--closed-before", "2026-11-02T00:00:00Z"], "'nope' is not a column"),
    ],
)
def test_bad_arguments_are_refused_by_name(
    lake_settings: LakeSettings, unique_name: str, args: list[str], error: str
) -> None:
    day_table(lake_settings, f"market.{unique_name}")
    with pytest.raises(SparkJobError, match=error):
        submit(lake_settings, "maintenance", ["--table", f"market.{unique_name}", *args])
