"""Spark through Nessie's REST catalog onto S3, read back by pyiceberg through the same catalog."""

from __future__ import annotations

from typing import Any

import pytest

from lake.catalog import open_catalog
from lake.settings import LakeSettings

pytestmark = pytest.mark.spark


def test_spark_writes_a_partitioned_table_that_pyiceberg_reads(
    spark: Any, lake_settings: LakeSettings, unique_name: str
) -> None:
    table = f"seed.{unique_name}"
    spark.sql(f"CREATE TABLE {table} (ds string, hr int, min int, v bigint) USING iceberg PARTITIONED BY (ds, hr, min)")
    spark.sql(f"INSERT INTO {table} VALUES ('2026-11-01', 0, 15, 1), ('2026-11-01', 0, 15, 2), ('2026-11-01', 1, 0, 3)")

    partitions = spark.sql(f"SELECT partition, record_count, file_count FROM {table}.partitions").collect()
    by_partition = {tuple(row["partition"]): row["record_count"] for row in partitions}
    assert by_partition == {("2026-11-01", 0, 15): 2, ("2026-11-01", 1, 0): 1}

    read_back = open_catalog(lake_settings).load_table(table)
    assert sorted(read_back.scan().to_arrow().column("v").to_pylist()) == [1, 2, 3]
    spec_fields = [field.name for field in read_back.spec().fields]
    assert spec_fields == ["ds", "hr", "min"]
    seen = {tuple(p["partition"].values()): p["record_count"] for p in read_back.inspect.partitions().to_pylist()}
    assert seen == by_partition


def test_spark_sees_pyiceberg_commits_without_refresh(
    spark: Any, lake_settings: LakeSettings, unique_name: str
) -> None:
    import pyarrow as pa

    table = f"seed.{unique_name}"
    spark.sql(f"CREATE TABLE {table} (v bigint) USING iceberg")
    assert spark.sql(f"SELECT count(*) AS n FROM {table}").collect()[0]["n"] == 0
    open_catalog(lake_settings).load_table(table).append(pa.table({"v": pa.array([7, 8], pa.int64())}))
    # cache-enabled=false in the rendered conf: the other writer's commit is visible at once.
    assert spark.sql(f"SELECT count(*) AS n FROM {table}").collect()[0]["n"] == 2
