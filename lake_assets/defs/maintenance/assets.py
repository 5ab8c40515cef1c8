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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg

from lake.branches import NessieBranches, prune_wap_branches
from lake.orphans import remove_orphan_files
from lake_assets.context import SETTINGS
from lake_assets.resources import CatalogResource, SparkResource
from lake_assets.wap import table_pool
from lake_contracts import tables

GROUP = "maintenance"


@dataclass(frozen=True)
class Maintained:
    table: str
    asset: tuple[str, ...]  # the asset that writes the table
    day_column: str | None  # what says which day a row belongs to; None: compact the whole table


MAINTAINED = (
    Maintained(tables.STATIC_DATA, ("seed", "static_data"), None),
    Maintained(tables.PARTITIONED_DATA, ("seed", "partitioned_data"), "ds"),
    Maintained(tables.SIGNALS, ("landing", "signals"), "ds"),
    Maintained(tables.KLINES, ("market", "klines"), "open_time"),
)


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
    nessie = NessieBranches.from_settings(catalog.settings)
    deleted = prune_wap_branches(nessie, retention)
    context.log.info(f"deleted {len(deleted)} WAP branches older than {retention}: {', '.join(deleted) or 'none'}")
    return dg.MaterializeResult(metadata={"branches_deleted": len(deleted), "deleted": dg.MetadataValue.json(deleted)})


def maintenance_asset(spec: Maintained) -> dg.AssetsDefinition:
    namespace, name = spec.table.split(".")

    @dg.asset(
        key=[GROUP, namespace, name],
        group_name=GROUP,
        deps=[list(spec.asset), wap_branches],
        pool=table_pool(spec.table),
        description=(
            f"Maintains {spec.table}: compacts closed days, rewrites manifests, expires snapshots, removes "
            "files no Nessie branch needs after the safety window."
        ),
        kinds={"iceberg", "spark"},
    )
    def _maintain(
        context: dg.AssetExecutionContext, config: MaintenanceConfig, spark: SparkResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = spark.settings
        args = ["--table", spec.table]
        if spec.day_column:
            closed_before = config.closed_before or _midnight(datetime.now(UTC)).isoformat()
            args += ["--closed-column", spec.day_column, "--closed-before", closed_before]
        job = spark.run(context, "maintenance", args).get_materialize_result()
        window = timedelta(hours=settings.maintenance.orphan_window_hours)
        sweep = remove_orphan_files(settings, spec.table, window, dry_run=config.dry_run_orphans)
        context.log.info(
            f"{spec.table}: {sweep.orphans_removed} orphan files ({sweep.bytes_removed} bytes) removed, "
            f"{sweep.too_young} unreferenced but younger than {window} kept"
        )
        return dg.MaterializeResult(metadata={**(job.metadata or {}), **sweep.metadata()})

    return _maintain


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


TABLE_MAINTENANCE = [maintenance_asset(spec) for spec in MAINTAINED]

maintenance_job = dg.define_asset_job("lake_maintenance", selection=dg.AssetSelection.groups(GROUP))

# Stopped by default: Airflow is the scheduler (the bridge DAG lake_maintenance_v1 runs the same assets).
# A Dagster-only deployment turns this schedule on instead.
maintenance_schedule = dg.ScheduleDefinition(
    job=maintenance_job,
    cron_schedule=SETTINGS.maintenance.cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
