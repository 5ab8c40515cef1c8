"""pyiceberg on SeaweedFS's Iceberg REST catalog with an s3:// warehouse (the shape of Nessie + RustFS)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import HourTransform, IdentityTransform
from pyiceberg.types import LongType, NestedField, StringType, TimestamptzType

from lake.catalog import open_catalog
from lake.settings import LakeSettings


def test_partitioned_table_append_and_partitions(lake_settings: LakeSettings, unique_name: str) -> None:
    catalog = open_catalog(lake_settings)
    catalog.create_namespace_if_not_exists("resttest")
    schema = Schema(
        NestedField(1, "symbol", StringType(), required=False),
        NestedField(2, "open_time", TimestamptzType(), required=False),
        NestedField(3, "trades", LongType(), required=False),
    )
    spec = PartitionSpec(
        PartitionField(source_id=1, field_id=1000, transform=IdentityTransform(), name="symbol"),
        PartitionField(source_id=2, field_id=1001, transform=HourTransform(), name="open_hour"),
    )
    table = catalog.create_table(f"resttest.{unique_name}", schema=schema, partition_spec=spec)
    assert table.location().startswith("s3://")

    rows = pa.table(
        {
            "symbol": ["BTCUSDT", "BTCUSDT", "ETHUSDT"],
            "open_time": [
                datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
                datetime(2026, 11, 1, 0, 1, tzinfo=UTC),
                datetime(2026, 11, 1, 1, 0, tzinfo=UTC),
            ],
            "trades": pa.array([10, 20, 30], pa.int64()),
        }
    )
    table.append(rows)

    reloaded = catalog.load_table(f"resttest.{unique_name}")
    assert reloaded.scan().to_arrow().num_rows == 3
    partitions = {
        (p["partition"]["symbol"], p["partition"]["open_hour"]): p["record_count"]
        for p in reloaded.inspect.partitions().to_pylist()
    }
    hour_0 = (datetime(2026, 11, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days * 24
    assert partitions == {("BTCUSDT", hour_0): 2, ("ETHUSDT", hour_0 + 1): 1}
