"""Checks of the seed tables: the blocking NULL-partition check on each (their row counts per slot are
checked inside the Spark job and reported through Pipes: see the asset's check_specs)."""

from lake_assets.defs.seed.assets import PARTITIONED_TABLE, STATIC_TABLE, partitioned_data, static_data
from lake_assets.null_partition_check import null_partition_check

CHECKS = [
    null_partition_check(partitioned_data, PARTITIONED_TABLE),
    null_partition_check(static_data, STATIC_TABLE),
]
