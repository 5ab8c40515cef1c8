"""The blocking check every Iceberg table carries: no partition may hold a NULL partition value.

The Spark tables evaluate it on their run's Nessie branch, before publishing (lake_assets/wap.py); a table
written straight to main (landing.signals, by pyiceberg) carries it as a separate asset check, attached with
the signal checks (lake_assets/landing_assets.py). Either way it is blocking with severity ERROR: a failing
result keeps the assets downstream of its table from running in the same run, so a NULL partition cannot flow
on unnoticed.
"""

# No `from __future__ import annotations`: Dagster reads the resource annotation at definition time.
import dagster as dg
from pyiceberg.table import Table

from lake.null_partitions import find_null_partitions, null_partition_counts
from lake_assets.resources import CatalogResource

NO_NULL_PARTITIONS = "no_null_partitions"


def describe(table: str) -> str:
    return f"No partition of {table} has a NULL value (manifest metadata only; no data scan)."


def null_partition_result(table: Table, asset_key: dg.AssetKey | None = None) -> dg.AssetCheckResult:
    """The check's result for the table as loaded (from whichever branch its catalog points at); `asset_key`
    names the asset when the step materializes several."""
    found = find_null_partitions(table)
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=NO_NULL_PARTITIONS,
        passed=not found,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "null_partitions": len(found),
            "rows_in_null_partitions": sum(p.record_count for p in found),
            "by_kind": dg.MetadataValue.json(null_partition_counts(found)),
            "offending": dg.MetadataValue.md("\n".join(f"- {p.describe()}" for p in found[:50]) or "none"),
        },
    )


def null_partition_check(asset: dg.AssetsDefinition | dg.AssetKey, table: str) -> dg.AssetChecksDefinition:
    """The check as a separate asset check reading main, for a table that is not written through WAP."""

    @dg.asset_check(asset=asset, name=NO_NULL_PARTITIONS, blocking=True, description=describe(table))
    def _check(catalog: CatalogResource) -> dg.AssetCheckResult:
        return null_partition_result(catalog.catalog().load_table(table))

    return _check
