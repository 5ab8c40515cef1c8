"""Table maintenance as assets: one per Iceberg table, plus the retention of write-audit-publish branches.

Each table's maintenance is one Spark submit (jobs/maintenance.py: compaction of closed days, manifest
rewrite, snapshot expiry where the catalog allows it) followed by the orphan-file sweep across every Nessie
branch (lake.orphans). The materialization carries files and bytes before and after, manifests and
snapshots expired and orphans removed as numbers, so Dagster plots them run by run.

A table's maintenance shares the table's concurrency pool with its writers: a compaction committed to
main while a write-audit-publish run was writing the table on its branch would make that run's merge
conflict. (landing.signals is written by pyiceberg on main and retries a conflicting commit on its own.)
"""

# No `from __future__ import annotations`: Dagster reads annotations at definition time.
from datetime import UTC, datetime, timedelta

import dagster as dg

from lake.branches import NessieBranches, prune_wap_branches
from lake.orphans import remove_orphan_files
from lake_assets.loaded_settings import SETTINGS
from lake_assets.resources import CatalogResource, SparkResource
from lake_assets.wap import table_pool
from lake_contracts import tables
from lake_contracts.slots import slot_containing

GROUP = "maintenance"
DAY_MINUTES = 24 * 60  # days close at midnight UTC: the day is the slot of 1440 minutes


class MaintenanceConfig(dg.Config):
    closed_before: str | None = None  # ISO-8601 midnight (UTC); default: the start of the current UTC day
    dry_run_orphans: bool = False


@dg.asset(
    key=[GROUP, "wap_branches"],
    group_name=GROUP,
    description="Deletes write-audit-publish branches older than the retention (failed runs keep theirs until then).",
    kinds={"nessie"},
)
def wap_branches(context: dg.AssetExecutionContext, catalog: CatalogResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
    retention = timedelta(hours=catalog.settings.maintenance.wap_branch_retention_hours)
    nessie = NessieBranches.from_settings(catalog.settings.as_maintenance())  # deleting references is its right
    deleted = prune_wap_branches(nessie, retention)
    context.log.info(f"deleted {len(deleted)} WAP branches older than {retention}: {', '.join(deleted) or 'none'}")
    return dg.MaterializeResult(metadata={"branches_deleted": len(deleted), "deleted": dg.MetadataValue.json(deleted)})


def maintenance_asset(table: str) -> dg.AssetsDefinition:
    """The maintenance of `table`, after the asset that writes it (whose key is the table's name)."""
    namespace, name = table.split(".")
    day_column = tables.DAY_COLUMN.get(table)

    @dg.asset(
        key=[GROUP, namespace, name],
        group_name=GROUP,
        deps=[[namespace, name], wap_branches],
        pool=table_pool(table),
        description=(
            f"Maintains {table}: compacts closed days, rewrites manifests, expires snapshots, removes "
            "files no Nessie branch needs after the safety window."
        ),
        kinds={"iceberg", "spark"},
    )
    def _maintain(
        context: dg.AssetExecutionContext, config: MaintenanceConfig, spark: SparkResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = spark.settings.as_maintenance()  # it deletes files and rewrites: its identity, not the writer's
        args = ["--table", table]
        if day_column:
            closed_before = config.closed_before or slot_containing(datetime.now(UTC), DAY_MINUTES).start.isoformat()
            args += ["--closed-column", day_column, "--closed-before", closed_before]
        job = spark.run(context, "maintenance", args, maintenance=True).get_materialize_result()
        window = timedelta(hours=settings.maintenance.orphan_window_hours)
        sweep = remove_orphan_files(settings, table, window, dry_run=config.dry_run_orphans)
        context.log.info(
            f"{table}: {sweep.orphans_removed} orphan files ({sweep.bytes_removed} bytes) removed, "
            f"{sweep.too_young} unreferenced but younger than {window} kept"
        )
        return dg.MaterializeResult(metadata={**(job.metadata or {}), **sweep.metadata()})

    return _maintain


TABLE_MAINTENANCE = [maintenance_asset(table) for table in tables.ALL_TABLES]

maintenance_job = dg.define_asset_job("lake_maintenance", selection=dg.AssetSelection.groups(GROUP))

# Stopped by default: Airflow is the scheduler (the bridge DAG lake_maintenance_v1 runs the same assets).
# A Dagster-only deployment turns this schedule on instead.
maintenance_schedule = dg.ScheduleDefinition(
    job=maintenance_job,
    cron_schedule=SETTINGS.maintenance.cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
