"""Maintenance of every Iceberg table, and the retention of write-audit-publish branches."""

import dagster as dg

from lake_assets.defs.maintenance.assets import TABLE_MAINTENANCE, maintenance_job, maintenance_schedule, wap_branches

defs = dg.Definitions(
    assets=[wap_branches, *TABLE_MAINTENANCE], jobs=[maintenance_job], schedules=[maintenance_schedule]
)
