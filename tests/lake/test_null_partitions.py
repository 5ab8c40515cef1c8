"""NULL partitions produced the ways they really happen, found from manifests alone.

Never by editing metadata: Spark writes them (a failed cast with ANSI off, spec evolution, a void
transform on a format-v1 table), and pyiceberg writes one on the REST catalog.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from lake.catalog import open_catalog
from lake.null_partitions import find_null_partitions
from lake.settings import LakeSettings

pytestmark = pytest.mark.spark


def detect(settings: LakeSettings, table: str, snapshot_id: int | None = None) -> list[Any]:
    return find_null_partitions(open_catalog(settings).load_table(table), snapshot_id)


def test_a_clean_table_has_none(spark: Any, lake_settings: LakeSettings, unique_name: str) -> None:
    table = f"seed.{unique_name}"
    spark.sql(f"CREATE TABLE {table} (ds string, hr int, v bigint) USING iceberg PARTITIONED BY (ds, hr)")
    spark.sql(f"INSERT INTO {table} VALUES ('2026-11-01', 0, 1), ('2026-11-01', 1, 2)")
    assert detect(lake_settings, table) == []


def test_a_failed_cast_writes_a_null_partition(spark: Any, lake_settings: LakeSettings, unique_name: str) -> None:
    table = f"seed.{unique_name}"
    spark.sql(f"CREATE TABLE {table} (ds string, hr int, v bigint) USING iceberg PARTITIONED BY (ds, hr)")
    spark.sql(f"INSERT INTO {table} VALUES ('2026-11-01', 0, 1)")
    previous = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", "false")  # a bad value becomes NULL instead of an error
    try:
        spark.sql(
            f"INSERT INTO {table} SELECT '2026-11-01', CAST('seven' AS INT), 2 UNION ALL SELECT '2026-11-01', 3, 3"
        )
    finally:
        spark.conf.set("spark.sql.ansi.enabled", previous)

    [found] = detect(lake_settings, table)
    assert found.partition == {"ds": "2026-11-01", "hr": None}
    assert found.null_fields == {"hr": "null_value"}
    assert (found.file_count, found.record_count) == (1, 1)
    assert found.sample_files[0].endswith(".parquet")
    # Nessie keeps history as its own commits: the table's metadata has no older snapshot to look at.
    with pytest.raises(ValueError, match="has no snapshot 1"):
        detect(lake_settings, table, snapshot_id=1)


def test_spec_evolution_leaves_older_files_without_the_new_field(
    spark: Any, lake_settings: LakeSettings, unique_name: str
) -> None:
    table = f"seed.{unique_name}"
    spark.sql(f"CREATE TABLE {table} (ds string, hr int, v bigint) USING iceberg PARTITIONED BY (ds)")
    spark.sql(f"INSERT INTO {table} VALUES ('2026-11-01', 5, 1), ('2026-11-01', 6, 2)")
    spark.sql(f"ALTER TABLE {table} ADD PARTITION FIELD hr")
    spark.sql(f"INSERT INTO {table} VALUES ('2026-11-02', 7, 3)")

    [found] = detect(lake_settings, table)
    assert found.spec_id == 0
    assert found.partition == {"ds": "2026-11-01", "hr": None}
    assert found.null_fields == {"hr": "not_in_spec"}
    assert found.record_count == 2


def test_dropping_a_field_leaves_the_newer_files_without_it(
    spark: Any, lake_settings: LakeSettings, unique_name: str
) -> None:
    """On format v1 a dropped field becomes a void transform (NULL); Nessie writes format v2 even when v1
    is asked for, where the field leaves the spec: the newer files then have no value for it."""
    table = f"seed.{unique_name}"
    spark.sql(
        f"CREATE TABLE {table} (ds string, hr int, v bigint) USING iceberg PARTITIONED BY (ds, hr) "
        "TBLPROPERTIES ('format-version'='1')"
    )
    assert open_catalog(lake_settings).load_table(table).format_version == 2  # Nessie's choice
    spark.sql(f"INSERT INTO {table} VALUES ('2026-11-01', 0, 1)")
    spark.sql(f"ALTER TABLE {table} DROP PARTITION FIELD hr")
    spark.sql(f"INSERT INTO {table} VALUES ('2026-11-01', 9, 2), ('2026-11-01', 10, 3)")

    [found] = detect(lake_settings, table)
    assert found.spec_id == 1
    assert found.null_fields == {"hr": "not_in_spec"}
    assert found.partition["ds"] == "2026-11-01" and found.record_count == 2


def test_a_null_source_value_on_the_rest_catalog(lake_settings: LakeSettings, unique_name: str) -> None:
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import IdentityTransform
    from pyiceberg.types import LongType, NestedField, StringType

    catalog = open_catalog(lake_settings)
    schema = Schema(NestedField(1, "ds", StringType(), required=False), NestedField(2, "v", LongType(), required=False))
    spec = PartitionSpec(PartitionField(source_id=1, field_id=1000, transform=IdentityTransform(), name="ds"))
    table = catalog.create_table(f"seed.{unique_name}", schema=schema, partition_spec=spec)
    table.append(pa.table({"ds": ["2026-11-01", None, None], "v": pa.array([1, 2, 3], pa.int64())}))
    [found] = find_null_partitions(catalog.load_table(f"seed.{unique_name}"))
    assert found.partition == {"ds": None} and found.record_count == 2 and found.null_fields == {"ds": "null_value"}
