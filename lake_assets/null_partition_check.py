"""The blocking check every Iceberg table asset carries: no partition may hold a NULL partition value.

A blocking check that fails with severity ERROR keeps the assets downstream of its table from running
in the same run, so a NULL partition cannot flow on unnoticed. Each domain attaches it to its tables
in its own checks module.
"""

# No `from __future__ import annotations`: Dagster reads the resource annotation at definition time.
import dagster as dg

from lake.null_partitions import find_null_partitions, null_partition_counts
from lake_assets.resources import CatalogResource


def null_partition_check(asset: dg.AssetsDefinition, table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name="no_null_partitions",
        blocking=True,
        description=f"No partition of {table} has a NULL value (manifest metadata only; no data scan).",
    )
    def _check(catalog: CatalogResource) -> dg.AssetCheckResult:
        found = find_null_partitions(catalog.catalog().load_table(table))
        return dg.AssetCheckResult(
            passed=not found,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "null_partitions": len(found),
                "rows_in_null_partitions": sum(p.record_count for p in found),
                "by_kind": dg.MetadataValue.json(null_partition_counts(found)),
                "offending": dg.MetadataValue.md("\n".join(f"- {p.describe()}" for p in found[:50]) or "none"),
            },
        )

    return _check
