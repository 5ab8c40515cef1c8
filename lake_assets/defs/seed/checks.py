"""Checks of the seed tables: none besides the asset's own. Both are Spark tables written by write-audit-publish,
so no_null_partitions and the job's row counts per slot are declared in the assets' check_specs and evaluated
on the run's branch before the merge (lake_assets/wap.py)."""

import dagster as dg

CHECKS: list[dg.AssetChecksDefinition] = []
